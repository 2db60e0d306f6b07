from django.urls import path

from . import views

app_name = "discussions"
urlpatterns = [
    path("groups/<slug:slug>/threads/", views.thread_list, name="thread_list"),
    path("groups/<slug:slug>/threads/new/", views.thread_create, name="thread_create"),
    path("groups/<slug:slug>/reports/", views.report_queue, name="report_queue"),
    path("threads/<int:pk>/", views.thread_detail, name="thread"),
    path("threads/<int:pk>/unread/", views.thread_first_unread, name="thread_unread"),
    path("threads/<int:pk>/reply/", views.post_create, name="reply"),
    path("threads/<int:pk>/read/", views.thread_mark_read, name="mark_read"),
    path("threads/<int:pk>/watch/", views.thread_watch, name="watch"),
    path("threads/<int:pk>/moderate/", views.thread_moderate, name="thread_moderate"),
    path("threads/<int:pk>/move/", views.thread_move, name="thread_move"),
    path("posts/<int:pk>/", views.post_redirect, name="post"),
    path("posts/<int:pk>/fragment/", views.post_fragment, name="post_fragment"),
    path("posts/<int:pk>/edit/", views.post_edit, name="post_edit"),
    path("posts/<int:pk>/delete/", views.post_delete, name="post_delete"),
    path("posts/<int:pk>/history/", views.post_history, name="post_history"),
    path("posts/<int:pk>/react/", views.post_react, name="post_react"),
    path("posts/<int:pk>/report/", views.post_report, name="post_report"),
    path("posts/<int:pk>/hide/", views.post_hide, name="post_hide"),
    path("posts/<int:pk>/split/", views.thread_split, name="thread_split"),
    path("reports/<int:pk>/close/", views.report_close, name="report_close"),
    path("preview/", views.preview, name="preview"),
]
