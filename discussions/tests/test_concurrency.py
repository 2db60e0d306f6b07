"""Concurrency: services called at the same moment from real threads, each with
its own database connection, started together by a barrier.

On PostgreSQL they truly race and the row locks (``select_for_update``) decide;
on SQLite writers queue for the database (``BEGIN IMMEDIATE``). Either way no
write is lost, every revision is kept with its own number, positions stay
distinct, and the log, the events and the rows tell the same story.
"""

import pytest
from django.core.exceptions import ValidationError

from core.models import StreamEvent
from core.realtime import last_seq
from discussions import services
from discussions.models import Post, Reaction, Thread
from groups.models import AuditEntry, Role
from tests.concurrency import errors, run_together
from tests.fixtures.people import enable_mfa, join

pytestmark = pytest.mark.django_db(transaction=True)


def repeat(times, action):
    def job():
        return [action(i) for i in range(times)]

    return job


@pytest.fixture
def second_moderator(make_user, group):
    user = enable_mfa(make_user("mod2@example.org", display_name="Mona Second"))
    join(user, group, Role.MODERATOR)
    return user


@pytest.fixture
def members(make_user, group):
    people = []
    for number in range(4):
        person = make_user(f"racer{number}@example.org", display_name=f"Racer {number}")
        join(person, group)
        people.append(person)
    return people


def events(thread, event_type):
    return list(
        StreamEvent.objects.filter(stream=thread.stream, type=event_type)
        .order_by("seq")
        .values_list("seq", "data")
    )


def test_two_moderators_hiding_and_showing_one_post_leave_one_state_and_both_logged(
    thread, opening_post, moderator, second_moderator, published
):
    for round_ in range(3):
        services.post_set_hidden(
            actor=moderator, post=opening_post, hidden=True, reason=f"first {round_}"
        )
        before = AuditEntry.objects.count()
        seq_before = last_seq(thread.stream)
        published.clear()
        outcomes = run_together(
            lambda: services.post_set_hidden(actor=moderator, post=opening_post, hidden=False),
            lambda round_=round_: services.post_set_hidden(
                actor=second_moderator, post=opening_post, hidden=True, reason=f"second {round_}"
            ),
        )
        assert errors(outcomes) == []
        # Whatever the order, each was a change: both are in the log, in commit order.
        log = list(
            AuditEntry.objects.order_by("pk")[before:].values_list("action", "actor", "data")
        )
        assert sorted(log) == sorted(
            [
                ("post.hidden", second_moderator.pk, {"post": opening_post.pk}),
                ("post.unhidden", moderator.pk, {"post": opening_post.pk}),
            ]
        )
        # The post is what the later one made it, consistently.
        opening_post.refresh_from_db()
        if log[-1][0] == "post.hidden":
            expected = (True, f"second {round_}", second_moderator.pk)
        else:
            expected = (False, "", None)
        assert (
            opening_post.hidden,
            opening_post.hidden_reason,
            opening_post.hidden_by_id,
        ) == expected
        # One event each, sent after its commit, numbered in commit order.
        assert sorted(event_type for _stream, event_type, _payload in published) == sorted(
            action for action, _actor, _data in log
        )
        numbered = StreamEvent.objects.filter(stream=thread.stream, seq__gt=seq_before)
        assert list(numbered.order_by("seq").values_list("type", flat=True)) == [
            action for action, _actor, _data in log
        ]


def test_two_moderators_hiding_one_post_for_the_same_reason_change_it_once(
    thread, opening_post, moderator, second_moderator, published
):
    outcomes = run_together(
        lambda: services.post_set_hidden(
            actor=moderator, post=opening_post, hidden=True, reason="Spam"
        ),
        lambda: services.post_set_hidden(
            actor=second_moderator, post=opening_post, hidden=True, reason="Spam"
        ),
    )
    assert errors(outcomes) == []
    # The later one found nothing to change: a no-op, neither logged nor sent.
    entry = AuditEntry.objects.get(action="post.hidden")
    opening_post.refresh_from_db()
    assert (opening_post.hidden, opening_post.hidden_reason) == (True, "Spam")
    assert opening_post.hidden_by_id == entry.actor_id
    assert published == [(thread.stream, "post.hidden", {"post": opening_post.pk})]


