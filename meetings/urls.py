from django.urls import path

from . import views

app_name = "meetings"
urlpatterns = [
    path("groups/<slug:slug>/meetings/", views.meeting_list, name="list"),
    path("groups/<slug:slug>/meetings/new/", views.meeting_schedule, name="schedule"),
    path("groups/<slug:slug>/chat/", views.group_chat, name="group_chat"),
    path("meetings/<int:pk>/", views.meeting_detail, name="detail"),
    path("meetings/<int:pk>/edit/", views.meeting_edit, name="edit"),
    path("meetings/<int:pk>/cancel/", views.meeting_cancel, name="cancel"),
    path("meetings/<int:pk>/minutes/", views.minutes_edit, name="minutes"),
    path("meetings/<int:pk>/minutes/transcript/", views.minutes_transcript, name="transcript"),
    path("meetings/<int:pk>/calendar.ics", views.meeting_ics, name="ics"),
    path("calendar/", views.calendar_feed_settings, name="calendar"),
    path("calendar/<str:token>.ics", views.calendar_feed, name="feed"),
]
