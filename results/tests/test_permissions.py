import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from groups.permissions import MFARequired
from results import permissions
from results.models import Result
from tests.fixtures.people import join

pytestmark = pytest.mark.django_db


def test_results_visible_to_drafts_only_for_the_group(
    unpublished, result_v1, member, guest, organiser
):
    for person in (member, guest, organiser):
        assert set(permissions.results_visible_to(person)) == {unpublished, result_v1}


@pytest.mark.parametrize(
    "who", ["anonymous", "outsider", "other_member", "expired_guest", "removed_member"]
)
def test_results_visible_to_only_published_if_not_of_the_group(
    unpublished, result_v1, who, request
):
    person = AnonymousUser() if who == "anonymous" else request.getfixturevalue(who)
    assert list(permissions.results_visible_to(person)) == [result_v1]
    with pytest.raises(Http404):
        permissions.access_result(person, unpublished.group.slug, unpublished.slug)
    assert permissions.access_result(person, result_v1.group.slug, result_v1.slug) == result_v1
    with pytest.raises(Http404):
        permissions.access_result_draft(person, result_v1.group.slug, result_v1.slug)


def test_access_result_not_found_in_another_group(result_v1, other_group):
    with pytest.raises(Http404):
        permissions.access_result(AnonymousUser(), other_group.slug, result_v1.slug)


@pytest.mark.parametrize("number", [1, "1"])
def test_access_version_found_for_anyone(result_v1, number):
    version = permissions.access_version(AnonymousUser(), "fair-migration", result_v1.slug, number)
    assert version.number == 1 and version.result == result_v1


@pytest.mark.parametrize("number", [0, 2, "x", None, "1.5"])
def test_access_version_not_found_if_junk(result_v1, number):
    with pytest.raises(Http404):
        permissions.access_version(AnonymousUser(), "fair-migration", result_v1.slug, number)


def test_access_version_not_found_for_a_draft(draft):
    with pytest.raises(Http404):
        permissions.access_version(AnonymousUser(), "fair-migration", draft.slug, 1)


def test_can_write_results_for_moderators_only(group, moderator, member, guest, organiser):
    assert permissions.can_write_results(moderator, group)
    assert permissions.can_write_results(organiser, group)
    assert not permissions.can_write_results(member, group)
    assert not permissions.can_write_results(guest, group)
    group.archived = True
    assert not permissions.can_write_results(moderator, group)


def test_check_write_results_asks_for_two_factor(group, make_user, member):
    nomfa = make_user("nomfa@example.org")
    join(nomfa, group, "moderator")
    with pytest.raises(MFARequired):
        permissions.check_write_results(nomfa, group)
    with pytest.raises(PermissionDenied):
        permissions.check_write_results(member, group)


def test_access_result_as_moderator_forbidden_for_members(draft, member, outsider, moderator):
    assert permissions.access_result_as_moderator(moderator, "fair-migration", draft.slug) == draft
    with pytest.raises(PermissionDenied):
        permissions.access_result_as_moderator(member, "fair-migration", draft.slug)
    with pytest.raises(Http404):
        permissions.access_result_as_moderator(outsider, "fair-migration", draft.slug)


def test_sources_visible_to_none_for_people_outside_the_group(draft, member, other_member):
    from discussions import services as discussions
    from results import services

    thread = discussions.thread_create(actor=member, group=draft.group, title="T", body="x")
    services.result_update(
        actor=draft.created_by,
        result=draft,
        kind="interim",
        title="T",
        sources={"thread": [thread.pk]},
    )
    sources = list(Result.objects.get(pk=draft.pk).sources.all())
    assert permissions.sources_visible_to(member, draft, sources) == [("thread", thread)]
    assert permissions.sources_visible_to(other_member, draft, sources) == []
    assert permissions.sources_visible_to(AnonymousUser(), draft, sources) == []
