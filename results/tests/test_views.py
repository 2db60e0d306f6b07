import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse

from discussions import services as discussions
from documents import services as documents
from documents.tests.conftest import PDF, upload
from results import services
from results.models import Result, ResultVersion
from results.public import section

pytestmark = pytest.mark.django_db
ATOM = "{http://www.w3.org/2005/Atom}"


def url(name, result, **kwargs):
    return reverse(name, kwargs={"group": result.group.slug, "slug": result.slug, **kwargs})


# --- Drafts ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", [None, "other_member", "outsider"])
def test_draft_not_found_if_not_of_the_group(client, draft, who, request):
    if who:
        client.force_login(request.getfixturevalue(who))
    for name in ("results:detail", "results:draft", "results:diff"):
        response = client.get(url(name, draft))
        # The draft page is for signed-in people: a visitor is asked to sign in.
        expected = 302 if (name == "results:draft" and not who) else 404
        assert response.status_code == expected, name
    listing = client.get(reverse("results:list", kwargs={"group": draft.group.slug}))
    assert listing.status_code == 200 and draft.title not in listing.text
    assert draft.title not in client.get(reverse("results:site_list")).text
    assert draft.title not in client.get(reverse("results:site_feed")).text


@pytest.mark.parametrize("who", ["member", "guest"])
def test_draft_shown_if_of_the_group(client, draft, who, request):
    client.force_login(request.getfixturevalue(who))
    for name in ("results:detail", "results:draft"):
        response = client.get(url(name, draft))
        assert response.status_code == 200 and draft.title in response.text
        assert "Draft: only the group sees it" in response.text
    listing = client.get(reverse("results:list", kwargs={"group": draft.group.slug}))
    assert draft.title in listing.text


def test_moderator_writes_and_publishes_through_the_pages(client, group, moderator):
    client.force_login(moderator)
    create = reverse("results:create", kwargs={"group": group.slug})
    response = client.post(create, {"kind": "interim", "title": "Skills", "body": "# Skills\n"})
    result = Result.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("results:draft", result)
    response = client.post(url("results:publish", result), {"change_summary": "First"})
    assert response.status_code == 302
    assert response["Location"] == url("results:version", result, number=1)
    client.logout()
    page = client.get(url("results:detail", result))
    assert page.status_code == 200 and "<h1>Skills</h1>" in page.text


def test_publish_page_refuses_without_change_summary(client, draft, moderator):
    client.force_login(moderator)
    response = client.post(url("results:publish", draft), {"change_summary": "  "})
    assert response.status_code == 400
    assert "Say in a few words what this version changes." in response.text
    assert not ResultVersion.objects.exists()


def test_publish_page_says_nothing_changed(client, result_v1, moderator):
    client.force_login(moderator)
    response = client.post(url("results:publish", result_v1), {"change_summary": "Again"})
    assert response.status_code == 400
    assert "Nothing has changed since version 1." in response.text


def test_create_page_shows_errors_and_saves_nothing(
    client, group, moderator, other_group, other_member
):
    theirs = discussions.thread_create(actor=other_member, group=other_group, title="T", body="x")
    client.force_login(moderator)
    create = reverse("results:create", kwargs={"group": group.slug})
    response = client.post(create, {"kind": "opinion", "title": "", "sources_thread": [theirs.pk]})
    assert response.status_code == 400
    assert response.text.count("errorlist") >= 3
    assert not Result.objects.exists()


@pytest.mark.parametrize(
    "name", ["results:edit", "results:publish", "results:withdraw", "results:delete"]
)
def test_moderator_pages_forbidden_if_member_and_not_found_if_outsider(
    client, draft, member, outsider, name
):
    client.force_login(member)
    assert client.get(url(name, draft)).status_code == 403
    assert client.post(url(name, draft), {"change_summary": "x", "reason": "x"}).status_code == 403
    client.force_login(outsider)
    assert client.get(url(name, draft)).status_code == 404
    draft.refresh_from_db()
    assert draft.latest_number == 0 and Result.objects.filter(pk=draft.pk).exists()


def test_create_page_forbidden_if_member(client, group, member):
    client.force_login(member)
    response = client.post(
        reverse("results:create", kwargs={"group": group.slug}), {"kind": "interim", "title": "T"}
    )
    assert response.status_code == 403 and not Result.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/groups/fair-migration/results/nothing-here/",
        "/groups/fair-migration/results/nothing-here/v1/",
        "/groups/no-such-group/results/",
        "/groups/no-such-group/results/feed/",
        "/groups/fair-migration/results/nothing-here/diff/",
        "/groups/fair-migration/results/nothing-here/draft/",
    ],
)
def test_junk_addresses_not_found(client, group, member, path):
    assert client.get(path).status_code in (404, 302)  # the draft page asks visitors to sign in
    client.force_login(member)
    assert client.get(path).status_code == 404


