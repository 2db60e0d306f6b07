"""Discussion services: each checks permission (a denied call changes nothing and
sends nothing), validates, audits moderator actions and sends its events on the
thread's (or group's) stream only once the transaction commits."""

import itertools

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.urls import reverse

from core.models import StreamEvent
from discussions import permissions, selectors, services
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
from tests.fixtures.people import join

pytestmark = pytest.mark.django_db


def seg(position: int) -> str:
    return f"{position:0{POSITION_WIDTH}d}"


def profile(user) -> str:
    return reverse("accounts:profile", args=[user.pk])


def audit_actions(group) -> list[tuple[str, int]]:
    return list(
        AuditEntry.objects.filter(group=group).order_by("pk").values_list("action", "actor_id")
    )


@pytest.fixture
def both_moderator(moderator, other_group):
    """The group's moderator, who also moderates the other group."""
    join(moderator, other_group, Role.MODERATOR)
    return moderator


@pytest.fixture
def second_member(make_user, group):
    user = make_user("second@example.org", display_name="Sam Second")
    join(user, group)
    return user


# --- thread_create ----------------------------------------------------------------


def test_thread_create_starts_thread_with_first_post_and_publishes_on_group_stream(
    group, member, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        thread = services.thread_create(
            actor=member, group=group, title="  Visa   rules ", body="Where do we start?"
        )
    thread.refresh_from_db()
    assert thread.title == "Visa rules"
    assert (thread.post_count, thread.last_position, thread.author) == (1, 1, member)
    post = thread.posts.get()
    assert (post.position, post.path, post.depth, post.parent) == (1, seg(1), 0, None)
    assert post.body_html == "<p>Where do we start?</p>\n"
    assert list(post.revisions.values_list("number", "body")) == [(1, "Where do we start?")]
    assert Subscription.objects.filter(user=member, thread=thread).exists()
    assert selectors.read_position(member, thread) == 1
    assert published == [(f"group:{group.pk}", "thread.created", {"thread": thread.pk})]


def test_thread_create_allowed_if_actor_is_guest(group, guest):
    thread = services.thread_create(actor=guest, group=group, title="From outside", body="Hi")
    assert thread.group == group


@pytest.mark.parametrize("who", ["other_member", "outsider", "expired_guest", "removed_member"])
def test_thread_create_denied_and_silent_if_actor_is_not_in_group(
    request, who, group, published, django_capture_on_commit_callbacks
):
    actor = request.getfixturevalue(who)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PermissionDenied):
        services.thread_create(actor=actor, group=group, title="Hello", body="Let me in")
    assert not Thread.objects.exists()
    assert published == []


def test_thread_create_denied_if_group_is_archived(group, member):
    group.archived = True
    group.save()
    with pytest.raises(PermissionDenied):
        services.thread_create(actor=member, group=group, title="Late", body="Too late")
    assert not Thread.objects.exists()


@pytest.mark.parametrize(
    ("title", "body", "code"),
    [
        ("", "Body", "empty"),
        ("   ", "Body", "empty"),
        ("x" * 201, "Body", "long"),
        ("Title", "", "empty"),
        ("Title", " \n\t ", "empty"),
        ("Title", "x" * (services.MAX_BODY + 1), "long"),
    ],
)
def test_thread_create_refuses_bad_input_and_changes_nothing(group, member, title, body, code):
    with pytest.raises(ValidationError) as error:
        services.thread_create(actor=member, group=group, title=title, body=body)
    assert error.value.code == code
    assert not Thread.objects.exists()


def test_thread_create_accepts_body_of_exactly_max_length(group, member):
    thread = services.thread_create(
        actor=member, group=group, title="Long", body="x" * services.MAX_BODY
    )
    assert len(thread.posts.get().body) == services.MAX_BODY


def test_thread_create_refuses_null_bytes(group, member):
    with pytest.raises(ValidationError):
        services.thread_create(actor=member, group=group, title="Nul", body="a\x00b")
    assert not Thread.objects.exists()


# --- post_create ------------------------------------------------------------------


