"""`make run` on another port: the links it sends point at that port.

The test runs the Makefile's own `run` recipe (`make -o install run PORT=…`,
the install step taken as done) on a free port with a throwaway SQLite
database and ``SITE_URL`` empty, as compose files leave it. A moderator
invites someone through the real page; the task worker `make run` started
sends the email, and its link, like the meeting's calendar file, points at
the port `make run` serves. Without ``SITE_URL`` passed to the processes the
links would say port 8000.
"""

import os
import re
import shutil
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from tests.servers import ROOT, free_port, stop, wait_for_http
from tests.totp import totp

from .conftest import Mailbox
from .helpers import ARTIFACTS, assert_no_browser_errors

pytestmark = pytest.mark.browser

MODERATOR = "moderator1@example.org"
DEMO_PASSWORD = "workspace-demo"
INVITED = "newcomer@example.org"
# Settings of the test process that must not reach `make run`'s processes.
NOT_PASSED = (
    "DATABASE_URL",
    "REDIS_URL",
    "REDIS_PREFIX",
    "EMAIL_URL",
    "TASKS_BACKEND",
    "MEDIA_ROOT",
    "SQLITE_TEST_NAME",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
)
ACTIVATE_TOTP = (
    "import sys, django; django.setup(); "
    "from allauth.mfa.totp.internal.auth import TOTP; from accounts.models import User; "
    "TOTP.activate(User.objects.get(email=sys.argv[1]), sys.argv[2])"
)


@pytest.fixture
def make_run(tmp_path):
    """`make run` on a free port; yields (its base URL, its mailbox, its env)."""
    if shutil.which("make") is None:
        pytest.skip("GNU make is not installed (apt-get install make)")
    port = free_port()
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in NOT_PASSED}
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'run.sqlite3'}",
            # django-environ drops the first slash of the path: four for an absolute one.
            "EMAIL_URL": f"filemail:///{mail_dir}",
            "MEDIA_ROOT": str(tmp_path / "media"),
            "SITE_URL": "",  # set but empty: derived from HOST and PORT
        }
    )
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"make-run-{os.getpid()}-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "-o", "install", "run", f"PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            try:
                wait_for_http(base_url + "/health/", timeout=120, process=process)
            except (RuntimeError, TimeoutError) as error:
                pytest.fail(f"make run did not serve: {error}\n{log_path.read_text()[-3000:]}")
            yield base_url, Mailbox(mail_dir), env
        finally:
            stop(process)
    log_path.unlink(missing_ok=True)


def test_make_run_on_another_port_sends_links_to_that_port(make_run, new_context):
    base_url, mailbox, env = make_run
    # The demo's moderator1 with an authenticator (moderating needs one).
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    subprocess.run(
        [sys.executable, "-c", ACTIVATE_TOTP, MODERATOR, secret],
        cwd=ROOT,
        env={**env, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "workspace.settings"},
        check=True,
        capture_output=True,
    )

    page = new_context().new_page()
    page.goto(base_url + "/accounts/login/")
    page.get_by_label("Email").fill(MODERATOR)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(base_url + "/accounts/2fa/authenticate/")
    page.locator("input[name=code]").fill(totp(secret, fresh=True))
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(base_url + "/")

    page.goto(base_url + "/groups/crises/manage/")
    form = page.get_by_role("region", name="Invite someone")
    form.get_by_label("Email address").fill(INVITED)
    form.get_by_label("Role", exact=True).select_option(label="Member")
    form.get_by_label("Language of the invitation").select_option(label="English")
    form.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status")).to_contain_text(f"An invitation was sent to {INVITED}.")

    # The worker `make run` started sends it; its link leads to this server.
    message = mailbox.wait_for(to=INVITED, timeout=30)
    text = message.get_body(preferencelist=("plain",)).get_content()
    links = re.findall(r"https?://[^\s/]+/invitations/[\w-]+/", text)
    assert links, text
    assert all(link.startswith(base_url + "/invitations/") for link in links), links
    invited_page = new_context().new_page()
    invited_page.goto(links[0])
    expect(invited_page).to_have_url(base_url + "/accounts/signup/")

    # A meeting's calendar file names the same address.
    page.goto(base_url + "/groups/crises/meetings/")
    page.locator("main a[href^='/meetings/']").first.click()
    ics_href = page.locator("a[href$='calendar.ics']").get_attribute("href")
    calendar = page.request.get(base_url + ics_href).text()
    urls = re.findall(r"^URL[^:]*:(\S+)", calendar, re.M)
    assert urls, calendar
    assert all(url.startswith(base_url + "/meetings/") for url in urls), urls
    assert_no_browser_errors(page)


def test_make_run_gives_every_process_it_starts_the_site_url():
    if shutil.which("make") is None:
        pytest.skip("GNU make is not installed (apt-get install make)")
    env = {key: value for key, value in os.environ.items() if key not in NOT_PASSED}
    commands = subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", "install", "run", "PORT=8831"],
        cwd=ROOT,
        env={**env, "SITE_URL": "", "HOST": ""},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for process in ("migrate", "seed_demo", "periodic_start", "db_worker", "daphne "):
        line = next(line for line in commands.splitlines() if process in line)
        assert "SITE_URL='http://127.0.0.1:8831'" in line, line
