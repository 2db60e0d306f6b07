"""Webinar registrations under a rush, over HTTP on one daphne.

    .venv/bin/python bench/webinars.py [--people 500] [--capacity 100] [--repeats 50]

Sets up a throwaway workspace (``bench._common``: production settings, DEBUG
off; SQLite in a temp directory, or ``BENCH_DATABASE_URL``), publishes one
webinar of ``--capacity`` places and starts our application under daphne.
Then, each person a thread with their own connection and cookies:

1. every one of ``--people`` visitors opens the webinar page (the form and its
   CSRF cookie), then all send their registration at once, and
   ``--repeats`` of them send theirs a second time at the same moment (a
   double click);
2. every one of them opens the emailed confirmation link (read from the
   database here: the emails wait in the outbox, no worker runs) and all
   press "confirm" at once.

Figures: ``rows`` (registrations stored), ``lost`` (people without a row),
``duplicates`` (rows beyond one per address), ``confirmed`` and ``waiting``
after the rush (exactly the capacity, and the rest), ``over_capacity``,
``server_errors`` (5xx answers), and the median and p99 latency of the
registration POSTs and confirmation POSTs. Targets: lost == 0,
duplicates == 0, confirmed == capacity, confirmed + waiting == people,
server_errors == 0. The last line is one JSON object.
"""

import argparse
import datetime
import http.client
import os
import re
import statistics
import sys
import threading
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bench._common as bench  # noqa: E402
from bench._common import log  # noqa: E402

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--capacity", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=50)
    return parser.parse_args()


class Visitor:
    """One browser: its own connection and cookies."""

    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.cookies: dict[str, str] = {}
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=120)

    def request(self, method: str, path: str, body: dict | None = None):
        headers = {"Accept-Language": "en"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=data, headers=headers)
            response = self.connection.getresponse()
        except (http.client.HTTPException, OSError):
            # The server closed a kept-alive connection: once more on a new one.
            self.connection.close()
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
            self.connection.request(method, path, body=data, headers=headers)
            response = self.connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        elapsed = time.perf_counter() - started
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                self.cookies[name] = morsel.value
        return response.status, text, elapsed

    def form_token(self, path: str) -> str:
        status, text, _elapsed = self.request("GET", path)
        match = TOKEN.search(text)
        if status != 200 or not match:
            raise RuntimeError(f"GET {path}: {status}, no form")
        return match.group(1)


def together(jobs):
    """Runs the jobs in threads released at once; returns their results."""
    barrier = threading.Barrier(len(jobs))
    results = [None] * len(jobs)

    def run(index, job):
        try:
            results[index] = job(barrier)
        except BaseException as error:  # reported with the figures
            results[index] = error

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    return results


def percentile(values, fraction):
    values = sorted(values)
    if not values:
        return None
    return values[min(len(values) - 1, round(fraction * (len(values) - 1)))]


def publish(capacity: int):
    from django.utils import timezone

    from accounts.models import User
    from groups.models import Membership, Role, WorkingGroup
    from meetings.models import Meeting
    from webinars.models import Webinar

    group = WorkingGroup.objects.create(name="Benchmarks", slug="bench")
    moderator = User.objects.create_user(email="mod@example.org", password="x" * 20)
    Membership.objects.create(user=moderator, group=group, role=Role.MODERATOR)
    starts = timezone.now() + datetime.timedelta(days=3)
    meeting = Meeting.objects.create(
        group=group,
        title="The rush",
        kind=Meeting.Kind.WEBINAR,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(hours=1),
        video_link="https://video.example.org/room",
    )
    return Webinar.objects.create(
        meeting=meeting, abstract="Everyone at once.", capacity=capacity, published_at=starts
    )


