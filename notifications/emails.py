"""Notification emails: one outbox row per notification, composed when sent.

Queued (``notification_emails_queue``) in the transaction that writes the
notifications, one row per notification for the recipients whose
``EmailPreference`` wants its kind, in two queries whatever their number.
Each waits ``hold(kind)`` before it leaves, and every row of one person
still waiting when the first is due goes out with it as one email
(``batch_key``).

Composed (``compose``, called by the outbox when the rows leave, for a
chunk of emails at once, in a number of queries that does not grow with
them), afresh: only the notifications the person may still see
(``selectors.notifications_visible_among``, the batch rule the digests use),
has not read in the app meanwhile and still wants by email (kind, thread
level: ``selectors.thread_levels``); nothing left, no email. Rendered per
email in the person's language and time zone, with the latest text of what
it is about (``ABOUT``, one entry per target type, one query for all the
notifications of that type), none for a group whose moderators chose "no
message text in emails".
"""

import dataclasses
import datetime
import uuid
import zoneinfo
from urllib.parse import urlsplit

from django.conf import settings
from django.template import Context
from django.template.loader import get_template, render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.models import OutboundEmail
from core.outbox import OutboxEmail, emails_queue
from discussions.models import Post, Report
from documents.models import DocumentVersion
from groups.models import JoinRequest, WorkingGroup
from meetings.models import ChatMessage, Meeting

from . import selectors
from . import unsubscribe as links
from .models import EmailPreference, Kind, Level, Notification, TargetType

COMPOSE = "notifications.emails.compose"
# Published minutes are quoted up to this many words (the rest is a link away).
MINUTES_WORDS = 300

# The hold of each kind, in minutes, or the setting that says it; every
# other kind waits NOTIFY_EMAIL_HOLD_MINUTES.
HOLDS = {
    Kind.MENTION: "NOTIFY_MENTION_HOLD_MINUTES",
    # A reminder 15 minutes before a meeting cannot wait.
    Kind.MEETING_SOON: 0,
}


def hold(kind: str) -> datetime.timedelta:
    """How long an email of ``kind`` waits before it leaves."""
    minutes = HOLDS.get(kind, "NOTIFY_EMAIL_HOLD_MINUTES")
    if isinstance(minutes, str):
        minutes = getattr(settings, minutes)
    return datetime.timedelta(minutes=minutes)


def _preference(enabled, kinds_off) -> EmailPreference:
    """A person's preferences as read alongside their notifications (no
    row: the defaults)."""
    return EmailPreference(enabled=True if enabled is None else enabled, kinds_off=kinds_off or [])


def notification_emails_queue(*, target_type: str, target_id: int, created_at) -> int:
    """Queues the emails of the notifications about one object written at
    ``created_at`` (call it inside the transaction that wrote them): one
    row per notification whose recipient is active and wants its kind by
    email. Two queries, whatever the number of recipients (their addresses
    and preferences; the insert). A notification is queued once (its key
    names it and when it was written). Returns the number queued."""
    written = Notification.objects.filter(
        target_type=target_type, target_id=target_id, created_at=created_at
    ).values_list(
        "pk",
        "kind",
        "recipient_id",
        "recipient__email",
        "recipient__is_active",
        "recipient__language",
        "subject",
        "recipient__email_preference__enabled",
        "recipient__email_preference__kinds_off",
    )
    now = timezone.now()
    stamp = created_at.strftime("%Y%m%dT%H%M%S.%f")
    rows = [
        OutboundEmail(
            key=f"notification:{pk}:{stamp}",
            to=address,
            language=language,
            subject=subject,
            text="",
            due_at=now + hold(kind),
            batch_key=f"notifications:{user_id}",
            compose=COMPOSE,
            ref=pk,
        )
        for pk, kind, user_id, address, active, language, subject, enabled, kinds_off in written
        if active and address and _preference(enabled, kinds_off).wants(kind)
    ]
    emails_queue(rows)
    return len(rows)


# --- What a notification is about, per target type ---------------------------------


