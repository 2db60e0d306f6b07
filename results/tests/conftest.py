"""Results fixtures. People and groups (``member``, ``moderator``, ``guest``,
``outsider``, ``other_member``, ``group``...) come from
``tests/fixtures/people.py``; results are made through the services, as the
pages make them."""

import pytest

from results import services
from results.models import Kind


@pytest.fixture
def draft(group, moderator):
    return services.result_create(
        actor=moderator,
        group=group,
        kind=Kind.INTERIM,
        title="Secret draft on labour pathways",
        summary="A first take.",
        body="Line one.\n\nLine two.",
    )


@pytest.fixture
def result_v1(draft, moderator):
    """``draft`` published as version 1; returns the result."""
    services.result_publish(actor=moderator, result=draft, change_summary="First version")
    draft.refresh_from_db()
    return draft


@pytest.fixture
def two_versions(result_v1, moderator):
    """``result_v1`` with a second version whose text differs."""
    services.result_update(
        actor=moderator,
        result=result_v1,
        kind=Kind.RECOMMENDATION,
        title="Labour pathways",
        summary="A first take.",
        body="Line one.\n\nLine 2, <b>rewritten</b>.\n\nLine three.",
    )
    services.result_publish(actor=moderator, result=result_v1, change_summary="Second thoughts")
    result_v1.refresh_from_db()
    return result_v1


@pytest.fixture
def public_changes():
    """The ``public.changed`` calls made, as group ids."""
    from core import hooks

    calls = []

    def record(*, group_id):
        calls.append(group_id)

    hooks.register("public.changed", record)
    yield calls
    hooks.unregister("public.changed", record)


@pytest.fixture
def unpublished(group, moderator):
    """A second result of ``group``, never published."""
    return services.result_create(
        actor=moderator, group=group, kind=Kind.RECOMMENDATION, title="Unpublished", body="x"
    )
