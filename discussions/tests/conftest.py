"""Discussion fixtures. People and groups (``member``, ``moderator``, ``guest``,
``outsider``, ``other_member``, ``group``, ``published``...) come from
``tests/fixtures/people.py`` for every app.

Threads and posts are made through the services, as a user would make them,
so their positions, paths, revisions and counters are the real ones.
"""

import pytest

from discussions import services


@pytest.fixture
def thread(group, member):
    """An open thread of ``group`` started by ``member``: one post, position 1."""
    return services.thread_create(
        actor=member, group=group, title="Labour pathways", body="What works for whom?"
    )


@pytest.fixture
def opening_post(thread):
    return thread.posts.get(position=1)


@pytest.fixture
def reply(thread, opening_post, moderator):
    """The moderator's reply to the opening post (position 2)."""
    return services.post_create(
        actor=moderator, thread=thread, body="Skills partnerships.", parent=opening_post
    )


@pytest.fixture
def other_thread(other_group, other_member):
    return services.thread_create(
        actor=other_member, group=other_group, title="Elsewhere", body="Not yours."
    )


@pytest.fixture
def make_reply(thread):
    """``make_reply(author, parent=None, body=...)`` adds a post to ``thread``
    (or to the parent's thread)."""
    counter = iter(range(1, 100_000))

    def make(author, parent=None, body=None):
        return services.post_create(
            actor=author,
            thread=parent.thread if parent is not None else thread,
            body=body or f"Reply {next(counter)}",
            parent=parent,
        )

    return make
