"""The search of everything: threads and posts, documents, meetings; each
result only for those who may open it."""

import datetime

import pytest
from django.db import connection
from django.urls import reverse

from discussions import services as discussion_services
from documents import services as document_services
from home.search import search_everything
from meetings import services as meeting_services

from .conftest import add_document, schedule

pytestmark = pytest.mark.django_db
SEARCH = reverse("home:search")


def results(user, query, **kwargs) -> dict[str, list[str]]:
    found = search_everything(user, query=query, **kwargs)
    return {
        "threads": [post.thread.title for post in found["threads"].object_list],
        "documents": [document.title for document in found["documents"]],
        "meetings": [meeting.title for meeting in found["meetings"]],
    }


NOTHING = {"threads": [], "documents": [], "meetings": []}


@pytest.fixture
def content(group, member, moderator):
    """A thread, a document and a meeting of ``group``, each about harvests."""
    discussion_services.thread_create(
        actor=member, group=group, title="Harvest contracts", body="Seasonal harvest work."
    )
    add_document(member, group, "Harvest study", description="Wages in the harvest season.")
    schedule(
        moderator,
        group,
        "Harvest session",
        starts_in=datetime.timedelta(days=3),
        agenda="1. The harvest report",
    )


@pytest.fixture
def other_content(other_group, other_member, other_moderator):
    discussion_services.thread_create(
        actor=other_member, group=other_group, title="Harvest abroad", body="Harvest elsewhere."
    )
    add_document(other_member, other_group, "Harvest abroad paper", description="harvest")
    schedule(
        other_moderator,
        other_group,
        "Harvest abroad session",
        starts_in=datetime.timedelta(days=3),
        agenda="harvest",
    )


def test_search_finds_thread_document_and_meeting_if_member(member, content):
    assert results(member, "harvest") == {
        "threads": ["Harvest contracts"],
        "documents": ["Harvest study"],
        "meetings": ["Harvest session"],
    }


def test_search_finds_document_by_description(member, content):
    assert results(member, "wages")["documents"] == ["Harvest study"]


def test_search_leaves_out_words_with_minus(member, content):
    assert results(member, "harvest -wages")["documents"] == []
    assert results(member, "harvest -wages")["meetings"] == ["Harvest session"]


def test_search_finds_meeting_by_agenda(member, content):
    assert results(member, "report")["meetings"] == ["Harvest session"]


@pytest.mark.parametrize("who", ["member", "guest", "moderator"])
def test_search_never_shows_other_groups_results(request, who, content, other_content):
    user = request.getfixturevalue(who)
    found = results(user, "harvest")
    assert found == {
        "threads": ["Harvest contracts"],
        "documents": ["Harvest study"],
        "meetings": ["Harvest session"],
    }


@pytest.mark.parametrize("who", ["expired_guest", "removed_member", "outsider"])
def test_search_finds_nothing_if_no_valid_membership(request, who, content, other_content):
    assert results(request.getfixturevalue(who), "harvest") == NOTHING


def test_search_in_group_finds_only_that_group(organiser, group, content, other_content):
    assert results(organiser, "harvest", group=group) == {
        "threads": ["Harvest contracts"],
        "documents": ["Harvest study"],
        "meetings": ["Harvest session"],
    }
    assert len(results(organiser, "harvest")["documents"]) == 2


def test_search_finds_draft_minutes_for_moderator_only(member, moderator, group):
    meeting = schedule(moderator, group, "Session 4", starts_in=-datetime.timedelta(days=1))
    meeting_services.minutes_save(actor=moderator, meeting=meeting, minutes="Quorum reached")
    assert results(moderator, "quorum")["meetings"] == ["Session 4"]
    assert results(member, "quorum")["meetings"] == []
    meeting_services.minutes_save(
        actor=moderator,
        meeting=meeting,
        minutes="Quorum reached",
        publish=True,
        before_start_confirmed=True,
    )
    assert results(member, "quorum")["meetings"] == ["Session 4"]


