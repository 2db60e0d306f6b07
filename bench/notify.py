"""Notifications at scale: the fan-out of a post, the outbox's sending, the digest.

    .venv/bin/python bench/notify.py [--members 1000] [--emails 2000] [--digests 1000] [--runs 7]

Sets Django up itself (production settings: DEBUG off) on a throwaway test
database made and dropped with django.test.utils.setup_databases /
teardown_databases: a SQLite file in the temp directory, or a
``bench_notify_<pid>`` database on the server ``DATABASE_URL`` names. A real
SMTP server (aiosmtpd) runs in a process of its own (``--no-smtp-process``:
in a thread of this one, ``tests.smtp``'s server).

Three parts, each against a bare baseline in the same run:

- **fan-out**: a group of ``--members`` people, everyone watching (the group's
  default level). A reply in a thread of that group is written by
  ``discussions.services.post_create``, whose hook writes the notifications
  and their email deliveries. ``queries_10`` and ``queries_1000`` count the
  queries of the whole ``post_create`` in groups of 10 and of ``--members``.
  ``ratio_fanout``: the time of the hook (``notify_post_created``) over the
  time of a bare ``bulk_create`` of the same rows (copies of the notifications
  and deliveries the hook wrote), medians of ``--runs``, each run rolled back.
- **send**: ``--emails`` notification emails queued by a post in a group of that
  many watching people, made due, sent by ``core.outbox.send_due`` (what the
  worker runs: the ``compose`` hook, which checks access again and renders
  the emails, for a chunk of ``OUTBOX_COMPOSE_CHUNK`` at once, then one
  transaction per email) to the SMTP server. ``ratio_send``: its
  rate over the rate of a bare loop sending the same number of emails of the
  same size through Django's SMTP backend on one connection. ``mem_growth``:
  the peak of Python's allocations (tracemalloc) while sending a quarter of
  the queue over the peak while sending all of it (1.0: memory does not grow
  with the queue).
- **digest**: a weekly digest for ``--digests`` people with a week of
  notifications and a meeting ahead each, built and queued by the digest
  code; ``digest_cpu_s_per_1000``: its process CPU time per 1,000 people.

Targets (issue 13): queries_10 == queries_1000, ratio_fanout <= 3,
ratio_send >= 0.5, digest_cpu_s_per_1000 <= 3. The last line is one JSON object.
"""

import argparse
import contextlib
import email
import email.policy
import os
import secrets
import statistics
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import log, print_json  # noqa: E402
from tests.smtp import smtp_server  # noqa: E402

TARGETS = {"ratio_fanout": 3.0, "ratio_send": 0.5, "digest_cpu_s_per_1000": 3.0}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--emails", type=int, default=2000)
    parser.add_argument("--digests", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--smtp-process",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the SMTP server in a process of its own (default) or in a thread of this one",
    )
    return parser.parse_args()


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-" + secrets.token_urlsafe(40))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("SITE_URL", "http://127.0.0.1:8000")
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    import django
    from django.conf import settings

    django.setup()
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        name = Path(tempfile.gettempdir()) / f"workspace-bench-notify-{os.getpid()}.sqlite3"
    else:
        name = f"bench_notify_{os.getpid()}"
    database.setdefault("TEST", {})["NAME"] = str(name)


# --- People and groups ---------------------------------------------------------------

_made = 0


def make_people(count: int) -> list:
    """``count`` active people with verified addresses, in bulk."""
    global _made
    from allauth.account.models import EmailAddress

    from accounts.models import User

    first = _made
    _made += count
    users = [
        User(email=f"bench{n}@example.org", display_name=f"Bench {n}", language="en")
        for n in range(first, first + count)
    ]
    for user in users:
        user.set_unusable_password()
    User.objects.bulk_create(users)
    users = list(User.objects.filter(email__in=[u.email for u in users]).order_by("pk"))
    EmailAddress.objects.bulk_create(
        EmailAddress(user=user, email=user.email, verified=True, primary=True) for user in users
    )
    return users


