"""The outbox in the admin, read-only: what waits, what failed and why. The
bodies stay out of it (an invitation's text holds its link)."""

from django.contrib import admin

from .models import OutboundEmail


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ["to", "subject", "due_at", "sent_at", "dropped", "attempts", "last_error"]
    list_filter = [("sent_at", admin.EmptyFieldListFilter), "dropped"]
    search_fields = ["to", "subject", "key"]
    ordering = ["-due_at"]
    fields = ["key", "to", "language", "subject", "batch_key", "created_at", "due_at"]
    fields += ["sent_at", "dropped", "attempts", "last_error"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