def test_search_minus_word_in_draft_minutes_does_not_hide_meeting_from_member(
    member, moderator, group
):
    meeting = schedule(
        moderator, group, "Session 5", starts_in=-datetime.timedelta(days=1), agenda="Budget"
    )
    meeting_services.minutes_save(actor=moderator, meeting=meeting, minutes="secret")
    assert results(member, "budget -secret")["meetings"] == ["Session 5"]
    assert results(moderator, "budget -secret")["meetings"] == []


def test_search_drops_document_once_deleted(member, group):
    document = add_document(member, group, "Harvest memo")
    document_services.document_delete(actor=member, document=document)
    assert results(member, "harvest")["documents"] == []


def test_search_page_shows_every_kind_with_marks(client, member, content):
    client.force_login(member)
    page = client.get(SEARCH, {"q": "harvest"})
    assert page.status_code == 200
    html = page.text
    assert "<mark>Harvest</mark> study" in html
    assert "<mark>Harvest</mark> session" in html
    assert "<mark>Harvest</mark> contracts" in html
    assert "1 document" in html and "1 meeting" in html and "1 thread found" in html


def test_search_page_escapes_document_text(client, member, group):
    add_document(member, group, "Harvest <script>", description="<img src=x> harvest")
    client.force_login(member)
    html = client.get(SEARCH, {"q": "harvest"}).text
    assert "<script>" not in html.split("<main", 1)[1].split("</main>")[0]
    assert "&lt;img src=x&gt;" in html


def test_search_page_refuses_group_of_others(client, member, other_group, other_content):
    client.force_login(member)
    page = client.get(SEARCH, {"q": "harvest", "group": other_group.slug})
    assert page.status_code == 200
    assert "Please choose one of your groups." in page.text
    assert "Harvest abroad" not in page.text


def test_search_page_says_nothing_found(client, member, content):
    client.force_login(member)
    assert "Nothing found." in client.get(SEARCH, {"q": "zebra"}).text


def test_search_page_needs_sign_in(client):
    response = client.get(SEARCH, {"q": "harvest"})
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


@pytest.mark.parametrize(
    "page", ["groups:dashboard", "home:search", "profile"], ids=["home", "search", "profile"]
)
def test_header_has_search_box_if_signed_in(client, member, page):
    client.force_login(member)
    url = member.get_absolute_url() if page == "profile" else reverse(page)
    html = client.get(url).text
    assert f'action="{SEARCH}"' in html
    assert 'role="search"' in html


def test_header_has_no_search_box_if_signed_out(client):
    assert f'action="{SEARCH}"' not in client.get(reverse("account_login")).text


def test_search_page_is_german_if_viewer_is_german(client, member, content):
    member.language = "de"
    member.save()
    client.force_login(member)
    html = client.get(SEARCH, {"q": "harvest"}).text
    assert "1 Dokument" in html and "1 Sitzung" in html
    assert "In meinen Gruppen suchen" in html


def _many_results(n, member, moderator, group):
    for index in range(n):
        discussion_services.thread_create(
            actor=member, group=group, title=f"Harvest {index}", body="harvest"
        )
        add_document(member, group, f"Harvest {index}", description="harvest")
        schedule(moderator, group, f"Harvest {index}", starts_in=datetime.timedelta(days=index + 1))


@pytest.mark.parametrize("count", [1, 8])
def test_search_page_queries_do_not_grow_with_results(
    client, member, moderator, group, django_assert_num_queries, count
):
    _many_results(count, member, moderator, group)
    client.force_login(member)
    client.get(SEARCH, {"q": "harvest"})  # the session and the language settle
    with django_assert_num_queries(SEARCH_QUERIES):
        page = client.get(SEARCH, {"q": "harvest"})
    assert page.text.count('class="card search-result"') == 3 * count


# PostgreSQL asks once more: which words of the posts matched (stemming).
# 10: the person's groups (groups.permissions.roles, once per request) and
# the bell (which kinds are unread, then their count) included.
SEARCH_QUERIES = 10 + (connection.vendor == "postgresql")
