"""The email outbox: every email the workspace sends is a row first.

Writing: ``email_queue(...)`` (one email) or ``emails_queue([...])`` (many, one
INSERT) inside the transaction of the change that causes the email. The row
commits with the change or not at all; after commit a task is enqueued that
sends it when it is due (``core.tasks.send_due_emails``). A ``key`` that is
already queued is skipped, so a change that is retried never queues twice.

Sending (``send_due``, run by the tasks): in chunks of ``OUTBOX_COMPOSE_CHUNK``
emails. A chunk is read without a lock (the next due rows, oldest first, and
the other unsent rows of their batches: two queries) and composed at once;
then each email is sent in its own transaction that locks exactly its rows
(``SKIP LOCKED``) if they are all still unsent (otherwise another worker has
it: it is skipped here, and composed afresh by whoever sends it), sends it
through Django's email backend (``EMAIL_URL``) and marks them sent, emptying
their bodies (they may hold secrets, such as an invitation's link). A crash
between sending and committing sends that one email again, no other. An
email is composed at most a chunk's sending time before it leaves (a few
seconds): access is checked again within seconds of delivery. A failure
(composing or sending) is recorded on the rows and tried again later, with a
backoff (``OUTBOX_RETRY_SECONDS`` doubling up to ``OUTBOX_RETRY_MAX_SECONDS``);
a row is never dropped for failing.

Batching and composing at send time: rows with the same ``batch_key`` and
address that are unsent when the first of them is due go out as one email.
``compose`` names a callable (dotted path) that builds the emails of a chunk
when they are sent, all those with the same ``compose`` at once::

    def compose(emails: list[list[OutboundEmail]]) -> list[EmailMessage | None]

Each email is its rows (oldest first; their ``subject``, ``text``, ``html``,
``headers``, ``language`` and ``ref``, the id of what they are about, as
queued); it returns one entry per email, in the same order: the message to
send to ``rows[0].to`` (its ``to`` is set by the outbox), or None when
nothing is left to say (access lost, everything read meanwhile): the rows
are then marked sent and ``dropped``. It is called for a single row as well,
so it is also the place to check access again and take the latest text; it
should take a number of queries that does not grow with the emails. If it
raises, the outbox calls it again for each email alone: only the failing one
fails. Without ``compose`` a row goes out as stored (several rows of a batch
without ``compose``: the first one's subject and headers, the texts one after
another).
"""

import datetime
import email.policy
import logging
import uuid
from collections.abc import Iterable
from email.utils import make_msgid
from urllib.parse import urlsplit

from django.conf import settings
from django.core import mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.module_loading import import_string

from .models import OutboundEmail

logger = logging.getLogger(__name__)


class OutboxEmail(mail.EmailMultiAlternatives):
    """An email whose header lines are folded only where RFC 5322 requires
    (998 characters). Folded at 78, as Python's ``email`` does by default, a
    long value without spaces (a signed ``List-Unsubscribe`` link) is cut
    into RFC 2047 encoded words, which mail clients do not read in a header
    holding a URL. The bodies keep their own line limits."""

    def message(self, *, policy=email.policy.default):
        message = super().message(policy=policy)
        message.policy = policy.clone(max_line_length=998)
        return message


def email_queue(
    *,
    to: str,
    subject: str,
    text: str,
    html: str = "",
    language: str = "",
    headers: dict | None = None,
    key: str | None = None,
    due_at: datetime.datetime | None = None,
    batch_key: str = "",
    compose: str = "",
) -> OutboundEmail:
    """Queues one email (see the module docstring). Call it inside the
    transaction of the change that causes it; ``due_at`` (default now) is the
    earliest it leaves. ``key`` (default: a fresh one) makes it unique: an email
    whose key is already queued is not queued again. Returns the row (the
    queued one when the key existed)."""
    row = OutboundEmail(
        key=key or "",
        to=to,
        language=language,
        subject=subject,
        text=text,
        html=html,
        headers=headers or {},
        due_at=due_at,
        batch_key=batch_key,
        compose=compose,
    )
    emails_queue([row])
    return OutboundEmail.objects.get(key=row.key)


def email_queue_message(message: mail.EmailMessage, *, language: str = "") -> None:
    """Queues an email rendered elsewhere (a library's ``EmailMessage``, e.g.
    allauth's): its subject, text and HTML bodies and extra headers, one row
    per recipient. An HTML-only message gets a text body without the tags."""
    alternatives = getattr(message, "alternatives", [])
    html = next((body for body, mimetype in alternatives if mimetype == "text/html"), "")
    text = message.body
    if message.content_subtype == "html":
        html, text = message.body, strip_tags(message.body)
    emails_queue(
        OutboundEmail(
            to=to,
            language=language,
            subject=str(message.subject),
            text=text,
            html=html,
            headers=dict(message.extra_headers),
        )
        for to in message.recipients()
    )


