from django.contrib import admin

from .models import Result, ResultVersion


class ResultVersionInline(admin.TabularInline):
    """Published versions are frozen: shown, never changed here."""

    model = ResultVersion
    extra = 0
    can_delete = False
    fields = ["number", "title", "change_summary", "published_at", "published_by"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Result)
class ResultAdmin(admin.ModelAdmin):
    """Read-only: results are written through the group's pages, whose
    services check, audit and tell the public pages."""

    list_display = ["title", "group", "kind", "latest_number", "published_at", "withdrawn_at"]
    list_filter = ["kind", "group"]
    search_fields = ["title"]
    inlines = [ResultVersionInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
