"""The admin shows the groups' documents to organisers, read-only: changes go
through the document pages (and so through the services). The files themselves
are not linked here: they leave the server only through the authorising views."""

from django.contrib import admin

from groups.admin import ReadOnlyAdmin

from .models import Document, DocumentVersion, Folder


@admin.register(Folder)
class FolderAdmin(ReadOnlyAdmin):
    list_display = ["name", "group", "parent", "created_by", "created_at"]
    list_filter = ["group"]
    search_fields = ["name"]


class VersionInline(admin.TabularInline):
    model = DocumentVersion
    fields = ["number", "original_filename", "size", "content_type", "uploaded_by", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Document)
class DocumentAdmin(ReadOnlyAdmin):
    list_display = ["title", "group", "folder", "created_by", "updated_at"]
    list_filter = ["group"]
    search_fields = ["title"]
    inlines = [VersionInline]


@admin.register(DocumentVersion)
class DocumentVersionAdmin(ReadOnlyAdmin):
    list_display = ["document", "number", "original_filename", "size", "content_type", "created_at"]
    list_filter = ["document__group", "content_type"]
    search_fields = ["document__title", "original_filename", "sha256"]
    exclude = ["file"]