def test_unknown_version_not_found(client, result_v1):
    assert client.get(url("results:version", result_v1, number=2)).status_code == 404
    assert client.get(url("results:version", result_v1, number=0)).status_code == 404
    assert client.get(url("results:detail", result_v1) + "vx/").status_code == 404


# --- Published versions -------------------------------------------------------------


def test_versions_citable_and_latest_at_the_stable_address(client, two_versions):
    latest = client.get(url("results:detail", two_versions))
    assert latest.status_code == 200
    assert "Labour pathways" in latest.text and "Line three." in latest.text
    assert "Version 2, published" in latest.text and "Second thoughts" in latest.text
    first = client.get(url("results:version", two_versions, number=1))
    assert first.status_code == 200
    assert "Secret draft on labour pathways" in first.text and "Line three." not in first.text
    assert "This is not the latest version." in first.text
    assert url("results:version", two_versions, number=1) in first.text  # cite this version
    assert "sessionid" not in first.cookies and "sessionid" not in latest.cookies


def test_version_page_shows_the_frozen_text_not_the_draft(client, result_v1, moderator):
    services.result_update(
        actor=moderator, result=result_v1, kind="interim", title="T", body="Unpublished idea."
    )
    page = client.get(url("results:detail", result_v1))
    assert "Line one." in page.text and "Unpublished idea." not in page.text


def test_diff_shows_changed_words_escaped(client, two_versions):
    response = client.get(url("results:diff", two_versions), {"from": 1, "to": 2})
    assert response.status_code == 200
    text = response.text
    assert "<del>two</del>" in text
    assert "<ins>2, &lt;b&gt;rewritten&lt;/b&gt;</ins>" in text and "<b>rewritten</b>" not in text
    assert "Line three." in text and "Second thoughts" in text
    assert "Secret draft on labour pathways" in text  # the title's change
    default = client.get(url("results:diff", two_versions))
    assert default.status_code == 200 and "<del>two</del>" in default.text
    reversed_order = client.get(url("results:diff", two_versions), {"from": 2, "to": 1})
    assert "<del>two</del>" in reversed_order.text


@pytest.mark.parametrize(
    "query", [{"from": 1, "to": 9}, {"from": "x", "to": 1}, {"from": 1, "to": 1}]
)
def test_diff_refuses_bad_versions_clearly(client, two_versions, query):
    response = client.get(url("results:diff", two_versions), query)
    assert response.status_code == 400
    assert "errorlist" in response.text


def test_diff_with_one_version_says_so(client, result_v1):
    response = client.get(url("results:diff", result_v1))
    assert response.status_code == 200 and "only one version" in response.text


def test_withdrawn_result_keeps_its_addresses_with_a_notice(client, two_versions, moderator):
    client.force_login(moderator)
    response = client.post(url("results:withdraw", two_versions), {"reason": "Figures were wrong."})
    assert response.status_code == 302
    client.logout()
    for page in (
        url("results:detail", two_versions),
        url("results:version", two_versions, number=1),
        url("results:diff", two_versions),
    ):
        response = client.get(page)
        assert response.status_code == 200
        assert "This result was withdrawn on" in response.text
        assert "Figures were wrong." in response.text


def test_withdraw_page_requires_a_reason(client, result_v1, moderator):
    client.force_login(moderator)
    response = client.post(url("results:withdraw", result_v1), {"reason": ""})
    assert response.status_code == 400 and "Say why the result is withdrawn." in response.text
    result_v1.refresh_from_db()
    assert not result_v1.is_withdrawn


# --- Sources: the group's people only -------------------------------------------------


@pytest.fixture
def with_sources(result_v1, moderator, member, media_root):
    thread = discussions.thread_create(
        actor=member, group=result_v1.group, title="Members-only thread", body="Private words"
    )
    document = documents.document_upload(
        actor=member, group=result_v1.group, uploaded=upload("r.pdf", PDF), title="Internal memo"
    )
    services.result_update(
        actor=moderator,
        result=result_v1,
        kind=result_v1.kind,
        title=result_v1.title,
        summary=result_v1.summary,
        body=result_v1.body,
        sources={"thread": [thread.pk], "document": [document.pk]},
    )
    return result_v1


def test_sources_shown_to_the_group_only(client, with_sources, member, other_member):
    client.force_login(member)
    page = client.get(url("results:detail", with_sources)).text
    assert "Members-only thread" in page and "Internal memo" in page
    for viewer in (None, other_member):
        client.logout()
        if viewer:
            client.force_login(viewer)
        page = client.get(url("results:detail", with_sources)).text
        assert "Members-only thread" not in page and "Internal memo" not in page
        assert "Where it came from" not in page


def test_sources_not_shown_if_hidden_from_the_member(client, with_sources, member, moderator):
    thread = with_sources.group.threads.get()
    discussions.thread_hide(actor=moderator, thread=thread)
    client.force_login(member)
    page = client.get(url("results:detail", with_sources)).text
    assert "Members-only thread" not in page and "Internal memo" in page