def make_group(slug: str, people: list, *, level: str = "watching"):
    """A group of ``people`` (the first a moderator), every one at ``level``
    by the group's default, with a thread started by the first."""
    from discussions import services as discussion_services
    from groups.models import Membership, Role, WorkingGroup
    from notifications.models import GroupDefaultLevel

    group = WorkingGroup.objects.create(name=f"Bench {slug}", slug=slug)
    Membership.objects.bulk_create(
        Membership(user=user, group=group, role=Role.MODERATOR if n == 0 else Role.MEMBER)
        for n, user in enumerate(people)
    )
    GroupDefaultLevel.objects.create(group=group, level=level)
    thread = discussion_services.thread_create(
        actor=people[0], group=group, title=f"Plans of {slug}", body="Where do we start?"
    )
    return group, thread


class Rollback(Exception):
    pass


def rolled_back(function):
    """Runs ``function()`` in a transaction that is rolled back; returns its result."""
    from django.db import transaction

    result = None
    try:
        with transaction.atomic():
            result = function()
            raise Rollback
    except Rollback:
        pass
    return result


# --- Fan-out -------------------------------------------------------------------------


def count_queries(thread, author) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from discussions import services as discussion_services

    def reply():
        with CaptureQueriesContext(connection) as queries:
            discussion_services.post_create(actor=author, thread=thread, body="A reply.")
        return len(queries)

    return rolled_back(reply)


def fanout(thread, author, runs: int) -> dict:
    from django.utils import timezone

    from core.models import OutboundEmail
    from discussions import services as discussion_services
    from notifications.models import Notification
    from notifications.services import notify_post_created

    post = discussion_services.post_create(actor=author, thread=thread, body="Seen by all.")
    Notification.objects.filter(target_id=post.pk).delete()
    OutboundEmail.objects.all().delete()

    def ours():
        started = time.perf_counter()
        notify_post_created(post=post, mentioned=[], new_thread=False)
        elapsed = time.perf_counter() - started
        notifications = list(Notification.objects.filter(target_id=post.pk).values())
        emails = list(OutboundEmail.objects.values())
        return elapsed, notifications, emails

    timings = []
    for _ in range(runs):
        elapsed, notifications, emails = rolled_back(ours)
        timings.append(elapsed)

    def bare():
        now = timezone.now()
        started = time.perf_counter()
        Notification.objects.bulk_create(
            Notification(**{**row, "id": None, "created_at": now}) for row in notifications
        )
        OutboundEmail.objects.bulk_create(
            OutboundEmail(**{**row, "id": None, "key": f"bare-{n}"}) for n, row in enumerate(emails)
        )
        return time.perf_counter() - started

    bare_timings = [rolled_back(bare) for _ in range(runs)]
    return {
        "notifications": len(notifications),
        "deliveries": len(emails),
        "fanout_ms": statistics.median(timings) * 1000,
        "bare_fanout_ms": statistics.median(bare_timings) * 1000,
    }


# --- Sending -------------------------------------------------------------------------


def queue_emails(thread, author) -> int:
    """A reply in ``thread`` queues a notification email to every watcher;
    they are made due at once (the hold has passed). Returns how many."""
    from django.utils import timezone

    from core.models import OutboundEmail
    from discussions import services as discussion_services

    # Only this reply's emails (not those of the thread's start, or earlier ones).
    OutboundEmail.objects.filter(sent_at__isnull=True).delete()
    discussion_services.post_create(
        actor=author,
        thread=thread,
        body="The **pilot** should start with two cities; see the minutes of the last "
        "session for the figures on arrivals, housing and language courses. " * 3,
    )
    queued = OutboundEmail.objects.filter(sent_at__isnull=True).update(due_at=timezone.now())
    analyze()
    return queued


