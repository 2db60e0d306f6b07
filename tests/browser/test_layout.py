"""Phone layout, the header's menu and language control, manage membership
and dates, as a member, a moderator and a visitor see them in Chromium.

Screenshots (en/de, 1280 and 360 px: the header signed in and as a visitor,
the profile form, manage membership, a thread) go to ``$BROWSER_SHOTS`` when
that names a folder."""

import datetime
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from discussions import services as discussion_services
from discussions.models import Post
from documents import services as document_services
from meetings import services as meeting_services

from .helpers import PHONE, assert_no_browser_errors, login_with_session, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SMALL_PHONE = {**PHONE, "viewport": {"width": 360, "height": 740}}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
SIZES = {360: SMALL_PHONE, 390: PHONE, 1280: DESKTOP}

# "6 Dec 2026, 01:15" / "6. Dez. 2026, 01:15" (also "6. März 2026", "6. Mai 2026").
EXACT = {
    "en": re.compile(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d"),
    "de": re.compile(r"\d{1,2}\. [A-ZÄÖÜ][a-zäöü]{2,4}\.? \d{4}, \d\d:\d\d"),
}
RELATIVE = {
    "en": re.compile(r"now|\d+ seconds? ago|(a|an|\d+) (minute|hour)s? ago"),
    "de": re.compile(r"jetzt|vor (\d+|einer) (Sekunden?|Minuten?|Stunden?)"),
}


@pytest.fixture
def world(server, group, member, moderator, guest):
    """A thread with a post from 40 days ago and a fresh reply, a document, a
    meeting, and a notification for the member."""
    thread = discussion_services.thread_create(
        actor=member, group=group, title="Labour pathways", body="Where do we start?"
    )
    Post.objects.filter(thread=thread).update(
        created_at=timezone.now() - datetime.timedelta(days=40)
    )
    first = thread.posts.get()
    fresh = discussion_services.post_create(
        actor=moderator, thread=thread, body="@Mia Member see section 2.", parent=first
    )
    document = document_services.document_upload(
        actor=moderator,
        group=group,
        uploaded=SimpleUploadedFile("plan.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf"),
        title="Work plan",
    )
    starts = timezone.now() + datetime.timedelta(days=3)
    meeting = meeting_services.meeting_schedule(
        actor=moderator,
        group=group,
        data={
            "title": "Working session",
            "starts_at": starts,
            "ends_at": starts + datetime.timedelta(hours=1),
            "agenda": "1. Drafts",
            "video_link": "https://meet.example.org/session",
        },
    )
    return {
        "thread": thread,
        "first": first,
        "fresh": fresh,
        "document": document,
        "meeting": meeting,
    }


def member_paths(group, world, user):
    return [
        "/",
        group.get_absolute_url(),
        reverse("groups:members", args=[group.slug]),
        reverse("discussions:thread_list", args=[group.slug]),
        world["thread"].get_absolute_url(),
        reverse("documents:list", args=[group.slug]),
        world["document"].get_absolute_url(),
        reverse("meetings:list", args=[group.slug]),
        world["meeting"].get_absolute_url(),
        reverse("notifications:list"),
        reverse("notifications:preferences"),
        user.get_absolute_url(),
        reverse("accounts:profile_edit"),
        reverse("account_email"),
        reverse("mfa_index"),
        reverse("home:search") + "?q=section",
    ]


def moderator_paths(group, world, user):
    return [
        *member_paths(group, world, user),
        reverse("groups:manage", args=[group.slug]),
        reverse("groups:settings", args=[group.slug]),
        reverse("groups:audit", args=[group.slug]),
        reverse("discussions:report_queue", args=[group.slug]),
        reverse("meetings:minutes", args=[world["meeting"].pk]),
    ]


def visitor_paths(group):
    return [
        "/",
        "/public/",
        f"/public/groups/{group.slug}/",
        reverse("account_login"),
        reverse("groups:join"),
    ]


def scroll_width(page) -> int:
    return page.evaluate("document.scrollingElement.scrollWidth")


def open_page(page, url):
    response = page.goto(url)
    assert response is not None and response.ok, (url, response and response.status)


@pytest.mark.parametrize(
    ("width", "language"), [(360, "en"), (360, "de"), (390, "de"), (1280, "de")]
)
def test_every_page_fits_the_screen_for_member_moderator_and_visitor(
    new_context, server, group, member, moderator, world, width, language
):
    for person, paths in [
        (member, member_paths(group, world, member)),
        (moderator, moderator_paths(group, world, moderator)),
        (None, visitor_paths(group)),
    ]:
        context = new_context(**SIZES[width], locale=language)
        if person is not None:
            person.language = language
            person.save(update_fields=["language"])
            login_with_session(context, server, person)
        page = context.new_page()
        for path in paths:
            open_page(page, server + path)
            expect(page.locator("html")).to_have_attribute("lang", language)
            assert page.evaluate("window.innerWidth") == width
            assert scroll_width(page) <= width, (person, path, scroll_width(page))
        assert_no_browser_errors(page)


@pytest.mark.parametrize("size", [SMALL_PHONE, PHONE])
def test_phone_header_is_one_row_whose_menu_holds_sign_out_and_two_factor(
    new_context, server, member, size
):
    context = new_context(**size)
    login_with_session(context, server, member)
    page = context.new_page()
    page.goto(server + "/")
    header = page.locator(".site-header").bounding_box()
    assert header["height"] <= 64, header
    sign_out = page.get_by_role("button", name="Sign out")
    two_factor = page.get_by_role("link", name="Two-factor authentication")
    expect(sign_out).to_be_hidden()
    expect(two_factor).to_be_hidden()
    expect(page.get_by_role("link", name="Notifications")).to_be_visible()

    menu = page.get_by_text("Menu", exact=True)
    menu.tap()
    expect(page.locator("details.menu")).to_have_attribute("open", "")
    width = size["viewport"]["width"]
    for item in (sign_out, two_factor):
        expect(item).to_be_visible()
        box = item.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
        assert box["y"] + box["height"] <= size["viewport"]["height"], box
    assert scroll_width(page) <= width
    shot(page, f"layout-menu-open-member-{width}")
    menu.tap()
    expect(sign_out).to_be_hidden()
    # Escape and a tap outside close it too.
    menu.tap()
    expect(sign_out).to_be_visible()
    page.keyboard.press("Escape")
    expect(sign_out).to_be_hidden()
    expect(page.locator("summary.menu-button")).to_be_focused()
    menu.tap()
    page.locator(".site-footer").tap()
    expect(sign_out).to_be_hidden()

    page.get_by_text("Menu", exact=True).tap()
    sign_out.tap()
    expect(page).to_have_url(re.compile(r".*/accounts/login/.*|.*/$"))
    assert_no_browser_errors(page)


@pytest.mark.parametrize("signed_in", [True, False])
def test_one_language_control_switches_the_language(new_context, server, member, signed_in):
    context = new_context(**SMALL_PHONE)
    if signed_in:
        login_with_session(context, server, member)
    page = context.new_page()
    page.goto(server + "/")
    assert page.locator("header").bounding_box()["height"] <= 64
    expect(page.locator("select[name=language]")).to_have_count(0)
    expect(page.locator("[name=language]")).to_have_count(1)  # one control: the other language
    page.get_by_text("Menu", exact=True).tap()
    page.get_by_role("button", name="Deutsch").tap()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page).to_have_url(server + "/")
    assert page.locator("header").bounding_box()["height"] <= 64
    page.get_by_text("Menü", exact=True).tap()
    expect(page.locator("[name=language]")).to_have_count(1)
    expect(page.get_by_role("button", name="English")).to_be_visible()
    if signed_in:
        expect(page.get_by_role("button", name="Abmelden")).to_be_visible()
        member.refresh_from_db()
        assert member.language == "de"
    page.get_by_role("button", name="English").tap()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert_no_browser_errors(page)