@dataclasses.dataclass
class About:
    """What an email says of a notification's object beyond its sentence."""

    group: WorkingGroup
    # Quoted text (the post's latest), blank in a group without text in emails.
    text: str = ""
    # A time to show in the person's time zone (a meeting's start).
    when: datetime.datetime | None = None
    # A link to join (a meeting's video link, when it starts soon).
    join_link: str = ""
    # For a post: the thread and the post, for the threading headers.
    post: Post | None = None


def _quote(group: WorkingGroup, text: str) -> str:
    return "" if group.emails_without_text else text


def _about_each(objects, notifications, describe) -> dict[int, About]:
    """``{notification pk: About}`` for the notifications whose object is among
    ``objects`` (a queryset, read in one query; an object not found there —
    deleted, hidden — tells nothing), each described by ``describe(n, obj)``."""
    found = objects.in_bulk({n.target_id for n in notifications})
    return {n.pk: describe(n, found[n.target_id]) for n in notifications if n.target_id in found}


def _about_posts(notifications) -> dict[int, About]:
    posts = Post.objects.select_related("thread__group", "parent").filter(
        deleted_at__isnull=True, hidden=False
    )
    return _about_each(
        posts,
        notifications,
        lambda n, post: About(
            group=post.thread.group, text=_quote(post.thread.group, post.body), post=post
        ),
    )


def _about_reports(notifications) -> dict[int, About]:
    return _about_each(
        Report.objects.select_related("post__thread__group"),
        notifications,
        lambda n, report: About(
            group=report.post.thread.group, text=_quote(report.post.thread.group, report.reason)
        ),
    )


def _about_versions(notifications) -> dict[int, About]:
    return _about_each(
        DocumentVersion.objects.select_related("document__group"),
        notifications,
        lambda n, version: About(
            group=version.document.group,
            text=_quote(version.document.group, version.change_note),
        ),
    )


def _describe_meeting(n, meeting) -> About:
    text = ""
    if n.kind == Kind.MINUTES_PUBLISHED:
        text = _quote(meeting.group, Truncator(meeting.minutes).words(MINUTES_WORDS))
    return About(
        group=meeting.group,
        text=text,
        when=meeting.starts_at,
        join_link=meeting.video_link if n.kind == Kind.MEETING_SOON else "",
    )


def _about_meetings(notifications) -> dict[int, About]:
    return _about_each(Meeting.objects.select_related("group"), notifications, _describe_meeting)


def _about_chat_messages(notifications) -> dict[int, About]:
    return _about_each(
        ChatMessage.objects.select_related("room__group").filter(deleted_at__isnull=True),
        notifications,
        lambda n, message: About(
            group=message.room.group, text=_quote(message.room.group, message.body)
        ),
    )


def _about_meeting_texts(field: str):
    """A mention in a meeting's agenda or minutes: the meeting's time and
    the beginning of that text."""

    def describe(n, meeting) -> About:
        text = Truncator(getattr(meeting, field)).words(MINUTES_WORDS)
        return About(group=meeting.group, text=_quote(meeting.group, text), when=meeting.starts_at)

    def about_texts(notifications) -> dict[int, About]:
        return _about_each(Meeting.objects.select_related("group"), notifications, describe)

    return about_texts


def _about_join_requests(notifications) -> dict[int, About]:
    return _about_each(
        JoinRequest.objects.select_related("group"),
        notifications,
        lambda n, request: About(
            group=request.group, text=_quote(request.group, request.motivation)
        ),
    )


# One entry per target type, for many notifications at once (one query):
# {notification id: About}, none for a notification with nothing to send
# (its object gone, a post hidden or deleted). A type without an entry is
# told by its sentence and link alone (``About(group=notification.group)``).
ABOUT = {
    TargetType.POST: _about_posts,
    TargetType.REPORT: _about_reports,
    TargetType.VERSION: _about_versions,
    TargetType.MEETING: _about_meetings,
    TargetType.JOIN_REQUEST: _about_join_requests,
    TargetType.CHAT_MESSAGE: _about_chat_messages,
    TargetType.AGENDA: _about_meeting_texts("agenda"),
    TargetType.MINUTES: _about_meeting_texts("minutes"),
}


