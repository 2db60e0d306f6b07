"""Search: what it finds, what it never shows, how it marks the words.

People and groups come from tests/fixtures/people.py. The PostgreSQL-only
tests (stemming in German and English) skip on SQLite with a reason; CI runs
on PostgreSQL, where a skip fails.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from discussions import services
from discussions.models import Post
from discussions.search import RESULTS_PER_PAGE, _match_postgres, highlight, post_search
from groups.models import Role
from tests.fixtures.people import join

SEARCH = reverse("home:search")

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="PostgreSQL full-text search (stemming, websearch syntax, GIN indexes) runs "
    "on PostgreSQL only; SQLite uses a substring fallback. Set DATABASE_URL to run it",
)


def found(user, query, **kwargs) -> list:
    return list(post_search(user, query=query, **kwargs).object_list)


def search_page(client, user, **params):
    client.force_login(user)
    return client.get(SEARCH, params)


@pytest.fixture
def labour_thread(group, member):
    return services.thread_create(
        actor=member,
        group=group,
        title="Seasonal labour",
        body="Harvest workers need enforceable contracts.",
    )


# --- What it finds -------------------------------------------------------------------


def test_search_finds_post_if_word_in_its_text(client, member, labour_thread):
    response = search_page(client, member, q="enforceable")

    assert response.status_code == 200
    post = labour_thread.posts.get()
    results = response.context["results"]["threads"].object_list
    assert [result.pk for result in results] == [post.pk]
    html = response.content.decode()
    assert reverse("discussions:post", args=[post.pk]) in html
    assert "Fair migration" in html  # the group
    assert "<mark>enforceable</mark>" in html


def test_search_finds_post_if_all_words_match_in_title_and_text(member, labour_thread):
    assert len(found(member, "seasonal contracts")) == 1
    assert found(member, "seasonal tractors") == []


def test_search_finds_words_whatever_their_case(member, labour_thread):
    assert len(found(member, "HARVEST")) == 1


def test_search_shows_one_result_per_thread_with_the_number_of_matching_posts(
    client, member, group, labour_thread
):
    other = services.thread_create(
        actor=member, group=group, title="Visas", body="Harvest visas take months."
    )
    reply = services.post_create(actor=member, thread=labour_thread, body="The harvest is late.")
    services.post_create(actor=member, thread=labour_thread, body="Unrelated words.")

    results = found(member, "harvest")

    assert len(results) == 2
    by_thread = {result.thread_id: result for result in results}
    assert by_thread[labour_thread.pk].thread_hits == 2
    assert by_thread[labour_thread.pk].pk in {labour_thread.posts.first().pk, reply.pk}
    assert by_thread[other.pk].thread_hits == 1
    html = search_page(client, member, q="harvest").content.decode()
    assert "2 matching posts in this thread" in html


def test_search_leaves_out_posts_if_query_excludes_a_word(member, group, labour_thread):
    services.thread_create(
        actor=member, group=group, title="Visas", body="Harvest visas take months."
    )

    results = found(member, "harvest -visas")

    assert [result.thread_id for result in results] == [labour_thread.pk]


def test_search_limits_results_to_group_if_one_is_chosen(
    client, member, group, other_group, labour_thread
):
    join(member, other_group)
    services.thread_create(
        actor=member, group=other_group, title="Other", body="Harvest elsewhere."
    )

    response = search_page(client, member, q="harvest", group=group.slug)

    results = response.context["results"]["threads"].object_list
    assert [result.thread.group_id for result in results] == [group.pk]
    assert len(found(member, "harvest")) == 2


def test_search_paginates_and_keeps_query_in_page_links(client, member, group):
    for number in range(RESULTS_PER_PAGE + 3):
        services.thread_create(
            actor=member, group=group, title=f"Topic {number}", body="Common ground."
        )

    response = search_page(client, member, q="common", group=group.slug, page=2)

    page = response.context["results"]["threads"]
    assert page.paginator.count == RESULTS_PER_PAGE + 3
    assert len(page.object_list) == 3
    assert f'href="?q=common&amp;group={group.slug}&amp;page=1"' in response.content.decode()


def test_search_answers_without_error_if_query_has_operators_and_odd_characters(
    client, member, labour_thread
):
    for query in ['"unclosed', "a & b | !c", "(((", "-", "'; DROP TABLE x; --", "the", "<>:*"]:
        response = search_page(client, member, q=query)
        assert response.status_code == 200, query


# --- What it never shows -------------------------------------------------------------


def test_search_finds_nothing_of_other_groups_if_guest_searches_their_words(
    guest, other_member, other_group
):
    services.thread_create(
        actor=other_member, group=other_group, title="Closed", body="Xylophone budget."
    )

    assert found(guest, "xylophone") == []
    assert len(found(other_member, "xylophone")) == 1  # the word is there to be found


def test_search_page_shows_nothing_of_other_groups_if_guest_searches_their_words(
    client, guest, other_member, other_group
):
    services.thread_create(
        actor=other_member, group=other_group, title="Closed", body="Xylophone budget."
    )

    response = search_page(client, guest, q="xylophone")

    assert response.status_code == 200
    assert response.context["results"]["threads"].paginator.count == 0
    assert "Closed" not in response.content.decode()
    assert "Xylophone" not in response.content.decode()


def test_search_refuses_group_filter_if_user_is_not_in_that_group(
    client, guest, other_member, other_group
):
    services.thread_create(
        actor=other_member, group=other_group, title="Closed", body="Xylophone budget."
    )

    response = search_page(client, guest, q="xylophone", group=other_group.slug)

    assert response.status_code == 200
    assert response.context["results"] is None
    assert "Please choose one of your groups." in response.content.decode()
    assert "Future of migration" not in response.content.decode()  # not even as a choice


def test_search_finds_nothing_if_user_has_no_group(outsider, labour_thread):
    assert found(outsider, "harvest") == []


def test_search_finds_nothing_if_guest_invitation_expired(expired_guest, labour_thread):
    assert found(expired_guest, "harvest") == []


def test_search_page_requires_sign_in(client):
    response = client.get(SEARCH, {"q": "harvest"})

    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_search_excludes_deleted_posts(member, labour_thread):
    reply = services.post_create(actor=member, thread=labour_thread, body="Quinoa prices.")
    services.post_delete(actor=member, post=reply)

    assert found(member, "quinoa") == []


def test_search_excludes_hidden_post_if_user_is_neither_author_nor_moderator(
    make_user, member, moderator, group, labour_thread
):
    reader = make_user("reader@example.org")
    join(reader, group)
    reply = services.post_create(actor=member, thread=labour_thread, body="Quinoa prices.")
    services.post_set_hidden(actor=moderator, post=reply, hidden=True, reason="Off topic")

    assert found(reader, "quinoa") == []
    assert [result.pk for result in found(member, "quinoa")] == [reply.pk]  # its author
    assert [result.pk for result in found(moderator, "quinoa")] == [reply.pk]


def test_search_excludes_hidden_thread_if_user_is_not_moderator(member, moderator, labour_thread):
    services.thread_hide(actor=moderator, thread=labour_thread)

    assert found(member, "harvest") == []
    assert len(found(moderator, "harvest")) == 1


def test_search_page_marks_hidden_thread_for_its_moderator(client, moderator, labour_thread):
    services.thread_hide(actor=moderator, thread=labour_thread)

    response = search_page(client, moderator, q="harvest")

    assert "hidden thread" in response.content.decode()


def test_search_finds_everything_if_user_is_organiser(organiser, labour_thread):
    assert len(found(organiser, "harvest")) == 1


# --- Highlighting --------------------------------------------------------------------


def test_search_escapes_html_of_post_and_title_if_they_contain_markup(client, member, group):
    services.thread_create(
        actor=member,
        group=group,
        title="<b onmouseover=alert(1)>zebra</b> title",
        body="<script>alert('zebra')</script> and a <img src=x onerror=alert(2)> zebra crossing",
    )

    response = search_page(client, member, q="zebra")

    html = response.content.decode()
    assert "&lt;script&gt;alert(&#x27;" in html
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "<b onmouseover" not in html
    assert "&lt;b onmouseover=alert(1)&gt;<mark>zebra</mark>&lt;/b&gt; title" in html
    assert "<mark>zebra</mark> crossing" in html


def test_highlight_escapes_text_and_marks_every_occurrence():
    snippet = highlight('<i>Fair</i> & fair "work"', ["fair"])

    assert snippet == (
        "&lt;i&gt;<mark>Fair</mark>&lt;/i&gt; &amp; <mark>fair</mark> &quot;work&quot;"
    )


def test_highlight_escapes_a_word_that_is_markup():
    assert highlight("a <b> c", ["<b>"]) == "a <mark>&lt;b&gt;</mark> c"


def test_highlight_marks_only_whole_words_if_asked():
    assert highlight("migrants, immigrants", ["migrants"], whole_words=True) == (
        "<mark>migrants</mark>, immigrants"
    )


def test_highlight_cuts_around_first_match_if_text_is_long():
    text = "lorem " * 100 + "needle " + "ipsum " * 100

    snippet = highlight(text, ["needle"], width=120)

    assert snippet.startswith("… ")
    assert snippet.endswith(" …")
    assert "<mark>needle</mark>" in snippet
    assert len(snippet) < 200


# --- Bad queries ---------------------------------------------------------------------


def _post_queries(queries) -> list[str]:
    """The queries that read posts, but for the header bell's count (which
    asks which notified posts the reader may still see)."""
    return [
        query["sql"]
        for query in queries
        if "discussions_post" in query["sql"] and "notifications_notification" not in query["sql"]
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Please enter a word to search for."),
        ("   \t ", "Please enter a word to search for."),
        ("x" * 201, "Please search for at most 200 characters."),
    ],
    ids=["empty", "whitespace", "too-long"],
)
def test_search_shows_message_and_runs_no_search_if_query_is_bad(
    client, member, labour_thread, query, message
):
    client.force_login(member)

    with CaptureQueriesContext(connection) as queries:
        response = client.get(SEARCH, {"q": query})

    assert response.status_code == 200
    assert message in response.content.decode()
    assert response.context["results"] is None
    assert _post_queries(queries) == []


def test_search_page_shows_only_the_form_if_nothing_was_asked(client, member):
    response = search_page(client, member)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="q"' in html
    assert "Please enter" not in html
    assert response.context["results"] is None


def test_search_accepts_query_of_exactly_the_limit(client, member):
    response = search_page(client, member, q="x" * 200)

    assert response.status_code == 200
    assert response.context["results"]["threads"] is not None


# --- Queries -------------------------------------------------------------------------


def _queries_for(client, user, query) -> int:
    client.force_login(user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(SEARCH, {"q": query})
    assert response.status_code == 200
    return len(queries)


def test_search_runs_same_number_of_queries_whatever_the_number_of_results(
    client, member, moderator, group
):
    services.thread_create(actor=member, group=group, title="One", body="Rare word.")
    few = _queries_for(client, member, "rare")
    for number in range(30):
        thread = services.thread_create(
            actor=member, group=group, title=f"Topic {number}", body="Rare again."
        )
        for reply in range(3):
            post = services.post_create(actor=member, thread=thread, body=f"Rare {reply}.")
        services.post_set_hidden(actor=moderator, post=post, hidden=True, reason="Noise")

    many = _queries_for(client, member, "rare")

    assert many == few
    # session, user, the person's groups (read once per request), the group
    # choices (validating and listing), count, page, the documents, the
    # meetings, the bell, and on PostgreSQL the matched words
    assert many <= 10


# --- PostgreSQL full-text search -----------------------------------------------------


@postgres_only
def test_search_finds_german_inflection_if_query_is_its_stem(client, member, group):
    services.thread_create(
        actor=member, group=group, title="Wandel", body="Die Arbeitsmärkte verändern sich."
    )

    response = search_page(client, member, q="Arbeitsmarkt")

    results = response.context["results"]["threads"].object_list
    assert len(results) == 1
    assert "<mark>Arbeitsmärkte</mark>" in response.content.decode()


@postgres_only
def test_search_finds_german_compound_in_another_form(member, group):
    services.thread_create(
        actor=member, group=group, title="Ziele", body="Eine neue Migrationspolitik."
    )

    assert len(found(member, "Migrationspolitiken")) == 1


@postgres_only
def test_search_finds_english_inflections_if_query_has_other_forms(client, member, group):
    services.thread_create(
        actor=member, group=group, title="Sectors", body="Many migrants were working in care."
    )

    response = search_page(client, member, q="migrant work")

    assert len(response.context["results"]["threads"].object_list) == 1
    html = response.content.decode()
    assert "<mark>migrants</mark>" in html
    assert "<mark>working</mark>" in html


@postgres_only
def test_search_supports_phrases_and_or_if_on_postgresql(member, group):
    services.thread_create(actor=member, group=group, title="A", body="fair work for everyone")
    services.thread_create(actor=member, group=group, title="B", body="work that is fair")

    assert len(found(member, '"fair work"')) == 1
    assert len(found(member, "fair work")) == 2
    assert len(found(member, "zebra or everyone")) == 1


@postgres_only
def test_search_ranks_posts_with_more_matches_first(member, group):
    once = services.thread_create(
        actor=member, group=group, title="Once", body="Integration is mentioned once here."
    )
    often = services.thread_create(
        actor=member,
        group=group,
        title="Integration",
        body="Integration, integration and integration courses.",
    )

    results = found(member, "integration")

    assert [result.thread_id for result in results] == [often.pk, once.pk]


@postgres_only
def test_search_filter_uses_the_fulltext_indexes_if_on_postgresql(db):
    """The filter's expressions are exactly those of migration 0002's indexes."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")

    plan = _match_postgres(Post.objects.all(), "harvest").values("pk").explain()

    assert "discussions_post_fts_english" in plan
    assert "discussions_post_fts_german" in plan


@pytest.mark.parametrize("role", [Role.MEMBER, Role.GUEST])
def test_search_finds_posts_of_own_group_if_member_or_guest(make_user, group, labour_thread, role):
    person = make_user()
    join(person, group, role)

    assert len(found(person, "harvest")) == 1