def test_header_and_pages_screenshots_in_both_languages_and_widths(
    new_context, server, group, member, moderator, world
):
    """Not a check of its own beyond fitting: the pictures a person looks at."""
    manage = reverse("groups:manage", args=[group.slug])
    for language in ("en", "de"):
        moderator.language = language
        moderator.save(update_fields=["language"])
        for width in (1280, 360):
            visitor = new_context(**SIZES[width], locale=language).new_page()
            visitor.goto(server + "/")
            assert scroll_width(visitor) <= width
            shot(visitor, f"layout-header-visitor-{language}-{width}")
            context = new_context(**SIZES[width], locale=language)
            login_with_session(context, server, moderator)
            page = context.new_page()
            for name, path in [
                ("header", "/"),
                ("profile-edit", reverse("accounts:profile_edit")),
                ("manage", manage),
                ("thread", world["thread"].get_absolute_url()),
            ]:
                page.goto(server + path)
                assert scroll_width(page) <= width, path
                shot(page, f"layout-{name}-{language}-{width}")
            assert_no_browser_errors(page)


def test_manage_membership_shows_the_end_only_for_guests_and_no_remove_on_oneself(
    new_context, server, group, moderator, member, guest
):
    context = new_context(**SMALL_PHONE)
    login_with_session(context, server, moderator)
    page = context.new_page()
    page.goto(server + reverse("groups:manage", args=[group.slug]))
    own, member_row, guest_row = (
        page.locator(f"#membership-{person.memberships.get(group=group).pk}")
        for person in (moderator, member, guest)
    )
    dates = "input[type=date]:visible"
    # The guest's end: once, in the row's one date field.
    expect(guest_row.locator(dates)).to_have_count(1)
    expected = timezone.localtime(guest.memberships.get(group=group).expires_at).date()
    expect(guest_row.locator(dates)).to_have_value(expected.isoformat())
    expect(guest_row.get_by_role("link", name="Remove")).to_have_count(1)
    # A member and the moderator herself have no end date.
    expect(member_row.locator(dates)).to_have_count(0)
    expect(own.locator(dates)).to_have_count(0)
    expect(member_row.get_by_role("link", name="Remove")).to_have_count(1)
    # Nothing she may not do on herself: no Remove, no role change.
    expect(own.get_by_role("link", name="Remove")).to_have_count(0)
    expect(own.locator("select")).to_have_count(0)
    expect(own).to_contain_text("(you)")
    # Making the member a guest asks for the end date, then.
    member_row.locator("select").select_option("guest")
    expect(member_row.locator(dates)).to_have_count(1)
    expect(member_row.get_by_label("Guest access ends")).to_be_visible()
    assert scroll_width(page) <= 360
    shot(page, "layout-manage-guest-chosen-360")
    assert_no_browser_errors(page)


