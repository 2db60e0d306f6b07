"""Writes of notifications: who is told what, levels, read marks.

Notifications never decide access themselves: who may see a post is asked
of ``discussions.permissions`` when the notifications are written, and again
whenever they are shown (``selectors``).

Every change to a person's notifications sends ``notifications.changed`` {}
on their own stream (``user:<id>``) after commit: the bell then asks for its
count, decided afresh for that person. It is not numbered: the count is read
from the database on every page, so a lost event costs a late bell, no more.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import realtime
from discussions import permissions as discussion_permissions
from discussions.models import Post, Subscription
from groups import permissions as group_permissions
from groups.models import Membership

from .models import (
    DEFAULT_LEVEL,
    GroupDefaultLevel,
    GroupLevel,
    Kind,
    Level,
    Notification,
    TargetType,
    ThreadLevel,
)

CHANGED = "notifications.changed"


def _announce(user_ids) -> None:
    """``notifications.changed`` to each person, once the transaction commits."""
    user_ids = sorted(set(user_ids))
    if not user_ids:
        return

    def send():
        for user_id in user_ids:
            realtime.publish(realtime.user_stream(user_id), CHANGED, {})

    transaction.on_commit(send)


def notify_post_created(*, post: Post, mentioned, new_thread: bool) -> list[Notification]:
    """Tells people of a new post (the hook ``discussions.post_created``,
    inside the writing transaction). Each person is told once, of the one
    thing that matters most to them:

    - ``mention``: they are mentioned (unless muted in the thread); being
      mentioned also makes them watch the thread;
    - ``reply``: it answers their post (tracking or watching the thread);
    - ``new_thread``: it starts a thread in a group they watch;
    - ``watched_post``: a new post in a thread they watch.

    Never the author, never someone who may not see the post. The number
    of queries does not depend on the group's size."""
    thread = post.thread
    actor_id = post.author_id
    group_id = thread.group_id
    mentioned_ids = {person.pk for person in mentioned} - {actor_id}
    parent_author_id = post.parent.author_id if post.parent_id is not None else None

    default = (
        GroupDefaultLevel.objects.filter(group_id=group_id).values_list("level", flat=True).first()
        or DEFAULT_LEVEL
    )
    group_levels = dict(
        GroupLevel.objects.filter(group_id=group_id).values_list("user_id", "level")
    )
    thread_levels = {}
    watchers = set()
    if not new_thread:
        thread_levels = dict(
            ThreadLevel.objects.filter(thread_id=thread.pk).values_list("user_id", "level")
        )
        watchers = set(
            Subscription.objects.filter(thread_id=thread.pk).values_list("user_id", flat=True)
        )

    def group_level(user_id) -> str:
        return group_levels.get(user_id, default)

    def thread_level(user_id) -> str:
        if user_id in thread_levels:
            return thread_levels[user_id]
        if user_id in watchers:
            return Level.WATCHING
        return group_level(user_id)

    candidates = mentioned_ids | watchers | set(thread_levels) | set(group_levels)
    if parent_author_id is not None:
        candidates.add(parent_author_id)
    if default == Level.WATCHING:
        candidates |= set(
            Membership.objects.valid().filter(group_id=group_id).values_list("user_id", flat=True)
        )
    candidates.discard(actor_id)
    candidates.discard(None)
    audience = discussion_permissions.post_audience(post, candidates) if candidates else set()

    kinds = {}
    for user_id in audience:
        level = thread_level(user_id)
        if user_id in mentioned_ids:
            if level != Level.MUTED:
                kinds[user_id] = Kind.MENTION
        elif user_id == parent_author_id and level in (Level.WATCHING, Level.TRACKING):
            kinds[user_id] = Kind.REPLY
        elif new_thread and group_level(user_id) == Level.WATCHING:
            kinds[user_id] = Kind.NEW_THREAD
        elif not new_thread and level == Level.WATCHING:
            kinds[user_id] = Kind.WATCHED_POST

    watching_now = (mentioned_ids & audience) - watchers
    if watching_now:
        Subscription.objects.bulk_create(
            [Subscription(user_id=user_id, thread_id=thread.pk) for user_id in watching_now],
            ignore_conflicts=True,
        )
    if not kinds:
        return []
    url = post.get_absolute_url()
    now = timezone.now()
    notifications = [
        Notification(
            recipient_id=user_id,
            kind=kind,
            group_id=group_id,
            actor_id=actor_id,
            target_type=TargetType.POST,
            target_id=post.pk,
            url=url,
            subject=thread.title[:300],
            created_at=now,
        )
        for user_id, kind in sorted(kinds.items())
    ]
    Notification.objects.bulk_create(notifications, ignore_conflicts=True)
    _announce(kinds)
    return notifications


def notification_open(*, user, notification: Notification) -> str:
    """Marks ``notification`` (the user's own, from ``access_notification``)
    and every other unread one about the same object read; returns where
    it leads."""
    changed = Notification.objects.filter(
        recipient=user,
        read_at__isnull=True,
        target_type=notification.target_type,
        target_id=notification.target_id,
    ).update(read_at=timezone.now())
    if changed:
        _announce([user.pk])
    return notification.url


def notifications_mark_read(*, user, ids=None) -> int:
    """Marks the user's notifications ``ids`` read (None: all of them).
    Returns how many were unread."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    changed = unread.update(read_at=timezone.now())
    if changed:
        _announce([user.pk])
    return changed


def notifications_read_for_posts(*, user, post_ids) -> int:
    """The hook ``discussions.posts_read``: ``user`` has just been shown
    ``post_ids`` (posts they may see), so their notifications about them are
    read."""
    if not post_ids:
        return 0
    changed = Notification.objects.filter(
        recipient=user,
        read_at__isnull=True,
        target_type=TargetType.POST,
        target_id__in=list(post_ids),
    ).update(read_at=timezone.now())
    if changed:
        _announce([user.pk])
    return changed


def _clean_level(level: str) -> str:
    if level not in Level.values:
        raise ValidationError(_("Unknown level."))
    return level


def group_level_set(*, user, group, level: str) -> None:
    """Sets ``user``'s level for ``group``. PermissionDenied unless they take part in it."""
    level = _clean_level(level)
    if not group_permissions.is_member(user, group):
        raise PermissionDenied
    GroupLevel.objects.update_or_create(user=user, group=group, defaults={"level": level})


def thread_level_set(*, user, thread, level: str) -> None:
    """Sets ``user``'s level for ``thread``. PermissionDenied unless they see it."""
    level = _clean_level(level)
    if not discussion_permissions.threads_visible_to(user).filter(pk=thread.pk).exists():
        raise PermissionDenied
    ThreadLevel.objects.update_or_create(user=user, thread=thread, defaults={"level": level})


def group_default_level_set(*, actor, group, level: str) -> None:
    """Sets the level of the group's people who chose none. Moderators only
    (PermissionDenied; MFARequired for a moderator without two factors)."""
    level = _clean_level(level)
    group_permissions.check_act_as_moderator(actor, group)
    GroupDefaultLevel.objects.update_or_create(group=group, defaults={"level": level})