def test_post_create_adds_reply_and_publishes_after_commit(
    thread, opening_post, second_member, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post = services.post_create(
            actor=second_member, thread=thread, body="Me too", parent=opening_post
        )
    thread.refresh_from_db()
    assert (post.position, post.path, post.depth) == (2, seg(1) + seg(2), 1)
    assert post.parent == opening_post
    assert (thread.post_count, thread.last_position) == (2, 2)
    assert thread.last_activity_at == post.created_at
    assert list(post.revisions.values_list("number", "body")) == [(1, "Me too")]
    assert Subscription.objects.filter(user=second_member, thread=thread).exists()
    assert selectors.read_position(second_member, thread) == 2
    assert published == [
        (
            f"thread:{thread.pk}",
            "post.created",
            {"post": post.pk, "parent": opening_post.pk, "position": 2},
        ),
        # The opening post's author is told of the reply (notifications).
        (f"user:{thread.author_id}", "notifications.changed", {}),
    ]


def test_post_create_without_parent_is_top_level(thread, member):
    post = services.post_create(actor=member, thread=thread, body="Another point")
    assert (post.parent, post.path, post.depth, post.position) == (None, seg(2), 0, 2)


def test_post_create_records_event_with_next_sequence_number(thread, member, moderator):
    services.post_create(actor=member, thread=thread, body="one")
    services.post_create(actor=moderator, thread=thread, body="two")
    events = StreamEvent.objects.filter(stream=thread.stream).order_by("seq")
    assert [(e.seq, e.type, e.data["position"]) for e in events] == [
        (1, "post.created", 2),
        (2, "post.created", 3),
    ]


@pytest.mark.parametrize("who", ["other_member", "outsider", "expired_guest", "removed_member"])
def test_post_create_denied_and_silent_if_actor_is_not_in_group(
    request, who, thread, published, django_capture_on_commit_callbacks
):
    actor = request.getfixturevalue(who)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PermissionDenied):
        services.post_create(actor=actor, thread=thread, body="Sneaking in")
    thread.refresh_from_db()
    assert (thread.post_count, thread.last_position) == (1, 1)
    assert thread.posts.count() == 1
    assert published == []


def test_post_create_denied_if_thread_is_hidden_and_actor_is_member(
    thread, moderator, second_member, published, django_capture_on_commit_callbacks
):
    services.thread_hide(actor=moderator, thread=thread)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PermissionDenied):
        services.post_create(actor=second_member, thread=thread, body="Can't see it")
    assert thread.posts.count() == 1
    assert published == []
    services.post_create(actor=moderator, thread=thread, body="Moderators still can")
    assert thread.posts.count() == 2


def test_post_create_refused_if_thread_is_locked_and_actor_is_member(
    thread, moderator, second_member, published, django_capture_on_commit_callbacks
):
    services.thread_lock(actor=moderator, thread=thread)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError) as error:
        services.post_create(actor=second_member, thread=thread, body="Still here")
    assert error.value.code == "locked"
    assert thread.posts.count() == 1
    assert published == []


def test_post_create_allowed_if_thread_is_locked_and_actor_is_moderator(thread, moderator):
    services.thread_lock(actor=moderator, thread=thread)
    post = services.post_create(actor=moderator, thread=thread, body="Closing remarks")
    assert post.position == 2


def test_post_create_refused_if_parent_is_in_another_thread(
    thread, member, other_thread, published, django_capture_on_commit_callbacks
):
    foreign = other_thread.posts.get()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        services.post_create(actor=member, thread=thread, body="Cross", parent=foreign)
    assert thread.posts.count() == 1
    assert not foreign.replies.exists()
    assert published == []


@pytest.mark.parametrize("body", ["", "   ", "x" * (services.MAX_BODY + 1)])
def test_post_create_refuses_empty_or_overlong_body(thread, member, body):
    with pytest.raises(ValidationError):
        services.post_create(actor=member, thread=thread, body=body)
    thread.refresh_from_db()
    assert thread.post_count == 1


def test_post_create_caps_depth_but_keeps_parent(thread, opening_post, member, moderator):
    chain = [opening_post]
    for level in range(MAX_DEPTH + 2):
        author = member if level % 2 else moderator
        chain.append(
            services.post_create(actor=author, thread=thread, body="deeper", parent=chain[-1])
        )
    for parent, post in itertools.pairwise(chain):
        assert post.parent_id == parent.pk
        assert post.depth <= MAX_DEPTH - 1
        assert post.path.endswith(seg(post.position))
        assert len(post.path) == (post.depth + 1) * POSITION_WIDTH
    assert [post.depth for post in chain] == [0, 1, 2, 3, 4, 4, 4, 4]
    # Every too-deep reply stands right after its parent on the page.
    page = list(thread.posts.order_by("path").values_list("pk", flat=True))
    assert page == [post.pk for post in chain]