def analyze() -> None:
    """The database's statistics brought up to date, as PostgreSQL's
    autovacuum does on a live server: tables filled a moment ago in bulk
    otherwise get plans made for empty tables (on PostgreSQL a chunk's access
    query took 150 ms instead of 3)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def send_ours() -> tuple[float, int]:
    from core.outbox import send_due

    started = time.perf_counter()
    handled = send_due()
    return time.perf_counter() - started, handled


def send_bare(count: int, sample) -> float:
    """The same number of emails, of the sample's size, through Django's SMTP
    backend on one connection."""
    from django.core import mail

    connection = mail.mailers.default
    connection.open()
    started = time.perf_counter()
    try:
        for n in range(count):
            message = mail.EmailMultiAlternatives(
                subject=sample["subject"],
                body=sample["text"],
                to=[f"bare{n}@example.org"],
                headers={"Message-ID": f"<bare-{n}@example.org>"},
            )
            if sample["html"]:
                message.attach_alternative(sample["html"], "text/html")
            connection.send_messages([message])
    finally:
        connection.close()
    return time.perf_counter() - started


def sample_email(mailbox) -> dict:
    message = mailbox.first
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return {
        "subject": str(message["Subject"]),
        "text": text.get_content() if text else "",
        "html": html.get_content() if html else "",
    }


class CountingMailbox:
    """A real SMTP server's handler (``tests.smtp``'s server) that keeps the
    first message and counts the others, so that what it receives does not
    weigh on this process's memory figures."""

    def __init__(self, port: int):
        self.port = port
        self.first = None
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        if self.first is None:
            self.first = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.count += 1
        return "250 Message accepted for delivery"

    def wait_for_count(self, count: int, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while self.count < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.count


def _serve_smtp(port: int, count, first, ready, stop) -> None:
    """The SMTP server's process: counts what it receives (``count``, shared)
    and hands the first message's bytes back (``first``, a queue)."""
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            with count.get_lock():
                if count.value == 0:
                    first.put(envelope.content)
                count.value += 1
            return "250 Message accepted for delivery"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


class ProcessMailbox:
    """A real SMTP server (aiosmtpd) in a process of its own, as a mail server
    is: its work does not share this process's interpreter with the worker's
    or the bare loop's."""

    def __init__(self, port, count, first):
        self.port = port
        self._count = count
        self._first_queue = first
        self._first = None

    @property
    def first(self):
        if self._first is None:
            raw = self._first_queue.get(timeout=30)
            self._first = email.message_from_bytes(raw, policy=email.policy.default)
        return self._first

    def wait_for_count(self, count: int, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while self._count.value < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self._count.value


@contextlib.contextmanager
def smtp_process():
    import multiprocessing

    from tests.servers import free_port

    context = multiprocessing.get_context("spawn")
    port = free_port()
    count, first = context.Value("i", 0), context.Queue()
    ready, stop = context.Event(), context.Event()
    process = context.Process(target=_serve_smtp, args=(port, count, first, ready, stop))
    process.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("The SMTP server did not start")
        yield ProcessMailbox(port, count, first)
    finally:
        stop.set()
        process.join(10)
        if process.is_alive():
            process.kill()


def peak_while_sending() -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    send_ours()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak


def main() -> None:
    args = parse_args()
    setup_django()
    from django.conf import settings
    from django.db import connection
    from django.test import override_settings
    from django.test.utils import setup_databases, teardown_databases

    old_config = setup_databases(verbosity=0, interactive=False)
    figures: dict = {}
    try:
        server = smtp_process() if args.smtp_process else smtp_server(CountingMailbox)
        with server as mailbox:
            mailers = {
                "default": {
                    "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                    "OPTIONS": {"host": "127.0.0.1", "port": mailbox.port},
                }
            }
            # Tasks run by hand here (send_due), none at commit.
            tasks = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
            with override_settings(MAILERS=mailers, TASKS=tasks):
                log(f"Database: {connection.vendor} ({settings.DATABASES['default']['NAME']})")
                started = time.perf_counter()
                big = make_people(args.members)
                small = make_people(10)
                _group, big_thread = make_group("big", big)
                _group, small_thread = make_group("small", small)
                log(
                    f"Built groups of 10 and {args.members} "
                    f"in {time.perf_counter() - started:.1f} s"
                )
                analyze()

                figures["queries_10"] = count_queries(small_thread, small[1])
                figures[f"queries_{args.members}"] = count_queries(big_thread, big[1])
                figures["queries_1000"] = figures[f"queries_{args.members}"]
                fan = fanout(big_thread, big[1], args.runs)
                log(
                    f"Fan-out to {fan['notifications']} notifications and {fan['deliveries']} "
                    f"deliveries: {fan['fanout_ms']:.1f} ms; bare bulk_create of the same rows: "
                    f"{fan['bare_fanout_ms']:.1f} ms"
                )
                figures.update(
                    fanout_ms=round(fan["fanout_ms"], 2),
                    bare_fanout_ms=round(fan["bare_fanout_ms"], 2),
                    deliveries=fan["deliveries"],
                    ratio_fanout=round(fan["fanout_ms"] / fan["bare_fanout_ms"], 2),
                )
                log(
                    f"Queries of a reply: {figures['queries_10']} at 10, "
                    f"{figures['queries_1000']} at {args.members}"
                )

                # Sending: a group of --emails + 1 people, a reply by one of them.
                started = time.perf_counter()
                senders = make_people(args.emails + 1)
                _group, send_thread = make_group("send", senders)
                queued = queue_emails(send_thread, senders[0])
                log(f"Queued {queued} emails in {time.perf_counter() - started:.1f} s")
                if not queued:
                    raise SystemExit("The fan-out queued no email: nothing to measure.")
                ours_s, handled = send_ours()
                received = mailbox.wait_for_count(handled)
                sample = sample_email(mailbox)
                bare_s = send_bare(handled, sample)
                figures.update(
                    emails=handled,
                    received=received,
                    send_per_s=round(handled / ours_s, 1),
                    bare_send_per_s=round(handled / bare_s, 1),
                    ratio_send=round(bare_s / ours_s, 2),
                )
                log(
                    f"Sent {handled} emails ({received} received): {handled / ours_s:.0f}/s; "
                    f"bare loop: {handled / bare_s:.0f}/s"
                )

                # Memory: a queue of a quarter, then of all of it.
                quarter = make_people(args.emails // 4 + 1)
                _group, quarter_thread = make_group("quarter", quarter)
                queue_emails(quarter_thread, quarter[0])
                peak_quarter = peak_while_sending()
                queue_emails(send_thread, senders[1])
                peak_all = peak_while_sending()
                figures.update(
                    mem_peak_quarter_kb=round(peak_quarter / 1024),
                    mem_peak_all_kb=round(peak_all / 1024),
                    mem_growth=round(peak_all / peak_quarter, 2),
                )
                log(
                    f"Peak allocations while sending {args.emails // 4} emails: "
                    f"{peak_quarter / 1024:.0f} KB; {args.emails}: {peak_all / 1024:.0f} KB"
                )

                figures.update(digest_figures(args.digests))
    finally:
        teardown_databases(old_config, verbosity=0)
    figures["targets"] = TARGETS
    print_json(figures)


def digest_figures(count: int) -> dict:
    """A week of notifications and two meetings ahead for each of ``count``
    people in ten groups (``bench/digest.py``'s data), then one run of the
    weekly digests of all of them."""
    from django.utils import timezone

    from bench.digest import build
    from notifications import digests

    started = time.perf_counter()
    now = timezone.now()
    build(count, 10, now)
    analyze()
    log(f"Built {count} people for the digest in {time.perf_counter() - started:.1f} s")
    cpu = time.process_time()
    queued = digests.digests_send(now=now)
    cpu = time.process_time() - cpu
    log(f"Weekly digest of {count} people: {cpu:.2f} s CPU, {queued} queued")
    return {
        "digests": queued,
        "digest_cpu_s": round(cpu, 2),
        "digest_cpu_s_per_1000": round(cpu * 1000 / count, 2),
    }


if __name__ == "__main__":
    main()
