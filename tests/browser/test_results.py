"""Results in a real browser: a moderator writes a draft and publishes it
with a change summary, publishes a second version; a visitor (no account)
reads the latest and the first version, compares them, and prints the page
without the site's navigation. No CSP violation, no console error."""

import re

import pytest
from playwright.sync_api import expect

from discussions import services as discussions

from .helpers import assert_no_browser_errors, login_with_session, shot

# Chromium logs every 4xx answer, also the ones the page handles on purpose.
BAD_REQUEST = (
    r"console error: Failed to load resource: "
    r"the server responded with a status of 400 \(Bad Request\) .*"
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_moderator_publishes_and_visitor_reads_compares_and_prints(
    new_context, server, moderator, group
):
    discussions.thread_create(
        actor=moderator, group=group, title="Fees along the corridor", body="What we heard."
    )
    context = new_context()
    login_with_session(context, server, moderator)
    page = context.new_page()
    page.goto(f"{server}/groups/{group.slug}/results/")
    page.get_by_role("link", name="Write a result").click()
    page.get_by_label("Kind").select_option("recommendation")
    page.get_by_label("Title").fill("Fair recruitment")
    page.get_by_label("Summary").fill("Five steps towards fair recruitment.")
    page.get_by_label("Text").fill("## Steps\n\n1. Ban recruitment fees.\n2. Check agencies.\n")
    page.get_by_role("button", name="Save the draft").click()
    expect(page.get_by_text("Draft: only the group sees it").first).to_be_visible()
    page.get_by_role("link", name="Publish a version").click()
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".field-errors, .errorlist").first).to_contain_text(
        "Say in a few words what this version changes."
    )
    page.get_by_label("What changed").fill("First public version")
    page.get_by_role("button", name="Publish").click()
    expect(page).to_have_url(re.compile(r"/results/fair-recruitment/v1/$"))
    page.get_by_role("link", name="Edit the draft").click()
    page.get_by_label("Text").fill(
        "## Steps\n\n1. Ban recruitment fees.\n2. Check agencies twice a year.\n"
    )
    page.get_by_label("Fees along the corridor").check()
    page.get_by_role("button", name="Save the draft").click()
    page.get_by_role("link", name="Publish a version").click()
    page.get_by_label("What changed").fill("Checks made regular")
    page.get_by_role("button", name="Publish").click()
    expect(page).to_have_url(re.compile(r"/v2/$"))
    expect(page.get_by_role("link", name="Fees along the corridor")).to_be_visible()
    shot(page, "results-version-moderator")
    # The publish form's first answer is 400 (no change summary), on purpose.
    assert_no_browser_errors(page, expected=[BAD_REQUEST])

    visitor = new_context().new_page()
    visitor.goto(f"{server}/groups/{group.slug}/results/fair-recruitment/")
    expect(visitor.locator("h1")).to_have_text("Fair recruitment")
    expect(visitor.get_by_text("Check agencies twice a year.")).to_be_visible()
    expect(visitor.get_by_role("link", name="Edit the draft")).to_have_count(0)
    expect(visitor.get_by_text("Fees along the corridor")).to_have_count(0)
    shot(visitor, "results-latest-visitor")
    visitor.get_by_role("link", name="Version 1", exact=True).click()
    expect(visitor.get_by_text("This is not the latest version.")).to_be_visible()
    visitor.goto(f"{server}/groups/{group.slug}/results/fair-recruitment/")
    visitor.get_by_role("link", name="Compare versions").click()
    expect(visitor.locator("table.diff ins")).to_contain_text(["twice a year"])
    shot(visitor, "results-diff")
    visitor.goto(f"{server}/groups/{group.slug}/results/fair-recruitment/")
    visitor.emulate_media(media="print")
    expect(visitor.locator(".site-header")).to_be_hidden()
    expect(visitor.locator(".result-body")).to_be_visible()
    assert not [c for c in visitor.context.cookies() if c["name"] == "sessionid"]
    assert_no_browser_errors(visitor)
