"""The discussion pages through the real views: what each person sees, what
each action changes, and that bad input changes nothing and says why."""

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from discussions import selectors, services
from discussions.models import (
    MAX_DEPTH,
    POSITION_WIDTH,
    Post,
    PostRevision,
    Reaction,
    ReadState,
    Report,
    Subscription,
    Thread,
)
from groups.models import AuditEntry, Role
from tests.fixtures.people import enable_mfa, join

pytestmark = pytest.mark.django_db


@pytest.fixture
def thread(group, member):
    return services.thread_create(
        actor=member, group=group, title="Labour pathways", body="What works for whom?"
    )


@pytest.fixture
def opening(thread):
    return thread.posts.get(position=1)


@pytest.fixture
def reply(thread, opening, moderator):
    return services.post_create(
        actor=moderator, thread=thread, body="Skills partnerships.", parent=opening
    )


@pytest.fixture
def moderator_without_mfa(make_user, group):
    user = make_user("nomfa@example.org", display_name="Nora Nomfa")
    join(user, group, Role.MODERATOR)
    return user


def post_ids_in_page(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<article class="post[^"]*" id="post-(\d+)"', html)]


def article(html: str, post_id: int) -> str:
    match = re.search(rf'<article [^>]*id="post-{post_id}".*?</article>', html, re.S)
    assert match, f"post {post_id} is not on the page"
    return match.group(0)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- Thread list --------------------------------------------------------------


def test_thread_list_shows_pinned_first_then_last_activity(client, group, member, moderator):
    old = services.thread_create(actor=member, group=group, title="Old news", body="x")
    pinned = services.thread_create(actor=member, group=group, title="House rules", body="x")
    fresh = services.thread_create(actor=member, group=group, title="Fresh idea", body="x")
    services.thread_pin(actor=moderator, thread=pinned)
    services.post_create(actor=moderator, thread=old, body="Bumped.")
    client.force_login(member)
    page = client.get(reverse("discussions:thread_list", args=[group.slug])).text
    order = [int(pk) for pk in re.findall(r'id="thread-(\d+)"', page)]
    assert order == [pinned.pk, old.pk, fresh.pk]
    assert "Pinned" in page


def test_thread_list_shows_unread_count_if_new_posts(client, thread, member, guest, opening):
    for body in ("One.", "Two.", "Three."):
        services.post_create(actor=guest, thread=thread, body=body, parent=opening)
    client.force_login(member)
    page = client.get(reverse("discussions:thread_list", args=[thread.group.slug])).text
    assert "3 new" in page and "thread-unread" in page
    assert reverse("discussions:thread_unread", args=[thread.pk]) in page
    client.get(thread.get_absolute_url())
    page = client.get(reverse("discussions:thread_list", args=[thread.group.slug])).text
    assert "new</a>" not in page and "thread-unread" not in page


def test_thread_list_filters_unread_and_mine(client, group, member, guest):
    mine = services.thread_create(actor=member, group=group, title="Mine", body="x")
    replied = services.thread_create(actor=guest, group=group, title="Replied", body="x")
    services.post_create(actor=member, thread=replied, body="Me too.")
    unread = services.thread_create(actor=guest, group=group, title="Unread one", body="x")
    client.force_login(member)
    url = reverse("discussions:thread_list", args=[group.slug])

    def shown(show):
        return {
            int(pk) for pk in re.findall(r'id="thread-(\d+)"', client.get(url, {"show": show}).text)
        }

    assert shown("all") == {mine.pk, replied.pk, unread.pk}
    assert shown("unread") == {unread.pk}
    assert shown("mine") == {mine.pk, replied.pk}
    assert shown("nonsense") == shown("all")


def test_thread_list_paginates_if_many_threads(client, group, member):
    for number in range(selectors.THREADS_PER_PAGE + 3):
        services.thread_create(actor=member, group=group, title=f"Topic {number}", body="x")
    client.force_login(member)
    url = reverse("discussions:thread_list", args=[group.slug])
    first = client.get(url, {"show": "mine"}).text
    assert len(re.findall(r'id="thread-\d+"', first)) == selectors.THREADS_PER_PAGE
    assert "?show=mine&amp;page=2" in first
    second = client.get(url, {"show": "mine", "page": 2}).text
    assert len(re.findall(r'id="thread-\d+"', second)) == 3
    assert client.get(url, {"page": "x"}).status_code == 200


def test_thread_list_hides_hidden_thread_if_member(client, thread, member, moderator):
    services.thread_hide(actor=moderator, thread=thread)
    url = reverse("discussions:thread_list", args=[thread.group.slug])
    client.force_login(member)
    assert thread.title not in client.get(url).text
    client.force_login(moderator)
    assert thread.title in client.get(url).text


def test_thread_list_offers_new_thread_unless_group_archived(client, group, member):
    url = reverse("discussions:thread_list", args=[group.slug])
    client.force_login(member)
    assert reverse("discussions:thread_create", args=[group.slug]) in client.get(url).text
    group.archived = True
    group.save()
    assert reverse("discussions:thread_create", args=[group.slug]) not in client.get(url).text


def test_thread_list_shows_open_reports_if_moderator(client, reply, member, moderator, group):
    services.report_create(actor=member, post=reply, reason="Off topic.")
    url = reverse("discussions:thread_list", args=[group.slug])
    client.force_login(moderator)
    assert "1 open report" in client.get(url).text
    client.force_login(member)
    assert "open report" not in client.get(url).text


# --- New thread -----------------------------------------------------------------


def test_thread_create_starts_thread_if_valid(client, group, guest):
    client.force_login(guest)
    response = client.post(
        reverse("discussions:thread_create", args=[group.slug]),
        {"title": "  Visa   rules ", "body": "What changed?"},
    )
    thread = Thread.objects.get()
    assert response["Location"] == thread.get_absolute_url()
    assert thread.title == "Visa rules" and thread.author == guest
    assert thread.posts.get().body == "What changed?"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"title": "", "body": "Text"}, "title", "This field is required."),
        ({"title": "A title", "body": "   "}, "body", "This field is required."),
        ({"title": "x" * 201, "body": "Text"}, "title", "at most 200 characters"),
        ({"title": "A title", "body": "x" * 20_001}, "body", "at most 20000 characters"),
        ({"title": "A title", "body": "bad \x00 byte"}, "body", "Null characters are not allowed."),
    ],
)
def test_thread_create_shows_error_next_to_field_and_changes_nothing_if_invalid(
    client, group, member, data, field, message
):
    client.force_login(member)
    response = client.post(reverse("discussions:thread_create", args=[group.slug]), data)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert f'id="id_{field}_error"' in response.text
    assert not Thread.objects.exists()


