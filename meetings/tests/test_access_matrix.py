"""Every meetings URL × every kind of person: the status each gets.

As for the groups: missing and forbidden look the same (404) to anyone outside
a group; its members and guests get 403 on moderator pages. The calendar feed
is the one public address: its secret token alone authorises it, so a valid
token answers everybody (calendar programs have no session) and a wrong or
revoked one answers nobody.
"""

import datetime

import pytest
from django.urls import resolve, reverse
from django.utils import timezone

from meetings import services
from meetings.models import Meeting
from meetings.urls import urlpatterns
from tests.matrix import ACTORS, LOGIN, assert_matrix, expect, status_of, without_tokens

pytestmark = pytest.mark.django_db


GROUP_PAGE = expect()
MODERATOR_PAGE = expect(guest=403, member=403)
# POST-only actions answer GET with 405 to those who may use them.
POST_ONLY = MODERATOR_PAGE | {"moderator": 405, "organiser": 405}
SIGNED_IN_PAGE = dict.fromkeys(ACTORS, 200) | {"anonymous": LOGIN}
EVERYBODY = dict.fromkeys(ACTORS, 200)
NOBODY = dict.fromkeys(ACTORS, 404)


def _schedule(actor, group, title, starts_at, **data):
    return services.meeting_schedule(
        actor=actor,
        group=group,
        data={
            "title": title,
            "kind": Meeting.Kind.SESSION,
            "starts_at": starts_at,
            "ends_at": starts_at + datetime.timedelta(hours=1),
            **data,
        },
    )


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
    """Everyone; a meeting of the group with a draft; a meeting of the other
    group; a valid calendar token (the member's) and a revoked one (the guest's)."""
    now = timezone.now()
    meeting = _schedule(moderator, group, "Session", now + datetime.timedelta(days=2))
    services.minutes_save(actor=moderator, meeting=meeting, minutes="Draft")
    foreign = _schedule(other_moderator, other_group, "Foreign", now + datetime.timedelta(days=3))
    token = services.calendar_feed_token(user=member)
    revoked = services.calendar_feed_token(user=guest)
    services.calendar_feed_revoke(user=guest)
    return {
        "group": group,
        "meeting": meeting,
        "foreign": foreign,
        "token": token,
        "revoked": revoked,
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
    pk = world["meeting"].pk
    return [
        (reverse("meetings:list", args=[slug]), GROUP_PAGE),
        (reverse("meetings:schedule", args=[slug]), MODERATOR_PAGE),
        (reverse("meetings:group_chat", args=[slug]), GROUP_PAGE),
        (reverse("meetings:detail", args=[pk]), GROUP_PAGE),
        (reverse("meetings:edit", args=[pk]), MODERATOR_PAGE),
        (reverse("meetings:cancel", args=[pk]), MODERATOR_PAGE),
        (reverse("meetings:minutes", args=[pk]), MODERATOR_PAGE),
        (reverse("meetings:transcript", args=[pk]), POST_ONLY),
        (reverse("meetings:ics", args=[pk]), GROUP_PAGE),
        (reverse("meetings:calendar"), SIGNED_IN_PAGE),
        (reverse("meetings:feed", args=[world["token"]]), EVERYBODY),
        (reverse("meetings:feed", args=[world["revoked"]]), NOBODY),
        (reverse("meetings:feed", args=["not-a-real-token"]), NOBODY),
    ]


def test_access_matrix(client, world):
    assert_matrix(client, world["people"], urls(world))


def test_access_matrix_covers_every_meetings_url(world):
    names = {pattern.name for pattern in urlpatterns}
    covered = {resolve(url).url_name for url, _expected in urls(world)}
    assert names == covered, names ^ covered


def test_other_groups_meeting_is_missing_for_the_groups_people(client, world):
    foreign = world["foreign"].pk
    for actor in ["guest", "member", "moderator"]:
        client.force_login(world["people"][actor])
        for name in ["detail", "edit", "cancel", "minutes", "ics"]:
            url = reverse(f"meetings:{name}", args=[foreign])
            assert client.get(url).status_code == 404, (actor, url)
        url = reverse("meetings:transcript", args=[foreign])
        assert client.post(url).status_code == 404, (actor, url)


def test_missing_and_forbidden_meeting_look_identical(client, world, outsider):
    client.force_login(outsider)
    forbidden = client.get(reverse("meetings:detail", args=[world["meeting"].pk]))
    missing = client.get(reverse("meetings:detail", args=[world["meeting"].pk + 1000]))
    assert forbidden.status_code == missing.status_code == 404
    # Identical but for the address itself (the language switch returns to it).
    forbidden_page = without_tokens(forbidden.text).replace(
        f"/meetings/{world['meeting'].pk}/", "<url>"
    )
    missing_page = without_tokens(missing.text).replace(
        f"/meetings/{world['meeting'].pk + 1000}/", "<url>"
    )
    assert forbidden_page == missing_page


def _form(meeting_title="Hijacked"):
    return {
        "title": meeting_title,
        "kind": "session",
        "starts_at": "2030-01-01T10:00",
        "ends_at": "2030-01-01T11:00",
        "agenda": "",
        "video_link": "",
    }


POST_ACTIONS = [
    ("meetings:schedule", "slug", _form("New meeting")),
    ("meetings:edit", "meeting", _form()),
    ("meetings:cancel", "meeting", {}),
    ("meetings:minutes", "meeting", {"minutes": "Hijacked", "action": "publish"}),
    ("meetings:transcript", "meeting", {"minutes": "Hijacked"}),
]


@pytest.mark.parametrize(("name", "target", "data"), POST_ACTIONS)
@pytest.mark.parametrize(
    ("actor", "status"),
    [
        ("anonymous", LOGIN),
        ("outsider", 404),
        ("other_moderator", 404),
        ("expired_guest", 404),
        ("removed_member", 404),
        ("guest", 403),
        ("member", 403),
    ],
)
def test_moderator_action_changes_nothing_if_not_moderator(
    client, world, name, target, data, actor, status
):
    from groups.models import AuditEntry

    meeting = world["meeting"]
    args = [world["group"].slug] if target == "slug" else [meeting.pk]
    before = (AuditEntry.objects.count(), Meeting.objects.count())
    if actor != "anonymous":
        client.force_login(world["people"][actor])
    response = client.post(reverse(name, args=args), data)
    assert status_of(response) == status
    assert (AuditEntry.objects.count(), Meeting.objects.count()) == before
    meeting.refresh_from_db()
    assert meeting.title == "Session"
    assert meeting.status == Meeting.Status.SCHEDULED
    assert meeting.minutes == "Draft"
    assert meeting.minutes_published_at is None
    assert meeting.revision == 0


def test_feed_answers_anonymous_callers_with_a_valid_token_only(client, world):
    response = client.get(reverse("meetings:feed", args=[world["token"]]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    assert b"Session" in response.content
    assert b"Foreign" not in response.content


def test_feed_token_stops_working_when_renewed(client, world):
    member = world["people"]["member"]
    old = world["token"]
    new = services.calendar_feed_token(user=member, renew=True)
    assert client.get(reverse("meetings:feed", args=[old])).status_code == 404
    assert client.get(reverse("meetings:feed", args=[new])).status_code == 200
