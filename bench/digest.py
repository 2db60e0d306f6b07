"""Weekly digests for many people: CPU per 1,000 digests.

    .venv/bin/python bench/digest.py [--people 1000] [--groups 10]

Sets Django up itself (DEBUG off) on a throwaway test database (a SQLite file
in the temp directory, or ``bench_digest_<pid>`` on the server
``DATABASE_URL`` names). It builds ``--groups`` groups, ``--people`` members
spread over them, a thread per group, about five unread notifications per
person in the past week and two meetings per group in the coming week, every
person with a weekly digest due now. Then it times one run of
``notifications.digests.digests_send`` (CPU of this process: for SQLite that
includes the database's own work) and counts its queries.

Figures: ``digest_cpu_s_per_1000`` (target, issue 13: <= 3), the wall time,
the digests queued, the queries. The last line is one JSON object.
"""

import argparse
import datetime
import json
import os
import secrets
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET = 3.0


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-" + secrets.token_urlsafe(40))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # Queued emails are not sent here (only the digest work is measured).
    os.environ["TASKS_BACKEND"] = "django_tasks_db.DatabaseBackend"
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    import django
    from django.conf import settings

    django.setup()
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        name = Path(tempfile.gettempdir()) / f"workspace-bench-digest-{os.getpid()}.sqlite3"
    else:
        name = f"bench_digest_{os.getpid()}"
    database.setdefault("TEST", {})["NAME"] = str(name)


def build(people: int, groups: int, now):
    from accounts.models import User
    from discussions.models import Post, Thread
    from groups.models import Membership, WorkingGroup
    from meetings.models import Meeting
    from notifications.models import Digest, EmailPreference, Kind, Notification, TargetType

    author = User.objects.create_user(email="author@example.org", display_name="Author")
    made_groups = WorkingGroup.objects.bulk_create(
        [WorkingGroup(name=f"Group {i}", slug=f"group-{i}") for i in range(groups)]
    )
    posts = []
    for group in made_groups:
        Membership.objects.create(user=author, group=group, role="moderator")
        thread = Thread.objects.create(group=group, title=f"Thread of {group.name}", author=author)
        posts.extend(
            Post.objects.create(
                thread=thread,
                author=author,
                position=p,
                path=f"{p:06d}",
                body="b",
                body_html="<p>b</p>",
            )
            for p in range(1, 6)
        )
        for days in (1, 3):
            starts = now + datetime.timedelta(days=days)
            Meeting.objects.create(
                group=group,
                title=f"Meeting in {days} days",
                starts_at=starts,
                ends_at=starts + datetime.timedelta(hours=1),
            )
    users = User.objects.bulk_create(
        [
            User(
                email=f"p{i}@example.org",
                display_name=f"Person {i}",
                time_zone="Europe/Berlin",
                language="de" if i % 2 else "en",
            )
            for i in range(people)
        ]
    )
    Membership.objects.bulk_create(
        [Membership(user=user, group=made_groups[i % groups]) for i, user in enumerate(users)]
    )
    EmailPreference.objects.bulk_create(
        [
            EmailPreference(
                user=user,
                digest=Digest.WEEKLY,
                digest_covered_until=now - datetime.timedelta(days=7),
                digest_due_at=now - datetime.timedelta(minutes=1),
            )
            for user in users
        ]
    )
    notifications = []
    for i, user in enumerate(users):
        group = made_groups[i % groups]
        group_posts = [post for post in posts if post.thread.group_id == group.pk]
        for n, post in enumerate(group_posts):
            notifications.append(
                Notification(
                    recipient=user,
                    kind=Kind.WATCHED_POST,
                    group=group,
                    actor=author,
                    target_type=TargetType.POST,
                    target_id=post.pk,
                    url=f"/threads/{post.thread_id}/#post-{post.pk}",
                    subject=post.thread.title,
                    created_at=now - datetime.timedelta(days=1, hours=n),
                )
            )
    Notification.objects.bulk_create(notifications, batch_size=2000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--groups", type=int, default=10)
    args = parser.parse_args()
    setup_django()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, setup_databases, teardown_databases
    from django.utils import timezone

    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        from notifications import digests

        now = timezone.now()
        build(args.people, args.groups, now)
        with CaptureQueriesContext(connection) as queries:
            cpu, wall = time.process_time(), time.perf_counter()
            queued = digests.digests_send(now=now)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        figures = {
            "people": args.people,
            "digests_queued": queued,
            "digest_cpu_s_per_1000": round(cpu * 1000 / args.people, 3),
            "digest_wall_s": round(wall, 3),
            "queries": len(queries),
            "target_cpu_s_per_1000": TARGET,
            "ok": cpu * 1000 / args.people <= TARGET and queued == args.people,
        }
    finally:
        teardown_databases(old_config, verbosity=0)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
