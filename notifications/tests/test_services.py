"""Who is told what of a new post, at every level, and who is told nothing."""

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from discussions import services as discussions
from discussions.models import Subscription
from notifications import services
from notifications.models import (
    GroupDefaultLevel,
    GroupLevel,
    Kind,
    Level,
    Notification,
    ThreadLevel,
)
from tests.fixtures.people import join

from .conftest import handle


def kinds_for(post) -> dict:
    return {
        n.recipient_id: n.kind
        for n in Notification.objects.filter(target_type="discussions.post", target_id=post.pk)
    }


def test_mention_notifies_the_person_mentioned(thread, member, guest):
    post = discussions.post_create(actor=guest, thread=thread, body=f"Yes, {handle(member)}!")
    notification = Notification.objects.get(recipient=member, target_id=post.pk)
    assert notification.kind == Kind.MENTION
    assert notification.actor == guest
    assert notification.group == thread.group
    assert notification.url == post.get_absolute_url()
    assert notification.subject == thread.title
    assert notification.read_at is None


def test_mention_makes_the_mentioned_person_watch_the_thread(thread, member, guest):
    assert not Subscription.objects.filter(user=guest, thread=thread).exists()
    discussions.post_create(actor=member, thread=thread, body=f"What do you think {handle(guest)}?")
    assert Subscription.objects.filter(user=guest, thread=thread).exists()
    later = discussions.post_create(actor=member, thread=thread, body="Anyone else?")
    assert kinds_for(later) == {guest.pk: Kind.WATCHED_POST}


def test_mention_in_a_new_thread_notifies(group, member, guest):
    thread = discussions.thread_create(
        actor=member, group=group, title="Hello", body=f"Welcome {handle(guest)}"
    )
    assert kinds_for(thread.posts.get()) == {guest.pk: Kind.MENTION}


def test_post_created_notifies_nobody_if_the_author_mentions_themselves(thread, member):
    post = discussions.post_create(actor=member, thread=thread, body=f"Me, {handle(member)}.")
    assert kinds_for(post) == {}


def test_reply_notifies_the_parent_author_not_watching(thread, opening_post, member, guest):
    Subscription.objects.filter(user=member).delete()
    post = discussions.post_create(
        actor=guest, thread=thread, body="An answer", parent=opening_post
    )
    assert kinds_for(post) == {member.pk: Kind.REPLY}


def test_new_post_notifies_the_watchers_of_the_thread(thread, member, guest, moderator):
    discussions.post_create(actor=guest, thread=thread, body="First")
    post = discussions.post_create(actor=moderator, thread=thread, body="Second")
    # member started it and guest replied: both watch; moderator wrote it.
    assert kinds_for(post) == {member.pk: Kind.WATCHED_POST, guest.pk: Kind.WATCHED_POST}


def test_one_notification_per_person_the_mention_first(thread, opening_post, member, guest):
    post = discussions.post_create(
        actor=guest, thread=thread, body=f"{handle(member)} see", parent=opening_post
    )
    assert kinds_for(post) == {member.pk: Kind.MENTION}


def test_new_thread_notifies_those_watching_the_group(group, member, guest, moderator):
    GroupLevel.objects.create(user=guest, group=group, level=Level.WATCHING)
    thread = discussions.thread_create(actor=member, group=group, title="New", body="Text")
    assert kinds_for(thread.posts.get()) == {guest.pk: Kind.NEW_THREAD}
    reply = discussions.post_create(actor=moderator, thread=thread, body="More")
    assert kinds_for(reply) == {member.pk: Kind.WATCHED_POST, guest.pk: Kind.WATCHED_POST}


def test_group_default_watching_notifies_everyone_who_chose_nothing_else(
    group, member, guest, moderator
):
    services.group_default_level_set(actor=moderator, group=group, level=Level.WATCHING)
    GroupLevel.objects.create(user=guest, group=group, level=Level.TRACKING)
    thread = discussions.thread_create(actor=member, group=group, title="New", body="Text")
    assert kinds_for(thread.posts.get()) == {moderator.pk: Kind.NEW_THREAD}


def test_group_default_level_set_refuses_a_member(group, member):
    with pytest.raises(PermissionDenied):
        services.group_default_level_set(actor=member, group=group, level=Level.WATCHING)
    assert not GroupDefaultLevel.objects.exists()


def test_tracking_is_told_of_mentions_and_replies_only(thread, opening_post, member, guest):
    ThreadLevel.objects.create(user=member, thread=thread, level=Level.TRACKING)
    plain = discussions.post_create(actor=guest, thread=thread, body="Plain")
    reply = discussions.post_create(actor=guest, thread=thread, body="Re", parent=opening_post)
    assert kinds_for(plain) == {}
    assert kinds_for(reply) == {member.pk: Kind.REPLY}