def test_racing_edits_by_author_and_moderators_keep_every_revision(
    thread, opening_post, member, moderator, second_moderator, published
):
    edits = 5
    editors = [member, moderator, second_moderator]
    outcomes = run_together(
        *[
            repeat(
                edits,
                lambda i, editor=editor: services.post_edit(
                    actor=editor, post=opening_post, body=f"{editor.display_name} edit {i}"
                ),
            )
            for editor in editors
        ]
    )
    assert errors(outcomes) == []
    revisions = list(opening_post.revisions.order_by("number").values_list("number", "body"))
    total = 1 + edits * len(editors)
    assert [number for number, _body in revisions] == list(range(1, total + 1))
    assert {body for _number, body in revisions} == {"What works for whom?"} | {
        f"{editor.display_name} edit {i}" for editor in editors for i in range(edits)
    }
    # Each editor's own edits are kept in the order they made them.
    for editor in editors:
        mine = [body for _n, body in revisions if body.startswith(editor.display_name)]
        assert mine == [f"{editor.display_name} edit {i}" for i in range(edits)]
    opening_post.refresh_from_db()
    assert opening_post.body == revisions[-1][1]
    assert opening_post.body_html == f"<p>{revisions[-1][1]}</p>\n"
    assert len(events(thread, "post.edited")) == total - 1
    assert len(published) == total - 1
    assert AuditEntry.objects.filter(action="post.edited").count() == 2 * edits


def test_racing_replies_get_distinct_positions_and_none_is_lost(
    thread, opening_post, members, published
):
    replies = 5
    outcomes = run_together(
        *[
            repeat(
                replies,
                lambda i, person=person: services.post_create(
                    actor=person, thread=thread, body=f"{person.pk}-{i}", parent=opening_post
                ),
            )
            for person in members
        ]
    )
    assert errors(outcomes) == []
    total = 1 + replies * len(members)
    thread.refresh_from_db()
    assert (thread.post_count, thread.last_position) == (total, total)
    posts = list(thread.posts.values_list("position", "path", "body"))
    assert sorted(position for position, _path, _body in posts) == list(range(1, total + 1))
    assert len({path for _position, path, _body in posts}) == total
    assert {body for *_rest, body in posts} >= {
        f"{person.pk}-{i}" for person in members for i in range(replies)
    }
    created = events(thread, "post.created")
    assert sorted(data["position"] for _seq, data in created) == list(range(2, total + 1))
    # Numbers are handed out in commit order: sequence and position rise together.
    assert [data["position"] for _seq, data in created] == list(range(2, total + 1))
    # (The people's own streams also hear of their notifications.)
    assert len([event for event in published if event[0] == thread.stream]) == total - 1
    for person in members:
        assert person.pk in set(thread.subscriptions.values_list("user", flat=True))


def test_racing_reactions_end_with_true_counts_in_the_last_event(
    thread, opening_post, members, published
):
    outcomes = run_together(
        *[
            lambda person=person: services.reaction_toggle(
                actor=person, post=opening_post, kind="heart"
            )
            for person in members
        ]
    )
    assert outcomes == [True] * len(members)
    assert Reaction.objects.filter(post=opening_post, kind="heart").count() == len(members)
    last = events(thread, "post.reactions")[-1][1]
    assert last == {"post": opening_post.pk, "counts": {"heart": len(members)}}
    assert sorted(payload["counts"]["heart"] for _s, _t, payload in published) == list(
        range(1, len(members) + 1)
    )


def test_reply_racing_a_split_lands_with_its_parent_or_is_refused(
    thread, opening_post, member, moderator, members
):
    branch = services.post_create(actor=member, thread=thread, body="Branch", parent=opening_post)
    outcomes = run_together(
        lambda: services.thread_split(actor=moderator, post=branch, title="Branch"),
        *[
            lambda person=person: services.post_create(
                actor=person, thread=thread, body=f"To branch {person.pk}", parent=branch
            )
            for person in members
        ],
    )
    assert not isinstance(outcomes[0], BaseException), outcomes[0]
    for outcome in outcomes[1:]:
        assert isinstance(outcome, Post | ValidationError), outcome
    target = outcomes[0]
    # No reply stays behind with its parent gone to the other thread.
    for post in Post.objects.exclude(parent=None).select_related("parent"):
        assert post.thread_id == post.parent.thread_id
    landed = [outcome for outcome in outcomes[1:] if isinstance(outcome, Post)]
    assert set(target.posts.exclude(pk=branch.pk).values_list("pk", flat=True)) == {
        post.pk for post in landed
    }
    target.refresh_from_db()
    thread.refresh_from_db()
    assert target.post_count == 1 + len(landed)
    assert thread.post_count == 1
    assert Thread.objects.count() == 2