@pytest.mark.parametrize("language", ["en", "de"])
def test_dates_are_unambiguous_relative_when_fresh_with_exact_time_on_hover(
    new_context, server, group, member, moderator, world, language
):
    member.language = language
    member.save(update_fields=["language"])
    context = new_context(**SMALL_PHONE, locale=language)
    login_with_session(context, server, member)
    page = context.new_page()
    page.goto(server + world["thread"].get_absolute_url())
    old = page.locator(f"#post-{world['first'].pk} time")
    fresh = page.locator(f"#post-{world['fresh'].pk} time")
    for time in (old, fresh):
        expect(time).to_have_attribute("datetime", re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d"))
        expect(time).to_have_attribute("title", EXACT[language])
    expect(old).to_have_text(EXACT[language])
    expect(fresh).to_have_text(RELATIVE[language])
    # The exact time matches the ISO time it stands for.
    iso = fresh.get_attribute("datetime")
    moment = timezone.localtime(datetime.datetime.fromisoformat(iso))
    assert moment.strftime("%H:%M") in fresh.get_attribute("title")
    assert str(moment.year) in fresh.get_attribute("title")

    # The same element wherever something that happened is shown.
    for path in [
        reverse("notifications:list"),
        reverse("documents:list", args=[group.slug]),
        world["document"].get_absolute_url(),
        reverse("discussions:thread_list", args=[group.slug]),
    ]:
        page.goto(server + path)
        times = page.locator("main time[data-when]")
        expect(times.first).to_be_visible()
        for index in range(times.count()):
            expect(times.nth(index)).to_have_attribute("title", EXACT[language])
            expect(times.nth(index)).to_have_text(
                re.compile(f"{RELATIVE[language].pattern}|{EXACT[language].pattern}")
            )
    # A meeting to come shows its exact date, not "in 3 days".
    page.goto(server + world["meeting"].get_absolute_url())
    expect(page.locator("main time").first).to_have_text(
        re.compile(r"\d{1,2}\.? [A-ZÄÖÜ][a-zäöü]{2,4}\.? \d{4}, \d\d:\d\d")
    )
    assert_no_browser_errors(page)


def test_relative_times_are_kept_current_by_the_page(new_context, server, member, world):
    """A page left open (or served from a cache) does not go stale: the script
    renews the relative texts every minute from the ISO time."""
    context = new_context(**SMALL_PHONE)
    login_with_session(context, server, member)
    page = context.new_page()
    page.clock.install()
    page.goto(server + world["thread"].get_absolute_url())
    fresh = page.locator(f"#post-{world['fresh'].pk} time")
    expect(fresh).to_have_text(RELATIVE["en"])
    page.clock.fast_forward("02:00:00")
    expect(fresh).to_have_text("2 hours ago")
    page.clock.fast_forward("24:00:00")
    expect(fresh).to_have_text(EXACT["en"])
    assert_no_browser_errors(page)