# --- Feeds, previews, print ---------------------------------------------------------


def test_feeds_parse_with_the_published_versions(client, two_versions, draft, group):
    other = services.result_create(
        actor=two_versions.created_by, group=group, kind="interim", title="Only a draft", body="x"
    )
    for feed_url in (
        reverse("results:site_feed"),
        reverse("results:feed", kwargs={"group": group.slug}),
    ):
        response = client.get(feed_url)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("application/atom+xml")
        root = ET.fromstring(response.content)  # noqa: S314 (our own feed)
        entries = root.findall(f"{ATOM}entry")
        titles = [entry.findtext(f"{ATOM}title") for entry in entries]
        assert titles == [
            "Labour pathways (version 2)",
            "Secret draft on labour pathways (version 1)",
        ]
        links = [entry.find(f"{ATOM}link").get("href") for entry in entries]
        assert links[1].endswith(url("results:version", two_versions, number=1))
        assert "Second thoughts" in entries[0].findtext(f"{ATOM}summary")
        assert other.title not in response.text


def test_group_feed_only_has_its_group(client, result_v1, other_group):
    response = client.get(reverse("results:feed", kwargs={"group": other_group.slug}))
    assert response.status_code == 200
    root = ET.fromstring(response.content)  # noqa: S314 (our own feed)
    assert root.findall(f"{ATOM}entry") == []


def test_result_page_has_link_previews_and_print_stylesheet(client, result_v1):
    page = client.get(url("results:detail", result_v1)).text
    assert '<meta property="og:title" content="Secret draft on labour pathways">' in page
    assert '<meta name="description" content="A first take.">' in page
    assert '<meta property="og:type" content="article">' in page
    assert (
        f'<link rel="canonical" href="http://127.0.0.1:8000{url("results:detail", result_v1)}">'
        in page
    )
    assert 'results-print.css" media="print"' in page


def test_list_pages_query_count_does_not_grow(
    client, group, moderator, django_assert_max_num_queries
):
    def publish(n):
        for i in range(n):
            result = services.result_create(
                actor=moderator, group=group, kind="interim", title=f"R{i}-{n}", body="x"
            )
            services.result_publish(actor=moderator, result=result, change_summary="x")

    publish(1)
    pages = [
        reverse("results:site_list"),
        reverse("results:list", kwargs={"group": group.slug}),
        reverse("results:site_feed"),
    ]
    counts = {}
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for page in pages:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(page).status_code == 200
        counts[page] = len(queries)
    publish(5)
    for page in pages:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(page).status_code == 200
        assert len(queries) == counts[page], page


# --- The public section (contract 1) --------------------------------------------------


def test_public_section_lists_published_not_drafts_or_withdrawn(
    rf, result_v1, draft, group, moderator, other_group
):
    assert section(rf.get("/"), group=other_group) is None
    found = section(rf.get("/"))
    assert found["template"] == "results/public/_section.html"
    assert [r.pk for r in found["context"]["results"]] == [result_v1.pk]
    assert section(rf.get("/"), group=group)["context"]["results"][0] == result_v1
    services.result_withdraw(actor=moderator, result=result_v1, reason="x")
    assert section(rf.get("/")) is None


def test_pages_in_german(client, two_versions, settings):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"
    page = client.get(url("results:version", two_versions, number=1)).text
    assert '<html lang="de">' in page, page[:300]
    assert "Dies ist nicht die neueste Version." in page
    assert "Zwischenergebnis" in page
    feed = client.get(reverse("results:site_feed")).text
    assert "Veröffentlichte Ergebnisse" in feed and "(Version 2)" in feed


def test_list_pages_paginate_and_take_junk_page_numbers(client, group, moderator, settings):
    for i in range(32):
        result = services.result_create(
            actor=moderator, group=group, kind="interim", title=f"Result {i:02d}", body="x"
        )
        services.result_publish(actor=moderator, result=result, change_summary="x")
    for page_url in (
        reverse("results:site_list"),
        reverse("results:list", kwargs={"group": group.slug}),
    ):
        first = client.get(page_url).text
        assert first.count('class="result-item"') == 30 and 'rel="next"' in first
        second = client.get(page_url, {"page": 2}).text
        assert second.count('class="result-item"') == 2
        assert client.get(page_url, {"page": "junk"}).status_code == 200


def test_public_section_template_renders_for_home_and_group(rf, result_v1, group):
    from django.template.loader import render_to_string

    for found in (section(rf.get("/")), section(rf.get("/"), group=group)):
        html = render_to_string(found["template"], found["context"])
        assert result_v1.title in html and result_v1.get_absolute_url() in html
        assert "A first take." in html
    assert reverse("results:feed", kwargs={"group": group.slug}) in html


def test_public_pages_refuse_post(client, result_v1):
    assert client.post(url("results:detail", result_v1)).status_code == 405
    assert client.post(reverse("results:site_list")).status_code == 405
