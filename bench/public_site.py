"""The public pages under anonymous load, and 500 registrations at once.

    .venv/bin/python bench/public_site.py [--clients 8] [--requests 300] [--warmup 30]
        [--rounds 3] [--registrations 500] [--capacity 100] [--register-clients 100]

One daphne (production settings: DEBUG off; the embedded SQLite file, or
``BENCH_DATABASE_URL``) on a throwaway workspace (``_common``): the demo data
(``manage.py seed_demo``: four groups, their people, published results) plus
two public webinars per group, published through ``webinars.services``.

1. Pages. Ours: the public home (``/`` for a visitor) and a public webinar's
   page (``/webinars/<pk>/``, with its registration form). Bare: a view that
   answers the bytes of each page as captured from ours at the start of the
   run (``bench/_public_urls.py``, routed beside ours by
   ``bench/_public_settings.py``: the same daphne, ASGI handler and
   middleware). ``--clients`` threads, each an anonymous browser: one
   keep-alive connection, the cookies it is given (the CSRF cookie) sent back.
   Per round and page, ours and then bare (bare first in every other round):
   ``--warmup`` untimed requests per client, then ``--requests`` timed ones
   per client and round, all clients on the same URL at once. Figures: median
   and p99 latency per page, ours and bare; ratios ours / bare.
2. Registrations. ``--registrations`` people register for one webinar of
   ``--capacity`` places through the public form, ``--register-clients`` at a
   time (default: all at once; threads started together, each registrant a fresh browser: GET the
   page for the CSRF cookie and token, POST name, distinct address, consent,
   the honeypot empty, with the Origin a browser sends). The per-IP limit
   (``WEBINAR_REGISTER_IP_RATE_LIMIT``) is raised for the run: every request
   comes from 127.0.0.1. Then each registration's confirmation link (the one
   the email carries, ``webinars.emails.links``, built from the stored token;
   the outbox is not run) is followed the same way: GET, then POST its
   button. Then the rows are counted: ``lost`` = sent - stored,
   ``duplicates`` = rows - distinct addresses, and confirmed (at most the
   capacity), waiting (confirmed + waiting = sent).

Targets (issue 14): ``ratio_home`` and ``ratio_webinar`` <= 1.5 at the median
and at p99 (each is the worse of the two); ``lost`` = 0, ``duplicates`` = 0,
confirmed <= capacity, confirmed + waiting = sent, no 5xx answer
(``failed_answers``; daphne's exceptions are counted in ``server_errors``).
The script exits 0 either way; the last line is one JSON object.

(Named ``public_site`` because scripts here run with ``bench/`` first on the
path: a ``public.py`` would hide the ``public`` package aiosmtpd imports.)
"""

import argparse
import http.client
import math
import os
import re
import statistics
import threading
import time
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

import _common as bench
from _common import log

TARGETS = {
    "ratio_home": 1.5,
    "ratio_webinar": 1.5,
    "lost": 0,
    "duplicates": 0,
    "failed_answers": 0,
}
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Locked)\b.*: ")
CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=8, help="anonymous browsers at once")
    parser.add_argument(
        "--requests", type=int, default=300, help="timed requests per client, page and variant"
    )
    parser.add_argument("--warmup", type=int, default=30, help="untimed requests first, per client")
    parser.add_argument("--rounds", type=int, default=3, help="timed requests in this many rounds")
    parser.add_argument("--registrations", type=int, default=500)
    parser.add_argument("--capacity", type=int, default=100)
    parser.add_argument(
        "--register-clients",
        type=int,
        default=0,
        help="registrants sending at once (default: all of them)",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the server, e.g. CONN_MAX_AGE=60 (repeatable)",
    )
    return parser.parse_args()


# --- A browser ---------------------------------------------------------------------


