"""groups.permissions: an allow and a deny case for the queue of join requests."""

import pytest

from groups import permissions

pytestmark = pytest.mark.django_db


def test_can_handle_join_requests_if_moderator_or_organiser(moderator, organiser):
    assert permissions.can_handle_join_requests(moderator)
    assert permissions.can_handle_join_requests(organiser)


def test_cannot_handle_join_requests_if_member_guest_or_outsider(member, guest, outsider):
    for person in (member, guest, outsider):
        assert not permissions.can_handle_join_requests(person)