def main() -> int:
    args = parse_args()
    bench.stop_on_sigterm()
    started = time.monotonic()
    with bench.workdir("webinars") as directory:
        env = bench.server_env(
            directory,
            WEBINAR_REGISTER_IP_RATE_LIMIT="1000000/60",
            WEBINAR_REGISTER_EMAIL_RATE_LIMIT="1000000/60",
        )
        log(f"Workspace in {directory}; migrating")
        bench.prepare(env, collectstatic=True)
        webinar = publish(args.capacity)
        page = f"/webinars/{webinar.pk}/"
        bench.close_db()
        log_path = directory / "daphne.log"
        with bench.daphne(env, log_path) as (base_url, _process):
            figures = rush(base_url, page, webinar, args)
        if figures["server_errors"]:
            errors = [line for line in log_path.read_text().splitlines() if "Error" in line]
            log("The server's errors (last 5 of the log):\n" + "\n".join(errors[-5:]))
    figures["bench_seconds"] = round(time.monotonic() - started, 1)
    figures["cpus"] = os.cpu_count()
    met = {
        "lost": figures["lost"] == 0,
        "duplicates": figures["duplicates"] == 0,
        "confirmed_is_capacity": figures["confirmed"] == min(args.capacity, args.people),
        "everyone_placed": figures["confirmed"] + figures["waiting"] == args.people,
        "server_errors": figures["server_errors"] == 0,
    }
    figures["targets_met"] = met
    log(
        "Targets met."
        if all(met.values())
        else f"Targets missed: {[k for k, v in met.items() if not v]}"
    )
    bench.print_json(figures)
    return 0


def rush(base_url: str, page: str, webinar, args) -> dict:
    from webinars.models import Registration

    people = [Visitor(base_url) for _ in range(args.people)]
    statuses: list[int] = []
    lock = threading.Lock()

    def register(visitor, number):
        def job(barrier):
            token = visitor.form_token(page)
            form = {
                "csrfmiddlewaretoken": token,
                "name": f"Person {number}",
                "email": f"person{number}@example.org",
                "consent": "on",
                "website": "",
            }
            barrier.wait(timeout=600)
            status, _text, elapsed = visitor.request("POST", page, form)
            with lock:
                statuses.append(status)
            return [elapsed]

        return job

    log(f"{args.people} registrations at once ({args.repeats} sent twice, from another tab)")
    results = together(
        [register(visitor, number) for number, visitor in enumerate(people)]
        + [register(Visitor(base_url), number) for number in range(args.repeats)]
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    register_times = [t for r in results if isinstance(r, list) for t in r]
    bench.close_db()
    emails = {f"person{n}@example.org" for n in range(args.people)}
    stored = list(Registration.objects.filter(webinar=webinar).values_list("email", "token"))
    rows = len(stored)
    distinct = {email.lower() for email, _token in stored}
    tokens = dict(stored)
    bench.close_db()

    def confirm(visitor, number):
        def job(barrier):
            path = f"/w/{tokens[f'person{number}@example.org']}/confirm/"
            token = visitor.form_token(path)
            barrier.wait(timeout=600)
            status, _text, elapsed = visitor.request("POST", path, {"csrfmiddlewaretoken": token})
            with lock:
                statuses.append(status)
            return [elapsed]

        return job

    confirm_times = []
    if len(tokens) == args.people:
        log(f"{args.people} confirmations at once for {args.capacity} places")
        results = together([confirm(v, n) for n, v in enumerate(people)])
        failures += [r for r in results if isinstance(r, BaseException)]
        confirm_times = [t for r in results if isinstance(r, list) for t in r]
    states = dict.fromkeys(Registration.State.values, 0)
    for state in Registration.objects.filter(webinar=webinar).values_list("state", flat=True):
        states[state] += 1
    bench.close_db()

    def ms(value):
        return None if value is None else round(value * 1000, 1)

    return {
        "people": args.people,
        "capacity": args.capacity,
        "repeats": args.repeats,
        "rows": rows,
        "lost": len(emails - distinct),
        "duplicates": rows - len(distinct),
        "confirmed": states["confirmed"],
        "waiting": states["waiting"],
        "over_capacity": max(states["confirmed"] + states["offered"] - args.capacity, 0),
        "server_errors": sum(1 for status in statuses if status >= 500),
        "client_failures": len(failures),
        "register_ms_p50": ms(statistics.median(register_times) if register_times else None),
        "register_ms_p99": ms(percentile(register_times, 0.99)),
        "confirm_ms_p50": ms(statistics.median(confirm_times) if confirm_times else None),
        "confirm_ms_p99": ms(percentile(confirm_times, 0.99)),
    }


if __name__ == "__main__":
    sys.exit(main())