def about_among(notifications) -> dict[int, About]:
    """What each of ``notifications`` is about, keyed by its id; one query
    per target type present. Missing: nothing to send of it."""
    by_type: dict[str, list[Notification]] = {}
    for notification in notifications:
        by_type.setdefault(notification.target_type, []).append(notification)
    about = {}
    for target_type, told in by_type.items():
        entry = ABOUT.get(target_type)
        if entry is None:
            about.update((n.pk, About(group=n.group)) for n in told)
        else:
            about.update(entry(told))
    return about


# --- Composing ------------------------------------------------------------------


def _domain() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def post_message_id(post: Post) -> str:
    """A post's Message-ID: the thread's own for its opening post, so that
    every reply refers to the same root."""
    if post.position == 1:
        return f"<thread-{post.thread_id}@{_domain()}>"
    return f"<post-{post.pk}@{_domain()}>"


def _thread_headers(post: Post) -> dict[str, str]:
    root = f"<thread-{post.thread_id}@{_domain()}>"
    if post.position == 1:
        return {}
    parent = post_message_id(post.parent) if post.parent is not None else root
    references = root if parent == root else f"{root} {parent}"
    return {"In-Reply-To": parent, "References": references}


def _still_wanted(notification, about: About, preference: EmailPreference, levels) -> bool:
    """The person's choices now: email of this kind, and for a post, still
    hearing of its thread (an unsubscribed thread is "mentions only");
    ``levels``: ``selectors.thread_levels`` of the chunk."""
    if not preference.wants(notification.kind):
        return False
    if about.post is None:
        return True
    _own, level = levels[(notification.recipient_id, about.post.thread_id)]
    return level != Level.MUTED and (level != Level.MENTIONS or notification.kind == Kind.MENTION)


def sentence(notification, *, autoescape: bool = True) -> str:
    """What the notification says (``_sentence.html``), on one line."""
    template = get_template("notifications/_sentence.html").template
    text = template.render(Context({"notification": notification}, autoescape=autoescape))
    return " ".join(text.split())


def compose(emails: list[list[OutboundEmail]]) -> list[OutboxEmail | None]:
    """The outbox's ``compose`` for notification emails (see the module
    docstring): for each email (the rows of one person), the message, or
    None when nothing is left to tell them. A number of queries that does
    not grow with the emails: the notifications with their people,
    preferences, actors and groups (one); who may see what
    (``selectors.notifications_visible_among``, per kind of object); what
    they are about (``about_among``, one per kind); the thread levels
    (``selectors.thread_levels``, at most four)."""
    ids = {row.ref for rows in emails for row in rows if row.ref is not None}
    written = list(
        Notification.objects.filter(pk__in=ids, read_at__isnull=True, recipient__is_active=True)
        .select_related("recipient", "recipient__email_preference", "actor", "group")
        .order_by("created_at", "pk")
    )
    preferences = {}
    for n in written:
        preferences.setdefault(n.recipient_id, _preference_of(n.recipient))
    unread = [n for n in written if preferences[n.recipient_id].wants(n.kind)]
    visible = selectors.notifications_visible_among(unread)
    unread = [n for n in unread if n.pk in visible]
    found = about_among(unread)
    unread = [n for n in unread if n.pk in found]
    levels = selectors.thread_levels(
        {(n.recipient_id, found[n.pk].post.thread) for n in unread if found[n.pk].post is not None}
    )
    # In the order they were written.
    wanted = {
        n.pk: (n, found[n.pk])
        for n in unread
        if _still_wanted(n, found[n.pk], preferences[n.recipient_id], levels)
    }
    messages = []
    # What several emails of the chunk say alike (sentences, bodies), rendered once.
    cache: dict = {}
    for rows in emails:
        refs = {row.ref for row in rows}
        items = [item for pk, item in wanted.items() if pk in refs]
        messages.append(_compose_one(items, first_row=rows[0], cache=cache) if items else None)
    return messages


def _preference_of(user) -> EmailPreference:
    """The person's email preferences as read with them (none: the defaults)."""
    try:
        return user.email_preference
    except EmailPreference.DoesNotExist:
        return EmailPreference(user=user)


