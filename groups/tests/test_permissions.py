"""groups.permissions: an allow and a deny case for each rule tested here."""

import datetime

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from groups import permissions, services
from groups.models import Membership, Role
from tests.fixtures.people import enable_mfa, join

pytestmark = pytest.mark.django_db


def test_can_handle_join_requests_if_moderator_or_organiser(moderator, organiser):
    assert permissions.can_handle_join_requests(moderator)
    assert permissions.can_handle_join_requests(organiser)


def test_cannot_handle_join_requests_if_member_guest_or_outsider(member, guest, outsider):
    for person in (member, guest, outsider):
        assert not permissions.can_handle_join_requests(person)


def test_groups_moderated_by_lists_the_moderators_groups(moderator, group, other_group):
    join(moderator, other_group)  # a plain member there
    assert list(permissions.groups_moderated_by(moderator)) == [group]


def test_groups_moderated_by_lists_every_group_if_organiser(organiser, group, other_group):
    assert set(permissions.groups_moderated_by(organiser)) == {group, other_group}


def test_groups_moderated_by_is_empty_if_member_guest_expired_or_outsider(
    member, guest, outsider, make_user, group
):
    expired = make_user("expired-mod@example.org")
    join(expired, group, Role.MODERATOR, expires_at=timezone.now() - datetime.timedelta(days=1))
    for person in (member, guest, outsider, expired):
        assert not permissions.groups_moderated_by(person).exists()


def test_needs_mfa_to_moderate_if_moderator_has_no_second_factor(make_user, group):
    user = make_user("nomfa-mod@example.org")
    join(user, group, Role.MODERATOR)
    assert permissions.needs_mfa_to_moderate(user)
    enable_mfa(user)
    assert not permissions.needs_mfa_to_moderate(user)


def test_needs_mfa_to_moderate_if_nobody_is_signed_in():
    assert permissions.needs_mfa_to_moderate(AnonymousUser())


def test_can_view_profile_if_owner_organiser_or_sharing_a_group(member, guest, organiser):
    assert permissions.can_view_profile(member, member)
    assert permissions.can_view_profile(guest, member)
    assert permissions.can_view_profile(organiser, member)


def test_cannot_view_profile_if_no_group_shared(member, other_member, outsider, expired_guest):
    for viewer in (other_member, outsider, expired_guest):
        assert not permissions.can_view_profile(viewer, member)
    assert not permissions.can_view_profile(AnonymousUser(), member)


def test_can_act_as_moderator_if_moderator_or_organiser_with_mfa(moderator, organiser, group):
    assert permissions.can_act_as_moderator(moderator, group)
    assert permissions.can_act_as_moderator(organiser, group)
    permissions.check_act_as_moderator(moderator, group)


def test_can_act_as_moderator_not_if_no_mfa_member_or_other_group(
    make_user, member, other_moderator, group
):
    nomfa = make_user("nomfa-mod@example.org")
    join(nomfa, group, Role.MODERATOR)
    staff = make_user("nomfa-staff@example.org", is_staff=True)
    for person in (nomfa, staff, member, other_moderator):
        assert not permissions.can_act_as_moderator(person, group)
    for person in (nomfa, staff):
        with pytest.raises(permissions.MFARequired):
            permissions.check_act_as_moderator(person, group)
    for person in (member, other_moderator):
        with pytest.raises(PermissionDenied) as refused:
            permissions.check_act_as_moderator(person, group)
        assert not isinstance(refused.value, permissions.MFARequired)


def test_memberships_visible_to_are_the_valid_ones_of_the_users_groups(
    member, moderator, guest, group, other_group, make_user
):
    stranger = make_user("stranger@example.org")
    join(stranger, other_group)
    ended = make_user("ended@example.org")
    join(ended, group, active=False)
    for person in (member, guest):
        visible = set(permissions.memberships_visible_to(person).values_list("user", flat=True))
        assert visible == {member.pk, moderator.pk, guest.pk}


def test_memberships_visible_to_is_empty_if_outsider_or_expired_guest(outsider, group, make_user):
    expired = make_user("expired-guest@example.org")
    join(expired, group, Role.GUEST, expires_at=timezone.now() - datetime.timedelta(days=1))
    for person in (outsider, expired):
        assert not permissions.memberships_visible_to(person).exists()


