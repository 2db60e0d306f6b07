"""Reads of notifications, access decided afresh: a person is shown (and
counted) only the notifications about what they may still see, asked of
the owning app's permissions each time, per kind of object (a removed
member, an expired guest, a hidden or deleted post, a thread moved out of
their groups, a deleted document, a report or join request of a group they
no longer moderate: nothing)."""

from itertools import groupby

from django.db.models import BigIntegerField, Case, F, OuterRef, Q, QuerySet, Subquery, When
from django.http import Http404

from discussions import permissions as discussion_permissions
from discussions.models import Post, Report, Subscription
from documents import permissions as document_permissions
from groups import permissions as group_permissions
from groups.models import WorkingGroup
from meetings import permissions as meeting_permissions
from meetings.models import Meeting

from .models import (
    DEFAULT_LEVEL,
    EmailPreference,
    GroupDefaultLevel,
    GroupLevel,
    Kind,
    Level,
    Notification,
    TargetType,
    ThreadLevel,
)

PAGE_SIZE = 100


def _posts(user) -> Q:
    posts = discussion_permissions.posts_visible_to(user).filter(deleted_at__isnull=True)
    return Q(target_type=TargetType.POST, target_id__in=posts.values("pk"))


def _reports(user) -> Q:
    reports = discussion_permissions.reports_moderated_by(user)
    return Q(target_type=TargetType.REPORT, target_id__in=reports.values("pk"))


def _versions(user) -> Q:
    versions = document_permissions.versions_visible_to(user)
    return Q(target_type=TargetType.VERSION, target_id__in=versions.values("pk"))


def _minutes_readable(user):
    meetings = meeting_permissions.meetings_visible_to(user)
    return meetings.filter(meeting_permissions.minutes_readable_q(user))


def _meetings(user) -> Q:
    meetings = meeting_permissions.meetings_visible_to(user)
    return Q(
        ~Q(kind=Kind.MINUTES_PUBLISHED),
        target_type=TargetType.MEETING,
        target_id__in=meetings.values("pk"),
    ) | Q(
        kind=Kind.MINUTES_PUBLISHED,
        target_type=TargetType.MEETING,
        target_id__in=_minutes_readable(user).values("pk"),
    )


def _join_requests(user) -> Q:
    join_requests = group_permissions.join_requests_visible_to(user)
    return Q(target_type=TargetType.JOIN_REQUEST, target_id__in=join_requests.values("pk"))


def _chat_messages(user) -> Q:
    messages = meeting_permissions.messages_visible_to(user).filter(deleted_at__isnull=True)
    return Q(target_type=TargetType.CHAT_MESSAGE, target_id__in=messages.values("pk"))


def _agendas(user) -> Q:
    meetings = meeting_permissions.meetings_visible_to(user)
    return Q(target_type=TargetType.AGENDA, target_id__in=meetings.values("pk"))


def _minutes(user) -> Q:
    return Q(target_type=TargetType.MINUTES, target_id__in=_minutes_readable(user).values("pk"))


def _memberships(user) -> Q:
    memberships = group_permissions.memberships_visible_to(user)
    return Q(target_type=TargetType.MEMBERSHIP, target_id__in=memberships.values("pk"))


# Per kind of object, the objects a person may see now, each asked of the app
# that owns it. A target type without an entry is shown to nobody.
_VISIBLE = {
    TargetType.POST: _posts,
    TargetType.REPORT: _reports,
    TargetType.VERSION: _versions,
    TargetType.MEETING: _meetings,
    TargetType.JOIN_REQUEST: _join_requests,
    TargetType.CHAT_MESSAGE: _chat_messages,
    TargetType.AGENDA: _agendas,
    TargetType.MINUTES: _minutes,
    TargetType.MEMBERSHIP: _memberships,
}


def _visible_targets(user, target_types=None) -> Q:
    """The objects ``user`` may see now, of every target type (or of
    ``target_types`` only: an email about one post need not ask about the
    others)."""
    visible = Q(pk__in=[])
    for target_type, rule in _VISIBLE.items():
        if target_types is None or target_type in target_types:
            visible |= rule(user)
    return visible


