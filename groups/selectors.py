"""Reads for the groups pages; each starts from what the user may see."""

from django.db.models import Count, QuerySet

from .models import AuditEntry, Membership, WorkingGroup, valid_membership_q
from .permissions import groups_visible_to, members_visible_to, valid_memberships


def dashboard_groups(user) -> list[WorkingGroup]:
    """The user's groups with their member count and the user's own role."""
    groups = list(
        groups_visible_to(user)
        .annotate(member_count=Count("memberships", filter=valid_membership_q("memberships__")))
        .order_by("archived", "name")
    )
    roles = dict(valid_memberships(user).values_list("group_id", "role"))
    for group in groups:
        group.my_role = roles.get(group.pk)
    return groups


def member_directory(user, group: WorkingGroup) -> QuerySet[Membership]:
    return (
        members_visible_to(user, group)
        .select_related("user")
        .order_by("role", "user__display_name", "user__email")
    )


def group_audit_log(group: WorkingGroup) -> QuerySet[AuditEntry]:
    return group.audit_entries.select_related("actor")
