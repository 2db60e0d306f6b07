"""Reads of notifications, access decided afresh: a person is shown (and
counted) only the notifications about what they may still see, asked of
the owning app's permissions each time (a removed member, an expired guest,
a hidden or deleted post, a thread moved out of their groups: nothing)."""

from itertools import groupby

from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404

from discussions import permissions as discussion_permissions
from discussions.models import Post, Subscription
from groups.models import WorkingGroup

from .models import (
    DEFAULT_LEVEL,
    GroupDefaultLevel,
    GroupLevel,
    Level,
    Notification,
    TargetType,
    ThreadLevel,
)

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
    [(group, [notification, ...]), ...], the group with the newest first.
    A notification stands under the group its post is in now (a thread may
    have moved since)."""
    current_group = Post.objects.filter(pk=OuterRef("target_id")).values("thread__group_id")
    notifications = list(
        notifications_visible_to(user)
        .annotate(current_group_id=Subquery(current_group[:1]))
        .select_related("actor")
        .order_by("-created_at", "-id")[:limit]
    )
    groups = WorkingGroup.objects.in_bulk({n.current_group_id for n in notifications})
    order = {}
    for notification in notifications:
        order.setdefault(notification.current_group_id, len(order))
    notifications.sort(key=lambda item: order[item.current_group_id])
    grouped = groupby(notifications, key=lambda n: n.current_group_id)
    return [(groups[group_id], list(items)) for group_id, items in grouped]


def group_levels(user, group) -> tuple[str | None, str]:
    """The user's own level for ``group`` (None: not chosen) and the group's default."""
    own = GroupLevel.objects.filter(user=user, group=group).values_list("level", flat=True).first()
    default = (
        GroupDefaultLevel.objects.filter(group=group).values_list("level", flat=True).first()
        or DEFAULT_LEVEL
    )
    return own, default


def thread_level(user, thread) -> tuple[str | None, str]:
    """The level the user chose for ``thread`` (None: none) and the one that
    applies: the chosen one, else watching if they watch it, else their
    level for its group."""
    own = ThreadLevel.objects.filter(user=user, thread=thread).values_list("level", flat=True)
    own = own.first()
    if own is not None:
        return own, own
    if Subscription.objects.filter(user=user, thread=thread).exists():
        return None, Level.WATCHING
    group_own, default = group_levels(user, thread.group)
    return None, group_own or default
