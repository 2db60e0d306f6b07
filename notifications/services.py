"""Writes of notifications: who is told what, levels, read marks.

Notifications never decide access themselves: who may see a post is asked
of ``discussions.permissions`` when the notifications are written, and again
whenever they are shown (``selectors``). The other kinds go to people with a
valid membership of the object's group (``Membership.objects.valid()``), and
are shown only while the owning app's permissions let them see the object.

Every change to a person's notifications sends ``notifications.changed`` {}
on their own stream (``user:<id>``) after commit: the bell then asks for its
count, decided afresh for that person. It is not numbered: the count is read
from the database on every page, so a lost event costs a late bell, no more.
"""

import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from core import realtime
from discussions import permissions as discussion_permissions
from discussions.models import Post, Subscription, Thread
from groups import permissions as group_permissions
from groups.models import Membership, Role, WorkingGroup
from meetings import permissions as meeting_permissions
from meetings.models import Meeting

from . import emails
from .models import (
    DEFAULT_LEVEL,
    Digest,
    EmailPreference,
    GroupDefaultLevel,
    GroupLevel,
    Kind,
    Level,
    Notification,
    Reminder,
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

    Never the author, never someone who may not see the post. Each
    notification is also queued as an email (``emails``). The number of
    queries does not depend on the group's size."""
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
    emails.notification_emails_queue(target_type=TargetType.POST, target_id=post.pk, created_at=now)
    _announce(kinds)
    return notifications


# The levels at which a person hears of each group-wide kind. Documents are
# for tracking and watching (as the issue says); what is addressed to a
# person or to the group's moderators (a meeting, a join request, a report,
# an accepted invitation, a changed role) reaches everyone not muted.
NOT_MUTED = (Level.WATCHING, Level.TRACKING, Level.MENTIONS)
TRACKING_OR_WATCHING = (Level.WATCHING, Level.TRACKING)


def _fan_out(
    *,
    kind: str,
    group_id: int,
    actor_id: int | None,
    target_type: str,
    target_id: int,
    url: str,
    subject: str,
    levels,
    role: str | None = None,
    only=None,
) -> list[Notification]:
    """Tells the people of group ``group_id`` (with a valid membership, of
    ``role`` if given, among ``only`` if given) whose level for the group is
    one of ``levels``, never the actor. In four queries whatever the group's
    size: the default level, the chosen levels, the memberships, the insert;
    and two for the emails (``emails.notification_emails_queue``).

    One notification per person, kind and object: a second one (a meeting
    moved again, a role changed again) brings the existing one up to date
    and unread, instead of being dropped."""
    memberships = Membership.objects.valid().filter(group_id=group_id, user__is_active=True)
    if role is not None:
        memberships = memberships.filter(role=role)
    if only is not None:
        memberships = memberships.filter(user_id__in=list(only))
    people = set(memberships.values_list("user_id", flat=True)) - {actor_id}
    if not people:
        return []
    default = (
        GroupDefaultLevel.objects.filter(group_id=group_id).values_list("level", flat=True).first()
        or DEFAULT_LEVEL
    )
    chosen = dict(
        GroupLevel.objects.filter(group_id=group_id, user_id__in=people).values_list(
            "user_id", "level"
        )
    )
    recipients = sorted(p for p in people if chosen.get(p, default) in levels)
    if not recipients:
        return []
    now = timezone.now()
    notifications = [
        Notification(
            recipient_id=user_id,
            kind=kind,
            group_id=group_id,
            actor_id=actor_id,
            target_type=target_type,
            target_id=target_id,
            url=url,
            subject=subject[:300],
            created_at=now,
            read_at=None,
        )
        for user_id in recipients
    ]
    Notification.objects.bulk_create(
        notifications,
        update_conflicts=True,
        unique_fields=["recipient", "kind", "target_type", "target_id"],
        update_fields=["group", "actor", "url", "subject", "created_at", "read_at"],
    )
    emails.notification_emails_queue(target_type=target_type, target_id=target_id, created_at=now)
    _announce(recipients)
    return notifications


def notify_version_added(*, version, new_document: bool) -> list[Notification]:
    """The hook ``documents.version_added``: a new document (its first
    version) or a new version of one, to the group's people at tracking or
    watching, not its uploader."""
    document = version.document
    return _fan_out(
        kind=Kind.DOCUMENT_NEW if new_document else Kind.DOCUMENT_VERSION,
        group_id=document.group_id,
        actor_id=version.uploaded_by_id,
        target_type=TargetType.VERSION,
        target_id=version.pk,
        url=document.get_absolute_url(),
        subject=document.title,
        levels=TRACKING_OR_WATCHING,
    )


MEETING_KINDS = {
    "scheduled": Kind.MEETING_SCHEDULED,
    "moved": Kind.MEETING_MOVED,
    "cancelled": Kind.MEETING_CANCELLED,
    "minutes_published": Kind.MINUTES_PUBLISHED,
}


def notify_meeting_changed(*, meeting, actor, change: str) -> list[Notification]:
    """The hook ``meetings.meeting_changed`` (``change``: scheduled, moved,
    cancelled or minutes_published): to the group's people not muted, not
    the actor."""
    return _fan_out(
        kind=MEETING_KINDS[change],
        group_id=meeting.group_id,
        actor_id=actor.pk,
        target_type=TargetType.MEETING,
        target_id=meeting.pk,
        url=meeting.get_absolute_url(),
        subject=meeting.title,
        levels=NOT_MUTED,
    )


def notify_join_request_created(*, join_request) -> list[Notification]:
    """The hook ``groups.join_request_created``: to the group's moderators
    not muted (the applicant has no account: no actor)."""
    return _fan_out(
        kind=Kind.JOIN_REQUEST,
        group_id=join_request.group_id,
        actor_id=None,
        target_type=TargetType.JOIN_REQUEST,
        target_id=join_request.pk,
        url=reverse("groups:join_request_detail", args=[join_request.pk]),
        subject=join_request.name,
        levels=NOT_MUTED,
        role=Role.MODERATOR,
    )


def notify_report_created(*, report) -> list[Notification]:
    """The hook ``discussions.report_created``: to the moderators of the
    reported post's group not muted, not the reporter."""
    thread = report.post.thread
    return _fan_out(
        kind=Kind.REPORT,
        group_id=thread.group_id,
        actor_id=report.reporter_id,
        target_type=TargetType.REPORT,
        target_id=report.pk,
        url=reverse("discussions:report_queue", args=[thread.group.slug]),
        subject=thread.title,
        levels=NOT_MUTED,
        role=Role.MODERATOR,
    )


def notify_invitation_accepted(*, invitation, membership) -> list[Notification]:
    """The hook ``groups.invitation_accepted``: to the person who invited
    (while they take part in the group and have not muted it)."""
    if invitation.invited_by_id is None:
        return []
    return _fan_out(
        kind=Kind.INVITATION_ACCEPTED,
        group_id=membership.group_id,
        actor_id=membership.user_id,
        target_type=TargetType.MEMBERSHIP,
        target_id=membership.pk,
        url=reverse("groups:members", args=[membership.group.slug]),
        subject=membership.group.name,
        levels=NOT_MUTED,
        only=[invitation.invited_by_id],
    )


def notify_role_changed(*, membership, actor) -> list[Notification]:
    """The hook ``groups.role_changed``: to the person whose role it is
    (unless they changed it themselves or muted the group)."""
    return _fan_out(
        kind=Kind.ROLE_CHANGED,
        group_id=membership.group_id,
        actor_id=actor.pk,
        target_type=TargetType.MEMBERSHIP,
        target_id=membership.pk,
        url=reverse("groups:detail", args=[membership.group.slug]),
        subject=membership.group.name,
        levels=NOT_MUTED,
        only=[membership.user_id],
    )


def _notify_mentioned(
    *, mentioned, actor, group_id: int, target_type: str, target_id: int, url: str, subject: str
) -> list[Notification]:
    """A mention outside the discussions (chat, agenda, minutes): to the
    people ``mentioned`` with a valid membership of the group and not muted
    there, never the actor. Each person is told of one object once: someone
    told already (of a draft, of an earlier version) is not told again."""
    ids = {person.pk for person in mentioned} - {actor.pk}
    if not ids:
        return []
    told = Notification.objects.filter(
        kind=Kind.MENTION, target_type=target_type, target_id=target_id, recipient_id__in=ids
    ).values_list("recipient_id", flat=True)
    ids -= set(told)
    if not ids:
        return []
    return _fan_out(
        kind=Kind.MENTION,
        group_id=group_id,
        actor_id=actor.pk,
        target_type=target_type,
        target_id=target_id,
        url=url,
        subject=subject,
        levels=NOT_MUTED,
        only=ids,
    )


def notify_message_mentioned(*, message, actor, mentioned) -> list[Notification]:
    """The hook ``meetings.message_mentioned``: the people a chat message
    mentions (when sent, or newly by an edit). It leads to the room: the
    meeting's page, or the group's chat."""
    room = message.room
    if room.meeting_id is not None:
        url, subject = room.meeting.get_absolute_url(), room.meeting.title
    else:
        url, subject = reverse("meetings:group_chat", args=[room.group.slug]), room.group.name
    return _notify_mentioned(
        mentioned=mentioned,
        actor=actor,
        group_id=room.group_id,
        target_type=TargetType.CHAT_MESSAGE,
        target_id=message.pk,
        url=url,
        subject=subject,
    )


def notify_meeting_text_mentioned(*, meeting, actor, part: str, mentioned) -> list[Notification]:
    """The hook ``meetings.meeting_text_mentioned``: the people newly
    mentioned in a meeting's agenda or minutes (``part``). Minutes only to
    those who may read them now (``meetings.permissions.minutes_audience``:
    a draft's mentions reach its moderators; the others hear of them when
    the minutes are published)."""
    if part == "minutes":
        readers = {
            user_id
            for _meeting_id, user_id in meeting_permissions.minutes_audience(
                [meeting], {p.pk for p in mentioned}
            )
        }
        mentioned = [person for person in mentioned if person.pk in readers]
        target_type, anchor = TargetType.MINUTES, "#minutes"
    else:
        target_type, anchor = TargetType.AGENDA, ""
    return _notify_mentioned(
        mentioned=mentioned,
        actor=actor,
        group_id=meeting.group_id,
        target_type=target_type,
        target_id=meeting.pk,
        url=meeting.get_absolute_url() + anchor,
        subject=meeting.title,
    )


ALL_LEVELS = tuple(Level.values)


def _remind_once(*, kind: str, target_id: int, at) -> bool:
    """Records that the reminder of ``kind`` about ``target_id`` for the moment
    ``at`` goes out now; False if it went out before (or another worker is
    sending it: the unique row decides). Call inside the transaction that
    tells the people."""
    _reminder, created = Reminder.objects.get_or_create(kind=kind, target_id=target_id, at=at)
    return created


def meeting_reminders_send(*, now=None) -> int:
    """Periodic work (``notifications.periodic``): ``meeting_soon`` to the people
    of each scheduled meeting that starts within ``MEETING_REMINDER_MINUTES``
    (not muted, with a valid membership), once per start time: a meeting moved
    to another time is reminded of again for that time, a cancelled or past
    one not at all. It leads to the meeting's page, which has the video link.
    Returns the number of meetings reminded of."""
    now = now or timezone.now()
    soon = now + datetime.timedelta(minutes=settings.MEETING_REMINDER_MINUTES)
    meetings = Meeting.objects.filter(
        status=Meeting.Status.SCHEDULED, starts_at__gt=now, starts_at__lte=soon
    ).order_by("starts_at", "pk")
    reminded = 0
    for meeting in meetings:
        with transaction.atomic():
            if not _remind_once(kind=Kind.MEETING_SOON, target_id=meeting.pk, at=meeting.starts_at):
                continue
            _fan_out(
                kind=Kind.MEETING_SOON,
                group_id=meeting.group_id,
                actor_id=None,
                target_type=TargetType.MEETING,
                target_id=meeting.pk,
                url=meeting.get_absolute_url(),
                subject=meeting.title,
                levels=NOT_MUTED,
            )
            reminded += 1
    return reminded


def guest_expiry_notices_send(*, now=None) -> int:
    """Periodic work (``notifications.periodic``): ``guest_expiring`` when a
    guest's access ends within ``GUEST_EXPIRY_NOTICE_DAYS``, to the guest
    (whatever their level: it is about their own access; it leads to the
    group) and to the group's moderators not muted (the guest as actor; it
    leads to the members page, where access is extended). Once per end date:
    a guest given a later end is told again before that one. Returns the
    number of guests concerned."""
    now = now or timezone.now()
    horizon = now + datetime.timedelta(days=settings.GUEST_EXPIRY_NOTICE_DAYS)
    memberships = (
        Membership.objects.valid(at=now)
        .filter(role=Role.GUEST, expires_at__lte=horizon, user__is_active=True)
        .select_related("group")
        .order_by("expires_at", "pk")
    )
    noticed = 0
    for membership in memberships:
        with transaction.atomic():
            if not _remind_once(
                kind=Kind.GUEST_EXPIRING, target_id=membership.pk, at=membership.expires_at
            ):
                continue
            common = {
                "kind": Kind.GUEST_EXPIRING,
                "group_id": membership.group_id,
                "target_type": TargetType.MEMBERSHIP,
                "target_id": membership.pk,
                "subject": membership.group.name,
            }
            _fan_out(
                **common,
                actor_id=None,
                url=reverse("groups:detail", args=[membership.group.slug]),
                levels=ALL_LEVELS,
                only=[membership.user_id],
            )
            _fan_out(
                **common,
                actor_id=membership.user_id,
                url=reverse("groups:members", args=[membership.group.slug]),
                levels=NOT_MUTED,
                role=Role.MODERATOR,
            )
            noticed += 1
    return noticed


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


def email_preference(user) -> EmailPreference:
    """The user's email preferences (the defaults until they change one)."""
    preference, _created = EmailPreference.objects.get_or_create(user=user)
    return preference


def email_preference_set(
    *,
    user,
    enabled: bool,
    kinds_off,
    digest: str,
    digest_hour: int,
    digest_weekday: int,
) -> EmailPreference:
    """Saves how ``user`` wants to be emailed. ValidationError, changing
    nothing, for an unknown kind or digest frequency, an hour outside 0–23
    or a weekday outside 0–6. The next digest's due time is left to the
    digest's own computation (``digest_due_at`` None: "compute it anew")."""
    kinds_off = sorted(set(kinds_off))
    unknown = [kind for kind in kinds_off if kind not in Kind.values]
    if unknown:
        raise ValidationError(
            _("Unknown kind of notification: %(kinds)s.") % {"kinds": ", ".join(unknown)}
        )
    if digest not in Digest.values:
        raise ValidationError(_("Unknown frequency of the summary email."))
    if not _is_int(digest_hour) or not 0 <= digest_hour <= 23:
        raise ValidationError(_("Choose a full hour from 00:00 to 23:00."))
    if not _is_int(digest_weekday) or not 0 <= digest_weekday <= 6:
        raise ValidationError(_("Choose a day of the week."))
    preference = email_preference(user)
    preference.enabled = bool(enabled)
    preference.kinds_off = kinds_off
    preference.digest = digest
    preference.digest_hour = digest_hour
    preference.digest_weekday = digest_weekday
    preference.digest_due_at = None
    preference.save(
        update_fields=[
            "enabled",
            "kinds_off",
            "digest",
            "digest_hour",
            "digest_weekday",
            "digest_due_at",
        ]
    )
    return preference


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def preferences_save(*, user, levels: dict, **email) -> EmailPreference:
    """The preferences page in one transaction: ``levels`` {group pk: level}
    through ``group_level_set`` (PermissionDenied for a group the person
    does not take part in; ValidationError for an unknown level) and the
    email preferences through ``email_preference_set`` (keyword arguments
    as there). Either everything is saved or nothing."""
    groups = WorkingGroup.objects.in_bulk(list(levels))
    with transaction.atomic():
        for group_id, level in levels.items():
            group = groups.get(group_id)
            if group is None:
                raise PermissionDenied
            group_level_set(user=user, group=group, level=level)
        return email_preference_set(user=user, **email)


def unsubscribe(*, user_id: int, scope: str) -> bool:
    """Applies an unsubscribe link's scope (``notifications.unsubscribe``)
    for user ``user_id``. False, changing nothing, when the person or the
    thread no longer exists or the kind is unknown; applying it twice is
    harmless."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    prefix, _sep, rest = scope.partition(":")
    with transaction.atomic():
        if scope == "all":
            preference = email_preference(user)
            preference.enabled = False
            preference.save(update_fields=["enabled"])
        elif scope == "digest":
            preference = email_preference(user)
            preference.digest = Digest.OFF
            # As on the preferences page: the digest computes its next time anew.
            preference.digest_due_at = None
            preference.save(update_fields=["digest", "digest_due_at"])
        elif prefix == "kind":
            if rest not in Kind.values:
                return False
            preference = email_preference(user)
            if rest not in preference.kinds_off:
                preference.kinds_off = sorted([*preference.kinds_off, rest])
                preference.save(update_fields=["kinds_off"])
        elif prefix == "thread":
            # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
            if not (rest.isascii() and rest.isdigit()):
                return False
            if not Thread.objects.filter(pk=int(rest)).exists():
                return False
            # Not a check of access: whoever was sent the link may stop
            # hearing of the thread, whether or not they still see it.
            ThreadLevel.objects.update_or_create(
                user=user, thread_id=int(rest), defaults={"level": Level.MENTIONS}
            )
        else:
            return False
    return True
