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
from documents.models import DocumentVersion
from groups import permissions as group_permissions
from groups.models import JoinRequest, WorkingGroup
from meetings import permissions as meeting_permissions
from meetings.models import ChatMessage, Meeting

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
    ``notifications`` (anyone's), the ids of those whose recipient may see
    their object now, each asked of the app that owns it in batch
    (``posts_audience``, ``reports_audience``, ``versions_audience``,
    ``meetings_audience`` and ``minutes_audience`` for meetings, agendas and
    minutes, ``messages_audience``, ``join_requests_audience``,
    ``memberships_audience``; deleted posts and chat messages are shown to no
    one): per kind of object present, one query for the objects and those of
    ``groups.permissions.groups_audience``, whatever the number of people."""
    by_type: dict[str, list[Notification]] = {}
    for notification in notifications:
        by_type.setdefault(notification.target_type, []).append(notification)
    visible: set[int] = set()
    meetings_told = [
        n
        for target_type in (TargetType.MEETING, TargetType.AGENDA, TargetType.MINUTES)
        for n in by_type.pop(target_type, [])
    ]
    if meetings_told:
        meetings = list(Meeting.objects.filter(pk__in={n.target_id for n in meetings_told}))
        recipients = {n.recipient_id for n in meetings_told}
        seen = meeting_permissions.meetings_audience(meetings, recipients)
        readable = meeting_permissions.minutes_audience(meetings, recipients)
        for n in meetings_told:
            minutes = n.target_type == TargetType.MINUTES or (
                n.target_type == TargetType.MEETING and n.kind == Kind.MINUTES_PUBLISHED
            )
            if (n.target_id, n.recipient_id) in (readable if minutes else seen):
                visible.add(n.pk)
    for target_type, told in by_type.items():
        audience = _AUDIENCE.get(target_type)
        if audience is None:
            continue  # shown to nobody, as in _VISIBLE
        pairs = audience([n.target_id for n in told], {n.recipient_id for n in told})
        visible.update(n.pk for n in told if (n.target_id, n.recipient_id) in pairs)
    return visible


def _posts_audience(ids, user_ids):
    posts = Post.objects.filter(pk__in=ids, deleted_at__isnull=True).select_related("thread")
    return discussion_permissions.posts_audience(posts, user_ids)


def _reports_audience(ids, user_ids):
    reports = Report.objects.filter(pk__in=ids).select_related("post__thread")
    return discussion_permissions.reports_audience(reports, user_ids)


def _versions_audience(ids, user_ids):
    versions = DocumentVersion.objects.filter(pk__in=ids).select_related("document")
    return document_permissions.versions_audience(versions, user_ids)


def _messages_audience(ids, user_ids):
    messages = ChatMessage.objects.filter(pk__in=ids, deleted_at__isnull=True)
    return meeting_permissions.messages_audience(messages.select_related("room"), user_ids)


def _join_requests_audience(ids, user_ids):
    join_requests = JoinRequest.objects.filter(pk__in=ids)
    return group_permissions.join_requests_audience(join_requests, user_ids)


# Per kind of object (meetings, agendas and minutes apart), the batch form of
# _VISIBLE: (target ids, user ids) -> {(target id, user id) visible}.
_AUDIENCE = {
    TargetType.POST: _posts_audience,
    TargetType.REPORT: _reports_audience,
    TargetType.VERSION: _versions_audience,
    TargetType.CHAT_MESSAGE: _messages_audience,
    TargetType.JOIN_REQUEST: _join_requests_audience,
    TargetType.MEMBERSHIP: group_permissions.memberships_audience,
}


def unread_count(user) -> int:
    """The bell's count, on every page: the unread notifications about what
    ``user`` may see now. The rules are asked only for the kinds of object
    among the unread ones (first a small query on the recipient's index), so
    that a person with nothing unread costs no access subquery and one with
    unread replies only the posts' rule. Building all nine rules into one
    query took most of a page's CPU (bench/load.py)."""
    if not user.is_authenticated:
        return 0
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    target_types = set(unread.order_by().values_list("target_type", flat=True).distinct())
    if not target_types:
        return 0
    visible = notifications_visible_to(user, target_types=target_types)
    return visible.filter(read_at__isnull=True).count()


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
    return group_levels_among([(user.pk, group.pk)])[(user.pk, group.pk)]


def group_levels_among(pairs) -> dict[tuple[int, int], tuple[str | None, str]]:
    """``group_levels`` for many (user id, group id) pairs, in two queries:
    per pair, the person's own level (None: not chosen) and the group's default."""
    pairs = set(pairs)
    if not pairs:
        return {}
    user_ids = {user_id for user_id, _group_id in pairs}
    group_ids = {group_id for _user_id, group_id in pairs}
    own = {
        (user_id, group_id): level
        for user_id, group_id, level in GroupLevel.objects.filter(
            user_id__in=user_ids, group_id__in=group_ids
        ).values_list("user_id", "group_id", "level")
    }
    defaults = dict(
        GroupDefaultLevel.objects.filter(group_id__in=group_ids).values_list("group_id", "level")
    )
    return {
        (user_id, group_id): (own.get((user_id, group_id)), defaults.get(group_id, DEFAULT_LEVEL))
        for user_id, group_id in pairs
    }


def thread_level(user, thread) -> tuple[str | None, str]:
    """The level the user chose for ``thread`` (None: none) and the one that
    applies: the chosen one, else watching if they watch it, else their
    level for its group (``thread_levels``)."""
    return thread_levels([(user.pk, thread)])[(user.pk, thread.pk)]


def thread_levels(pairs) -> dict[tuple[int, int], tuple[str | None, str]]:
    """``thread_level`` for many (user id, thread) pairs at once (``thread``:
    a Thread; its ``group_id`` is used), keyed by (user id, thread id): at
    most four queries, the later ones only for the pairs still undecided."""
    threads = {thread.pk: thread for _user_id, thread in pairs}
    undecided = {(user_id, thread.pk) for user_id, thread in pairs}
    levels: dict[tuple[int, int], tuple[str | None, str]] = {}
    if not undecided:
        return levels
    chosen = ThreadLevel.objects.filter(
        user_id__in={user_id for user_id, _pk in undecided}, thread_id__in=set(threads)
    ).values_list("user_id", "thread_id", "level")
    for user_id, thread_id, level in chosen:
        if (user_id, thread_id) in undecided:
            levels[(user_id, thread_id)] = (level, level)
    undecided -= set(levels)
    if undecided:
        watched = Subscription.objects.filter(
            user_id__in={user_id for user_id, _pk in undecided},
            thread_id__in={pk for _user_id, pk in undecided},
        ).values_list("user_id", "thread_id")
        for pair in watched:
            if pair in undecided:
                levels[pair] = (None, Level.WATCHING)
        undecided -= set(levels)
    if undecided:
        by_group = group_levels_among((user_id, threads[pk].group_id) for user_id, pk in undecided)
        for user_id, pk in undecided:
            group_own, default = by_group[(user_id, threads[pk].group_id)]
            levels[(user_id, pk)] = (None, group_own or default)
    return levels


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
