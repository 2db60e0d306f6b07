from django.urls import path

from . import views

app_name = "results"
base = "groups/<slug:group>/results/"
one = f"{base}<slug:slug>/"
urlpatterns = [
    path("results/", views.site_list, name="site_list"),
    path("results/feed/", views.site_feed, name="site_feed"),
    path(base, views.result_list, name="list"),
    path(f"{base}feed/", views.group_feed, name="feed"),
    path(f"{base}new/", views.result_create, name="create"),
    path(one, views.result_detail, name="detail"),
    path(f"{one}v<int:number>/", views.version_detail, name="version"),
    path(f"{one}diff/", views.version_diff, name="diff"),
    path(f"{one}draft/", views.draft, name="draft"),
    path(f"{one}edit/", views.result_edit, name="edit"),
    path(f"{one}publish/", views.result_publish, name="publish"),
    path(f"{one}withdraw/", views.result_withdraw, name="withdraw"),
    path(f"{one}delete/", views.result_delete, name="delete"),
]
