"""The notifications page, the bell's count, opening and marking read; access
decided again whenever a notification is shown or counted."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from discussions import services as discussions
from discussions.models import Post
from groups.models import Membership
from notifications import selectors
from notifications.models import Notification
from tests.fixtures.people import join

from .conftest import handle


@pytest.fixture
def mention(thread, member, guest):
    """``guest`` mentions ``member`` in a reply: member's one notification."""
    post = discussions.post_create(actor=guest, thread=thread, body=f"Look, {handle(member)}")
    return Notification.objects.get(recipient=member, target_id=post.pk)


def count_for(client, user) -> int:
    client.force_login(user)
    return client.get(reverse("notifications:count")).json()["count"]


def test_count_counts_unread_notifications(client, mention, member, guest):
    assert count_for(client, member) == 1
    assert count_for(client, guest) == 0


def test_page_shows_the_notification_grouped_by_group(client, mention, member, group):
    client.force_login(member)
    response = client.get(reverse("notifications:list"))
    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="notification-{mention.pk}"' in html
    assert group.name in html
    assert "Gina Guest mentioned you in “Labour pathways”" in html


def test_header_bell_shows_the_count(client, mention, member):
    client.force_login(member)
    html = client.get(reverse("notifications:list")).content.decode()
    assert 'data-bell-count class="badge">1</span>' in html


def test_page_lists_newest_first_and_groups_by_group(
    client, thread, member, guest, other_group, make_user
):
    join(member, other_group)
    author = make_user("author@example.org", display_name="Ann Author")
    join(author, other_group)
    elsewhere = discussions.thread_create(
        actor=author, group=other_group, title="Elsewhere", body=f"{handle(member)}"
    )
    first = discussions.post_create(actor=guest, thread=thread, body=f"{handle(member)} 1")
    second = discussions.post_create(actor=guest, thread=thread, body="2")
    groups = selectors.notification_groups(member)
    assert [group.pk for group, _items in groups] == [thread.group_id, other_group.pk]
    assert [n.target_id for n in groups[0][1]] == [second.pk, first.pk]
    assert [n.target_id for n in groups[1][1]] == [elsewhere.posts.get().pk]


def test_opening_marks_read_and_leads_to_the_post(client, mention, member):
    client.force_login(member)
    response = client.get(reverse("notifications:open", args=[mention.pk]))
    assert response.status_code == 302
    assert response.url == reverse("discussions:post", args=[mention.target_id])
    mention.refresh_from_db()
    assert mention.read_at is not None
    assert count_for(client, member) == 0


def test_opening_someone_elses_notification_is_404(client, mention, guest):
    client.force_login(guest)
    assert client.get(reverse("notifications:open", args=[mention.pk])).status_code == 404
    mention.refresh_from_db()
    assert mention.read_at is None


def test_mark_read_marks_one(client, mention, member, guest, thread):
    other = discussions.post_create(actor=guest, thread=thread, body="More")
    client.force_login(member)
    response = client.post(reverse("notifications:mark_read"), {"notification": mention.pk})
    assert response.status_code == 302
    mention.refresh_from_db()
    assert mention.read_at is not None
    assert Notification.objects.get(target_id=other.pk).read_at is None


def test_mark_read_of_someone_elses_is_404(client, mention, guest):
    client.force_login(guest)
    response = client.post(reverse("notifications:mark_read"), {"notification": mention.pk})
    assert response.status_code == 404
    mention.refresh_from_db()
    assert mention.read_at is None


def test_mark_read_needs_post(client, mention, member):
    client.force_login(member)
    assert client.get(reverse("notifications:mark_all_read")).status_code == 405
    assert client.get(reverse("notifications:mark_read")).status_code == 405


def test_mark_all_read(client, mention, member, guest, thread):
    discussions.post_create(actor=guest, thread=thread, body="More")
    assert count_for(client, member) == 2
    client.post(reverse("notifications:mark_all_read"))
    assert count_for(client, member) == 0


def test_reading_the_thread_marks_its_posts_notifications_read(
    client, mention, member, guest, thread
):
    client.force_login(member)
    assert client.get(thread.get_absolute_url()).status_code == 200
    mention.refresh_from_db()
    assert mention.read_at is not None
    assert count_for(client, member) == 0


def test_reading_the_thread_announces_the_new_count(
    client, mention, member, thread, published, django_capture_on_commit_callbacks
):
    client.force_login(member)
    with django_capture_on_commit_callbacks(execute=True):
        client.get(thread.get_absolute_url())
    assert (f"user:{member.pk}", "notifications.changed", {}) in published


def test_signed_out_people_are_sent_to_sign_in(client, mention):
    response = client.get(reverse("notifications:count"))
    assert response.status_code == 302
    assert "/accounts/login/" in response.url


@pytest.mark.parametrize("change", ["removed", "expired", "hidden_post", "deleted", "moved"])
def test_notification_is_neither_shown_nor_counted_if_its_object_is_out_of_sight(
    change, client, mention, member, moderator, other_group, thread
):
    if change == "removed":
        Membership.objects.filter(user=member, group=thread.group).update(active=False)
    elif change == "expired":
        Membership.objects.filter(user=member, group=thread.group).update(
            role="guest", expires_at=timezone.now()
        )
    elif change == "hidden_post":
        post = Post.objects.get(pk=mention.target_id)
        discussions.post_set_hidden(actor=moderator, post=post, hidden=True, reason="Spam")
    elif change == "deleted":
        post = Post.objects.get(pk=mention.target_id)
        discussions.post_delete(actor=moderator, post=post)
    elif change == "moved":
        join(moderator, other_group, role="moderator")
        discussions.thread_move(actor=moderator, thread=thread, to_group=other_group)
    assert count_for(client, member) == 0
    html = client.get(reverse("notifications:list")).content.decode()
    assert f'id="notification-{mention.pk}"' not in html
    assert client.get(reverse("notifications:open", args=[mention.pk])).status_code == 404


def test_page_queries_do_not_grow_with_the_notifications(
    client, thread, member, guest, django_assert_num_queries
):
    discussions.post_create(actor=guest, thread=thread, body=f"{handle(member)}")
    client.force_login(member)
    client.get(reverse("notifications:list"))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("notifications:list"))
    for number in range(5):
        discussions.post_create(actor=guest, thread=thread, body=f"{handle(member)} {number}")
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(reverse("notifications:list"))


def test_page_speaks_german_to_a_german_reader(client, mention, member):
    member.language = "de"
    member.save(update_fields=["language"])
    client.force_login(member)
    html = client.get(reverse("notifications:list"), headers={"accept-language": "de"}).content
    html = html.decode()
    assert "<h1>Benachrichtigungen</h1>" in html
    assert "Gina Guest hat Sie in „Labour pathways“ erwähnt" in html
    assert "Alle als gelesen markieren" in html


def test_page_lists_a_moved_threads_notification_under_its_new_group(
    client, mention, member, moderator, other_group, thread
):
    join(member, other_group)
    join(moderator, other_group, role="moderator")
    discussions.thread_move(actor=moderator, thread=thread, to_group=other_group)
    groups = selectors.notification_groups(member)
    assert [(group.pk, [n.pk for n in items]) for group, items in groups] == [
        (other_group.pk, [mention.pk])
    ]