def test_thread_create_previews_without_saving_if_preview_pressed(client, group, member):
    client.force_login(member)
    response = client.post(
        reverse("discussions:thread_create", args=[group.slug]),
        {"title": "Draft", "body": "**Bold** idea", "preview": "1"},
    )
    assert response.status_code == 200
    assert "<strong>Bold</strong>" in response.text
    assert "**Bold** idea</textarea>" in response.text
    assert not Thread.objects.exists()


def test_thread_create_refused_if_group_archived(client, group, member):
    group.archived = True
    group.save()
    client.force_login(member)
    url = reverse("discussions:thread_create", args=[group.slug])
    assert client.get(url).status_code == 403
    assert client.post(url, {"title": "T", "body": "B"}).status_code == 403
    assert not Thread.objects.exists()


# --- Thread page ----------------------------------------------------------------


def test_thread_page_shows_posts_in_tree_order_with_depth(client, thread, opening, member, guest):
    first = services.post_create(actor=guest, thread=thread, body="First reply", parent=opening)
    second = services.post_create(actor=member, thread=thread, body="Second reply", parent=opening)
    nested = services.post_create(actor=member, thread=thread, body="Nested", parent=first)
    root = services.post_create(actor=guest, thread=thread, body="New topic")
    client.force_login(member)
    page = client.get(thread.get_absolute_url()).text
    assert post_ids_in_page(page) == [opening.pk, first.pk, nested.pk, second.pk, root.pk]
    assert 'class="post depth-0' in article(page, opening.pk)
    assert 'class="post depth-1' in article(page, first.pk)
    assert 'class="post depth-2' in article(page, nested.pk)
    assert 'class="post depth-0' in article(page, root.pk)
    assert "style=" not in page.split("<main", 1)[1]
    # The tree itself says whom a post answers.
    assert "in reply to" not in article(page, nested.pk)
    assert page.count("<h1") == 1


def test_thread_page_says_in_reply_to_whom_if_flattened(client, thread, opening, member, guest):
    parent = opening
    for level in range(MAX_DEPTH):
        author = guest if level % 2 == 0 else member
        parent = services.post_create(actor=author, thread=thread, body=f"L{level}", parent=parent)
    deepest_shown = parent.parent
    assert parent.depth == deepest_shown.depth == MAX_DEPTH - 1
    client.force_login(member)
    page = client.get(thread.get_absolute_url()).text
    flattened = article(page, parent.pk)
    assert f'class="post depth-{MAX_DEPTH - 1}' in flattened
    assert "in reply to" in flattened
    assert f'href="#post-{deepest_shown.pk}"' in flattened
    assert str(deepest_shown.author) in flattened


def test_thread_page_links_parent_on_other_page_if_paginated(client, thread, opening, member):
    services.post_create(actor=member, thread=thread, body="Filler")
    for number in range(selectors.POSTS_PER_PAGE):
        services.post_create(actor=member, thread=thread, body=f"Root {number}")
    late = services.post_create(actor=member, thread=thread, body="Late", parent=opening)
    client.force_login(member)
    page = client.get(thread.get_absolute_url(), {"page": 1}).text
    assert late.pk in post_ids_in_page(page)  # tree order: right after the opening post
    assert "in reply to" not in article(page, late.pk)


def test_thread_page_marks_read_up_to_last_post_shown(client, thread, opening, member, guest):
    for number in range(selectors.POSTS_PER_PAGE + 4):
        services.post_create(actor=guest, thread=thread, body=f"Root {number}")
    client.force_login(member)
    ReadState.objects.filter(user=member).delete()
    page = client.get(thread.get_absolute_url()).text
    shown = Post.objects.filter(pk__in=post_ids_in_page(page))
    assert len(shown) == selectors.POSTS_PER_PAGE
    assert selectors.read_position(member, thread) == max(post.position for post in shown)
    assert page.count("badge-new") == selectors.POSTS_PER_PAGE - 1  # not their own post
    client.get(thread.get_absolute_url(), {"page": 2})
    assert selectors.read_position(member, thread) == Thread.objects.get().last_position


def test_thread_page_paginates_if_long(client, thread, member, guest):
    for number in range(selectors.POSTS_PER_PAGE + 1):
        services.post_create(actor=guest, thread=thread, body=f"Root {number}")
    client.force_login(member)
    first = client.get(thread.get_absolute_url()).text
    assert "?page=2" in first and "Page 1 of 2" in first
    second = client.get(thread.get_absolute_url(), {"page": 2}).text
    assert len(post_ids_in_page(second)) == 2
    assert 'data-has-next="false"' in second and 'data-has-next="true"' in first


def test_thread_page_declares_its_stream_and_sequence(client, thread, member, guest):
    from core import realtime

    services.post_create(actor=guest, thread=thread, body="Reply")
    client.force_login(member)
    page = client.get(thread.get_absolute_url()).text
    seq = realtime.last_seq(thread.stream)
    assert seq > 0
    assert f'data-stream="thread:{thread.pk}" data-seq="{seq}"' in page
    assert 'type="module" src="/static/js/discussions.js"' in page


def test_thread_page_keeps_placeholder_if_post_deleted(client, thread, opening, reply, member):
    child = services.post_create(actor=member, thread=thread, body="Answer", parent=reply)
    services.post_delete(actor=reply.author, post=reply)
    client.force_login(member)
    page = client.get(thread.get_absolute_url()).text
    assert post_ids_in_page(page) == [opening.pk, reply.pk, child.pk]
    deleted = article(page, reply.pk)
    assert "This post was deleted." in deleted and "Skills partnerships" not in deleted
    assert "Reply</a>" not in deleted and "Edit" not in deleted


@pytest.mark.parametrize(
    ("viewer", "sees_text"),
    [("member", False), ("guest", True), ("moderator", True), ("organiser", True)],
)
def test_thread_page_shows_hidden_post_per_viewer(
    client, request, thread, opening, moderator, viewer, sees_text
):
    post = services.post_create(
        actor=request.getfixturevalue("guest"), thread=thread, body="Rude words", parent=opening
    )
    services.post_set_hidden(actor=moderator, post=post, hidden=True, reason="Be kind")
    client.force_login(request.getfixturevalue(viewer))
    shown = article(client.get(thread.get_absolute_url()).text, post.pk)
    # The guest wrote it: the author reads their own hidden post and why.
    assert ("Rude words" in shown) is sees_text
    assert ("Be kind" in shown) is sees_text
    assert ("Hidden by a moderator" in shown) is True