class Browser:
    """One keep-alive connection and a cookie jar, as a browser keeps them."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        host, port = base_url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=300)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None, headers=None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                content = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection: a browser
                # reconnects (for a GET; a POST that got no answer is counted).
                self.connection.close()
                if attempt or method != "GET":
                    raise
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                for name, morsel in SimpleCookie(value).items():
                    self.cookies[name] = morsel.value
        if response.getheader("Connection", "").lower() == "close":
            self.connection.close()
        return response.status, content, response

    def get(self, path: str):
        return self.request("GET", path, headers={"Accept-Language": "en"})

    def post_form(self, path: str, fields: dict):
        return self.request(
            "POST",
            path,
            body=urlencode(fields).encode(),
            headers={
                "Accept-Language": "en",
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": self.base_url,
                "Referer": self.base_url + path,
            },
        )

    def close(self):
        self.connection.close()


def csrf_token(content: bytes) -> str:
    match = CSRF_INPUT.search(content)
    if not match:
        raise RuntimeError("no CSRF token in the page")
    return match.group(1).decode()


# --- The data ----------------------------------------------------------------------


def create_webinars(capacity: int):
    """Two public webinars per demo group, published by its moderator (given
    two-factor authentication, as publishing asks) through the service; the
    first of the first group has ``capacity`` places. Returns that one."""
    import datetime

    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.utils import timezone

    from groups.models import Membership, Role, WorkingGroup
    from meetings.models import Meeting
    from webinars import services

    first = None
    now = timezone.now().replace(second=0, microsecond=0)
    for index, group in enumerate(WorkingGroup.objects.order_by("pk")):
        moderator = (
            Membership.objects.filter(group=group, role=Role.MODERATOR, active=True)
            .select_related("user")
            .first()
            .user
        )
        if not moderator.authenticator_set.exists():
            TOTP.activate(moderator, generate_totp_secret())
        for number in range(2):
            starts = now + datetime.timedelta(days=7 + 3 * index + 14 * number, hours=15)
            meeting = Meeting.objects.create(
                group=group,
                title=f"{group.name}: open webinar {number + 1}",
                kind=Meeting.Kind.WEBINAR,
                starts_at=starts,
                ends_at=starts + datetime.timedelta(hours=1, minutes=30),
                agenda="Members-only agenda.",
                video_link="https://video.example.org/bench-room",
                created_by=moderator,
            )
            webinar = services.webinar_publish(
                actor=moderator,
                meeting=meeting,
                abstract=(
                    "What the group has found so far, and **what it proposes**: "
                    "three short talks, then questions from everyone.\n\n"
                    "- the evidence\n- the proposals\n- what comes next"
                ),
                presenters=[
                    ("Dr. Ada Lovelace", "University of Osnabrück"),
                    ("Bo Presenter", "Red Cross"),
                    ("Chen Speaker", "Ministry of Labour"),
                ],
                capacity=capacity if first is None else 60,
            )
            first = first or webinar
    return first


# --- Load --------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))]


def load(browsers: list[Browser], path: str, count: int) -> tuple[list[float], float, set]:
    """Every browser GETs ``path`` ``count`` times, all at once; returns the
    latencies (s), the wall time and the statuses seen."""
    latencies: list[list[float]] = [[] for _ in browsers]
    statuses: set = set()
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(browsers) + 1)

    def client(index: int) -> None:
        browser = browsers[index]
        barrier.wait()
        try:
            for _ in range(count):
                started = time.perf_counter()
                status, _content, _response = browser.get(path)
                latencies[index].append(time.perf_counter() - started)
                statuses.add(status)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(browsers))]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    return [value for values in latencies for value in values], wall, statuses


def page_load(base_url: str, pages: dict[str, str], args) -> dict:
    """The rounds of ours and bare per page; returns the figures."""
    browsers = [Browser(base_url) for _ in range(args.clients)]
    timed = {key: [] for key in pages}
    walls = dict.fromkeys(pages, 0.0)
    statuses = {key: set() for key in pages}
    per_round = max(1, args.requests // args.rounds)
    try:
        for path in pages.values():  # warm-up: each browser gets its cookies here
            load(browsers, path, args.warmup)
        for round_number in range(args.rounds):
            for page in ("home", "webinar"):
                order = ("ours", "bare") if round_number % 2 == 0 else ("bare", "ours")
                for variant in order:
                    key = f"{variant}_{page}"
                    values, wall, seen = load(browsers, pages[key], per_round)
                    timed[key].extend(values)
                    walls[key] += wall
                    statuses[key] |= seen
                    log(
                        f"  round {round_number + 1} {key:13} median "
                        f"{statistics.median(values) * 1000:7.2f} ms  p99 "
                        f"{percentile(values, 0.99) * 1000:7.2f} ms  "
                        f"{len(values) / wall:6.0f} req/s"
                    )
    finally:
        for browser in browsers:
            browser.close()
    figures = {}
    for key, values in timed.items():
        figures[f"{key}_p50_ms"] = round(statistics.median(values) * 1000, 2)
        figures[f"{key}_p99_ms"] = round(percentile(values, 0.99) * 1000, 2)
        figures[f"{key}_req_s"] = round(len(values) / walls[key], 1)
        figures[f"{key}_statuses"] = sorted(statuses[key])
    for page in ("home", "webinar"):
        for stat in ("p50", "p99"):
            figures[f"ratio_{page}_{stat}"] = round(
                figures[f"ours_{page}_{stat}_ms"] / figures[f"bare_{page}_{stat}_ms"], 2
            )
        figures[f"ratio_{page}"] = max(figures[f"ratio_{page}_p50"], figures[f"ratio_{page}_p99"])
    figures["timed_requests_per_page"] = per_round * args.rounds * args.clients
    return figures


# --- Registrations ------------------------------------------------------------------


def in_parallel(items: list, clients: int, work) -> tuple[dict, float]:
    """``work(item) -> label`` for every item, ``clients`` threads at once
    (started together); returns the count of each label and the wall time."""
    counts: dict = {}
    lock = threading.Lock()
    shares = [items[i::clients] for i in range(min(clients, len(items)))]
    barrier = threading.Barrier(len(shares) + 1)

    def client(share: list) -> None:
        barrier.wait()
        for item in share:
            try:
                label = work(item)
            except Exception as error:  # counted, not raised: a lost request is a finding
                label = f"error: {type(error).__name__}: {error}"[:200]
            with lock:
                counts[label] = counts.get(label, 0) + 1

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return counts, time.perf_counter() - started


def register(base_url: str, page: str, number: int) -> str:
    """One person registers as a browser does: the page (CSRF cookie and
    token), then the form; the label is the answer's status."""
    browser = Browser(base_url)
    try:
        status, content, _ = browser.get(page)
        if status != 200:
            return f"page {status}"
        status, _content, response = browser.post_form(
            page,
            {
                "csrfmiddlewaretoken": csrf_token(content),
                "name": f"Registrant {number}",
                "email": f"Registrant.{number}@Example.org",
                "affiliation": "Bench University" if number % 2 else "",
                "consent": "on",
                "time_zone": "Europe/Berlin",
                "website": "",  # the honeypot, empty as people leave it
            },
        )
        if status == 302 and response.getheader("Location", "").endswith("/registered/"):
            return "registered"
        return f"post {status}"
    finally:
        browser.close()


