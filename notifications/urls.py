from django.urls import path

from . import views

app_name = "notifications"
urlpatterns = [
    path("notifications/", views.notification_list, name="list"),
    path("notifications/settings/", views.preferences, name="preferences"),
    path("notifications/count/", views.unread_count, name="count"),
    path("notifications/read/", views.notification_mark_read, name="mark_read"),
    path("notifications/read-all/", views.notification_mark_all_read, name="mark_all_read"),
    path("notifications/<int:pk>/", views.notification_open, name="open"),
    path("groups/<slug:slug>/notifications/", views.group_level, name="group_level"),
    path("threads/<int:pk>/notifications/", views.thread_level, name="thread_level"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