def notifications_visible_to(user, *, target_types=None) -> QuerySet[Notification]:
    """The user's notifications about objects they may see now (of
    ``target_types`` only, if given)."""
    if not user.is_authenticated:
        return Notification.objects.none()
    return Notification.objects.filter(_visible_targets(user, target_types), recipient=user)


def notifications_visible_among(notifications) -> set[int]:
    """``notifications_visible_to`` for many people at once: of
    ``notifications`` (anyone's, with ``recipient`` loaded), the ids of those
    whose recipient may see their object now, each asked of the app that owns
    it. Posts, meetings and minutes: a fixed number of queries
    (``posts_audience``, ``meetings_audience``, ``minutes_audience``; deleted
    posts are shown to no one); the rarer objects (versions, reports, join
    requests, memberships): one query per recipient who has any."""
    notifications = list(notifications)
    visible: set[int] = set()
    by_post: dict[int, list[Notification]] = {}
    by_meeting: dict[int, list[Notification]] = {}
    by_recipient: dict[int, list[Notification]] = {}
    for notification in notifications:
        if notification.target_type == TargetType.POST:
            by_post.setdefault(notification.target_id, []).append(notification)
        elif notification.target_type == TargetType.MEETING:
            by_meeting.setdefault(notification.target_id, []).append(notification)
        else:
            by_recipient.setdefault(notification.recipient_id, []).append(notification)
    if by_post:
        posts = Post.objects.filter(pk__in=list(by_post), deleted_at__isnull=True)
        recipients = {n.recipient_id for told in by_post.values() for n in told}
        pairs = discussion_permissions.posts_audience(posts.select_related("thread"), recipients)
        for post_id, told in by_post.items():
            visible.update(n.pk for n in told if (post_id, n.recipient_id) in pairs)
    if by_meeting:
        meetings = list(Meeting.objects.filter(pk__in=list(by_meeting)))
        recipients = {n.recipient_id for told in by_meeting.values() for n in told}
        seen = meeting_permissions.meetings_audience(meetings, recipients)
        readable = meeting_permissions.minutes_audience(meetings, recipients)
        for meeting_id, told in by_meeting.items():
            for n in told:
                pairs = readable if n.kind == Kind.MINUTES_PUBLISHED else seen
                if (meeting_id, n.recipient_id) in pairs:
                    visible.add(n.pk)
    for told in by_recipient.values():
        visible.update(
            notifications_visible_to(told[0].recipient)
            .filter(pk__in=[n.pk for n in told])
            .values_list("pk", flat=True)
        )
    return visible


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
    A notification about a post or a report on one stands under the group
    the post is in now (a thread may have moved since); the other objects
    stay in their group."""
    post_group = Post.objects.filter(pk=OuterRef("target_id")).values("thread__group_id")
    report_group = Report.objects.filter(pk=OuterRef("target_id")).values("post__thread__group_id")
    current_group = Case(
        When(target_type=TargetType.POST, then=Subquery(post_group[:1])),
        When(target_type=TargetType.REPORT, then=Subquery(report_group[:1])),
        default=F("group_id"),
        output_field=BigIntegerField(),
    )
    notifications = list(
        notifications_visible_to(user)
        .annotate(current_group_id=current_group)
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


def preferences(user) -> tuple[list[tuple[WorkingGroup, str | None, str]], EmailPreference]:
    """For the preferences page: the groups ``user`` takes part in (a valid
    membership), by name, each as (group, their own level or None, the
    group's default), and their email preferences (unsaved defaults if they
    chose none). Four queries, whatever the number of groups."""
    memberships = group_permissions.valid_memberships(user).select_related("group")
    groups = sorted((m.group for m in memberships), key=lambda group: group.name.casefold())
    ids = [group.pk for group in groups]
    own = dict(
        GroupLevel.objects.filter(user=user, group_id__in=ids).values_list("group_id", "level")
    )
    defaults = dict(
        GroupDefaultLevel.objects.filter(group_id__in=ids).values_list("group_id", "level")
    )
    rows = [(group, own.get(group.pk), defaults.get(group.pk, DEFAULT_LEVEL)) for group in groups]
    preference = EmailPreference.objects.filter(user=user).first() or EmailPreference(user=user)
    return rows, preference
