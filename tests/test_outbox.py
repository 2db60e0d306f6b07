"""The email outbox (core.outbox, core.tasks): queued in the caller's
transaction, sent after commit, unique by key, held until due, batched,
retried on failure. Tasks run at once here (ImmediateBackend); the real
worker is tests/test_outbox_worker.py."""

import datetime

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from core import periodic
from core.models import OutboundEmail, OutboxSweep
from core.outbox import email_queue, emails_queue, retry_delay, send_due
from core.tasks import sweep_ensure, sweep_outbox
from groups import services
from tests.fixtures.people import enable_mfa
from tests.servers import free_port

pytestmark = pytest.mark.django_db

LATER = datetime.timedelta(minutes=10)


def compose_digest(emails):
    """A compose callable as a caller would write one: one message per email,
    made of its rows."""
    return [
        mail.EmailMultiAlternatives(
            subject=f"{len(rows)} new",
            body="\n".join(row.text for row in rows),
            headers={"Message-ID": rows[0].headers["Message-ID"]},
        )
        for rows in emails
    ]


def compose_nothing(emails):
    return [None for _rows in emails]


def test_email_queue_sends_after_commit_with_both_bodies_and_headers(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        row = email_queue(
            to="a@example.org",
            subject="Hello",
            text="plain",
            html="<p>rich</p>",
            headers={"In-Reply-To": "<t1@example.org>", "References": "<t1@example.org>"},
        )
        assert mail.outbox == []  # nothing leaves before the commit
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["a@example.org"]
    assert message.body == "plain"
    assert message.alternatives[0].content == "<p>rich</p>"
    assert message.extra_headers["In-Reply-To"] == "<t1@example.org>"
    row.refresh_from_db()
    assert row.sent_at is not None and row.attempts == 1
    assert row.text == row.html == ""  # the bodies are not kept once sent
    # The Message-ID was fixed when queued: a resend carries the same one.
    assert message.extra_headers["Message-ID"] == row.headers["Message-ID"]


def test_email_queue_writes_nothing_if_the_transaction_rolls_back(
    django_capture_on_commit_callbacks,
):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        email_queue(to="a@example.org", subject="S", text="t")
        raise RuntimeError
    assert not OutboundEmail.objects.exists()
    assert mail.outbox == []


def test_email_queue_queues_a_key_once_if_the_change_is_retried():
    for _ in range(2):
        email_queue(to="a@example.org", subject="S", text="t", key="k1", due_at=timezone.now())
    assert OutboundEmail.objects.filter(key="k1").count() == 1


def test_send_due_keeps_a_held_email_until_it_is_due():
    row = email_queue(to="a@example.org", subject="S", text="t", due_at=timezone.now() + LATER)
    assert send_due() == 0
    assert mail.outbox == []
    OutboundEmail.objects.filter(pk=row.pk).update(due_at=timezone.now())
    assert send_due() == 1
    assert [message.to for message in mail.outbox] == [["a@example.org"]]


def test_send_due_sends_a_batch_as_one_email_built_by_compose():
    soon = timezone.now() + LATER
    for text in ["first", "second"]:
        email_queue(
            to="a@example.org",
            subject=text,
            text=text,
            due_at=soon,
            batch_key="notify:1",
            compose="tests.test_outbox.compose_digest",
        )
    email_queue(to="b@example.org", subject="o", text="o", due_at=soon, batch_key="notify:2")
    OutboundEmail.objects.filter(text="first").update(due_at=timezone.now())
    assert send_due() == 1  # the first is due: the second of its batch goes with it
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "2 new"
    assert mail.outbox[0].body == "first\nsecond"
    assert mail.outbox[0].to == ["a@example.org"]
    assert OutboundEmail.objects.filter(sent_at__isnull=True).get().to == "b@example.org"


def test_send_due_drops_the_rows_if_compose_has_nothing_to_send():
    row = email_queue(
        to="a@example.org", subject="S", text="t", compose="tests.test_outbox.compose_nothing"
    )
    assert send_due() == 1
    row.refresh_from_db()
    assert row.sent_at is not None and row.dropped
    assert mail.outbox == []


calls: list[list[str]] = []


def compose_recorded(emails):
    """Records the recipients of each call, then composes as stored."""
    calls.append([rows[0].to for rows in emails])
    return compose_digest(emails)


def compose_failing_for_bad(emails):
    """Raises for any chunk holding an email whose subject is "bad"."""
    if any(rows[0].subject == "bad" for rows in emails):
        raise RuntimeError("cannot compose bad")
    return compose_digest(emails)


def compose_while_another_worker_sends(emails):
    """While this worker composes its chunk, another one (a nested send_due,
    which reads the same due rows) takes the first email and sends it."""
    if not calls:
        calls.append(["other worker"])
        assert send_due(limit=1) == 1
    return compose_digest(emails)


@pytest.fixture
def compose_calls():
    calls.clear()
    yield calls
    calls.clear()


def queue_many(count, *, compose, first_subject="Email 0"):
    """``count`` emails to p0@… p<count-1>@…, each its own batch, composed by ``compose``."""
    emails_queue(
        OutboundEmail(
            to=f"p{n}@example.org",
            subject=first_subject if n == 0 else f"Email {n}",
            text=f"Body {n}",
            compose=compose,
            batch_key=f"k{n}",
        )
        for n in range(count)
    )


def test_send_due_composes_in_chunks_and_sends_every_email_once(settings, compose_calls):
    settings.OUTBOX_COMPOSE_CHUNK = 2
    queue_many(5, compose="tests.test_outbox.compose_recorded")
    assert send_due() == 5
    # Three chunks of at most two emails, oldest first.
    assert compose_calls == [
        ["p0@example.org", "p1@example.org"],
        ["p2@example.org", "p3@example.org"],
        ["p4@example.org"],
    ]
    assert sorted(m.to[0] for m in mail.outbox) == [f"p{n}@example.org" for n in range(5)]
    assert not OutboundEmail.objects.filter(sent_at__isnull=True).exists()


def test_send_due_skips_an_email_another_worker_took_between_compose_and_send(compose_calls):
    queue_many(3, compose="tests.test_outbox.compose_while_another_worker_sends")
    assert send_due() == 2  # the first was the other worker's
    assert compose_calls == [["other worker"]]
    # Every email arrived once: the one the other worker sent was not sent again.
    assert sorted(m.to[0] for m in mail.outbox) == [f"p{n}@example.org" for n in range(3)]
    assert OutboundEmail.objects.filter(sent_at__isnull=False, attempts=1).count() == 3


def test_send_due_sends_the_others_if_compose_fails_for_one(settings, compose_calls):
    queue_many(4, compose="tests.test_outbox.compose_failing_for_bad", first_subject="bad")
    before = timezone.now()
    assert send_due() == 4  # handled: three sent, one failed
    assert sorted(m.to[0] for m in mail.outbox) == [f"p{n}@example.org" for n in range(1, 4)]
    bad = OutboundEmail.objects.get(to="p0@example.org")
    assert bad.sent_at is None and bad.attempts == 1
    assert bad.last_error == "RuntimeError: cannot compose bad"
    assert bad.due_at >= before + retry_delay(1)


def test_send_due_keeps_and_retries_an_email_whose_compose_cannot_be_found():
    queue_many(1, compose="tests.test_outbox.no_such_compose")
    email_queue(to="plain@example.org", subject="S", text="t")
    assert send_due() == 2
    assert [m.to for m in mail.outbox] == [["plain@example.org"]]
    row = OutboundEmail.objects.get(to="p0@example.org")
    assert row.sent_at is None and row.attempts == 1 and "ImportError" in row.last_error


def test_emails_queue_writes_many_rows_with_one_insert(django_assert_num_queries):
    rows = [OutboundEmail(to=f"p{i}@example.org", subject="S", text="t") for i in range(50)]
    with django_assert_num_queries(1):
        emails_queue(rows)
    assert OutboundEmail.objects.count() == 50
    assert len({row.headers["Message-ID"] for row in OutboundEmail.objects.all()}) == 50


def test_send_due_keeps_and_retries_an_email_if_the_server_refuses(settings):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            # Nothing listens there: the connection is refused.
            "OPTIONS": {"host": "127.0.0.1", "port": free_port(), "timeout": 2},
        }
    }
    before = timezone.now()
    row = email_queue(to="a@example.org", subject="S", text="t")
    assert send_due() == 1
    row.refresh_from_db()
    assert row.sent_at is None
    assert row.attempts == 1
    assert "ConnectionRefusedError" in row.last_error
    assert row.due_at >= before + retry_delay(1)
    assert send_due() == 0  # not due again before its backoff