def test_post_create_sends_nothing_if_transaction_rolls_back(
    thread, member, published, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.post_create(actor=member, thread=thread, body="Never mind")
        raise RuntimeError("boom")
    assert callbacks == []
    assert published == []
    assert thread.posts.count() == 1
    assert not StreamEvent.objects.filter(stream=thread.stream).exists()


# --- post_edit --------------------------------------------------------------------


def test_post_edit_keeps_every_version_and_publishes(
    thread, opening_post, member, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.post_edit(actor=member, post=opening_post, body="Second **take**")
        services.post_edit(actor=member, post=opening_post, body="Third take")
    opening_post.refresh_from_db()
    assert opening_post.body == "Third take"
    assert opening_post.body_html == "<p>Third take</p>\n"
    assert opening_post.edited_at is not None
    assert list(opening_post.revisions.values_list("number", "body", "editor")) == [
        (1, "What works for whom?", member.pk),
        (2, "Second **take**", member.pk),
        (3, "Third take", member.pk),
    ]
    assert published == [(f"thread:{thread.pk}", "post.edited", {"post": opening_post.pk})] * 2
    # Editing one's own post is not a moderator action.
    assert not AuditEntry.objects.filter(action="post.edited").exists()


def test_post_edit_by_moderator_is_audited(thread, opening_post, moderator, group):
    services.post_edit(actor=moderator, post=opening_post, body="Tidied up")
    entry = AuditEntry.objects.get(action="post.edited")
    assert (entry.group, entry.actor, entry.data) == (group, moderator, {"post": opening_post.pk})
    assert opening_post.revisions.last().editor == moderator


@pytest.mark.parametrize("who", ["second_member", "guest", "other_moderator", "outsider"])
def test_post_edit_denied_and_silent_if_actor_is_not_author_or_moderator(
    request, who, thread, opening_post, published, django_capture_on_commit_callbacks
):
    actor = request.getfixturevalue(who)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PermissionDenied):
        services.post_edit(actor=actor, post=opening_post, body="Vandalised")
    opening_post.refresh_from_db()
    assert opening_post.body == "What works for whom?"
    assert opening_post.revisions.count() == 1
    assert published == []


def test_post_edit_denied_if_author_left_the_group(thread, opening_post, member, group):
    member.memberships.filter(group=group).update(active=False)
    with pytest.raises(PermissionDenied):
        services.post_edit(actor=member, post=opening_post, body="After leaving")


def test_post_edit_with_same_text_keeps_no_new_version(
    thread, opening_post, member, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.post_edit(actor=member, post=opening_post, body="  What works for whom?\n")
    assert opening_post.revisions.count() == 1
    assert published == []


@pytest.mark.parametrize("body", ["", "  ", "x" * (services.MAX_BODY + 1)])
def test_post_edit_refuses_empty_or_overlong_body(opening_post, member, body):
    with pytest.raises(ValidationError):
        services.post_edit(actor=member, post=opening_post, body=body)
    opening_post.refresh_from_db()
    assert opening_post.body == "What works for whom?"


def test_post_edit_denied_if_post_is_deleted(opening_post, member, moderator):
    services.post_delete(actor=member, post=opening_post)
    with pytest.raises(PermissionDenied):
        services.post_edit(actor=moderator, post=opening_post, body="Revived")


# --- post_delete ------------------------------------------------------------------


def test_post_delete_keeps_placeholder_and_replies_in_place(
    thread,
    opening_post,
    reply,
    member,
    second_member,
    published,
    django_capture_on_commit_callbacks,
):
    deeper = services.post_create(actor=second_member, thread=thread, body="Yes", parent=reply)
    before = list(thread.posts.order_by("path").values_list("pk", "path", "depth", "parent"))
    with django_capture_on_commit_callbacks(execute=True):
        services.post_delete(actor=member, post=opening_post)
    opening_post.refresh_from_db()
    assert opening_post.is_deleted
    assert (opening_post.body, opening_post.body_html, opening_post.search_text) == ("", "", "")
    assert list(thread.posts.order_by("path").values_list("pk", "path", "depth", "parent")) == (
        before
    )
    assert Post.objects.get(pk=deeper.pk).parent == reply
    thread.refresh_from_db()
    assert thread.post_count == 2
    page = selectors.thread_page(second_member, thread)
    assert [post.pk for post in page] == [opening_post.pk, reply.pk, deeper.pk]
    assert published == [(f"thread:{thread.pk}", "post.deleted", {"post": opening_post.pk})]
    assert not AuditEntry.objects.filter(action="post.deleted").exists()


def test_post_delete_by_moderator_is_audited(opening_post, moderator, group):
    services.post_delete(actor=moderator, post=opening_post)
    entry = AuditEntry.objects.get(action="post.deleted")
    assert (entry.group, entry.actor) == (group, moderator)


@pytest.mark.parametrize("who", ["second_member", "guest", "other_moderator", "outsider"])
def test_post_delete_denied_and_silent_if_actor_is_not_author_or_moderator(
    request, who, thread, opening_post, published, django_capture_on_commit_callbacks
):
    actor = request.getfixturevalue(who)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PermissionDenied):
        services.post_delete(actor=actor, post=opening_post)
    opening_post.refresh_from_db()
    assert not opening_post.is_deleted
    thread.refresh_from_db()
    assert thread.post_count == 1
    assert published == []


def test_post_delete_twice_is_refused_and_counts_once(thread, opening_post, member, moderator):
    services.post_delete(actor=member, post=opening_post)
    with pytest.raises(PermissionDenied):
        services.post_delete(actor=moderator, post=opening_post)
    thread.refresh_from_db()
    assert thread.post_count == 0


# --- post_set_hidden --------------------------------------------------------------


def test_post_set_hidden_hides_with_reason_audits_and_publishes(
    thread, opening_post, moderator, group, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.post_set_hidden(actor=moderator, post=opening_post, hidden=True, reason=" Spam ")
    opening_post.refresh_from_db()
    assert (opening_post.hidden, opening_post.hidden_reason, opening_post.hidden_by) == (
        True,
        "Spam",
        moderator,
    )
    entry = AuditEntry.objects.get(action="post.hidden")
    assert (entry.group, entry.actor, entry.data) == (group, moderator, {"post": opening_post.pk})
    assert "Spam" in entry.summary
    assert published == [(f"thread:{thread.pk}", "post.hidden", {"post": opening_post.pk})]


def test_post_set_hidden_unhides_audits_and_publishes(
    thread, opening_post, moderator, published, django_capture_on_commit_callbacks
):
    services.post_set_hidden(actor=moderator, post=opening_post, hidden=True, reason="Spam")
    with django_capture_on_commit_callbacks(execute=True):
        services.post_set_hidden(actor=moderator, post=opening_post, hidden=False)
    opening_post.refresh_from_db()
    assert (opening_post.hidden, opening_post.hidden_reason, opening_post.hidden_by) == (
        False,
        "",
        None,
    )
    assert [a for a, _ in audit_actions(thread.group)] == ["post.hidden", "post.unhidden"]
    assert published == [(f"thread:{thread.pk}", "post.unhidden", {"post": opening_post.pk})]


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_post_set_hidden_refuses_hiding_without_reason(
    opening_post, moderator, reason, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        services.post_set_hidden(actor=moderator, post=opening_post, hidden=True, reason=reason)
    opening_post.refresh_from_db()
    assert not opening_post.hidden
    assert not AuditEntry.objects.filter(action="post.hidden").exists()
    assert published == []


@pytest.mark.parametrize("who", ["member", "second_member", "guest", "other_moderator"])
def test_post_set_hidden_denied_and_silent_if_actor_is_not_moderator(
    request, who, opening_post, published, django_capture_on_commit_callbacks
):
    actor = request.getfixturevalue(who)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PermissionDenied):
        services.post_set_hidden(actor=actor, post=opening_post, hidden=True, reason="Mine now")
    opening_post.refresh_from_db()
    assert not opening_post.hidden
    assert not AuditEntry.objects.filter(action__startswith="post.").exists()
    assert published == []


def test_post_set_hidden_again_with_same_reason_is_a_silent_no_op(
    opening_post, moderator, published, django_capture_on_commit_callbacks
):
    services.post_set_hidden(actor=moderator, post=opening_post, hidden=True, reason="Spam")
    with django_capture_on_commit_callbacks(execute=True):
        services.post_set_hidden(actor=moderator, post=opening_post, hidden=True, reason="Spam")
    assert AuditEntry.objects.filter(action="post.hidden").count() == 1
    assert published == []


def test_post_set_hidden_with_new_reason_is_recorded(opening_post, moderator):
    services.post_set_hidden(actor=moderator, post=opening_post, hidden=True, reason="Spam")
    services.post_set_hidden(actor=moderator, post=opening_post, hidden=True, reason="Off topic")
    opening_post.refresh_from_db()
    assert opening_post.hidden_reason == "Off topic"
    assert AuditEntry.objects.filter(action="post.hidden").count() == 2


# --- reaction_toggle --------------------------------------------------------------


def test_reaction_toggle_adds_then_takes_back_and_publishes_counts(
    thread, opening_post, moderator, second_member, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert services.reaction_toggle(actor=moderator, post=opening_post, kind="heart") is True
        assert services.reaction_toggle(actor=second_member, post=opening_post, kind="heart")
        assert services.reaction_toggle(actor=second_member, post=opening_post, kind="eyes")
        assert services.reaction_toggle(actor=moderator, post=opening_post, kind="heart") is False
    assert set(Reaction.objects.values_list("user", "kind")) == {
        (second_member.pk, "heart"),
        (second_member.pk, "eyes"),
    }
    stream, post = f"thread:{thread.pk}", opening_post.pk
    assert published == [
        (stream, "post.reactions", {"post": post, "counts": {"heart": 1}}),
        (stream, "post.reactions", {"post": post, "counts": {"heart": 2}}),
        (stream, "post.reactions", {"post": post, "counts": {"heart": 2, "eyes": 1}}),
        (stream, "post.reactions", {"post": post, "counts": {"heart": 1, "eyes": 1}}),
    ]


def test_reaction_toggle_refuses_unknown_kind(
    opening_post, member, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        services.reaction_toggle(actor=member, post=opening_post, kind="poop")
    assert not Reaction.objects.exists()
    assert published == []


@pytest.mark.parametrize("who", ["other_member", "outsider", "expired_guest", "other_moderator"])
def test_reaction_toggle_denied_and_silent_if_actor_is_not_in_group(
    request, who, opening_post, published, django_capture_on_commit_callbacks
):
    actor = request.getfixturevalue(who)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PermissionDenied):
        services.reaction_toggle(actor=actor, post=opening_post, kind="heart")
    assert not Reaction.objects.exists()
    assert published == []


def test_reaction_toggle_denied_if_post_is_hidden_or_deleted(
    thread, opening_post, reply, moderator, second_member
):
    services.post_set_hidden(actor=moderator, post=opening_post, hidden=True, reason="Spam")
    services.post_delete(actor=moderator, post=reply)
    for post in (opening_post, reply):
        with pytest.raises(PermissionDenied):
            services.reaction_toggle(actor=second_member, post=post, kind="heart")
    assert not Reaction.objects.exists()


def test_reaction_toggle_denied_if_thread_is_hidden_and_actor_is_member(
    thread, opening_post, moderator, second_member
):
    services.thread_hide(actor=moderator, thread=thread)
    with pytest.raises(PermissionDenied):
        services.reaction_toggle(actor=second_member, post=opening_post, kind="heart")
    assert not Reaction.objects.exists()


def test_writes_into_a_hidden_thread_denied_to_members_even_their_own_posts(
    thread, opening_post, reply, member, moderator, published, django_capture_on_commit_callbacks
):
    services.thread_hide(actor=moderator, thread=thread)
    writes = [
        lambda: services.post_edit(actor=member, post=opening_post, body="Changed"),
        lambda: services.post_delete(actor=member, post=opening_post),
        lambda: services.report_create(actor=member, post=reply, reason="Rude"),
    ]
    for write in writes:
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(PermissionDenied):
            write()
    opening_post.refresh_from_db()
    assert (opening_post.body, opening_post.is_deleted) == ("What works for whom?", False)
    assert not Report.objects.exists()
    assert published == []


# --- thread_pin / thread_lock / thread_hide ---------------------------------------


def flags(thread, **changes):
    payload = {
        "thread": thread.pk,
        "pinned": False,
        "locked": False,
        "hidden": False,
        "title": thread.title,
    }
    return (f"thread:{thread.pk}", "thread.updated", payload | changes)


def test_thread_pin_pins_audits_and_publishes(
    thread, moderator, group, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.thread_pin(actor=moderator, thread=thread)
        services.thread_pin(actor=moderator, thread=thread)  # already pinned: nothing
        services.thread_pin(actor=moderator, thread=thread, pinned=False)
    thread.refresh_from_db()
    assert not thread.pinned
    assert audit_actions(group) == [
        ("thread.pinned", moderator.pk),
        ("thread.unpinned", moderator.pk),
    ]
    assert published == [flags(thread, pinned=True), flags(thread)]


def test_thread_lock_locks_audits_and_publishes(
    thread, moderator, group, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.thread_lock(actor=moderator, thread=thread)
    thread.refresh_from_db()
    assert thread.locked
    assert audit_actions(group) == [("thread.locked", moderator.pk)]
    assert published == [flags(thread, locked=True)]


def test_thread_lock_lifted_lets_members_reply_again(thread, moderator, second_member):
    services.thread_lock(actor=moderator, thread=thread)
    services.thread_lock(actor=moderator, thread=thread, locked=False)
    assert services.post_create(actor=second_member, thread=thread, body="Open again")


def test_thread_hide_hides_from_members_and_tells_sockets_to_recheck(
    thread, moderator, member, group, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.thread_hide(actor=moderator, thread=thread)
    with pytest.raises(Http404):
        permissions.access_thread(member, thread.pk)
    assert permissions.access_thread(moderator, thread.pk) == thread
    assert audit_actions(group) == [("thread.hidden", moderator.pk)]
    assert published == [
        flags(thread, hidden=True),
        (f"thread:{thread.pk}", "access.changed", {"thread": thread.pk}),
    ]


@pytest.mark.parametrize("service", ["thread_pin", "thread_lock", "thread_hide"])
@pytest.mark.parametrize("who", ["member", "guest", "other_moderator", "outsider"])
def test_thread_flags_denied_and_silent_if_actor_is_not_moderator(
    request, service, who, thread, published, django_capture_on_commit_callbacks
):
    actor = request.getfixturevalue(who)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PermissionDenied):
        getattr(services, service)(actor=actor, thread=thread)
    thread.refresh_from_db()
    assert not (thread.pinned or thread.locked or thread.hidden)
    assert not AuditEntry.objects.exists()
    assert published == []


# --- thread_move ------------------------------------------------------------------


def test_thread_move_access_follows_new_group_at_once(
    thread,
    reply,
    both_moderator,
    member,
    other_member,
    group,
    other_group,
    published,
    django_capture_on_commit_callbacks,
):
    assert permissions.access_thread(member, thread.pk) == thread
    with django_capture_on_commit_callbacks(execute=True):
        services.thread_move(actor=both_moderator, thread=thread, to_group=other_group)
    thread.refresh_from_db()
    assert thread.group == other_group
    with pytest.raises(Http404):
        permissions.access_thread(member, thread.pk)
    with pytest.raises(Http404):
        permissions.access_post(member, reply.pk)
    assert permissions.access_thread(other_member, thread.pk) == thread
    assert permissions.access_post(other_member, reply.pk) == reply
    assert permissions.thread_stream_access(member, str(thread.pk)) is None
    assert permissions.thread_stream_access(other_member, str(thread.pk)) is not None
    assert audit_actions(group) == [("thread.moved_out", both_moderator.pk)]
    assert audit_actions(other_group) == [("thread.moved_in", both_moderator.pk)]
    assert published == [
        (f"thread:{thread.pk}", "thread.moved", {"thread": thread.pk, "group": other_group.pk}),
        (f"thread:{thread.pk}", "access.changed", {"thread": thread.pk}),
    ]


def test_thread_move_denied_and_silent_if_actor_does_not_moderate_target(
    thread, moderator, member, group, other_group, published, django_capture_on_commit_callbacks
):
    join(member, other_group, Role.MODERATOR)  # moderates the target, not the source
    for actor in (moderator, member):
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(PermissionDenied):
            services.thread_move(actor=actor, thread=thread, to_group=other_group)
    thread.refresh_from_db()
    assert thread.group == group
    assert not AuditEntry.objects.exists()
    assert published == []


def test_thread_move_to_same_group_changes_nothing(
    thread, moderator, group, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.thread_move(actor=moderator, thread=thread, to_group=group)
    assert not AuditEntry.objects.exists()
    assert published == []


# --- thread_split -----------------------------------------------------------------


def tree(thread) -> list[tuple]:
    """(body, position, path, depth, parent body) in page order."""
    return [
        (p.body, p.position, p.path, p.depth, p.parent.body if p.parent else None)
        for p in Post.objects.filter(thread=thread).select_related("parent").order_by("path")
    ]


def test_thread_split_moves_subtree_keeping_its_shape_and_renumbers(
    thread,
    opening_post,
    member,
    second_member,
    moderator,
    group,
    published,
    django_capture_on_commit_callbacks,
):
    def say(author, body, parent):
        return services.post_create(actor=author, thread=thread, body=body, parent=parent)

    a = say(member, "A", opening_post)  # 2
    b = say(second_member, "B", a)  # 3
    say(member, "C", a)  # 4
    say(member, "D", b)  # 5: written after C, shown before it
    say(second_member, "E", opening_post)  # 6: stays
    with django_capture_on_commit_callbacks(execute=True):
        target = services.thread_split(actor=moderator, post=a, title="About A")
    target.refresh_from_db()
    # Renumbered in the order written; shape kept; A is the new thread's root.
    assert tree(target) == [
        ("A", 1, seg(1), 0, None),
        ("B", 2, seg(1) + seg(2), 1, "A"),
        ("D", 4, seg(1) + seg(2) + seg(4), 2, "B"),
        ("C", 3, seg(1) + seg(3), 1, "A"),
    ]
    assert (target.group, target.author, target.title) == (group, member, "About A")
    assert (target.post_count, target.last_position) == (4, 4)
    thread.refresh_from_db()
    assert [row[0] for row in tree(thread)] == ["What works for whom?", "E"]
    assert thread.post_count == 2
    moved = list(target.posts.order_by("path").values_list("pk", flat=True))
    assert published == [
        (f"thread:{thread.pk}", "posts.split", {"posts": moved, "to_thread": target.pk})
    ]
    entry = AuditEntry.objects.get(group=group, action="thread.split")
    assert (entry.actor, entry.data) == (moderator, {"thread": thread.pk, "new_thread": target.pk})
    # A new reply in the new thread takes the next position and sorts after the old ones.
    a.refresh_from_db()
    newest = services.post_create(actor=member, thread=target, body="F", parent=a)
    assert (newest.position, newest.path, newest.depth) == (5, seg(1) + seg(5), 1)
    assert [row[0] for row in tree(target)] == ["A", "B", "D", "C", "F"]
    top = services.post_create(actor=member, thread=target, body="G")
    assert (top.position, top.path) == (6, seg(6))
    assert [row[0] for row in tree(target)][-1] == "G"


def test_post_create_refuses_a_parent_split_off_meanwhile(
    thread, opening_post, reply, member, moderator
):
    stale = Post.objects.get(pk=reply.pk)  # a reply form opened before the split
    services.thread_split(actor=moderator, post=reply, title="Split off")
    with pytest.raises(ValidationError):
        services.post_create(actor=member, thread=thread, body="Late", parent=stale)
    assert thread.posts.count() == 1


def test_thread_split_takes_replies_of_a_post_at_max_depth(thread, opening_post, member, moderator):
    chain = [opening_post]
    for level in range(MAX_DEPTH + 1):
        chain.append(
            services.post_create(
                actor=member, thread=thread, body=f"L{level + 1}", parent=chain[-1]
            )
        )
    deepest_shown = chain[MAX_DEPTH - 1]  # depth MAX_DEPTH - 1: its replies are flattened
    assert deepest_shown.depth == MAX_DEPTH - 1
    target = services.thread_split(actor=moderator, post=deepest_shown, title="Deep")
    moved = chain[MAX_DEPTH - 1 :]
    assert [p.body for p in target.posts.order_by("path")] == [p.body for p in moved]
    assert [
        (p.depth, p.parent.body if p.parent else None) for p in target.posts.order_by("path")
    ] == [
        (0, None),
        (1, moved[0].body),
        (2, moved[1].body),
    ]
    assert not thread.posts.filter(pk__in=[p.pk for p in moved]).exists()
    # No post is left behind pointing at a parent in the other thread.
    assert (
        not Post.objects.filter(thread=thread)
        .exclude(parent__thread=thread)
        .exclude(parent=None)
        .exists()
    )
    thread.refresh_from_db()
    target.refresh_from_db()
    assert thread.post_count + target.post_count == len(chain)


def test_thread_split_counts_only_posts_not_deleted(thread, opening_post, member, moderator):
    a = services.post_create(actor=member, thread=thread, body="A", parent=opening_post)
    b = services.post_create(actor=member, thread=thread, body="B", parent=a)
    services.post_delete(actor=member, post=b)
    target = services.thread_split(actor=moderator, post=a, title="Split")
    target.refresh_from_db()
    assert (target.post_count, target.last_position) == (1, 2)
    assert Post.objects.get(pk=b.pk).is_deleted


@pytest.mark.parametrize("who", ["member", "guest", "other_moderator"])
def test_thread_split_denied_and_silent_if_actor_is_not_moderator(
    request, who, thread, reply, published, django_capture_on_commit_callbacks
):
    actor = request.getfixturevalue(who)
    before = tree(thread)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PermissionDenied):
        services.thread_split(actor=actor, post=reply, title="Mine")
    assert Thread.objects.count() == 1
    assert tree(thread) == before
    assert published == []


def test_thread_split_refuses_empty_title_and_whole_thread(thread, opening_post, reply, moderator):
    with pytest.raises(ValidationError):
        services.thread_split(actor=moderator, post=reply, title="  ")
    with pytest.raises(ValidationError):
        services.thread_split(actor=moderator, post=opening_post, title="Everything")
    assert Thread.objects.count() == 1
    assert thread.posts.count() == 2


# --- reports ----------------------------------------------------------------------


def test_report_create_opens_report_audits_and_tells_group(
    reply, second_member, group, moderator, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        report = services.report_create(actor=second_member, post=reply, reason=" Rude ")
    assert (report.status, report.reason, report.reporter) == ("open", "Rude", second_member)
    assert audit_actions(group)[-1] == ("report.created", second_member.pk)
    # The group hears of it; its moderator's bell too (notifications).
    assert published == [
        (f"group:{group.pk}", "report.created", {"report": report.pk}),
        (f"user:{moderator.pk}", "notifications.changed", {}),
    ]


@pytest.mark.parametrize("reason", ["", "   ", "x" * 2001])
def test_report_create_refuses_empty_or_overlong_reason(reply, second_member, reason):
    with pytest.raises(ValidationError):
        services.report_create(actor=second_member, post=reply, reason=reason)
    assert not Report.objects.exists()


@pytest.mark.parametrize("who", ["moderator", "other_member", "outsider", "expired_guest"])
def test_report_create_denied_and_silent_for_own_post_or_outsiders(
    request, who, reply, published, django_capture_on_commit_callbacks
):
    actor = request.getfixturevalue(who)  # the moderator wrote ``reply``
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PermissionDenied):
        services.report_create(actor=actor, post=reply, reason="Bad")
    assert not Report.objects.exists()
    assert not AuditEntry.objects.filter(action="report.created").exists()
    assert published == []


@pytest.mark.parametrize(("dismiss", "status"), [(False, "resolved"), (True, "dismissed")])
def test_report_close_records_who_handled_it(
    reply,
    second_member,
    moderator,
    group,
    dismiss,
    status,
    published,
    django_capture_on_commit_callbacks,
):
    report = services.report_create(actor=second_member, post=reply, reason="Rude")
    with django_capture_on_commit_callbacks(execute=True):
        services.report_close(actor=moderator, report=report, dismiss=dismiss)
    report.refresh_from_db()
    assert (report.status, report.handled_by) == (status, moderator)
    assert report.handled_at is not None
    assert audit_actions(group)[-1] == (f"report.{status}", moderator.pk)
    assert published == []  # the queue is a page, not a live stream
    with pytest.raises(ValidationError):
        services.report_close(actor=moderator, report=report)


@pytest.mark.parametrize("who", ["member", "second_member", "other_moderator"])
def test_report_close_denied_if_actor_is_not_moderator(request, who, reply, second_member):
    report = services.report_create(actor=second_member, post=reply, reason="Rude")
    with pytest.raises(PermissionDenied):
        services.report_close(actor=request.getfixturevalue(who), report=report)
    report.refresh_from_db()
    assert report.status == "open"


# --- read state and watching ------------------------------------------------------


def test_thread_mark_read_never_goes_backwards(thread, member, moderator, second_member):
    for body in ("two", "three", "four"):
        services.post_create(actor=moderator, thread=thread, body=body)
    thread.refresh_from_db()
    services.thread_mark_read(user=second_member, thread=thread, position=3)
    assert selectors.read_position(second_member, thread) == 3
    services.thread_mark_read(user=second_member, thread=thread, position=2)
    assert selectors.read_position(second_member, thread) == 3
    services.thread_mark_read(user=second_member, thread=thread, position=-5)
    assert selectors.read_position(second_member, thread) == 3
    services.thread_mark_read(user=second_member, thread=thread, position=999)
    assert selectors.read_position(second_member, thread) == 4
    assert ReadState.objects.filter(user=second_member).count() == 1


def test_thread_mark_read_denied_if_user_cannot_see_thread(thread, other_member, outsider):
    for user in (other_member, outsider):
        with pytest.raises(PermissionDenied):
            services.thread_mark_read(user=user, thread=thread, position=1)
    assert not ReadState.objects.filter(user__in=[other_member, outsider]).exists()


def test_subscription_set_watches_and_unwatches(thread, second_member):
    services.subscription_set(user=second_member, thread=thread, watching=True)
    services.subscription_set(user=second_member, thread=thread, watching=True)
    assert Subscription.objects.filter(user=second_member, thread=thread).count() == 1
    services.subscription_set(user=second_member, thread=thread, watching=False)
    assert not Subscription.objects.filter(user=second_member, thread=thread).exists()


def test_subscription_set_denied_if_user_cannot_see_thread(
    thread, moderator, second_member, other_member
):
    services.thread_hide(actor=moderator, thread=thread)
    for user in (second_member, other_member):
        with pytest.raises(PermissionDenied):
            services.subscription_set(user=user, thread=thread, watching=True)
    assert not Subscription.objects.filter(user__in=[second_member, other_member]).exists()


# --- mentions ---------------------------------------------------------------------


def test_post_create_links_mentions_of_people_in_the_group_only(
    thread, member, moderator, guest, other_member, make_user, other_group, group
):
    namesake = make_user("namesake@example.org", display_name="Max Moderator")
    join(namesake, other_group)  # same handle as the moderator, other group
    post = services.post_create(
        actor=member,
        thread=thread,
        body="@max-moderator @gina-guest @otto-other and mail@mia-member.org",
    )
    assert f'<a href="{profile(moderator)}" class="mention"' in post.body_html
    assert ">@Max Moderator</a>" in post.body_html
    assert f'<a href="{profile(guest)}" class="mention"' in post.body_html
    assert f'"{profile(namesake)}"' not in post.body_html
    assert "@otto-other" in post.body_html
    assert f'"{profile(other_member)}"' not in post.body_html
    assert post.body_html.count("<a ") == 2


def test_post_create_links_no_one_for_a_handle_two_members_share(
    thread, member, moderator, make_user, group
):
    twin = make_user("twin@example.org", display_name="Max Moderator")
    join(twin, group)
    post = services.post_create(actor=member, thread=thread, body="Hi @max-moderator")
    assert "<a " not in post.body_html


def test_post_create_links_no_one_who_left_or_expired(
    thread, member, removed_member, expired_guest
):
    post = services.post_create(actor=member, thread=thread, body="@rem-oved @ex-guest")
    assert "<a " not in post.body_html


def test_post_edit_renders_mentions_again(opening_post, member, moderator):
    services.post_edit(actor=member, post=opening_post, body="Asking @max-moderator")
    opening_post.refresh_from_db()
    assert 'class="mention"' in opening_post.body_html


def test_post_create_escapes_display_name_in_mention(thread, member, make_user, group):
    person = make_user("markup@example.org", display_name='"><img src=x onerror=alert(1)>')
    join(person, group)
    post = services.post_create(actor=member, thread=thread, body=f"cc @{person.mention_handle}")
    assert "<img" not in post.body_html
    assert "&lt;img src=x onerror=alert(1)&gt;" in post.body_html
    assert 'class="mention"' in post.body_html


def test_post_revisions_are_kept_in_order(opening_post, member, moderator):
    for number in range(2, 6):
        editor = member if number % 2 else moderator
        services.post_edit(actor=editor, post=opening_post, body=f"Version {number}")
    numbers = list(PostRevision.objects.filter(post=opening_post).values_list("number", flat=True))
    assert numbers == [1, 2, 3, 4, 5]


def test_report_create_refuses_a_second_open_report_by_the_same_person(
    reply, second_member, moderator, group
):
    services.report_create(actor=second_member, post=reply, reason="Rude")
    with pytest.raises(ValidationError, match="already reported"):
        services.report_create(actor=second_member, post=reply, reason="Still rude")
    assert Report.objects.filter(post=reply).count() == 1
    assert [action for action, _actor in audit_actions(group)].count("report.created") == 1


def test_report_create_accepts_a_new_report_once_the_first_is_handled(
    reply, second_member, moderator
):
    first = services.report_create(actor=second_member, post=reply, reason="Rude")
    services.report_close(actor=moderator, report=first, dismiss=True)
    services.report_create(actor=second_member, post=reply, reason="Rude again")
    assert Report.objects.filter(post=reply, status="open").count() == 1


def test_report_unique_open_constraint_holds_without_the_service(reply, second_member):
    """The database keeps one open report per person and post, should two
    requests pass the service's check at once."""
    from django.db import IntegrityError

    Report.objects.create(post=reply, reporter=second_member, reason="a")
    with pytest.raises(IntegrityError), transaction.atomic():
        Report.objects.create(post=reply, reporter=second_member, reason="b")


def test_post_revisions_give_each_later_version_its_changes(thread, opening_post, member):
    opening = opening_post
    services.post_edit(actor=member, post=opening, body="What works for whom, and why?")
    latest, first = selectors.post_revisions(opening)
    assert first.changes is None
    assert [row.tag for row in latest.changes] == ["replace"]
    assert ("for whom", False) not in latest.changes[0].new
    assert (", and why", True) in latest.changes[0].new
