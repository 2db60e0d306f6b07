"""Signing in and out in a real Chromium against daphne."""

import uuid

import pytest
from playwright.sync_api import expect

from .helpers import PHONE, assert_no_browser_errors, login, login_with_session, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_reaches_dashboard_with_open_socket_if_password_is_right(
    page, server, user, password
):
    login(page, server, user.email, password)

    expect(page.get_by_role("heading", level=1, name="My groups")).to_be_visible()
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("main")).to_contain_text(user.display_name)
    # static/js/socket.js marks the document once the WebSocket is open.
    expect(page.locator("html[data-socket=open]")).to_have_count(1)
    shot(page, "dashboard-desktop")
    assert_no_browser_errors(page)


def test_login_page_has_one_h1_and_no_browser_errors(page, server):
    page.goto(server + "/profile/edit/")

    expect(page).to_have_url(server + "/accounts/login/?next=/profile/edit/")
    expect(page.locator("h1")).to_have_count(1)
    expect(page.get_by_label("Email")).to_be_visible()
    expect(page.get_by_label("Password")).to_be_visible()
    shot(page, "login-desktop")
    assert_no_browser_errors(page)


def test_login_shows_error_and_stays_on_login_page_if_password_is_wrong(page, server, make_user):
    # An address of its own: allauth limits failed logins per address, and with
    # Redis that count outlives the test run.
    person = make_user(f"wrong-{uuid.uuid4().hex[:8]}@example.org")
    page.goto(server + "/accounts/login/")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign In").click()

    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_role("alert")).not_to_be_empty()
    expect(page).to_have_url(server + "/accounts/login/")
    expect(page.get_by_label("Email")).to_have_value(person.email)
    shot(page, "login-error-desktop")
    assert_no_browser_errors(page)
    # Still anonymous: a member page sends back to the login page.
    page.goto(server + "/profile/edit/")
    expect(page).to_have_url(server + "/accounts/login/?next=/profile/edit/")


def test_sign_out_returns_to_login_page_on_next_visit(page, server, user, password):
    login(page, server, user.email, password)
    expect(page.locator("html[data-socket=open]")).to_have_count(1)

    page.get_by_role("button", name="Sign out").click()
    # Back on the public home, as a visitor.
    expect(page).to_have_url(server + "/")
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()

    page.goto(server + "/")
    expect(page).to_have_url(server + "/")
    expect(page.get_by_role("heading", level=1, name="My groups")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text(user.display_name)
    page.goto(server + "/profile/edit/")
    expect(page).to_have_url(server + "/accounts/login/?next=/profile/edit/")
    expect(page.get_by_role("button", name="Sign In")).to_be_visible()
    assert_no_browser_errors(page)


def test_login_on_phone_fits_the_screen_and_signs_in(new_context, server, user, password):
    page = new_context(**PHONE).new_page()
    page.goto(server + "/accounts/login/")

    width = page.evaluate("window.innerWidth")
    assert width == PHONE["viewport"]["width"]
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width
    controls = [
        page.get_by_label("Email"),
        page.get_by_label("Password"),
        page.get_by_role("button", name="Sign In"),
    ]
    for control in controls:
        expect(control).to_be_in_viewport()
        box = control.bounding_box()
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width
        assert box["height"] >= 24  # big enough to hit with a finger
    shot(page, "login-phone")

    controls[0].tap()
    page.keyboard.type(user.email)
    controls[1].tap()
    page.keyboard.type(password)
    controls[2].tap()
    expect(page.get_by_role("heading", level=1, name="My groups")).to_be_visible()
    assert_no_browser_errors(page)


def test_dashboard_on_phone_opens_socket_with_session_cookie(new_context, server, user):
    context = new_context(**PHONE)
    login_with_session(context, server, user)
    page = context.new_page()
    page.goto(server + "/")

    expect(page.get_by_role("heading", level=1, name="My groups")).to_be_visible()
    expect(page.locator("html[data-socket=open]")).to_have_count(1)
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    shot(page, "dashboard-phone")
    assert_no_browser_errors(page)


def test_browser_errors_are_reported_if_page_breaks_the_csp(page, server):
    """The guard the other tests rely on can fail."""
    page.goto(server + "/accounts/login/")
    page.evaluate(
        """() => {
          const style = document.createElement("style");
          style.textContent = "body { color: red; }";
          document.head.append(style);
        }"""
    )
    page.wait_for_function("window.__cspViolations.length > 0")
    with pytest.raises(AssertionError, match="style-src-elem"):
        assert_no_browser_errors(page)


def test_password_change_keeps_this_browser_live_and_closes_the_others(
    new_context, server, user, password
):
    """A password change renews the session of the browser it was made in:
    that browser's other tabs reconnect with it (static/js/socket.js tries
    once more after a 4401), while another browser's session has ended and
    its socket stays closed."""
    here = new_context()
    changing, other_tab = here.new_page(), here.new_page()
    login(changing, server, user.email, password)
    other_tab.goto(server + "/")
    elsewhere = new_context().new_page()
    login(elsewhere, server, user.email, password)
    for page in (other_tab, elsewhere):
        expect(page.locator("html[data-socket=open]")).to_have_count(1)
        page.evaluate(
            "document.addEventListener('ws:close', (e) => { const html = document.documentElement;"
            " html.dataset.closes = `${html.dataset.closes || ''} ${e.detail.code}`; })"
        )

    changing.goto(server + "/accounts/password/change/")
    changing.get_by_label("Current Password").fill(password)
    changing.get_by_label("New Password", exact=True).fill("a-new-horse-battery-staple")
    changing.get_by_label("New Password (again)").fill("a-new-horse-battery-staple")
    changing.get_by_role("button", name="Change Password").click()
    expect(changing.get_by_role("status")).to_contain_text("Password successfully changed.")

    # The other tab of this browser was closed with 4401 and is open again.
    expect(other_tab.locator("html[data-closes~='4401']")).to_have_count(1)
    expect(other_tab.locator("html[data-socket=open]")).to_have_count(1, timeout=10_000)
    # The other browser's session has ended: closed, and it stays closed (its
    # tries are refused at the handshake).
    expect(elsewhere.locator("html[data-closes~='4401']")).to_have_count(1)
    elsewhere.wait_for_timeout(2_000)
    expect(elsewhere.locator("html[data-socket=closed]")).to_have_count(1)
    assert_no_browser_errors(other_tab)
