"""A visitor on the public pages in a real Chromium against daphne: the
public home in German, a group's public page with the people who chose to be
listed, the way to the join form, and no session cookie."""

import pytest
from playwright.sync_api import expect

from .helpers import PHONE, assert_no_browser_errors, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_visitor_reads_public_home_and_group_page_in_german(new_context, server, group, member):
    group.public_summary = "Faire Arbeitsmigration, öffentlich vorbereitet."
    group.save()
    member.public_name = member.public_affiliation = True
    member.save()
    context = new_context(locale="de-DE", **PHONE)
    page = context.new_page()

    page.goto(server + "/")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("h1")).to_have_count(1)
    expect(page.get_by_role("heading", level=2, name="Die Arbeitsgruppen")).to_be_visible()
    expect(page.locator("main")).to_contain_text(group.public_summary)
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    shot(page, "public-home-phone-de")

    page.get_by_role("link", name=group.name, exact=True).click()
    expect(page).to_have_url(f"{server}/public/groups/{group.slug}/")
    expect(page.get_by_role("heading", level=1, name=group.name)).to_be_visible()
    expect(page.locator("main")).to_contain_text("Mia Member")
    expect(page.locator("main")).to_contain_text("Uni A")
    expect(page.locator("main")).not_to_contain_text("member@example.org")
    shot(page, "public-group-phone-de")
    assert_no_browser_errors(page)

    page.get_by_role("link", name="Beitritt anfragen", exact=True).last.click()
    expect(page).to_have_url(f"{server}/join/?group={group.pk}")
    expect(page.get_by_label("Arbeitsgruppe", exact=True)).to_have_value(str(group.pk))

    names = {cookie["name"] for cookie in context.cookies()}
    assert "sessionid" not in names
