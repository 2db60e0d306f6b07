"""The thread page against a bare view of the same posts, in one process.

    .venv/bin/python bench/thread_page.py [--posts 2000] [--runs 30] [--warmup 5]

Sets Django up itself (production settings: DEBUG off) on a throwaway test
database made and dropped with django.test.utils.setup_databases /
teardown_databases: a SQLite file in the temp directory, or a
``bench_thread_page_<pid>`` database on the server ``DATABASE_URL`` names.

It builds a group, a member, a few authors and a thread of ``--posts`` posts
(the first through ``thread_create``, the rest in bulk, shaped as the services
shape them: positions, tree paths up to the page's depth, rendered HTML, first
revisions, some reactions, some edited, hidden and deleted posts). Then, signed
in as the member through django.test.Client (the whole middleware stack), it
times page 1 and the last page of:

- ours: ``discussions:thread`` (discussions/views.py) with ``?page=``;
- bare: a view defined here, routed beside ours in the same URLconf: the same
  page of posts (same order, same slice) from ``values_list`` into a minimal
  template.

Each of the four is requested ``--warmup`` times, then ``--runs`` times in
turn (so drift hits all alike); the figure is the median. It also counts our
view's queries on page 1 of threads of 10 and 1,000 posts, and on the last
page.

Figures: absolute ms, ``ratio`` = ours / bare (the worse of page 1 and the last
page), ``last_over_first`` = our last page / our page 1. Targets (issue 4):
ratio <= 3, last_over_first <= 1.2, queries_10 == queries_1000. The last line
is one JSON object.
"""

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
import types
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import _common as bench  # noqa: E402

TARGETS = {"ratio": 3.0, "last_over_first": 1.2}
URLCONF = "bench_thread_page_urls"
BARE_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><main><h1>{{ title }}</h1>
{% for position, depth, author, created_at, body_html in rows %}
<article class="depth-{{ depth }}" id="p{{ position }}">
<p>{{ author }} · {{ created_at|date:"SHORT_DATETIME_FORMAT" }}</p>
<div>{{ body_html|safe }}</div></article>
{% endfor %}
</main></body></html>"""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--posts", type=int, default=2000, help="posts in the timed thread")
    parser.add_argument("--runs", type=int, default=30, help="timed requests per page and view")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests first")
    return parser.parse_args()


def log(message: str) -> None:
    print(message, flush=True)


def setup_django() -> None:
    """Production settings (DEBUG off: no query log, cached templates), on a
    throwaway test database named for this process."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-" + secrets.token_urlsafe(40))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # Whitenoise warns of a missing STATIC_ROOT; the pages only link static files.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    import django
    from django.conf import settings

    django.setup()
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        name = Path(tempfile.gettempdir()) / f"workspace-bench-thread-page-{os.getpid()}.sqlite3"
    else:
        name = f"bench_thread_page_{os.getpid()}"
    database.setdefault("TEST", {})["NAME"] = str(name)


# --- The bare view -------------------------------------------------------------------


_bare: dict = {}


def bare_thread(request, pk):
    """The same page of posts as ours (same order, same slice), from
    values_list, into a minimal template: what any page of posts costs."""
    from django.http import HttpResponse
    from django.template import engines

    from discussions.models import Post, Thread
    from discussions.selectors import POSTS_PER_PAGE

    if "template" not in _bare:  # compiled once, as our templates are cached
        _bare["template"] = engines["django"].from_string(BARE_TEMPLATE)
    template = _bare["template"]
    title = Thread.objects.values_list("title", flat=True).get(pk=pk)
    page = max(1, int(request.GET.get("page", 1)))
    start = (page - 1) * POSTS_PER_PAGE
    rows = (
        Post.objects.filter(thread_id=pk)
        .order_by("path")
        .values_list("position", "depth", "author__display_name", "created_at", "body_html")[
            start : start + POSTS_PER_PAGE
        ]
    )
    return HttpResponse(template.render({"title": title, "rows": rows}, request))


def install_urlconf() -> None:
    """Ours and the bare view in one URLconf, so both pass the same resolver
    and middleware."""
    from django.urls import include, path

    module = types.ModuleType(URLCONF)
    module.urlpatterns = [
        path("bench/bare/threads/<int:pk>/", bare_thread, name="bench_bare_thread"),
        path("", include("workspace.urls")),
    ]
    sys.modules[URLCONF] = module


# --- The data ------------------------------------------------------------------------


def build_people():
    from allauth.account.models import EmailAddress

    from accounts.models import User
    from groups.models import Membership, Role, WorkingGroup

    group = WorkingGroup.objects.create(name="Benchmarks", slug="bench")
    people = []
    for number in range(8):
        user = User.objects.create_user(  # no password: hashing one takes long
            email=f"bench{number}@example.org", password=None, display_name=f"Bench {number}"
        )
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
        Membership.objects.create(user=user, group=group, role=Role.MEMBER)
        people.append(user)
    return group, people


# --- Measuring -----------------------------------------------------------------------


def last_page(thread) -> int:
    """The number of the last page: every post has its place, deleted ones too."""
    from discussions.selectors import POSTS_PER_PAGE

    return (thread.posts.count() - 1) // POSTS_PER_PAGE + 1


def ours_url(thread, page: int) -> str:
    from django.urls import reverse

    return f"{reverse('discussions:thread', args=[thread.pk])}?page={page}"


def bare_url(thread, page: int) -> str:
    from django.urls import reverse

    return f"{reverse('bench_bare_thread', args=[thread.pk])}?page={page}"


def get(client, url: str):
    response = client.get(url, secure=True)
    if response.status_code != 200:
        raise SystemExit(f"GET {url} answered {response.status_code}: is the thread page written?")
    return response