def test_thread_page_replaces_reply_form_if_locked(client, thread, member, moderator):
    services.thread_lock(actor=moderator, thread=thread)
    client.force_login(member)
    page = client.get(thread.get_absolute_url()).text
    assert "This thread is locked: it takes no new replies." in page
    assert 'name="body"' not in page
    assert "?parent=" not in page
    client.force_login(moderator)
    page = client.get(thread.get_absolute_url()).text
    assert 'name="body"' in page and "As a moderator you can still reply." in page


def test_thread_page_offers_moderation_only_if_moderator(client, thread, member, moderator):
    moderate = reverse("discussions:thread_moderate", args=[thread.pk])
    client.force_login(member)
    assert moderate not in client.get(thread.get_absolute_url()).text
    client.force_login(moderator)
    assert moderate in client.get(thread.get_absolute_url()).text


def test_thread_page_shows_reaction_counts_and_own_reactions(
    client, thread, opening, member, guest
):
    services.reaction_toggle(actor=guest, post=opening, kind="heart")
    services.reaction_toggle(actor=member, post=opening, kind="heart")
    services.reaction_toggle(actor=guest, post=opening, kind="eyes")
    client.force_login(member)
    shown = article(client.get(thread.get_absolute_url()).text, opening.pk)
    heart = re.search(r'<button[^>]*aria-pressed="(\w+)" title="Heart">.*?</button>', shown, re.S)
    assert heart.group(1) == "true" and '<span class="reaction-count">2</span>' in heart.group(0)
    eyes = re.search(r'<button[^>]*aria-pressed="(\w+)" title="Eyes">.*?</button>', shown, re.S)
    assert eyes.group(1) == "false" and '<span class="reaction-count">1</span>' in eyes.group(0)


def _bulk_posts(thread, authors, count):
    """Adds ``count`` posts quickly: half reply to the opening post, half stand alone."""
    thread = Thread.objects.get(pk=thread.pk)
    opening = thread.posts.get(position=1)
    now = timezone.now()
    posts = []
    for number in range(count):
        position = thread.last_position + 1 + number
        segment = f"{position:0{POSITION_WIDTH}d}"
        as_reply = number % 2 == 0
        posts.append(
            Post(
                thread=thread,
                parent=opening if as_reply else None,
                author=authors[number % len(authors)],
                position=position,
                path=(opening.path + segment) if as_reply else segment,
                depth=1 if as_reply else 0,
                body=f"Post {position}",
                body_html=f"<p>Post {position}</p>",
                created_at=now,
            )
        )
    created = Post.objects.bulk_create(posts, batch_size=500)
    Thread.objects.filter(pk=thread.pk).update(
        last_position=thread.last_position + count, post_count=thread.post_count + count
    )
    Reaction.objects.bulk_create(
        [Reaction(post=post, user=authors[0], kind="heart") for post in created[:60:3]]
    )


def test_thread_page_query_count_same_if_10_or_1000_posts(client, group, member, moderator, guest):
    small = services.thread_create(actor=member, group=group, title="Small", body="Start")
    large = services.thread_create(actor=member, group=group, title="Large", body="Start")
    for thread in (small, large):
        opening = thread.posts.get()
        services.post_create(actor=moderator, thread=thread, body="Reply", parent=opening)
        services.reaction_toggle(actor=guest, post=opening, kind="eyes")
    _bulk_posts(small, [member, moderator], 8)
    _bulk_posts(large, [member, moderator], 998)
    assert Post.objects.filter(thread=small).count() == 10
    assert Post.objects.filter(thread=large).count() == 1000
    client.force_login(guest)
    with CaptureQueriesContext(connection) as ten:
        response = client.get(small.get_absolute_url())
    assert len(post_ids_in_page(response.text)) == 10
    with CaptureQueriesContext(connection) as thousand:
        response = client.get(large.get_absolute_url())
    assert len(post_ids_in_page(response.text)) == selectors.POSTS_PER_PAGE
    assert len(thousand.captured_queries) == len(ten.captured_queries), "\n".join(
        query["sql"] for query in thousand.captured_queries
    )
    with CaptureQueriesContext(connection) as last_page:
        client.get(large.get_absolute_url(), {"page": 20})
    assert len(last_page.captured_queries) <= len(ten.captured_queries)


# --- Jump to first unread, post links --------------------------------------------


def test_thread_unread_redirects_to_first_unread_post(client, thread, opening, member, guest):
    for number in range(selectors.POSTS_PER_PAGE + 2):
        services.post_create(actor=guest, thread=thread, body=f"Root {number}")
    thread.refresh_from_db()
    services.thread_mark_read(user=member, thread=thread, position=selectors.POSTS_PER_PAGE)
    first_unread = thread.posts.get(position=selectors.POSTS_PER_PAGE + 1)
    client.force_login(member)
    response = client.get(reverse("discussions:thread_unread", args=[thread.pk]))
    assert response["Location"] == f"{thread.get_absolute_url()}?page=2#post-{first_unread.pk}"


def test_thread_unread_redirects_to_thread_if_all_read(client, thread, member):
    client.force_login(member)
    response = client.get(reverse("discussions:thread_unread", args=[thread.pk]))
    assert response["Location"] == thread.get_absolute_url()


def test_post_redirect_leads_to_its_page_and_anchor(client, thread, reply, member):
    client.force_login(member)
    response = client.get(reverse("discussions:post", args=[reply.pk]))
    assert response["Location"] == f"{thread.get_absolute_url()}#post-{reply.pk}"


# --- Reply ------------------------------------------------------------------------


def test_reply_creates_post_under_parent_if_valid(client, thread, reply, guest):
    client.force_login(guest)
    response = client.post(
        reverse("discussions:reply", args=[thread.pk]), {"body": "Agreed.", "parent": reply.pk}
    )
    post = Post.objects.get(body="Agreed.")
    assert post.parent == reply and post.depth == reply.depth + 1
    assert response["Location"] == f"{thread.get_absolute_url()}#post-{post.pk}"


@pytest.mark.parametrize("body", ["", "   ", "x" * 20_001])
def test_reply_shows_error_and_changes_nothing_if_body_invalid(client, thread, member, body):
    client.force_login(member)
    response = client.post(reverse("discussions:reply", args=[thread.pk]), {"body": body})
    assert response.status_code == 400
    assert response.context["form"].errors["body"]
    assert 'id="id_body_error"' in response.text
    assert thread.posts.count() == 1


