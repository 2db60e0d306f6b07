"""The admin shows the groups' data for organisers; changes that others must
see go through the group pages (and so through the services), hence read-only."""

from django.contrib import admin

from .models import AuditEntry, Invitation, JoinRequest, Membership, WorkingGroup


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WorkingGroup)
class WorkingGroupAdmin(ReadOnlyAdmin):
    list_display = ["name", "slug", "archived", "created_at"]
    search_fields = ["name", "slug"]


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ["user", "group", "role", "active", "expires_at", "joined_at"]
    list_filter = ["group", "role", "active"]
    search_fields = ["user__email", "user__display_name"]


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = [
        "email",
        "group",
        "role",
        "created_at",
        "expires_at",
        "accepted_at",
        "revoked_at",
    ]
    list_filter = ["group", "role"]
    exclude = ["token_hash"]


@admin.register(JoinRequest)
class JoinRequestAdmin(ReadOnlyAdmin):
    list_display = ["name", "email", "group", "status", "created_at", "handled_by"]
    list_filter = ["group", "status"]


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "group", "actor", "action", "summary"]
    list_filter = ["group", "action"]
