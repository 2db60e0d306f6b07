"""Every public page as a visitor sees it, in English and German, on a
desktop and a phone: axe-core finds no serious or critical violation, the
page fits the screen, and the browser reports no error. The pages: the
public home, a group's public page, a webinar's page and what follows
registering (the "check your inbox" page, the privacy notice, the personal
confirmation and cancellation pages), the published results (the list, a
result, a version, a difference), the join form and the sign-in page."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from meetings.models import Meeting
from results import services as result_services
from webinars import services as webinar_services
from webinars.tests.conftest import register

from .helpers import assert_accessible, assert_no_browser_errors, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 360, "height": 740}}


@pytest.fixture
def public_side(group, member, moderator):
    """A group with a public summary, a listed member, a public webinar with
    a registration, and a result published in two versions."""
    group.public_summary = "Fair recruitment, prepared in the open."
    group.save()
    member.public_name = member.public_affiliation = True
    member.save()
    starts = timezone.now().replace(microsecond=0) + datetime.timedelta(days=3)
    meeting = Meeting.objects.create(
        group=group,
        title="Fair recruitment: what works",
        kind=Meeting.Kind.WEBINAR,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(hours=1),
    )
    webinar = webinar_services.webinar_publish(
        actor=moderator,
        meeting=meeting,
        abstract="How **skills partnerships** work.",
        presenters=[("Dr. Ada Lovelace", "Uni A")],
        capacity=40,
    )
    registration = register(webinar, "rita@example.org")
    result = result_services.result_create(
        actor=moderator,
        group=group,
        kind="interim",
        title="Fair recruitment",
        summary="Five principles.",
        body="## Principles\n\n1. No fees for workers.\n2. Contracts in the worker's language.",
    )
    result_services.result_publish(actor=moderator, result=result, change_summary="First.")
    result_services.result_update(
        actor=moderator,
        result=result,
        kind="interim",
        title="Fair recruitment",
        summary="Six principles.",
        body="## Principles\n\n1. No fees for workers.\n2. Contracts in the worker's language."
        "\n3. A complaint channel.",
    )
    result_services.result_publish(actor=moderator, result=result, change_summary="Third point.")
    base = f"/groups/{group.slug}/results/{result.slug}/"
    return [
        "/",
        f"/public/groups/{group.slug}/",
        webinar.get_absolute_url(),
        f"/webinars/{webinar.pk}/registered/",
        "/webinars/privacy/",
        f"/w/{registration.token}/confirm/",
        f"/w/{registration.token}/cancel/",
        "/results/",
        f"/groups/{group.slug}/results/",
        base,
        f"{base}v1/",
        f"{base}diff/?from=1&to=2",
        f"/join/?group={group.pk}",
        "/accounts/login/",
    ]


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("size", SIZES)
def test_public_pages_are_accessible_and_fit(new_context, server, public_side, language, size):
    context = new_context(locale=language, viewport=SIZES[size])
    page = context.new_page()
    for path in public_side:
        response = page.goto(server + path)
        assert response.status == 200, (path, response.status)
        expect(page.locator("html")).to_have_attribute("lang", language)
        assert_accessible(page)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= SIZES[size]["width"], f"{path} is {width} px wide"
        shot(page, f"public/{size}-{language}{path.replace('/', '_')}")
    assert_no_browser_errors(page)


def test_the_check_fails_on_a_serious_violation(page, server):
    """The check is not blind: a page with an image without a text, an
    unlabelled form field and a button without a name fails it, each named."""
    page.goto(server + "/webinars/privacy/")
    page.evaluate(
        """() => {
          const main = document.querySelector("main");
          main.insertAdjacentHTML("beforeend",
            '<img src="/static/favicon.svg"><input type="text"><button></button>');
        }"""
    )
    with pytest.raises(AssertionError) as failed:
        assert_accessible(page)
    for rule in ("image-alt", "label", "button-name"):
        assert rule in str(failed.value)