def confirm(base_url: str, path: str) -> str:
    """Follows a confirmation link and presses its button."""
    browser = Browser(base_url)
    try:
        status, content, _ = browser.get(path)
        if status != 200:
            return f"page {status}"
        status, content, _ = browser.post_form(path, {"csrfmiddlewaretoken": csrf_token(content)})
        if status != 200:
            return f"post {status}"
        if b"Your place is confirmed" in content:
            return "confirmed"
        if b"you are on the waiting list" in content:
            return "waiting"
        return "other"
    finally:
        browser.close()


def registrations(base_url: str, webinar, args) -> dict:
    from django.db.models.functions import Lower

    from webinars import emails
    from webinars.models import Registration

    page = webinar.get_absolute_url()
    sent = args.registrations
    log(f"{sent} registrations, {args.register_clients} at a time")
    answers, register_s = in_parallel(
        list(range(sent)), args.register_clients, lambda n: register(base_url, page, n)
    )
    log(f"  answers {answers} in {register_s:.1f} s")
    rows = list(Registration.objects.filter(webinar=webinar).select_related("webinar__meeting"))
    links = [urlsplit(emails.links(row)["confirm"]).path for row in rows]
    bench.close_db()
    log(f"{len(links)} confirmation links followed, {args.register_clients} at a time")
    confirmations, confirm_s = in_parallel(
        links, args.register_clients, lambda path: confirm(base_url, path)
    )
    log(f"  answers {confirmations} in {confirm_s:.1f} s")

    stored = Registration.objects.filter(webinar=webinar)
    addresses = {f"registrant.{n}@example.org" for n in range(sent)}
    stored_addresses = list(stored.annotate(lower=Lower("email")).values_list("lower", flat=True))
    states = {state: stored.filter(state=state).count() for state in Registration.State.values}
    figures = {
        "sent": sent,
        "capacity": webinar.capacity,
        "register_answers": answers,
        "register_s": round(register_s, 2),
        "confirm_answers": confirmations,
        "confirm_s": round(confirm_s, 2),
        "stored": len(stored_addresses),
        "lost": sent - len(set(stored_addresses) & addresses),
        "duplicates": len(stored_addresses) - len(set(stored_addresses)),
        "strangers": len(set(stored_addresses) - addresses),
        "confirmed": states["confirmed"],
        "waiting": states["waiting"],
        "states": {state: count for state, count in states.items() if count},
        # Answers that were no answer a person should get: 5xx, or none at all.
        "failed_answers": sum(
            count
            for answers_of in (answers, confirmations)
            for label, count in answers_of.items()
            if label.startswith(("page 5", "post 5", "error"))
        ),
    }
    bench.close_db()
    return figures