def emails_queue(rows: Iterable[OutboundEmail]) -> None:
    """Queues many emails with one INSERT and one task (for a fan-out): unsaved
    ``OutboundEmail`` rows, ``due_at`` and ``key`` filled in when empty, a
    ``Message-ID`` added when the headers have none. Rows whose key is already
    queued are skipped."""
    now = timezone.now()
    rows = list(rows)
    if not rows:
        return
    domain = urlsplit(settings.SITE_URL).hostname or "localhost"
    for row in rows:
        row.key = row.key or uuid.uuid4().hex
        row.due_at = row.due_at or now
        row.headers = dict(row.headers or {})
        if not any(name.lower() == "message-id" for name in row.headers):
            row.headers["Message-ID"] = make_msgid(domain=domain)
    OutboundEmail.objects.bulk_create(rows, ignore_conflicts=True)
    first_due = min(row.due_at for row in rows)
    transaction.on_commit(lambda: _enqueue_send(first_due))


def last_queued() -> int:
    """The id of the newest outbox row (0 if none): a mark for
    ``emails_drop_queued_after``."""
    return OutboundEmail.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def emails_drop_queued_after(mark: int) -> int:
    """Marks every unsent email queued after ``mark`` (``last_queued()``) as
    handled and dropped: none of them leaves. For ``seed_demo``, whose
    writes in the demo people's names should not mail them. Returns how many."""
    return OutboundEmail.objects.filter(pk__gt=mark, sent_at__isnull=True).update(
        sent_at=timezone.now(), dropped=True
    )


def _enqueue_send(due_at: datetime.datetime) -> None:
    from .tasks import send_due_emails  # the tasks module imports this one

    task = send_due_emails
    if due_at > timezone.now() and task.get_backend().supports_defer:
        task = task.using(run_after=due_at)
    try:
        task.enqueue()
    except Exception:
        # The change is committed and the row is safe; the sweep sends it.
        logger.exception("Could not enqueue the outbox's send task")


def retry_delay(attempts: int) -> datetime.timedelta:
    """How long a row waits after its ``attempts``-th failure."""
    seconds = settings.OUTBOX_RETRY_SECONDS * 2 ** min(attempts - 1, 30)
    return datetime.timedelta(seconds=min(seconds, settings.OUTBOX_RETRY_MAX_SECONDS))


def send_due(*, limit: int | None = None) -> int:
    """Sends what is due, ``OUTBOX_COMPOSE_CHUNK`` emails at a time, until
    nothing is due (or ``limit`` emails were handled). Returns the number of
    emails handled (sent, dropped or failed). Safe to run in several workers
    at once: an email another worker holds is left to it."""
    handled = 0
    # Emails found held by another worker: not read again by this run.
    skipped: set[int] = set()
    connection = mail.mailers.default
    try:
        while limit is None or handled < limit:
            size = settings.OUTBOX_COMPOSE_CHUNK
            if limit is not None:
                size = min(size, limit - handled)
            emails = _due_chunk(size, skipped)
            if not emails:
                break
            handled += _send_chunk(emails, connection, skipped)
    finally:
        connection.close()
    return handled


def _due_chunk(size: int, skipped: set[int]) -> list[list[OutboundEmail]]:
    """The next ``size`` due emails, read without a lock in two queries: the
    due unsent rows, oldest first, and the other unsent rows of their
    batches. Each email is its rows, oldest first."""
    now = timezone.now()
    due = list(
        OutboundEmail.objects.filter(sent_at__isnull=True, due_at__lte=now)
        .exclude(pk__in=skipped)
        .order_by("due_at", "pk")[: size * 4]
    )
    emails: dict[tuple[str, str] | int, list[OutboundEmail]] = {}
    for row in due:
        identity = (row.batch_key, row.to) if row.batch_key else row.pk
        if identity not in emails and len(emails) < size:
            emails[identity] = []
    batches = [identity for identity in emails if isinstance(identity, tuple)]
    if batches:
        # One query for the whole chunk; rows of other addresses sharing a
        # key are read too and left out here.
        rows = OutboundEmail.objects.filter(
            sent_at__isnull=True,
            batch_key__in={key for key, _to in batches},
            to__in={to for _key, to in batches},
        ).order_by("created_at", "pk")
        for row in rows:
            if (row.batch_key, row.to) in emails:
                emails[(row.batch_key, row.to)].append(row)
    for row in due:
        if row.pk in emails:
            emails[row.pk].append(row)
    return [rows for rows in emails.values() if rows]


