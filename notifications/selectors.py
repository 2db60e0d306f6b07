"""Reads of notifications, access decided afresh: a person is shown (and
counted) only the notifications about what they may still see, asked of
the owning app's permissions each time (a removed member, an expired guest,
a hidden or deleted post, a thread moved out of their groups: nothing)."""

from itertools import groupby

from django.db.models import QuerySet
from django.http import Http404

from discussions import permissions as discussion_permissions

from .models import DEFAULT_LEVEL, GroupDefaultLevel, GroupLevel, Notification, TargetType

PAGE_SIZE = 100


def notifications_visible_to(user) -> QuerySet[Notification]:
    """The user's notifications about objects they may see now."""
    if not user.is_authenticated:
        return Notification.objects.none()
    posts = discussion_permissions.posts_visible_to(user).filter(deleted_at__isnull=True)
    return Notification.objects.filter(
        recipient=user, target_type=TargetType.POST, target_id__in=posts.values("pk")
    )


def unread_count(user) -> int:
    return notifications_visible_to(user).filter(read_at__isnull=True).count()


def access_notification(user, pk) -> Notification:
    """The user's notification ``pk`` if its object is still theirs to see;
    Http404 otherwise (missing and forbidden alike)."""
    notification = notifications_visible_to(user).filter(pk=pk).first()
    if notification is None:
        raise Http404
    return notification


def notification_groups(user, *, limit: int = PAGE_SIZE):
    """The user's latest ``limit`` notifications, newest first, in groups:
    [(group, [notification, ...]), ...], the group with the newest first."""
    notifications = list(
        notifications_visible_to(user)
        .select_related("group", "actor")
        .order_by("-created_at", "-id")[:limit]
    )
    order = {}
    for notification in notifications:
        order.setdefault(notification.group_id, len(order))
    notifications.sort(key=lambda item: order[item.group_id])
    grouped = (list(items) for _key, items in groupby(notifications, key=lambda n: n.group_id))
    return [(items[0].group, items) for items in grouped]


def group_levels(user, group) -> tuple[str | None, str]:
    """The user's own level for ``group`` (None: not chosen) and the group's default."""
    own = GroupLevel.objects.filter(user=user, group=group).values_list("level", flat=True).first()
    default = (
        GroupDefaultLevel.objects.filter(group=group).values_list("level", flat=True).first()
        or DEFAULT_LEVEL
    )
    return own, default
