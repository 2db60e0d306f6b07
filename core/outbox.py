"""The email outbox: every email the workspace sends is a row first.

Writing: ``email_queue(...)`` (one email) or ``emails_queue([...])`` (many, one
INSERT) inside the transaction of the change that causes the email. The row
commits with the change or not at all; after commit a task is enqueued that
sends it when it is due (``core.tasks.send_due_emails``). A ``key`` that is
already queued is skipped, so a change that is retried never queues twice.

Sending (``send_due``, run by the tasks): one email at a time, each in its own
transaction that locks its rows (``SKIP LOCKED``: several workers never take
the same row), sends through Django's email backend (``EMAIL_URL``) and marks
them sent, emptying their bodies (they may hold secrets, such as an
invitation's link). A crash between sending and committing sends that one
email again, no other. A failure is recorded on the row and tried again later, with a
backoff (``OUTBOX_RETRY_SECONDS`` doubling up to ``OUTBOX_RETRY_MAX_SECONDS``);
a row is never dropped for failing.

Batching and composing at send time: rows with the same ``batch_key`` and
address that are unsent when the first of them is due go out as one email.
``compose`` names a callable (dotted path) that builds that email when it is
sent::

    def compose(rows: list[OutboundEmail]) -> EmailMessage | None

It gets the rows (oldest first; their ``subject``, ``text``, ``html``,
``headers``, ``language`` and ``ref``, the id of what they are about, as
queued) and returns the one message to send to ``rows[0].to`` (its ``to`` is
set by the outbox), or None when nothing is left to say (access lost,
everything read meanwhile): the rows are then marked sent and ``dropped``. It
is called for a single row as well, so it is also the place to check access
again and take the latest text. Without ``compose`` a row goes out as stored
(several rows of a batch without ``compose``: the first one's subject and
headers, the texts one after another).
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
    """Sends what is due, one email per transaction, until nothing is due (or
    ``limit`` emails were handled). Returns the number of emails handled
    (sent, dropped or failed). Safe to run in several workers at once."""
    handled = 0
    connection = mail.mailers.default
    try:
        while limit is None or handled < limit:
            if not _send_next(connection):
                break
            handled += 1
    finally:
        connection.close()
    return handled


def _send_next(connection) -> bool:
    """Claims the next due email (its batch with it), sends it, marks it.
    False when nothing is due."""
    now = timezone.now()
    with transaction.atomic():
        row = (
            OutboundEmail.objects.select_for_update(skip_locked=True)
            .filter(sent_at__isnull=True, due_at__lte=now)
            .order_by("due_at", "pk")
            .first()
        )
        if row is None:
            return False
        rows = [row]
        if row.batch_key:
            rows = list(
                OutboundEmail.objects.select_for_update(skip_locked=True)
                .filter(sent_at__isnull=True, batch_key=row.batch_key, to=row.to)
                .order_by("created_at", "pk")
            )
        pks = [each.pk for each in rows]
        try:
            message = _message(rows)
            if message is not None:
                # Opened once and kept for the next emails; no-op when open.
                connection.open()
                connection.send_messages([message])
        except Exception as error:
            attempts = row.attempts + 1
            logger.warning("Email %s failed (attempt %d): %r", row.pk, attempts, error)
            OutboundEmail.objects.filter(pk__in=pks).update(
                attempts=F("attempts") + 1,
                last_error=f"{type(error).__name__}: {error}"[:2000],
                due_at=now + retry_delay(attempts),
            )
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


def _message(rows: list[OutboundEmail]) -> mail.EmailMessage | None:
    first = rows[0]
    if first.compose:
        message = import_string(first.compose)(rows)
        if message is None:
            return None
        message.to = [first.to]
        return message
    text = "\n\n".join(row.text for row in rows)
    html = "\n<hr>\n".join(row.html for row in rows if row.html)
    message = OutboxEmail(subject=first.subject, body=text, to=[first.to], headers=first.headers)
    if html:
        message.attach_alternative(html, "text/html")
    return message
