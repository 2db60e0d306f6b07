"""documents.permissions.access_version: any version of a visible document."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from documents import permissions, services

from .conftest import PDF, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions(member, group):
    document = services.document_upload(actor=member, group=group, uploaded=upload("a.pdf", PDF))
    old = document.current_version
    current = services.version_add(
        actor=member, document=document, uploaded=upload("a.pdf", PDF + b"%v2\n")
    )
    return old, current


def test_access_version_finds_old_versions_with_document_and_group_in_one_query(
    guest, organiser, versions, django_assert_num_queries
):
    old, _current = versions
    # The guest's groups are read first (groups.permissions.roles); an
    # organiser sees every group.
    for user, queries in ((guest, 2), (organiser, 1)):
        with django_assert_num_queries(queries):
            found = permissions.access_version(user, old.pk)
            assert (found, found.document, found.document.group) == (
                old,
                old.document,
                old.document.group,
            )


@pytest.mark.parametrize(
    "who", ["outsider", "other_member", "expired_guest", "removed_member", "anonymous"]
)
def test_access_version_404_if_outside_group(request, versions, who):
    user = AnonymousUser() if who == "anonymous" else request.getfixturevalue(who)
    for version in versions:
        with pytest.raises(Http404):
            permissions.access_version(user, version.pk)


@pytest.mark.parametrize("wrong", [0, -1, "0", "-1", "9" * 30, 2**70, "x", "", None, "1.5"])
def test_access_version_404_if_no_version_can_have_the_id(member, versions, wrong):
    with pytest.raises(Http404):
        permissions.access_version(member, wrong)
