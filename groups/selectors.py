"""Reads for the groups pages; each starts from what the user may see."""

from collections.abc import Iterable

from django.db.models import Count, QuerySet

from .models import AuditEntry, JoinRequest, Membership, WorkingGroup, valid_membership_q
from .permissions import (
    groups_visible_to,
    join_requests_visible_to,
    members_visible_to,
    roles,
)


def dashboard_groups(user) -> list[WorkingGroup]:
    """The user's groups with their member count and the user's own role."""
    groups = list(
        groups_visible_to(user)
        .annotate(member_count=Count("memberships", filter=valid_membership_q("memberships__")))
        .order_by("archived", "name")
    )
    mine = roles(user)
    for group in groups:
        group.my_role = mine.get(group.pk)
    return groups


def join_requests_waiting(user, groups: Iterable[WorkingGroup]) -> dict[int, int]:
    """For each of ``groups`` that ``user`` moderates and that has any: the
    number of pending join requests (those of the user's queue). One query."""
    rows = (
        join_requests_visible_to(user)
        .filter(
            status=JoinRequest.Status.PENDING,
            group_id__in=[group.pk for group in groups],
        )
        .values_list("group_id")
        .annotate(count=Count("pk"))
        .order_by()
    )
    return dict(rows)


def member_directory(user, group: WorkingGroup) -> QuerySet[Membership]:
    return (
        members_visible_to(user, group)
        .select_related("user")
        .order_by("role", "user__display_name", "user__email")
    )


def group_audit_log(group: WorkingGroup) -> QuerySet[AuditEntry]:
    return group.audit_entries.select_related("actor")
