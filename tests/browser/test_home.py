"""The home page's news and the header's search on a 360 px phone: every page
fits the screen with the search box in the header's menu, and the box finds a
document, a meeting and a thread."""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from playwright.sync_api import expect

from discussions import services as discussion_services
from documents import services as document_services
from meetings import services as meeting_services

from .helpers import PHONE, assert_no_browser_errors, login_with_session, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SMALL_PHONE = {**PHONE, "viewport": {"width": 360, "height": 740}}
LONG = "Arbeitsmarktintegrationsmaßnahmenevaluierungsbericht"  # a long German word


@pytest.fixture
def news(settings, tmp_path, group, member, moderator):
    """Something of every kind in ``group``, with long words in it."""
    settings.MEDIA_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    discussion_services.thread_create(
        actor=moderator, group=group, title=f"Harvest {LONG}", body=f"Harvest {LONG} work."
    )
    document_services.document_upload(
        actor=moderator,
        group=group,
        uploaded=SimpleUploadedFile("a.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf"),
        title=f"Harvest {LONG}",
        description=f"Harvest {LONG} " * 10,
    )
    starts = timezone.now() + datetime.timedelta(minutes=5)
    meeting = meeting_services.meeting_schedule(
        actor=moderator,
        group=group,
        data={
            "title": f"Harvest {LONG}",
            "starts_at": starts,
            "ends_at": starts + datetime.timedelta(hours=1),
            "agenda": f"1. Harvest {LONG}",
            "video_link": f"https://meet.example.org/{LONG}/{LONG}",
        },
    )
    return meeting


def fits(page) -> bool:
    """No horizontal scroll at 360 px. (A mobile browser widens its layout
    viewport to content that is too wide, so the width is compared with 360,
    not with ``innerWidth``.)"""
    width = SMALL_PHONE["viewport"]["width"]
    # Measured once the page has settled (its fonts, the scripts that write
    # relative times): a busy machine once measured it in between.
    page.wait_for_load_state("networkidle")
    page.evaluate("document.fonts.ready")
    return page.evaluate(
        f"window.innerWidth === {width} && document.scrollingElement.scrollWidth <= {width}"
    )


@pytest.mark.parametrize("language", ["en", "de"])
def test_pages_fit_360_px_with_search_box_and_search_finds_each_kind(
    new_context, server, member, group, news, language
):
    member.language = language
    member.save()
    context = new_context(**SMALL_PHONE)
    login_with_session(context, server, member)
    page = context.new_page()

    page.goto(server + "/")
    expect(page.locator(".group-news")).to_be_visible()
    expect(page.locator(".next-meeting .video-link")).to_be_visible()
    assert fits(page)
    shot(page, f"home-news-phone-{language}")
    for path in [
        group.get_absolute_url(),
        f"/groups/{group.slug}/threads/",
        f"/groups/{group.slug}/documents/",
        news.get_absolute_url(),
        member.get_absolute_url(),
    ]:
        page.goto(server + path)
        page.locator(".menu-button").tap()
        expect(page.locator("#header-search")).to_be_visible()
        shot(page, f"page-{language}-{path.strip('/').replace('/', '-')}")
        assert fits(page), path

    box = page.locator("#header-search")
    box.tap()
    page.keyboard.type("harvest")
    page.keyboard.press("Enter")
    expect(page.locator("#search-documents-heading")).to_be_visible()
    expect(page.locator("#search-meetings-heading")).to_be_visible()
    expect(page.locator("#search-results-heading")).to_be_visible()
    expect(page.locator("h1")).to_have_count(1)
    assert fits(page)
    shot(page, f"search-phone-{language}")
    assert_no_browser_errors(page)
