"""Every groups URL × every kind of person: the status each gets.

Missing and forbidden look the same (404) to anyone outside a group; members
who may see a group but not moderate it get 403 on moderator pages.
"""

import pytest
from django.urls import reverse

from groups import services
from groups.models import JoinRequest, Role
from tests.matrix import ACTORS, assert_matrix, expect, without_tokens

from .conftest import join

pytestmark = pytest.mark.django_db


GROUP_PAGE = expect()
MODERATOR_PAGE = expect(guest=403, member=403)
PUBLIC_PAGE = dict.fromkeys(ACTORS, 200)
# POST-only actions answer GET with 405 to those who may use them.
POST_ONLY = MODERATOR_PAGE | {"moderator": 405, "organiser": 405}


@pytest.fixture
def world(
    group,
    other_group,
    member,
    moderator,
    guest,
    expired_guest,
    removed_member,
    other_member,
    other_moderator,
    outsider,
    organiser,
):
    """Everyone, plus one pending invitation and one pending join request."""
    invitation = services.invitation_send(
        actor=moderator, group=group, email="invitee@example.org", role=Role.MEMBER
    )
    join_request = JoinRequest.objects.create(
        name="Jo", email="jo@example.org", motivation="Interest", group=group
    )
    membership = member.memberships.get(group=group)
    return {
        "group": group,
        "invitation": invitation,
        "join_request": join_request,
        "membership": membership,
        "people": {
            "outsider": outsider,
            "other_member": other_member,
            "other_moderator": other_moderator,
            "guest": guest,
            "expired_guest": expired_guest,
            "removed_member": removed_member,
            "member": member,
            "moderator": moderator,
            "organiser": organiser,
        },
    }


def urls(world):
    slug = world["group"].slug
    m = world["membership"].pk
    i = world["invitation"].pk
    j = world["join_request"].pk
    member_profile = world["people"]["member"].pk
    return [
        (
            reverse("groups:dashboard"),  # the public home for visitors
            expect(
                anonymous=200,
                expired_guest=200,
                removed_member=200,
                outsider=200,
                other_member=200,
                other_moderator=200,
            ),
        ),
        (reverse("groups:detail", args=[slug]), GROUP_PAGE),
        (reverse("groups:members", args=[slug]), GROUP_PAGE),
        (reverse("groups:leave", args=[slug]), expect(organiser=403)),
        (reverse("groups:settings", args=[slug]), MODERATOR_PAGE),
        (reverse("groups:audit", args=[slug]), MODERATOR_PAGE),
        (reverse("groups:manage", args=[slug]), MODERATOR_PAGE),
        (reverse("groups:invite", args=[slug]), MODERATOR_PAGE),
        (reverse("groups:invite_many", args=[slug]), MODERATOR_PAGE),
        (reverse("groups:membership_remove", args=[slug, m]), MODERATOR_PAGE),
        (reverse("groups:membership_role", args=[slug, m]), POST_ONLY),
        (reverse("groups:membership_extend", args=[slug, m]), POST_ONLY),
        (reverse("groups:invitation_resend", args=[slug, i]), POST_ONLY),
        (reverse("groups:invitation_revoke", args=[slug, i]), POST_ONLY),
        (reverse("groups:create"), expect(**dict.fromkeys(ACTORS[1:-1], 403))),
        (reverse("groups:join_requests"), expect(guest=404, member=404, other_moderator=200)),
        (reverse("groups:join_request_detail", args=[j]), expect(guest=404, member=404)),
        (reverse("groups:join"), PUBLIC_PAGE),
        (reverse("groups:join_thanks"), PUBLIC_PAGE),
        (reverse("groups:invitation", args=["not-a-real-token"]), dict.fromkeys(ACTORS, 404)),
        (reverse("accounts:profile", args=[member_profile]), expect()),
    ]


def test_access_matrix(client, world):
    assert_matrix(client, world["people"], urls(world))


POST_ACTIONS = [
    ("groups:membership_role", "membership", {"role": "moderator"}),
    ("groups:membership_extend", "membership", {"access_until": "2099-01-01"}),
    ("groups:membership_remove", "membership", {}),
    ("groups:invitation_resend", "invitation", {}),
    ("groups:invitation_revoke", "invitation", {}),
    ("groups:invite", None, {"email": "x@example.org", "role": "member", "language": "en"}),
    ("groups:settings", None, {"name": "Hijacked", "description": "", "public_summary": ""}),
]


@pytest.mark.parametrize(("name", "target", "data"), POST_ACTIONS)
@pytest.mark.parametrize(
    ("actor", "status"),
    [
        ("outsider", 404),
        ("other_moderator", 404),
        ("expired_guest", 404),
        ("guest", 403),
        ("member", 403),
    ],
)
def test_moderator_action_changes_nothing_if_not_moderator(
    client, world, name, target, data, actor, status
):
    from groups.models import AuditEntry

    args = [world["group"].slug] + ([world[target].pk] if target else [])
    before = AuditEntry.objects.count()
    client.force_login(world["people"][actor])
    response = client.post(reverse(name, args=args), data)
    assert response.status_code == status
    assert AuditEntry.objects.count() == before
    world["group"].refresh_from_db()
    assert world["group"].name == "Fair migration"


def test_missing_and_forbidden_group_look_identical(client, world, outsider):
    client.force_login(outsider)
    forbidden = client.get(reverse("groups:detail", args=[world["group"].slug]))
    missing = client.get(reverse("groups:detail", args=["no-such-group"]))
    assert forbidden.status_code == missing.status_code == 404
    # Identical but for the address itself (the language switch returns to it).
    forbidden_page = without_tokens(forbidden.text).replace(world["group"].slug, "<slug>")
    assert forbidden_page == without_tokens(missing.text).replace("no-such-group", "<slug>")


def test_guest_of_one_group_reaches_nothing_of_another(
    client, world, guest, other_group, other_member
):
    client.force_login(guest)
    slug = other_group.slug
    other_membership = other_member.memberships.get(group=other_group)
    for url in [
        reverse("groups:detail", args=[slug]),
        reverse("groups:members", args=[slug]),
        reverse("groups:leave", args=[slug]),
        reverse("groups:manage", args=[slug]),
        reverse("groups:settings", args=[slug]),
        reverse("groups:audit", args=[slug]),
        reverse("groups:membership_remove", args=[slug, other_membership.pk]),
        reverse("accounts:profile", args=[other_member.pk]),
    ]:
        assert client.get(url).status_code == 404, url
    dashboard = client.get(reverse("groups:dashboard")).text
    assert other_group.name not in dashboard
    assert world["group"].name in dashboard


def test_member_directory_lists_only_the_groups_people(client, world, member, other_member):
    client.force_login(member)
    page = client.get(reverse("groups:members", args=[world["group"].slug])).text
    assert "Max Moderator" in page and "Gina Guest" in page
    assert "Otto Other" not in page
    assert "Ex Guest" not in page  # expired guests are no members
    assert "Rem Oved" not in page


def test_dashboard_query_count_does_not_grow_with_groups(
    client, make_user, django_assert_max_num_queries
):
    from groups.models import WorkingGroup

    user = make_user()
    for number in range(3):
        join(user, WorkingGroup.objects.create(name=f"G{number}", slug=f"g{number}"))
    client.force_login(user)
    with django_assert_max_num_queries(13) as few:  # the bell's count included
        client.get(reverse("groups:dashboard"))
    for number in range(3, 20):
        join(user, WorkingGroup.objects.create(name=f"G{number}", slug=f"g{number}"))
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("groups:dashboard"))
