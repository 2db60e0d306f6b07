"""Notification fixtures: people and groups come from ``tests/fixtures/people.py``;
threads and posts are written through discussions' services, so that the
notifications are the ones the real write path makes."""

import pytest

from discussions import services


@pytest.fixture
def thread(group, member):
    """``member``'s thread in ``group`` (they watch it, as its starter)."""
    return services.thread_create(
        actor=member, group=group, title="Labour pathways", body="What works for whom?"
    )


@pytest.fixture
def opening_post(thread):
    return thread.posts.get(position=1)


def handle(user) -> str:
    return "@" + user.mention_handle


# A real SMTP server (aiosmtpd) and Django's mailer pointed at it.
from tests.conftest import smtp, smtp_mailer  # noqa: E402, F401