def test_send_due_sends_a_failed_email_when_the_server_is_back(settings, smtp_mailer):
    row = email_queue(to="a@example.org", subject="S", text="t", due_at=timezone.now() + LATER)
    OutboundEmail.objects.filter(pk=row.pk).update(
        attempts=3, last_error="ConnectionRefusedError", due_at=timezone.now()
    )
    assert send_due() == 1
    row.refresh_from_db()
    assert row.sent_at is not None and row.attempts == 4 and row.last_error == ""
    assert [message["To"] for message in smtp_mailer.wait_for_count(1)] == ["a@example.org"]


def test_retry_delay_doubles_up_to_the_maximum(settings):
    settings.OUTBOX_RETRY_SECONDS = 60
    settings.OUTBOX_RETRY_MAX_SECONDS = 600
    delays = [retry_delay(n).total_seconds() for n in range(1, 6)]
    assert delays == [60, 120, 240, 480, 600]


def test_invitation_is_queued_in_the_services_transaction_and_arrives_by_smtp(
    group, moderator, smtp_mailer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation = services.invitation_send(
            actor=moderator, group=group, email="neu@example.org", role="member", language="de"
        )
        row = OutboundEmail.objects.get()
        assert row.key == f"groups.invitation:{invitation.token_hash}"
        assert row.language == "de"
        assert row.sent_at is None
    (message,) = smtp_mailer.wait_for_count(1)
    assert message["To"] == "neu@example.org"
    assert "Einladung" in message["Subject"]
    assert message["Message-ID"] == row.headers["Message-ID"]
    assert message["From"] == "Workspace <workspace@localhost>"
    assert message.get_content_type() == "multipart/alternative"
    html = message.get_body(preferencelist=("html",)).get_content()
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "/invitations/" in html and "/invitations/" in text
    assert OutboundEmail.objects.get().sent_at is not None


def test_invitation_is_not_queued_if_the_service_fails(
    group, moderator, member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        services.invitation_send(actor=moderator, group=group, email=member.email, role="member")
    assert not OutboundEmail.objects.exists()


def test_sweep_ensure_starts_one_chain_and_a_replaced_chain_stops(database_tasks):
    sweep_ensure()
    sweep_ensure()  # running: nothing more
    first = OutboxSweep.objects.get()
    assert DBTaskResult.objects.filter(task_path="core.tasks.sweep_outbox").count() == 1
    # A run of the chain schedules its successor before sending.
    assert sweep_outbox.call(first.token) == 0
    assert DBTaskResult.objects.filter(task_path="core.tasks.sweep_outbox").count() == 2
    # Overdue (its task was lost): a new chain replaces it; the old one stops.
    OutboxSweep.objects.update(next_run_at=timezone.now() - 3 * LATER)
    sweep_ensure()
    assert OutboxSweep.objects.get().token != first.token
    assert sweep_outbox.call(first.token) == 0
    assert DBTaskResult.objects.filter(task_path="core.tasks.sweep_outbox").count() == 3


def test_sweep_sends_what_is_due_without_the_send_task(database_tasks):
    emails_queue([OutboundEmail(to="a@example.org", subject="S", text="t")])  # task never runs
    sweep_ensure()
    assert sweep_outbox.call(OutboxSweep.objects.get().token) == 1
    assert [message.to for message in mail.outbox] == [["a@example.org"]]


@pytest.fixture
def registered_work():
    """Periodic work registered for one test (core.periodic), then removed."""
    names = []

    def register(name, function):
        names.append(name)
        periodic.register(name, function)

    yield register
    for name in names:
        periodic._jobs.pop(name, None)


def test_sweep_runs_registered_work_after_scheduling_its_successor(database_tasks, registered_work):
    seen = []

    def work():
        # By now the next run is a task row: a worker killed here loses nothing.
        seen.append(DBTaskResult.objects.filter(task_path="core.tasks.sweep_outbox").count())
        emails_queue([OutboundEmail(to="w@example.org", subject="From work", text="t")])

    registered_work("test.work", work)
    sweep_ensure()
    assert sweep_outbox.call(OutboxSweep.objects.get().token) == 1  # what it queued, sent
    assert seen == [2]
    assert [message.subject for message in mail.outbox] == ["From work"]


def test_sweep_goes_on_if_registered_work_fails(database_tasks, registered_work):
    def broken():
        raise RuntimeError("broken work")

    ran = []
    registered_work("test.broken", broken)
    registered_work("test.after", lambda: ran.append(True))
    emails_queue([OutboundEmail(to="a@example.org", subject="S", text="t")])
    sweep_ensure()
    assert sweep_outbox.call(OutboxSweep.objects.get().token) == 1
    assert ran == [True]
    assert OutboxSweep.objects.get().next_run_at > timezone.now()


def test_sweep_runs_the_notifications_reminders(database_tasks, group, member, moderator):
    from meetings import services as meetings
    from notifications.models import Kind, Notification

    assert "notifications.meeting_reminders" in periodic.registered()
    starts = timezone.now() + datetime.timedelta(minutes=10)
    meetings.meeting_schedule(
        actor=moderator,
        group=group,
        data={"title": "Soon", "starts_at": starts, "ends_at": starts + LATER},
    )
    sweep_ensure()
    sweep_outbox.call(OutboxSweep.objects.get().token)
    assert Notification.objects.filter(kind=Kind.MEETING_SOON, recipient=member).exists()


def test_periodic_start_command_starts_the_chain_once(database_tasks):
    from django.core.management import call_command

    call_command("periodic_start")
    call_command("periodic_start")
    assert OutboxSweep.objects.count() == 1
    assert DBTaskResult.objects.filter(task_path="core.tasks.sweep_outbox").count() == 1


def test_allauth_email_is_queued_in_the_outbox(client, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("account_reset_password"), {"email": user.email})
        row = OutboundEmail.objects.get(to=user.email)
        assert row.sent_at is None and row.language == "en"
    row.refresh_from_db()
    assert row.sent_at is not None
    assert [message.to for message in mail.outbox] == [[user.email]]
    assert "/accounts/password/reset/key/" in mail.outbox[0].body


def test_admin_lists_waiting_emails_with_their_error_but_not_their_bodies(client, make_user):
    admin_user = enable_mfa(
        make_user("root@example.org", display_name="Root", is_staff=True, is_superuser=True)
    )
    row = email_queue(to="a@example.org", subject="Waiting", text="secret link")
    OutboundEmail.objects.filter(pk=row.pk).update(attempts=2, last_error="SMTPServerDisconnected")
    client.force_login(admin_user)
    listing = client.get(reverse("admin:core_outboundemail_changelist"))
    assert listing.status_code == 200
    assert "Waiting" in listing.text and "SMTPServerDisconnected" in listing.text
    detail = client.get(reverse("admin:core_outboundemail_change", args=[row.pk]))
    assert detail.status_code == 200
    assert "a@example.org" in detail.text and "secret link" not in detail.text


def test_a_long_header_arrives_as_one_plain_value_not_encoded_words(smtp_mailer):
    link = "<https://workspace.example.org/unsubscribe/" + "A1b2C3d4" * 12 + "/>"
    email_queue(to="a@example.org", subject="S", text="t", headers={"List-Unsubscribe": link})
    send_due()
    (message,) = smtp_mailer.messages
    assert dict(message.raw_items())["List-Unsubscribe"] == link


def test_a_signed_in_request_now_and_then_starts_the_periodic_chain(
    client, user, database_tasks, django_capture_on_commit_callbacks
):
    client.force_login(user)
    type(user).objects.filter(pk=user.pk).update(last_seen_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        client.get(reverse("accounts:profile", args=[user.pk]))
    assert OutboxSweep.objects.get().next_run_at <= timezone.now()
    assert DBTaskResult.objects.filter(task_path="core.tasks.sweep_outbox").count() == 1