def test_membership_actions_offer_nothing_on_oneself_and_extend_only_for_guests(
    group, moderator, member, guest, outsider
):
    from groups.models import Membership

    memberships = list(Membership.objects.filter(group=group))
    actions = permissions.membership_actions(moderator, group, memberships)
    by_user = {m.user_id: actions[m.pk] for m in memberships}
    assert by_user[moderator.pk] == frozenset()
    assert by_user[member.pk] == {"change_role", "remove"}
    assert by_user[guest.pk] == {"change_role", "remove", "extend"}
    assert not any(permissions.membership_actions(member, group, memberships).values())
    assert not any(permissions.membership_actions(outsider, group, memberships).values())
    own = next(m for m in memberships if m.user_id == moderator.pk)
    theirs = next(m for m in memberships if m.user_id == member.pk)
    assert not permissions.can_remove_membership(moderator, own)
    assert permissions.can_remove_membership(moderator, theirs)
    assert not permissions.can_remove_membership(member, theirs)
    assert not permissions.can_change_role(moderator, own)
    assert permissions.can_change_role(moderator, theirs)
    assert not permissions.can_extend_membership(moderator, theirs)


# --- A person's groups, read once per request -----------------------------------------


def _roles_reads(queries) -> int:
    """The reads of one person's valid memberships (``permissions.roles``)."""
    select = 'SELECT "groups_membership"."group_id" AS "group_id", "groups_membership"."role"'
    return sum(query["sql"].startswith(select) for query in queries)


def test_roles_read_once_per_request_if_a_page_asks_many_rules(client, member, group, other_group):
    join(member, other_group, Role.MODERATOR)
    client.force_login(member)
    client.get(reverse("public:home"))  # the session and the language settle
    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("public:home"))
    # The dashboard's groups, their news (threads, documents, meetings, join
    # requests, reports: each from its app's rule) and the bell: one read.
    assert page.status_code == 200
    assert group.name in page.text and other_group.name in page.text
    assert _roles_reads(queries) == 1


def test_roles_read_again_in_each_request_if_membership_ended_between(client, member, group):
    client.force_login(member)
    assert client.get(group.get_absolute_url()).status_code == 200
    Membership.objects.filter(user=member, group=group).update(active=False)
    assert client.get(group.get_absolute_url()).status_code == 404


def test_roles_follow_membership_writes_within_a_request(moderator, outsider, group):
    with permissions.roles_read_once():
        assert not permissions.is_member(outsider, group)
        membership = services.membership_create(
            actor=moderator, group=group, user=outsider, role=Role.MEMBER
        )
        assert permissions.is_member(outsider, group)
        assert not permissions.is_moderator(outsider, group)
        services.membership_change_role(actor=moderator, membership=membership, role=Role.MODERATOR)
        assert permissions.is_moderator(outsider, group)
        assert list(permissions.groups_moderated_by(outsider)) == [group]
        services.membership_revoke(actor=moderator, membership=membership)
        assert not permissions.is_member(outsider, group)
        assert list(permissions.groups_visible_to(outsider)) == []


def test_roles_follow_a_guests_extension_within_a_request(moderator, make_user, group):
    guest = make_user("late-guest@example.org")
    membership = join(
        guest, group, Role.GUEST, expires_at=timezone.now() - datetime.timedelta(hours=1)
    )
    with permissions.roles_read_once():
        assert not permissions.is_member(guest, group)
        services.membership_extend(
            actor=moderator,
            membership=membership,
            expires_at=timezone.now() + datetime.timedelta(days=7),
        )
        assert permissions.is_member(guest, group)


def test_roles_not_kept_outside_a_request(member, group):
    """A socket or a task asks each time: a membership ended by another
    process ends its access at the next check."""
    assert permissions.is_member(member, group)
    Membership.objects.filter(user=member, group=group).update(active=False)
    assert not permissions.is_member(member, group)


def test_roles_kept_per_person_until_the_request_ends(member, outsider, group):
    with permissions.roles_read_once():
        assert permissions.is_member(member, group)
        assert not permissions.is_member(outsider, group)
        assert permissions.roles(member) == {group.pk: Role.MEMBER}
        assert permissions.roles(outsider) == {}
        # Ended by another process: this request keeps its read (a window of
        # one request, where before it was one statement) ...
        Membership.objects.filter(user=member, group=group).update(active=False)
        assert permissions.is_member(member, group)
    with permissions.roles_read_once():  # ... the next request reads anew
        assert not permissions.is_member(member, group)