def test_mentions_only_is_told_of_mentions_only(thread, opening_post, member, guest):
    services.thread_level_set(user=member, thread=thread, level=Level.MENTIONS)
    reply = discussions.post_create(actor=guest, thread=thread, body="Re", parent=opening_post)
    mention = discussions.post_create(actor=guest, thread=thread, body=f"{handle(member)}!")
    assert kinds_for(reply) == {}
    assert kinds_for(mention) == {member.pk: Kind.MENTION}


def test_muted_is_told_nothing_not_even_mentions(thread, opening_post, member, guest):
    services.thread_level_set(user=member, thread=thread, level=Level.MUTED)
    reply = discussions.post_create(actor=guest, thread=thread, body="Re", parent=opening_post)
    mention = discussions.post_create(actor=guest, thread=thread, body=f"{handle(member)}!")
    assert kinds_for(reply) == {}
    assert kinds_for(mention) == {}


def test_muted_group_hears_nothing_of_threads_it_does_not_watch(group, member, guest):
    services.group_level_set(user=guest, group=group, level=Level.MUTED)
    thread = discussions.thread_create(
        actor=member, group=group, title="T", body=f"Hi {handle(guest)}"
    )
    assert kinds_for(thread.posts.get()) == {}


def test_post_created_notifies_nobody_who_cannot_see_it(
    group, thread, member, guest, expired_guest, removed_member, outsider, moderator
):
    for person in (expired_guest, removed_member, outsider):
        Subscription.objects.create(user=person, thread=thread)
        GroupLevel.objects.create(user=person, group=group, level=Level.WATCHING)
    post = discussions.post_create(actor=moderator, thread=thread, body="For the members")
    assert kinds_for(post) == {member.pk: Kind.WATCHED_POST}


def test_hidden_thread_notifies_its_moderators_only(
    thread, member, guest, moderator, make_user, group
):
    other_moderator = make_user("mod2@example.org", display_name="Mo Two")
    join(other_moderator, group, role="moderator")
    discussions.thread_hide(actor=moderator, thread=thread)
    post = discussions.post_create(
        actor=moderator,
        thread=thread,
        body=f"{handle(guest)} {handle(member)} {handle(other_moderator)}",
    )
    assert kinds_for(post) == {other_moderator.pk: Kind.MENTION}
    assert not Subscription.objects.filter(user=guest, thread=thread).exists()


def test_level_set_refuses_someone_outside(group, thread, outsider):
    with pytest.raises(PermissionDenied):
        services.group_level_set(user=outsider, group=group, level=Level.MUTED)
    with pytest.raises(PermissionDenied):
        services.thread_level_set(user=outsider, thread=thread, level=Level.MUTED)


def test_notification_is_unique_per_person_kind_and_object(thread, member, guest):
    post = discussions.post_create(actor=guest, thread=thread, body=f"{handle(member)}")
    existing = Notification.objects.get(recipient=member)
    with pytest.raises(IntegrityError), transaction.atomic():
        Notification.objects.create(
            recipient=member,
            kind=existing.kind,
            group=existing.group,
            target_type=existing.target_type,
            target_id=post.pk,
            url=existing.url,
            subject="again",
        )


def test_a_retried_fan_out_does_not_double(thread, member, guest):
    post = discussions.post_create(actor=guest, thread=thread, body=f"{handle(member)}")
    post.thread = thread
    services.notify_post_created(post=post, mentioned=[member], new_thread=False)
    assert Notification.objects.filter(recipient=member).count() == 1


def test_rolled_back_post_leaves_no_notification(thread, member, guest):
    with pytest.raises(RuntimeError), transaction.atomic():
        discussions.post_create(actor=guest, thread=thread, body=f"{handle(member)}")
        raise RuntimeError
    assert not Notification.objects.exists()


def test_post_created_announces_the_change_on_each_recipients_stream(
    thread, member, guest, moderator, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        discussions.post_create(actor=moderator, thread=thread, body=f"{handle(guest)}")
    own = sorted((stream, event) for stream, event, _data in published if "user:" in stream)
    assert own == sorted(
        [
            (f"user:{member.pk}", "notifications.changed"),
            (f"user:{guest.pk}", "notifications.changed"),
        ]
    )


@pytest.mark.parametrize("size", [10, 100])
def test_fan_out_queries_do_not_grow_with_the_group(
    size, group, member, moderator, make_user, django_assert_num_queries
):
    services.group_default_level_set(actor=moderator, group=group, level=Level.WATCHING)
    for number in range(size):
        join(make_user(f"p{size}-{number}@example.org", display_name=f"P {number}"), group)
    thread = discussions.thread_create(actor=member, group=group, title="T", body="x")
    post = discussions.post_create(actor=moderator, thread=thread, body=f"{handle(member)}")
    post.thread = thread
    Notification.objects.all().delete()
    with django_assert_num_queries(FAN_OUT_QUERIES):
        services.notify_post_created(post=post, mentioned=[member], new_thread=False)
    assert Notification.objects.count() == size + 1  # everyone but the author


# The group default, the people's group and thread levels, the watchers, the
# group's members (default watching), who may see the post, the notifications;
# their emails: the recipients' addresses and preferences, the outbox insert.
FAN_OUT_QUERIES = 9
