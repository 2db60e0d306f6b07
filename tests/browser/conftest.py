"""Fixtures for browser tests: Chromium through Playwright against daphne.

A browser test looks like::

    @pytest.mark.browser
    @pytest.mark.django_db(transaction=True)
    def test_something(page, server, user, password):
        login(page, server, user.email, password)
        ...
        assert_no_browser_errors(page)

- ``server`` is the base URL of a daphne process that serves the test database
  (one process for the whole session; pytest-django's live_server speaks no
  WebSocket). It makes the test transactional, so what the test writes is
  committed and the server sees it; the tables are emptied after each test.
- ``page`` is a page in a fresh browser context; ``new_context(**options)`` makes
  more (another user, a phone). Every context records console errors, uncaught
  exceptions and CSP violations: ``assert_no_browser_errors(page)``.
- The server stores uploaded files in a directory of the session, never in
  the repository; with ``server`` the test's own storage points there too.
- The server sends email to files: ``mailbox`` (empty at the start of each
  test) returns what it sent, parsed with the ``email`` module. Links in
  emails point at the server (its ``SITE_URL`` is its own base URL).
- When a test fails, every open page is saved as a screenshot in
  ``test-artifacts/``; the failure report names the files and adds what the
  browser logged and the end of the server's log.
- Without Chromium (``/usr/bin/chromium`` or ``$CHROMIUM_PATH``) the tests are
  skipped, which STRICT_TESTS=1 turns into failures.
"""

import email
import email.message
import email.policy
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection

from tests.servers import daphne, free_port, local_env

from .helpers import ARTIFACTS, CHROMIUM_ARGS, artifact_name, chromium_path, watch

CONTEXTS = pytest.StashKey[list]()
SERVER_LOG = pytest.StashKey[object]()

ACTION_TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser():
    """Chromium, launched once per test module.

    Not once per session: between its calls Playwright's sync API leaves its
    event loop marked as running in this thread, which would break every async
    test (and Django's ORM, see below) that runs after a browser test.
    """
    path = chromium_path()
    if not path.exists():
        pytest.skip(f"Chromium not found at {path}: apt-get install chromium (CI installs it)")
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        # The test's own code is synchronous, but Django sees Playwright's loop
        # "running" and would refuse ORM calls as if they came from async code.
        # Only for as long as Playwright runs.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(path), args=CHROMIUM_ARGS, headless=True
            )
            yield browser
            browser.close()


@pytest.fixture
def new_context(browser, request):
    """Makes a fresh browser context (its own cookies) with English pages that
    records its problems; closed after the test. Options go to
    ``browser.new_context``, e.g. ``new_context(**PHONE)``."""
    contexts = request.node.stash.setdefault(CONTEXTS, [])

    def make(**options):
        options.setdefault("locale", "en-US")
        options.setdefault("timezone_id", "Europe/Berlin")
        context = browser.new_context(**options)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        watch(context)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context):
    return new_context().new_page()


@dataclass(frozen=True)
class RunningServer:
    base_url: str
    process: object
    log_path: Path
    mail_dir: Path
    media_root: Path


@pytest.fixture(scope="session")
def _daphne(django_db_setup, request, tmp_path_factory):
    """One daphne process for the session, serving the test database (which
    ``django_db_setup`` created; it outlives this fixture, so the server stops
    before the test database is dropped). It writes the email it sends as files
    into a directory of its own, and links in them point back at it."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    mail_dir = tmp_path_factory.mktemp("mail")
    # Uploaded documents go to a directory of the session, never into the repository.
    media_root = tmp_path_factory.mktemp("media")
    env = local_env(
        connection.settings_dict,
        media_root,
        # django-environ drops the first slash of the path (as in sqlite:////),
        # so an absolute directory takes four.
        EMAIL_URL=f"filemail:///{mail_dir}",
        SITE_URL=base_url,
        # The public pages are cached per process; the tests write their
        # worlds straight to the database, so the server must not keep a page
        # from one test for the next (public_pages' own tests check the cache).
        PUBLIC_CACHE_SECONDS="0",
    )
    # The child inherits this environment; say it explicitly: with REDIS_URL the
    # server shares the channel layer and cache with the tests, without it both
    # use their own in-memory ones.
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"daphne-{os.getpid()}-{int(time.time())}.log"
    with daphne(env=env, port=port, log_path=log_path) as (base_url, process):
        yield RunningServer(base_url, process, log_path, mail_dir, media_root)
    if not request.session.testsfailed:
        log_path.unlink(missing_ok=True)


@pytest.fixture
def server(_daphne, transactional_db, request, settings):
    """The base URL of the daphne server; makes the test transactional, so that
    the server sees what the test writes, and stores the test's files where the
    server keeps its uploads."""
    request.node.stash[SERVER_LOG] = _daphne.log_path
    settings.MEDIA_ROOT = _daphne.media_root
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(_daphne.media_root)},
        },
    }
    if _daphne.process.poll() is not None:
        pytest.fail(f"daphne exited with {_daphne.process.returncode}:\n{tail(_daphne.log_path)}")
    return _daphne.base_url


class Mailbox:
    """The email the server sent, read from the files of Django's file backend
    (one file per connection, messages separated by a line of 79 dashes)."""

    SEPARATOR = b"\n" + b"-" * 79 + b"\n"

    def __init__(self, directory: Path):
        self.directory = directory

    def clear(self) -> None:
        for path in self.directory.iterdir():
            path.unlink()

    def messages(self) -> list[email.message.EmailMessage]:
        """Every message sent so far, oldest file first."""
        found = []
        for path in sorted(self.directory.iterdir(), key=lambda path: path.stat().st_mtime_ns):
            for chunk in path.read_bytes().split(self.SEPARATOR):
                if chunk.strip():
                    found.append(email.message_from_bytes(chunk, policy=email.policy.default))
        return found

    def wait_for(self, *, to: str, timeout: float = 5.0) -> email.message.EmailMessage:
        """The one message sent to ``to``; waits up to ``timeout`` seconds for it
        and fails if none or several arrive."""
        deadline = time.monotonic() + timeout
        while True:
            sent = [message for message in self.messages() if to in message["To"]]
            if sent or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        everyone = [message["To"] for message in self.messages()]
        assert len(sent) == 1, f"expected one message to {to}, the server sent to {everyone}"
        return sent[0]


@pytest.fixture
def mailbox(_daphne, server) -> Mailbox:
    """The email the server sends during this test (emptied at its start)."""
    box = Mailbox(_daphne.mail_dir)
    box.clear()
    return box


def tail(path, lines=40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure: a screenshot of every open page, what the browser logged and
    the end of the server log go into the report."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    lines = []
    for number, context in enumerate(item.stash.get(CONTEXTS, []), start=1):
        for index, page in enumerate(context.pages, start=1):
            path = ARTIFACTS / f"{artifact_name(item.nodeid)}-{report.when}-{number}-{index}.png"
            try:
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=path, full_page=True, timeout=5_000)
                lines.append(f"screenshot of {page.url}: {path}")
            except Exception as error:
                lines.append(f"no screenshot of {page.url}: {error}")
        lines.extend(context.workspace_log.problems())
    log_path = item.stash.get(SERVER_LOG, None)
    if log_path is not None:
        lines.append(f"server log ({log_path}), last lines:\n{tail(log_path)}")
    if lines:
        report.sections.append(("browser", "\n".join(lines)))
