from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("<int:pk>/", views.profile, name="profile"),
    path("edit/", views.profile_edit, name="profile_edit"),
    path("language/", views.set_language, name="set_language"),
]