def _compose_one(items, *, first_row, cache: dict) -> OutboxEmail:
    user = items[0][0].recipient
    language = user.language or settings.LANGUAGE_CODE
    zone = _zone(user)
    with translation.override(language), timezone.override(zone):
        return _render(user, items, first_row=first_row, cache=cache, locale=(language, zone))


def _zone(user) -> zoneinfo.ZoneInfo:
    """The person's time zone; the site's when unset or no longer known (a
    zone name the system dropped must not stop their email)."""
    try:
        return zoneinfo.ZoneInfo(user.time_zone or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


# Stands for a person's unsubscribe link in a body rendered for several
# people (``_render``); random, so that no text can contain it.
_LINK = f"stop-{uuid.uuid4().hex}-"


def _render(user, items, *, first_row, cache: dict, locale) -> OutboxEmail:
    """The email of ``items`` for ``user``, in the active language and time
    zone (``locale``: both, naming them in ``cache``). Its bodies depend on
    the person only through their unsubscribe links: rendered once per
    language, time zone and set of notifications told alike, the links put
    in afterwards."""
    site = settings.SITE_URL
    domain = _domain()
    entries = []
    for notification, found in items:
        key = ("sentence", locale, notification.kind, notification.target_type)
        key += (notification.actor_id, notification.subject)
        if key not in cache:
            cache[key] = sentence(notification, autoescape=False)
        entries.append(
            {
                "notification": notification,
                "about": found,
                "sentence": cache[key],
                "url": site + notification.url,
            }
        )
    posts = [found.post for _n, found in items]
    threads = {post.thread_id for post in posts if post is not None}
    one_thread = len(threads) == 1 and all(post is not None for post in posts)
    headers = {}
    stop = []
    if len(items) == 1:
        notification, found = items[0]
        if found.post is not None:
            thread = found.post.thread
            subject = f"[{found.group.name}] {thread.title}"
            headers["Message-ID"] = post_message_id(found.post)
            headers.update(_thread_headers(found.post))
            scope = f"thread:{thread.pk}"
            stop.append((_("Stop emails from this thread"), scope))
        else:
            subject = f"[{found.group.name}] {entries[0]['sentence']}"
            stamp = int(notification.created_at.timestamp())
            headers["Message-ID"] = (
                f"<{notification.kind}-{notification.target_id}.{notification.pk}.{stamp}@{domain}>"
            )
            scope = f"kind:{notification.kind}"
        stop.append((_("Stop emails of this kind"), f"kind:{notification.kind}"))
    else:
        scope = "all"
        count = len(items)
        subject = ngettext("%(count)d new notification", "%(count)d new notifications", count) % {
            "count": count
        }
        headers["Message-ID"] = f"<notifications-{user.pk}.{first_row.pk}@{domain}>"
        if one_thread:
            root = f"<thread-{threads.pop()}@{domain}>"
            headers.update({"In-Reply-To": root, "References": root})
    stop.append((_("Stop all email"), "all"))
    urls = {link_scope: links.url(user.pk, link_scope) for _label, link_scope in stop}
    if scope not in urls:
        urls[scope] = links.url(user.pk, scope)
    headers.update(links.headers(user.pk, scope, link=urls[scope]))
    told = tuple(
        (n.kind, n.target_type, n.target_id, n.actor_id, n.subject, n.url) for n, _found in items
    )
    key = ("bodies", locale, told)
    if key not in cache:
        context = {
            "entries": entries,
            "stop": [(label, f"{_LINK}{n}.") for n, (label, _scope) in enumerate(stop)],
            "site_url": site,
            "notifications_url": site + reverse("notifications:list"),
        }
        cache[key] = (
            render_to_string("notifications/email/notifications.txt", context),
            render_to_string("notifications/email/notifications.html", context),
        )
    text, html = cache[key]
    for n, (_label, link_scope) in enumerate(stop):
        text = text.replace(f"{_LINK}{n}.", urls[link_scope])
        html = html.replace(f"{_LINK}{n}.", urls[link_scope])
    # One line: a title or name never breaks the header.
    subject = " ".join(subject.split())
    message = OutboxEmail(subject=subject, body=text, headers=headers)
    message.attach_alternative(html, "text/html")
    return message