def _send_chunk(emails: list[list[OutboundEmail]], connection, skipped: set[int]) -> int:
    """Composes the chunk's emails, then sends each in its own transaction.
    Returns how many were handled (not those another worker holds)."""
    handled = 0
    for rows, message, error in _compose_chunk(emails):
        if error is not None:
            with transaction.atomic():
                if not _lock(rows):
                    skipped.update(row.pk for row in rows)
                    continue
                _failed(rows, error)
            handled += 1
            continue
        if _send_one(rows, message, connection):
            handled += 1
        else:
            skipped.update(row.pk for row in rows)
    return handled


def _compose_chunk(emails):
    """(rows, message or None, error or None) for every email of the chunk,
    in order: the emails of one ``compose`` hook composed together; if the
    hook raises for them, one by one, so that only the failing email fails."""
    results: dict[int, tuple] = {}
    by_hook: dict[str, list[int]] = {}
    for index, rows in enumerate(emails):
        by_hook.setdefault(rows[0].compose, []).append(index)
    for hook, indexes in by_hook.items():
        try:
            compose = _hook(hook)
            messages = compose([emails[index] for index in indexes])
            if len(messages) != len(indexes):
                raise ValueError(f"{hook} returned {len(messages)} emails for {len(indexes)}")
        except Exception:
            logger.exception("Composing %d emails with %s failed; one by one", len(indexes), hook)
            for index in indexes:
                results[index] = _compose_alone(hook, emails[index])
            continue
        for index, message in zip(indexes, messages, strict=True):
            results[index] = (emails[index], message, None)
    return [results[index] for index in range(len(emails))]


def _hook(hook: str):
    """The ``compose`` callable a row names (none: as stored)."""
    return import_string(hook) if hook else _compose_stored


def _compose_alone(hook: str, rows: list[OutboundEmail]) -> tuple:
    try:
        (message,) = _hook(hook)([rows])
    except Exception as error:
        return rows, None, error
    return rows, message, None


def _lock(rows: list[OutboundEmail]) -> bool:
    """Locks the email's rows (inside a transaction) if all of them are still
    unsent and no other worker holds any; False otherwise."""
    pks = [row.pk for row in rows]
    locked = OutboundEmail.objects.select_for_update(skip_locked=True).filter(
        pk__in=pks, sent_at__isnull=True
    )
    return len(locked.values_list("pk", flat=True)) == len(pks)


def _send_one(rows: list[OutboundEmail], message, connection) -> bool:
    """Sends one composed email in its own transaction, its rows locked, and
    marks them sent (or failed). False if another worker holds or sent them."""
    pks = [row.pk for row in rows]
    with transaction.atomic():
        if not _lock(rows):
            return False
        if message is not None:
            message.to = [rows[0].to]
            try:
                # Opened once and kept for the next emails; no-op when open.
                connection.open()
                connection.send_messages([message])
            except Exception as error:
                _failed(rows, error)
                # The server may have dropped the connection: the next send opens a new one.
                connection.close()
                return True
        # The bodies go once sent: they may hold secrets (an invitation's link).
        OutboundEmail.objects.filter(pk__in=pks).update(
            sent_at=timezone.now(),
            dropped=message is None,
            attempts=F("attempts") + 1,
            last_error="",
            text="",
            html="",
        )
    return True


def _failed(rows: list[OutboundEmail], error: Exception) -> None:
    """Records a failure on the email's rows (locked) and holds them for the backoff."""
    first = rows[0]
    attempts = first.attempts + 1
    logger.warning("Email %s failed (attempt %d): %r", first.pk, attempts, error)
    OutboundEmail.objects.filter(pk__in=[row.pk for row in rows]).update(
        attempts=F("attempts") + 1,
        last_error=f"{type(error).__name__}: {error}"[:2000],
        due_at=timezone.now() + retry_delay(attempts),
    )


def _compose_stored(emails: list[list[OutboundEmail]]) -> list[mail.EmailMessage]:
    """The emails without ``compose``: as stored (a batch: the first row's
    subject and headers, the texts one after another)."""
    messages = []
    for rows in emails:
        first = rows[0]
        text = "\n\n".join(row.text for row in rows)
        html = "\n<hr>\n".join(row.html for row in rows if row.html)
        message = OutboxEmail(subject=first.subject, body=text, headers=first.headers)
        if html:
            message.attach_alternative(html, "text/html")
        messages.append(message)
    return messages
