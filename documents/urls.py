from django.urls import path

from . import views

app_name = "documents"
urlpatterns = [
    path("groups/<slug:slug>/documents/", views.document_list, name="list"),
    path("groups/<slug:slug>/documents/folders/<int:pk>/", views.document_list, name="folder"),
    path("groups/<slug:slug>/documents/folders/new/", views.folder_create, name="folder_create"),
    path("groups/<slug:slug>/documents/upload/", views.document_upload, name="upload"),
    path("documents/<int:pk>/", views.document_detail, name="detail"),
    path("documents/<int:pk>/edit/", views.document_edit, name="edit"),
    path("documents/<int:pk>/delete/", views.document_delete, name="delete"),
    path("documents/<int:pk>/discuss/", views.document_discuss, name="discuss"),
    path("documents/<int:pk>/versions/new/", views.version_upload, name="version_upload"),
    path("versions/<int:pk>/restore/", views.version_restore, name="version_restore"),
    path("versions/<int:pk>/download/", views.version_download, name="download"),
    path("versions/<int:pk>/view/", views.version_view, name="view"),
]
