"""Helpers for browser tests: finding Chromium, signing in, watching the page.

Fixtures live in conftest.py; these are plain functions so that test modules
import them: ``from tests.browser.helpers import login``.
"""

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import BrowserContext, ConsoleMessage, Page, expect

from tests.servers import ROOT
from tests.totp import totp

ARTIFACTS = ROOT / "test-artifacts"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}

# Runs in every document before the page's own scripts. It records CSP
# violations in the page (window.__cspViolations) and hands each one to Python
# through a binding, so that violations of pages already navigated away from
# are not lost. Init scripts and bindings are injected by the browser itself,
# so the page's CSP does not apply to them.
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const violation = {
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    source: event.sourceFile,
    line: event.lineNumber,
    sample: event.sample,
    page: document.location.href,
  };
  window.__cspViolations.push(violation);
  if (window.__recordCspViolation) window.__recordCspViolation(violation);
});
"""


def chromium_path() -> Path:
    return Path(os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium")


@dataclass
class BrowserLog:
    """What went wrong in the pages of one browser context."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[dict] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [
            *(f"console error: {text}" for text in self.console_errors),
            *(f"uncaught exception: {text}" for text in self.page_errors),
            *(f"CSP violation: {violation}" for violation in self.csp_violations),
        ]


def watch(context: BrowserContext) -> BrowserLog:
    """Starts recording console errors, uncaught exceptions and CSP violations
    of every page of ``context``."""
    log = BrowserLog()
    context.expose_binding(
        "__recordCspViolation", lambda _source, violation: log.csp_violations.append(violation)
    )
    context.add_init_script(CSP_RECORDER)

    def on_console(message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url") or ""
        log.console_errors.append(f"{message.text} ({url})" if url else message.text)

    def on_page(page: Page) -> None:
        page.on("console", on_console)
        page.on("pageerror", lambda error: log.page_errors.append(str(error)))

    context.on("page", on_page)
    context.workspace_log = log
    return log


def browser_log(page: Page) -> BrowserLog:
    return page.context.workspace_log


# What Chromium logs for a page that answers 404 on purpose.
NOT_FOUND_ERROR = (
    r"console error: Failed to load resource: "
    r"the server responded with a status of 404 \(Not Found\) .*"
)


def assert_no_browser_errors(page: Page, *, expected: Sequence[str] = ()) -> None:
    """Fails if any page of ``page``'s context logged a console error, threw an
    uncaught exception or violated the CSP (also on pages already left).
    ``expected`` are regular expressions for problems the test caused on
    purpose, e.g. ``NOT_FOUND_ERROR`` after opening a page that must be a 404."""
    # The violations of the current document, in case one is still on its way
    # through the binding.
    current = page.evaluate("window.__cspViolations || []")
    log = browser_log(page)
    missing = [violation for violation in current if violation not in log.csp_violations]
    problems = log.problems() + [f"CSP violation: {violation}" for violation in missing]
    problems = [
        problem
        for problem in problems
        if not any(re.fullmatch(pattern, problem) for pattern in expected)
    ]
    assert not problems, "The browser reported problems:\n" + "\n".join(problems)


# axe-core's impacts that fail a page; "moderate" and "minor" are reported
# by axe but do not fail it (the bar: no serious or critical one).
FAILING_IMPACTS = ("serious", "critical")


def accessibility_violations(page: Page) -> list[str]:
    """axe-core (axe-playwright-python's copy, injected into the page through
    the DevTools protocol, so the page's CSP does not apply to it) run over the
    current page: its serious and critical violations, one line each with the
    elements concerned."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}) on {page.url}: {violation['help']} — "
        + "; ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
        for violation in results.response["violations"]
        if violation["impact"] in FAILING_IMPACTS
    ]


def assert_accessible(page: Page) -> None:
    """Fails on any serious or critical axe-core violation of the current page."""
    problems = accessibility_violations(page)
    assert not problems, "Accessibility violations:\n" + "\n".join(problems)


def login(page: Page, base_url: str, email: str, password: str) -> None:
    """Signs in through the real login form and waits for the dashboard."""
    page.goto(base_url + "/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(base_url + "/")
    expect(page.locator("h1")).to_be_visible()


def login_with_totp(page: Page, base_url: str, email: str, password: str, secret: str) -> None:
    """Signs in through the real login form, completes the two-factor step with
    a code computed from ``secret`` and waits for the dashboard."""
    page.goto(base_url + "/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(base_url + "/accounts/2fa/authenticate/")
    page.locator("input[name=code]").fill(totp(secret, fresh=True))
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(base_url + "/")
    expect(page.locator("h1")).to_be_visible()


def login_with_session(context: BrowserContext, base_url: str, user) -> None:
    """Signs ``user`` in without the login form: gives ``context`` the cookie of
    a session made like Django's ``Client.force_login``.

    For tests whose subject is not the login: it is faster, and it does not count
    against allauth's login rate limit (30 per minute per IP), which a
    session-wide server would otherwise reach once there are many browser tests.
    """
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": base_url,
            }
        ]
    )


def shot(page: Page, name: str) -> Path | None:
    """Saves a full-page screenshot as ``$BROWSER_SHOTS/<name>.png`` when that
    variable names a folder (for looking at the pages); otherwise does nothing."""
    folder = os.environ.get("BROWSER_SHOTS")
    if not folder:
        return None
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path, full_page=True)
    return path


def artifact_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:150]