def count_queries(client, url: str) -> int:
    """Queries of a repeated visit (the first one also creates the read mark)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    get(client, url)
    with CaptureQueriesContext(connection) as queries:
        get(client, url)
    return len(queries)


def check_same_posts(ours, bare, thread, page: int) -> None:
    """Both pages show the same posts: every post position of the bare page
    has its article on ours."""
    import re

    from discussions.models import Post

    positions = [int(number) for number in re.findall(r'id="p(\d+)"', bare.content.decode())]
    pks = dict(
        Post.objects.filter(thread=thread, position__in=positions).values_list("position", "pk")
    )
    html = ours.content.decode()
    missing = [position for position in positions if f'id="post-{pks[position]}"' not in html]
    if not positions or missing:
        raise SystemExit(f"page {page}: ours lacks the posts at positions {missing[:10]}")


def time_pages(client, urls: dict[str, str], *, runs: int, warmup: int) -> dict[str, float]:
    """The median ms of each URL: warm-up first, then the URLs in turn."""
    for _round in range(warmup):
        for url in urls.values():
            get(client, url)
    samples: dict[str, list[float]] = {name: [] for name in urls}
    for _round in range(runs):
        for name, url in urls.items():
            started = time.perf_counter()
            get(client, url)
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    args = parse_args()
    setup_django()
    install_urlconf()
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import setup_databases, teardown_databases

    # Not setup_test_environment(): it instruments every template render to
    # send a signal the test client stores a copy of the context for, a cost
    # proportional to the number of templates and partials a page renders.
    old_config = setup_databases(verbosity=0, interactive=False)
    # Static files without collectstatic's manifest: the page links its script.
    staticfiles = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    try:
        from django.conf import settings

        storages = {**settings.STORAGES, "staticfiles": staticfiles}
        hosts = [*settings.ALLOWED_HOSTS, "testserver"]
        with override_settings(ROOT_URLCONF=URLCONF, STORAGES=storages, ALLOWED_HOSTS=hosts):
            log(f"Database: {connection.vendor} ({connection.settings_dict['NAME']})")
            started = time.perf_counter()
            group, people = build_people()
            thread = bench.build_thread(group, people, args.posts, title="Labour pathways")
            small = bench.build_thread(group, people, 10, title="Ten posts")
            medium = bench.build_thread(group, people, 1000, title="A thousand posts")
            log(
                f"Built threads of {args.posts}, 10 and 1,000 posts "
                f"in {time.perf_counter() - started:.1f} s"
            )
            member = people[-1]
            client = Client()
            client.force_login(member)
            last = last_page(thread)
            urls = {
                "ours_first": ours_url(thread, 1),
                "ours_last": ours_url(thread, last),
                "bare_first": bare_url(thread, 1),
                "bare_last": bare_url(thread, last),
            }
            for page in (1, last):
                check_same_posts(
                    get(client, ours_url(thread, page)),
                    get(client, bare_url(thread, page)),
                    thread,
                    page,
                )
            queries_10 = count_queries(client, ours_url(small, 1))
            queries_1000 = count_queries(client, ours_url(medium, 1))
            queries_1000_last = count_queries(client, ours_url(medium, last_page(medium)))
            queries_bare = count_queries(client, urls["bare_first"])
            ms = time_pages(client, urls, runs=args.runs, warmup=args.warmup)
    finally:
        teardown_databases(old_config, verbosity=0)

    ratio_first = ms["ours_first"] / ms["bare_first"]
    ratio_last = ms["ours_last"] / ms["bare_last"]
    figures = {
        "posts": args.posts,
        "pages": last,
        "runs": args.runs,
        "database": connection.vendor,
        "ours_ms": round(ms["ours_first"], 2),
        "ours_last_ms": round(ms["ours_last"], 2),
        "bare_ms": round(ms["bare_first"], 2),
        "bare_last_ms": round(ms["bare_last"], 2),
        "ratio_first": round(ratio_first, 2),
        "ratio_last": round(ratio_last, 2),
        "ratio": round(max(ratio_first, ratio_last), 2),
        "last_over_first": round(ms["ours_last"] / ms["ours_first"], 2),
        "bare_last_over_first": round(ms["bare_last"] / ms["bare_first"], 2),
        "queries_10": queries_10,
        "queries_1000": queries_1000,
        "queries_1000_last_page": queries_1000_last,
        "queries_bare": queries_bare,
    }
    log("")
    log(f"{'':22}{'page 1':>10}{'page ' + str(last):>10}")
    log(f"{'ours (ms, median)':22}{ms['ours_first']:>10.2f}{ms['ours_last']:>10.2f}")
    log(f"{'bare (ms, median)':22}{ms['bare_first']:>10.2f}{ms['bare_last']:>10.2f}")
    log(f"{'ours / bare':22}{ratio_first:>10.2f}{ratio_last:>10.2f}")
    log(
        f"last / first: ours {figures['last_over_first']:.2f}, "
        f"bare {figures['bare_last_over_first']:.2f}"
    )
    log(
        f"queries of our page 1: {queries_10} at 10 posts, {queries_1000} at 1,000 "
        f"({queries_1000_last} on the last page); bare: {queries_bare}"
    )
    verdicts = [
        ("ratio", figures["ratio"] <= TARGETS["ratio"], f"<= {TARGETS['ratio']}"),
        (
            "last_over_first",
            figures["last_over_first"] <= TARGETS["last_over_first"],
            f"<= {TARGETS['last_over_first']}",
        ),
        ("queries", queries_10 == queries_1000, "same at 10 and 1,000 posts"),
    ]
    for name, ok, target in verdicts:
        log(f"target {name} {target}: {'met' if ok else 'MISSED'}")
    figures["targets_met"] = all(ok for _name, ok, _target in verdicts)
    print(json.dumps(figures, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