def test_reply_refused_with_message_next_to_field_if_locked(client, thread, member, moderator):
    services.thread_lock(actor=moderator, thread=thread)
    client.force_login(member)
    url = reverse("discussions:reply", args=[thread.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert "This thread is locked: it takes no new replies." in page.text
    assert 'name="body"' not in page.text
    response = client.post(url, {"body": "Let me in."})
    assert response.status_code == 400
    assert response.context["form"].errors["body"] == [
        "This thread is locked: it takes no new posts."
    ]
    assert 'id="id_body_error"' in response.text
    assert thread.posts.count() == 1


def test_reply_allowed_if_moderator_in_locked_thread(client, thread, moderator):
    services.thread_lock(actor=moderator, thread=thread)
    client.force_login(moderator)
    client.post(reverse("discussions:reply", args=[thread.pk]), {"body": "Closing words."})
    assert thread.posts.count() == 2


def test_reply_changes_nothing_if_parent_in_another_thread(client, thread, member, group, guest):
    elsewhere = services.thread_create(actor=guest, group=group, title="Other", body="x")
    client.force_login(member)
    response = client.post(
        reverse("discussions:reply", args=[thread.pk]),
        {"body": "Wrong place.", "parent": elsewhere.posts.get().pk},
    )
    assert response.status_code == 400
    assert "You can only reply to a post of this thread." in response.text
    assert thread.posts.count() == 1 and elsewhere.posts.count() == 1


def test_reply_page_prefills_quote_if_quote_given(client, thread, opening, guest):
    services.post_edit(actor=opening.author, post=opening, body="Line one\nLine two")
    client.force_login(guest)
    response = client.get(reverse("discussions:reply", args=[thread.pk]), {"quote": opening.pk})
    form = response.context["form"]
    author = str(opening.author)
    quote = f"> **{author}** [wrote](/posts/{opening.pk}/):\n>\n> Line one\n> Line two\n\n"
    assert form.initial == {"body": quote, "parent": opening.pk}
    assert "&gt; Line one\n&gt; Line two" in response.text


def test_quote_names_and_links_its_author_when_rendered(client, thread, opening, guest):
    """The quote, posted, shows who wrote the quoted post and links to it;
    Markdown in the name stays text."""
    opening.author.display_name = "Ada *[x](javascript:alert(1))*"
    opening.author.save(update_fields=["display_name"])
    client.force_login(guest)
    url = reverse("discussions:reply", args=[thread.pk])
    body = client.get(url, {"quote": opening.pk}).context["form"].initial["body"]
    response = client.post(url, {"body": body + "Agreed.", "parent": opening.pk})
    assert response.status_code == 302
    reply = thread.posts.get(position=2)
    assert reply.body_html.startswith(
        "<blockquote>\n<p><strong>Ada *[x](javascript:alert(1))*</strong> "
        f'<a href="/posts/{opening.pk}/" rel="nofollow noopener noreferrer">wrote</a>:</p>'
    )
    assert "javascript:" not in reply.body_html.replace("Ada *[x](javascript:alert(1))*", "")


def test_reply_page_does_not_quote_hidden_post_if_member(client, thread, reply, moderator, guest):
    services.post_set_hidden(actor=moderator, post=reply, hidden=True, reason="Spam")
    client.force_login(guest)
    response = client.get(reverse("discussions:reply", args=[thread.pk]), {"quote": reply.pk})
    assert "body" not in response.context["form"].initial
    assert "Skills partnerships" not in response.text
    assert "Hidden by a moderator" in response.text


@pytest.mark.parametrize("value", ["abc", "999999", ""])
def test_reply_page_404_if_parent_bad(client, thread, member, value):
    client.force_login(member)
    response = client.get(reverse("discussions:reply", args=[thread.pk]), {"parent": value})
    assert response.status_code == 404


def test_reply_page_404_if_parent_in_another_thread(client, thread, member, group):
    elsewhere = services.thread_create(actor=member, group=group, title="Other", body="x")
    client.force_login(member)
    url = reverse("discussions:reply", args=[thread.pk])
    assert client.get(url, {"quote": elsewhere.posts.get().pk}).status_code == 404


def test_reply_previews_without_saving_if_preview_pressed(client, thread, member):
    client.force_login(member)
    response = client.post(
        reverse("discussions:reply", args=[thread.pk]), {"body": "_Draft_", "preview": "1"}
    )
    assert response.status_code == 200
    assert "<em>Draft</em>" in response.text
    assert thread.posts.count() == 1


# --- Edit, history, delete --------------------------------------------------------


def test_post_edit_keeps_every_revision_if_author(client, opening, member):
    client.force_login(member)
    url = reverse("discussions:post_edit", args=[opening.pk])
    assert client.get(url).context["form"].initial == {"body": "What works for whom?"}
    response = client.post(url, {"body": "What works, for whom?"})
    assert response["Location"].endswith(f"#post-{opening.pk}")
    opening.refresh_from_db()
    assert opening.body == "What works, for whom?" and opening.edited_at
    assert list(opening.revisions.values_list("body", flat=True)) == [
        "What works for whom?",
        "What works, for whom?",
    ]


def test_post_edit_shows_error_and_changes_nothing_if_empty(client, opening, member):
    client.force_login(member)
    response = client.post(reverse("discussions:post_edit", args=[opening.pk]), {"body": " "})
    assert response.status_code == 400 and 'id="id_body_error"' in response.text
    opening.refresh_from_db()
    assert opening.body == "What works for whom?" and opening.revisions.count() == 1


def test_post_edit_refused_if_not_author(client, opening, guest):
    client.force_login(guest)
    url = reverse("discussions:post_edit", args=[opening.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"body": "Hijacked"}).status_code == 403
    opening.refresh_from_db()
    assert opening.body == "What works for whom?"


def test_post_edit_allowed_and_audited_if_moderator(client, opening, moderator):
    client.force_login(moderator)
    page = client.get(reverse("discussions:post_edit", args=[opening.pk]))
    assert "as a moderator" in page.text
    client.post(reverse("discussions:post_edit", args=[opening.pk]), {"body": "Tidied."})
    opening.refresh_from_db()
    assert opening.body == "Tidied."
    assert AuditEntry.objects.filter(action="post.edited").exists()


def test_post_edit_leads_to_mfa_if_moderator_without_mfa(client, opening, moderator_without_mfa):
    client.force_login(moderator_without_mfa)
    url = reverse("discussions:post_edit", args=[opening.pk])
    assert client.get(url)["Location"] == reverse("mfa_index")
    assert client.post(url, {"body": "Tidied."})["Location"] == reverse("mfa_index")
    opening.refresh_from_db()
    assert opening.body == "What works for whom?"


def test_post_edit_previews_without_saving(client, opening, member):
    client.force_login(member)
    response = client.post(
        reverse("discussions:post_edit", args=[opening.pk]), {"body": "New *text*", "preview": 1}
    )
    assert "<em>text</em>" in response.text
    opening.refresh_from_db()
    assert opening.body == "What works for whom?"


@pytest.mark.parametrize("viewer", ["member", "moderator"])
def test_post_history_lists_every_revision_if_author_or_moderator(
    client, request, opening, member, viewer
):
    services.post_edit(actor=member, post=opening, body="Second <b>version</b>")
    client.force_login(request.getfixturevalue(viewer))
    page = client.get(reverse("discussions:post_history", args=[opening.pk])).text
    assert "Version 1" in page and "Version 2" in page
    assert "What works for whom?" in page
    assert "Second &lt;b&gt;version&lt;/b&gt;" in page


def test_post_history_refused_if_other_member(client, opening, guest):
    client.force_login(guest)
    assert client.get(reverse("discussions:post_history", args=[opening.pk])).status_code == 403


def test_post_page_links_history_only_if_allowed(client, thread, opening, member, guest):
    services.post_edit(actor=member, post=opening, body="Changed")
    history = reverse("discussions:post_history", args=[opening.pk])
    client.force_login(member)
    assert history in client.get(thread.get_absolute_url()).text
    client.force_login(guest)
    page = client.get(thread.get_absolute_url()).text
    assert history not in page and "edited" in article(page, opening.pk)


def test_post_delete_keeps_place_and_replies_if_author(client, thread, reply, moderator, member):
    child = services.post_create(actor=member, thread=thread, body="Child", parent=reply)
    client.force_login(moderator)
    url = reverse("discussions:post_delete", args=[reply.pk])
    assert "Delete this post?" in client.get(url).text
    response = client.post(url)
    assert response["Location"].endswith(f"#post-{reply.pk}")
    reply.refresh_from_db()
    assert reply.is_deleted and reply.body == ""
    child.refresh_from_db()
    assert child.parent_id == reply.pk and not child.is_deleted


def test_post_delete_refused_if_not_author(client, opening, guest):
    client.force_login(guest)
    url = reverse("discussions:post_delete", args=[opening.pk])
    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403
    opening.refresh_from_db()
    assert not opening.is_deleted


def test_post_delete_leads_to_mfa_if_moderator_without_mfa(client, opening, moderator_without_mfa):
    client.force_login(moderator_without_mfa)
    response = client.post(reverse("discussions:post_delete", args=[opening.pk]))
    assert response["Location"] == reverse("mfa_index")
    opening.refresh_from_db()
    assert not opening.is_deleted


# --- Reactions, reports -----------------------------------------------------------


def test_post_react_toggles_reaction(client, opening, guest):
    client.force_login(guest)
    url = reverse("discussions:post_react", args=[opening.pk])
    response = client.post(url, {"kind": "heart"})
    assert response["Location"].endswith(f"#post-{opening.pk}")
    assert Reaction.objects.filter(post=opening, user=guest, kind="heart").exists()
    client.post(url, {"kind": "heart"})
    assert not Reaction.objects.exists()


def test_post_react_returns_post_fragment_if_htmx(client, opening, guest):
    client.force_login(guest)
    response = client.post(
        reverse("discussions:post_react", args=[opening.pk]),
        {"kind": "celebrate"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<article class="post depth-0')
    assert "<html" not in response.text
    assert re.search(r'aria-pressed="true" title="Celebrate"', response.text)


@pytest.mark.parametrize("kind", ["", "skull", "<script>"])
def test_post_react_changes_nothing_if_unknown_kind(client, opening, guest, kind):
    client.force_login(guest)
    response = client.post(reverse("discussions:post_react", args=[opening.pk]), {"kind": kind})
    assert response.status_code == 302
    assert "Unknown reaction." in messages_of(client.get(response["Location"]))
    assert not Reaction.objects.exists()


def test_post_react_refused_if_post_hidden(client, reply, moderator, guest):
    services.post_set_hidden(actor=moderator, post=reply, hidden=True, reason="Spam")
    client.force_login(guest)
    response = client.post(reverse("discussions:post_react", args=[reply.pk]), {"kind": "heart"})
    assert response.status_code == 403
    assert not Reaction.objects.exists()


def test_post_report_creates_report_if_reason(client, reply, guest):
    client.force_login(guest)
    url = reverse("discussions:post_report", args=[reply.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"reason": "Not on topic."})
    assert response["Location"].endswith(f"#post-{reply.pk}")
    report = Report.objects.get()
    assert report.reporter == guest and report.reason == "Not on topic."


@pytest.mark.parametrize("reason", ["", "   ", "x" * 2001])
def test_post_report_shows_error_and_changes_nothing_if_reason_invalid(
    client, reply, guest, reason
):
    client.force_login(guest)
    response = client.post(reverse("discussions:post_report", args=[reply.pk]), {"reason": reason})
    assert response.status_code == 400 and 'id="id_reason_error"' in response.text
    assert not Report.objects.exists()


def test_post_report_refused_if_own_post(client, reply, moderator):
    client.force_login(moderator)
    url = reverse("discussions:post_report", args=[reply.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"reason": "Me?"}).status_code == 403
    assert not Report.objects.exists()


# --- Fragment and preview ---------------------------------------------------------


@pytest.mark.parametrize(
    ("viewer", "sees_text"),
    [("member", False), ("guest", True), ("moderator", True)],
)
def test_post_fragment_renders_post_for_this_viewer(
    client, request, thread, opening, moderator, viewer, sees_text
):
    post = services.post_create(
        actor=request.getfixturevalue("guest"), thread=thread, body="Loud", parent=opening
    )
    services.post_set_hidden(actor=moderator, post=post, hidden=True, reason="Too loud")
    client.force_login(request.getfixturevalue(viewer))
    response = client.get(reverse("discussions:post_fragment", args=[post.pk]))
    assert response.status_code == 200
    html = response.text.strip()
    assert html.startswith('<article class="post depth-1') and html.endswith("</article>")
    assert f'data-path="{post.path}"' in html
    assert "in reply to" not in html  # it goes right below its parent
    assert ("Loud" in html) is sees_text and ("Too loud" in html) is sees_text
    assert "Hidden by a moderator" in html


def test_post_fragment_shows_deleted_placeholder(client, reply, moderator, member):
    services.post_delete(actor=moderator, post=reply)
    client.force_login(member)
    html = client.get(reverse("discussions:post_fragment", args=[reply.pk])).text
    assert "This post was deleted." in html and "Skills" not in html


def test_post_fragment_404_if_other_group(client, reply, other_member):
    client.force_login(other_member)
    assert client.get(reverse("discussions:post_fragment", args=[reply.pk])).status_code == 404


def test_preview_renders_sanitised_html_if_thread_visible(client, thread, member):
    client.force_login(member)
    response = client.post(
        reverse("discussions:preview"),
        {
            "thread": thread.pk,
            "body": "**Hi** <script>alert(1)</script> [x](javascript:alert(1)) "
            '<img src=x onerror="alert(1)">',
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "<strong>Hi</strong>" in response.text
    assert "<script" not in response.text and "<img" not in response.text
    assert 'href="javascript' not in response.text
    assert "&lt;script&gt;" in response.text  # shown as text, not run
    assert "<html" not in response.text


def test_preview_resolves_mentions_of_the_groups_people(client, group, member, guest):
    client.force_login(member)
    response = client.post(
        reverse("discussions:preview"),
        {"group": group.pk, "body": f"Hello @{guest.mention_handle}"},
    )
    assert f'href="{guest.get_absolute_url()}"' in response.text and "@Gina Guest" in response.text


def test_preview_404_if_thread_or_group_of_another_group(client, thread, group, other_member):
    client.force_login(other_member)
    url = reverse("discussions:preview")
    assert client.post(url, {"thread": thread.pk, "body": "Hi"}).status_code == 404
    assert client.post(url, {"group": group.pk, "body": "Hi"}).status_code == 404
    assert client.post(url, {"thread": 999999, "body": "Hi"}).status_code == 404


def test_preview_404_if_thread_hidden_from_member(client, thread, member, moderator):
    services.thread_hide(actor=moderator, thread=thread)
    client.force_login(member)
    response = client.post(reverse("discussions:preview"), {"thread": thread.pk, "body": "Hi"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"thread": "1", "body": ""}, "Write something to preview it."),
        ({"body": "Hi"}, "Nothing to preview here."),
        ({"thread": "abc", "body": "Hi"}, "Enter a whole number."),
    ],
)
def test_preview_says_why_if_input_bad(client, member, data, message):
    client.force_login(member)
    response = client.post(reverse("discussions:preview"), data, headers={"HX-Request": "true"})
    assert response.status_code == 200 and message in response.text


def test_preview_405_if_get(client, member):
    client.force_login(member)
    assert client.get(reverse("discussions:preview")).status_code == 405


# --- Read marks and watching ------------------------------------------------------


def test_mark_read_marks_whole_thread_read(client, thread, member, guest):
    services.post_create(actor=guest, thread=thread, body="New")
    client.force_login(member)
    ReadState.objects.filter(user=member).delete()
    response = client.post(reverse("discussions:mark_read", args=[thread.pk]))
    assert response["Location"] == reverse("discussions:thread_list", args=[thread.group.slug])
    assert selectors.read_position(member, thread) == 2


def test_mark_read_answers_204_up_to_position_if_htmx(client, thread, member, guest):
    for body in ("One", "Two"):
        services.post_create(actor=guest, thread=thread, body=body)
    client.force_login(member)
    ReadState.objects.filter(user=member).delete()
    response = client.post(
        reverse("discussions:mark_read", args=[thread.pk]),
        {"position": 2},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 204
    assert selectors.read_position(member, thread) == 2


def test_watch_starts_and_stops_watching(client, thread, guest):
    client.force_login(guest)
    url = reverse("discussions:watch", args=[thread.pk])
    client.post(url, {"watching": "on"})
    assert Subscription.objects.filter(user=guest, thread=thread).exists()
    assert "Stop watching" in client.get(thread.get_absolute_url()).text
    client.post(url, {})
    assert not Subscription.objects.filter(user=guest, thread=thread).exists()


# --- Moderation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "field", "audited"),
    [
        ("pin", "pinned", "thread.pinned"),
        ("lock", "locked", "thread.locked"),
        ("hide", "hidden", "thread.hidden"),
    ],
)
def test_thread_moderate_changes_flag_and_audits_if_moderator(
    client, thread, moderator, action, field, audited
):
    client.force_login(moderator)
    url = reverse("discussions:thread_moderate", args=[thread.pk])
    response = client.post(url, {"action": action})
    assert response["Location"] == thread.get_absolute_url()
    thread.refresh_from_db()
    assert getattr(thread, field) is True
    assert AuditEntry.objects.filter(action=audited, actor=moderator).exists()
    client.post(url, {"action": f"un{action}"})
    thread.refresh_from_db()
    assert getattr(thread, field) is False


def test_thread_moderate_refused_and_changes_nothing_if_member(client, thread, member):
    client.force_login(member)
    response = client.post(
        reverse("discussions:thread_moderate", args=[thread.pk]), {"action": "lock"}
    )
    assert response.status_code == 403
    thread.refresh_from_db()
    assert not thread.locked


def test_thread_moderate_leads_to_mfa_if_moderator_without_mfa(
    client, thread, moderator_without_mfa
):
    client.force_login(moderator_without_mfa)
    response = client.post(
        reverse("discussions:thread_moderate", args=[thread.pk]), {"action": "lock"}
    )
    assert response["Location"] == reverse("mfa_index")
    thread.refresh_from_db()
    assert not thread.locked
    enable_mfa(moderator_without_mfa)
    client.post(reverse("discussions:thread_moderate", args=[thread.pk]), {"action": "lock"})
    thread.refresh_from_db()
    assert thread.locked


@pytest.mark.parametrize("action", ["", "delete", "<b>"])
def test_thread_moderate_says_so_and_changes_nothing_if_action_unknown(
    client, thread, moderator, action
):
    client.force_login(moderator)
    response = client.post(
        reverse("discussions:thread_moderate", args=[thread.pk]), {"action": action}
    )
    assert "Unknown action." in messages_of(client.get(response["Location"]))
    assert not AuditEntry.objects.filter(action__startswith="thread.").exists()


def test_post_hide_hides_with_reason_if_moderator(client, reply, moderator):
    client.force_login(moderator)
    url = reverse("discussions:post_hide", args=[reply.pk])
    assert client.get(url).status_code == 200
    client.post(url, {"action": "hide", "reason": "Off topic"})
    reply.refresh_from_db()
    assert reply.hidden and reply.hidden_reason == "Off topic" and reply.hidden_by == moderator
    client.post(url, {"action": "unhide", "reason": ""})
    reply.refresh_from_db()
    assert not reply.hidden and reply.hidden_reason == ""


def test_post_hide_shows_error_and_changes_nothing_if_no_reason(client, reply, moderator):
    client.force_login(moderator)
    response = client.post(
        reverse("discussions:post_hide", args=[reply.pk]), {"action": "hide", "reason": " "}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["reason"] == [
        "Please give a reason: its author will see it."
    ]
    assert 'id="id_reason_error"' in response.text
    reply.refresh_from_db()
    assert not reply.hidden


def test_post_hide_refused_if_member(client, reply, member):
    client.force_login(member)
    url = reverse("discussions:post_hide", args=[reply.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"action": "hide", "reason": "Mine now"}).status_code == 403
    reply.refresh_from_db()
    assert not reply.hidden


def test_thread_move_lists_only_groups_the_moderator_moderates(
    client, thread, moderator, other_group
):
    from groups.models import WorkingGroup

    third = WorkingGroup.objects.create(name="Third group", slug="third")
    join(moderator, third, Role.MODERATOR)
    join(moderator, other_group, Role.MEMBER)
    client.force_login(moderator)
    response = client.get(reverse("discussions:thread_move", args=[thread.pk]))
    assert list(response.context["form"].fields["group"].queryset) == [third]
    assert "Future of migration" not in response.text


def test_thread_move_moves_if_moderator_of_both_groups(client, thread, moderator, other_group):
    join(moderator, other_group, Role.MODERATOR)
    client.force_login(moderator)
    response = client.post(
        reverse("discussions:thread_move", args=[thread.pk]), {"group": other_group.pk}
    )
    assert response["Location"] == thread.get_absolute_url()
    thread.refresh_from_db()
    assert thread.group == other_group


def test_thread_move_says_so_and_changes_nothing_if_no_group_to_move_to(
    client, thread, moderator, other_group, group
):
    client.force_login(moderator)
    url = reverse("discussions:thread_move", args=[thread.pk])
    assert "You moderate no other group" in client.get(url).text
    response = client.post(url, {"group": other_group.pk})
    assert response.status_code == 400
    thread.refresh_from_db()
    assert thread.group == group


def test_thread_move_shows_error_and_changes_nothing_if_group_not_moderated(
    client, thread, moderator, other_group, group
):
    from groups.models import WorkingGroup

    join(moderator, WorkingGroup.objects.create(name="Third group", slug="third"), Role.MODERATOR)
    join(moderator, other_group, Role.MEMBER)
    client.force_login(moderator)
    response = client.post(
        reverse("discussions:thread_move", args=[thread.pk]), {"group": other_group.pk}
    )
    assert response.status_code == 400
    assert "Select a valid choice." in response.text and 'id="id_group_error"' in response.text
    thread.refresh_from_db()
    assert thread.group == group
    assert not AuditEntry.objects.filter(action__startswith="thread.moved").exists()


def test_thread_move_makes_thread_unreachable_for_old_group(
    client, thread, moderator, member, other_group
):
    join(moderator, other_group, Role.MODERATOR)
    client.force_login(moderator)
    client.post(reverse("discussions:thread_move", args=[thread.pk]), {"group": other_group.pk})
    client.force_login(member)
    assert client.get(thread.get_absolute_url()).status_code == 404


def test_thread_split_moves_post_and_replies_into_new_thread(
    client, thread, opening, reply, moderator, member
):
    child = services.post_create(actor=member, thread=thread, body="Child", parent=reply)
    client.force_login(moderator)
    url = reverse("discussions:thread_split", args=[reply.pk])
    assert "This post and 1 reply to it" in client.get(url).text
    response = client.post(url, {"title": "Skills partnerships"})
    new = Thread.objects.get(title="Skills partnerships")
    assert response["Location"] == new.get_absolute_url()
    assert set(new.posts.values_list("pk", flat=True)) == {reply.pk, child.pk}
    assert list(thread.posts.values_list("pk", flat=True)) == [opening.pk]


def test_thread_split_shows_error_and_changes_nothing_if_title_empty(client, reply, moderator):
    client.force_login(moderator)
    response = client.post(reverse("discussions:thread_split", args=[reply.pk]), {"title": " "})
    assert response.status_code == 400 and 'id="id_title_error"' in response.text
    assert Thread.objects.count() == 1


def test_thread_split_shows_error_if_it_would_take_the_whole_thread(client, opening, moderator):
    client.force_login(moderator)
    response = client.post(reverse("discussions:thread_split", args=[opening.pk]), {"title": "T"})
    assert response.status_code == 400
    assert "A thread cannot be split off from itself." in response.text
    assert Thread.objects.count() == 1


def test_report_queue_lists_open_reports_of_the_group(
    client, reply, member, guest, moderator, other_member, other_group
):
    services.report_create(actor=member, post=reply, reason="Too <b>harsh</b>")
    elsewhere = services.thread_create(actor=other_member, group=other_group, title="E", body="x")
    services.post_create(actor=other_member, thread=elsewhere, body="Other")
    client.force_login(moderator)
    page = client.get(reverse("discussions:report_queue", args=[reply.thread.group.slug])).text
    assert "Too &lt;b&gt;harsh&lt;/b&gt;" in page
    assert reverse("discussions:post", args=[reply.pk]) in page
    assert page.count('class="card report"') == 1


@pytest.mark.parametrize(
    ("decision", "status"), [("resolve", "resolved"), ("dismiss", "dismissed")]
)
def test_report_close_records_decision_if_moderator(
    client, reply, member, moderator, decision, status
):
    report = services.report_create(actor=member, post=reply, reason="Harsh")
    client.force_login(moderator)
    response = client.post(
        reverse("discussions:report_close", args=[report.pk]), {"decision": decision}
    )
    assert response["Location"] == reverse(
        "discussions:report_queue", args=[reply.thread.group.slug]
    )
    report.refresh_from_db()
    assert report.status == status and report.handled_by == moderator
    queue = client.get(response["Location"]).text
    assert 'class="card report"' not in queue
    assert 'class="card report"' in client.get(response["Location"], {"show": "handled"}).text


def test_report_close_says_so_if_handled_already(client, reply, member, moderator):
    report = services.report_create(actor=member, post=reply, reason="Harsh")
    services.report_close(actor=moderator, report=report)
    client.force_login(moderator)
    response = client.post(
        reverse("discussions:report_close", args=[report.pk]), {"decision": "dismiss"}
    )
    assert "This report was handled already." in messages_of(client.get(response["Location"]))
    report.refresh_from_db()
    assert report.status == "resolved"


def test_report_close_says_so_if_decision_missing(client, reply, member, moderator):
    report = services.report_create(actor=member, post=reply, reason="Harsh")
    client.force_login(moderator)
    response = client.post(reverse("discussions:report_close", args=[report.pk]), {})
    assert response.status_code == 302
    report.refresh_from_db()
    assert report.status == "open"


def test_report_close_refused_if_member(client, reply, member, guest):
    report = services.report_create(actor=guest, post=reply, reason="Harsh")
    client.force_login(member)
    response = client.post(
        reverse("discussions:report_close", args=[report.pk]), {"decision": "dismiss"}
    )
    assert response.status_code == 403
    report.refresh_from_db()
    assert report.status == "open"


def test_group_pages_link_discussions_and_reports_for_moderators(client, group, member, moderator):
    threads = reverse("discussions:thread_list", args=[group.slug])
    reports = reverse("discussions:report_queue", args=[group.slug])
    client.force_login(member)
    page = client.get(group.get_absolute_url()).text
    assert threads in page and reports not in page
    client.force_login(moderator)
    page = client.get(group.get_absolute_url()).text
    assert threads in page and reports in page


def test_revision_numbers_survive_racing_edits_through_views(client, opening, member, moderator):
    client.force_login(member)
    client.post(reverse("discussions:post_edit", args=[opening.pk]), {"body": "Author's"})
    client.force_login(moderator)
    client.post(reverse("discussions:post_edit", args=[opening.pk]), {"body": "Moderator's"})
    assert list(PostRevision.objects.filter(post=opening).values_list("number", "body")) == [
        (1, "What works for whom?"),
        (2, "Author's"),
        (3, "Moderator's"),
    ]


def test_thread_list_query_count_same_if_few_or_many_threads(
    client, group, member, guest, moderator, django_assert_num_queries
):
    def add_threads(count):
        for number in range(count):
            thread = services.thread_create(
                actor=[member, guest][number % 2], group=group, title=f"T{number}", body="x"
            )
            services.post_create(actor=moderator, thread=thread, body="Reply")
            if number % 3 == 0:
                services.thread_pin(actor=moderator, thread=thread)

    url = reverse("discussions:thread_list", args=[group.slug])
    add_threads(2)
    for viewer in (member, moderator):
        client.force_login(viewer)
        with CaptureQueriesContext(connection) as few:
            client.get(url)
        add_threads(12)
        with django_assert_num_queries(len(few.captured_queries)):
            response = client.get(url)
        assert len(re.findall(r'id="thread-\d+"', response.text)) > 12


def test_report_queue_query_count_same_if_few_or_many_reports(
    client, thread, opening, member, guest, moderator, django_assert_num_queries
):
    def add_reports(count):
        for number in range(count):
            post = services.post_create(actor=member, thread=thread, body=f"Post {number}")
            services.report_create(actor=guest, post=post, reason=f"Reason {number}")

    url = reverse("discussions:report_queue", args=[thread.group.slug])
    add_reports(1)
    client.force_login(moderator)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    add_reports(10)
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(url)
    assert response.text.count('class="card report"') == 11


# --- issue 15: reactions, inline replies, history, reports, hide ---------------------


def test_thread_page_shows_only_reactions_given_and_one_menu(client, thread, opening, guest):
    services.reaction_toggle(actor=guest, post=opening, kind="eyes")
    client.force_login(guest)
    text = client.get(thread.get_absolute_url()).text
    foot = text[text.index(f'id="post-{opening.pk}"') :]
    foot = foot[: foot.index("</article>")]
    reactions = foot[foot.index('class="reactions"') : foot.index('<details class="reaction-add"')]
    assert 'value="eyes"' in reactions and 'value="heart"' not in reactions
    assert foot.count('<details class="reaction-add"') == 1
    menu = foot[foot.index('<details class="reaction-add"') :]
    assert all(f'value="{kind}"' in menu for kind in ("thumbs_up", "heart", "eyes"))


def test_reply_form_inline_for_htmx(client, thread, opening, guest):
    client.force_login(guest)
    url = reverse("discussions:reply", args=[thread.pk])
    response = client.get(url, {"parent": opening.pk}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.text and "inline-reply-form" in response.text
    assert f'id="reply-{opening.pk}-body"' in response.text
    assert f'hx-post="{url}"' in response.text


def test_inline_reply_posts_and_triggers_placing(client, thread, opening, guest):
    client.force_login(guest)
    url = reverse("discussions:reply", args=[thread.pk])
    response = client.post(
        url, {"body": "Inline!", "parent": opening.pk}, headers={"HX-Request": "true"}
    )
    post = thread.posts.get(position=2)
    assert response.status_code == 200 and "Your reply was posted." in response.text
    assert json.loads(response["HX-Trigger"]) == {
        "discussions:posted": {"post": post.pk, "position": 2}
    }
    assert post.parent_id == opening.pk


def test_inline_reply_shows_errors_in_place_and_saves_nothing(client, thread, opening, guest):
    client.force_login(guest)
    response = client.post(
        reverse("discussions:reply", args=[thread.pk]),
        {"body": " ", "parent": opening.pk},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and "errorlist" in response.text
    assert "HX-Trigger" not in response and thread.posts.count() == 1


def test_post_history_marks_changes_escaped(client, thread, opening, member):
    services.post_edit(actor=member, post=opening, body="What <b>works</b> for all?")
    client.force_login(member)
    text = client.get(reverse("discussions:post_history", args=[opening.pk])).text
    assert "<del>whom</del>" in text
    assert "<ins>&lt;b&gt;</ins>works<ins>&lt;/b&gt;</ins>" in text
    assert "<ins>all</ins>" in text
    assert "<b>works</b>" not in text


def test_post_report_twice_gives_one_entry_and_says_so(client, thread, opening, guest):
    client.force_login(guest)
    url = reverse("discussions:post_report", args=[opening.pk])
    assert client.post(url, {"reason": "Spam"}).status_code == 302
    response = client.post(url, {"reason": "Spam"})
    assert response.status_code == 400
    assert "You have already reported this post" in response.text
    assert Report.objects.filter(post=opening).count() == 1


def test_report_queue_offers_no_hide_for_a_hidden_post(client, thread, opening, guest, moderator):
    services.report_create(actor=guest, post=opening, reason="Spam")
    client.force_login(moderator)
    url = reverse("discussions:report_queue", args=[thread.group.slug])
    assert "Hide the post" in client.get(url).text
    services.post_set_hidden(actor=moderator, post=opening, hidden=True, reason="Spam")
    text = client.get(url).text
    assert "Hide the post" not in text and "Show the post again" in text
