from django.urls import path

from . import views

app_name = "webinars"
urlpatterns = [
    path("webinars/<int:pk>/", views.webinar_detail, name="detail"),
    path("webinars/<int:pk>/registered/", views.registered, name="registered"),
    path("webinars/privacy/", views.privacy, name="privacy"),
    path("w/<str:token>/", views.join, name="join"),
    path("w/<str:token>/confirm/", views.confirm, name="confirm"),
    path("w/<str:token>/cancel/", views.cancel, name="cancel"),
    path("w/<str:token>/calendar.ics", views.calendar, name="calendar"),
    path("meetings/<int:pk>/webinar/", views.publish, name="publish"),
    path("meetings/<int:pk>/webinar/unpublish/", views.unpublish, name="unpublish"),
    path("meetings/<int:pk>/registrations/", views.registrations, name="registrations"),
    path("meetings/<int:pk>/registrations.csv", views.export, name="export"),
    path("webinars/registrations/<int:pk>/attendance/", views.attendance, name="attendance"),
]