# --- The run -----------------------------------------------------------------------


def main() -> int:
    args = parse_args()
    args.register_clients = args.register_clients or args.registrations
    bench.stop_on_sigterm()
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    with bench.workdir("public") as directory:
        capture = directory / "capture"
        capture.mkdir()
        env = bench.server_env(
            directory,
            DJANGO_SETTINGS_MODULE="bench._public_settings",
            BENCH_PUBLIC_BASE_SETTINGS=os.environ.get(
                "BENCH_SETTINGS_MODULE", "workspace.settings"
            ),
            BENCH_PUBLIC_CAPTURE=str(capture),
            # Every registrant comes from 127.0.0.1: the per-IP limit (default
            # 20 an hour) would refuse all but the first 20.
            WEBINAR_REGISTER_IP_RATE_LIMIT=f"{10 * args.registrations + 1000}/3600",
            **dict(item.split("=", 1) for item in args.server_env),
        )
        log(f"Workspace in {directory}; migrating, collecting static files, seeding")
        bench.prepare(env, collectstatic=True)
        bench.manage(env, "seed_demo")
        webinar = create_webinars(args.capacity)
        webinar_path = webinar.get_absolute_url()
        bench.close_db()
        with bench.daphne(env, directory / "daphne.log") as (base_url, process):
            os.environ["SITE_URL"] = base_url  # the links emails carry
            checks = capture_pages(base_url, capture, webinar_path)
            pages = {
                "ours_home": "/",
                "bare_home": "/bench/bare/home/",
                "ours_webinar": webinar_path,
                "bare_webinar": "/bench/bare/webinar/",
            }
            log(
                f"Pages: {args.clients} anonymous browsers (keep-alive, cookies kept), "
                f"{args.rounds} rounds of {args.requests // args.rounds} requests each"
            )
            with bench.Usage(process.pid) as usage:
                result = page_load(base_url, pages, args)
            result["daphne_cpu_s_pages"] = round(usage.cpu, 2)
            result.update(checks)
            result.update(registrations(base_url, webinar, args))
            result["server_errors"] = server_errors(directory / "daphne.log")

    result["clients"] = args.clients
    result["register_clients"] = args.register_clients
    result["keep_alive"] = True
    result["server_env"] = args.server_env
    result["database"] = "postgresql" if os.environ.get("BENCH_DATABASE_URL") else "sqlite"
    result["loadavg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    result["cpus"] = os.cpu_count()
    result["bench_seconds"] = round(time.monotonic() - started, 1)
    result["targets"] = {
        **TARGETS,
        "confirmed": f"<= capacity ({result['capacity']})",
        "confirmed_plus_waiting": f"== sent ({result['sent']})",
    }
    met = {
        "ratio_home": result["ratio_home"] <= TARGETS["ratio_home"],
        "ratio_webinar": result["ratio_webinar"] <= TARGETS["ratio_webinar"],
        "lost": result["lost"] == 0,
        "duplicates": result["duplicates"] == 0,
        "confirmed": result["confirmed"] <= result["capacity"],
        "confirmed_plus_waiting": result["confirmed"] + result["waiting"] == result["sent"],
        "failed_answers": result["failed_answers"] == 0,
        "pages_same_size": result["same_size_home"] and result["same_size_webinar"],
    }
    result["targets_met"] = met
    log("")
    log(
        f"home: ours {result['ours_home_p50_ms']} / bare {result['bare_home_p50_ms']} ms median, "
        f"{result['ours_home_p99_ms']} / {result['bare_home_p99_ms']} ms p99: "
        f"ratio {result['ratio_home_p50']}, {result['ratio_home_p99']} (target <= 1.5)"
    )
    log(
        f"webinar: ours {result['ours_webinar_p50_ms']} / bare {result['bare_webinar_p50_ms']} ms "
        f"median, {result['ours_webinar_p99_ms']} / {result['bare_webinar_p99_ms']} ms p99: "
        f"ratio {result['ratio_webinar_p50']}, {result['ratio_webinar_p99']} (target <= 1.5)"
    )
    log(
        f"registrations: sent {result['sent']}, stored {result['stored']}, lost {result['lost']}, "
        f"duplicates {result['duplicates']}, confirmed {result['confirmed']} of "
        f"{result['capacity']} places, waiting {result['waiting']}"
    )
    if max(result["loadavg_1m"]) > (os.cpu_count() or 1) * 0.5:
        log(f"Note: the machine was busy (load {result['loadavg_1m']}); read the ratios.")
    missed = [name for name, ok in met.items() if not ok]
    log("Targets met." if not missed else f"Targets missed: {', '.join(missed)}")
    bench.print_json(result)
    return 0


def server_errors(log_path) -> dict:
    """The exceptions daphne's log reports (the last line of each traceback),
    counted: what a 500 answer stood for."""
    found: dict = {}
    for line in log_path.read_text(errors="replace").splitlines():
        if EXCEPTION_LINE.match(line):
            found[line[:200]] = found.get(line[:200], 0) + 1
    for line, count in found.items():
        log(f"  daphne's log: {count} × {line}")
    return found


def capture_pages(base_url: str, capture, webinar_path: str) -> dict:
    """Our two pages as a first-time visitor gets them, stored for the bare
    views; checks that the bare views answer them and that our pages set no
    session cookie and show no video link."""
    from django.conf import settings

    checks = {}
    for name, path in (("home", "/"), ("webinar", webinar_path)):
        browser = Browser(base_url)
        status, content, response = browser.get(path)
        browser.close()
        if status != 200:
            raise RuntimeError(f"{path} answered {status}")
        cookies = [v for h, v in response.getheaders() if h.lower() == "set-cookie"]
        checks[f"session_cookie_{name}"] = any(
            v.startswith(settings.SESSION_COOKIE_NAME + "=") for v in cookies
        )
        checks[f"video_link_shown_{name}"] = b"video.example.org" in content
        (capture / f"{name}.html").write_bytes(content)
        browser = Browser(base_url)
        status, bare, _ = browser.get(f"/bench/bare/{name}/")
        browser.close()
        if status != 200 or bare != content:
            raise RuntimeError(f"the bare view of {name} does not answer the captured bytes")
        # Ours differs from the capture in its CSRF token only (same length).
        browser = Browser(base_url)
        _status, again, _ = browser.get(path)
        browser.close()
        checks[f"same_size_{name}"] = len(again) == len(content)
        checks[f"bytes_{name}"] = len(content)
        log(f"  {path}: {len(content)} bytes, captured for the bare view")
    return checks


if __name__ == "__main__":
    raise SystemExit(main())
