"""The outbox with the real worker: ``manage.py db_worker`` subprocesses sending
to a real SMTP server (aiosmtpd) from the test database."""

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection, transaction

from core.models import OutboundEmail
from core.outbox import emails_queue
from groups import services
from tests.servers import ROOT, database_url, stop

pytestmark = pytest.mark.django_db(transaction=True)


def start_worker(smtp, log_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": database_url(connection.settings_dict),
        "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
        "EMAIL_URL": smtp.url,
        "OUTBOX_SWEEP_SECONDS": "1",
        "LOG_LEVEL": "WARNING",
    }
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "db_worker",
                "--no-reload",
                "--no-startup-delay",
                "--interval",
                "0.1",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_until(condition, *, timeout: float, process: subprocess.Popen, log_path: Path):
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the worker exited:\n{log_path.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; worker log:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.05)


def test_worker_sends_an_invitation_to_the_smtp_server(
    group, moderator, smtp, database_tasks, tmp_path
):
    invitation = services.invitation_send(
        actor=moderator, group=group, email="expert@example.org", role="member", language="en"
    )
    row = OutboundEmail.objects.get()
    assert row.sent_at is None  # queued, waiting for the worker
    log_path = tmp_path / "worker.log"
    worker = start_worker(smtp, log_path)
    try:
        wait_until(lambda: smtp.messages, timeout=60, process=worker, log_path=log_path)
    finally:
        stop(worker)
    (message,) = smtp.messages
    assert message["To"] == "expert@example.org"
    assert message["Message-ID"] == row.headers["Message-ID"]
    assert message["Subject"] == f"Invitation to the working group “{invitation.group.name}”"
    assert "/invitations/" in message.get_body(preferencelist=("plain",)).get_content()
    row.refresh_from_db()
    assert row.sent_at is not None and row.attempts == 1


def test_worker_killed_mid_run_loses_no_email_and_doubles_at_most_one(
    smtp, database_tasks, tmp_path
):
    if connection.vendor != "postgresql":
        pytest.skip(
            "SQLite has no row locks (SKIP LOCKED); the kill test needs PostgreSQL "
            "(DATABASE_URL=postgres://…), as CI runs it"
        )
    total = 1000
    with transaction.atomic():
        emails_queue(
            OutboundEmail(to=f"person{i}@example.org", subject=f"Email {i}", text=f"Body {i}")
            for i in range(total)
        )
    expected = {row.headers["Message-ID"] for row in OutboundEmail.objects.all()}
    assert len(expected) == total

    log_path = tmp_path / "worker.log"
    worker = start_worker(smtp, log_path)
    try:
        wait_until(
            lambda: len(smtp.messages) >= total // 3,
            timeout=120,
            process=worker,
            log_path=log_path,
        )
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        received_at_kill = len(smtp.messages)
        assert received_at_kill < total, "the worker finished before it was killed"

        worker = start_worker(smtp, log_path)
        wait_until(
            lambda: {m["Message-ID"] for m in smtp.messages} >= expected,
            timeout=180,
            process=worker,
            log_path=log_path,
        )
        # Let a second sending of anything show up before counting.
        time.sleep(2)
    finally:
        stop(worker)

    counts = collections.Counter(message["Message-ID"] for message in smtp.messages)
    assert set(counts) == expected  # every email arrived, nothing else did
    doubled = {message_id: n for message_id, n in counts.items() if n > 1}
    assert len(doubled) <= 1 and all(n == 2 for n in doubled.values()), doubled
    assert not OutboundEmail.objects.filter(sent_at__isnull=True).exists()
