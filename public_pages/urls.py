from django.urls import path

from . import views

app_name = "public"
urlpatterns = [
    path("", views.home, name="home"),
    path("public/", views.about, name="about"),
    path("public/groups/<slug:slug>/", views.group_page, name="group"),
    path("public/introduction/", views.introduction_edit, name="introduction_edit"),
]
