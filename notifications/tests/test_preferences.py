"""The preferences page: levels per group, email per kind, the summary
email; one write path (``services.preferences_save``), bad input changes
nothing."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from notifications import services
from notifications.models import Digest, EmailPreference, GroupDefaultLevel, GroupLevel, Kind
from tests.fixtures.people import join

URL = reverse("notifications:preferences")


def form_data(group, **changes):
    """What the page posts when nothing is changed (every kind on, weekly at 8 on Monday)."""
    data = {
        f"level_{group.pk}": "tracking",
        "enabled": "on",
        "email_you": [
            "mention",
            "reply",
            "invitation_accepted",
            "role_changed",
            "guest_expiring",
        ],
        "email_discussions": ["watched_post", "new_thread"],
        "email_documents": ["document_new", "document_version"],
        "email_meetings": [
            "meeting_scheduled",
            "meeting_moved",
            "meeting_cancelled",
            "meeting_soon",
            "minutes_published",
        ],
        "email_moderation": ["join_request", "report"],
        "digest": "weekly",
        "digest_hour": "8",
        "digest_weekday": "0",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_preferences_page_shows_each_group_with_its_default(client, member, group, other_group):
    join(member, other_group)
    GroupDefaultLevel.objects.create(group=other_group, level="watching")
    client.force_login(member)
    response = client.get(URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("<h1>") == 1
    assert f'name="level_{group.pk}"' in html
    assert f'name="level_{other_group.pk}"' in html
    assert "The group&#x27;s default: Watching." in html
    assert "The group&#x27;s default: Tracking." in html
    # The group's default is what is selected until the person chooses.
    assert '<option value="watching" selected>Watching</option>' in html
    assert "Someone mentions you" in html and "Summary email" in html
    assert not EmailPreference.objects.filter(user=member).exists()  # reading writes nothing


def test_preferences_page_lists_only_groups_the_person_takes_part_in(
    client, member, group, other_group, expired_guest
):
    join(expired_guest, other_group, active=False)
    client.force_login(expired_guest)
    html = client.get(URL).content.decode()
    assert f'name="level_{group.pk}"' not in html
    assert f'name="level_{other_group.pk}"' not in html
    assert "You are not in any group yet." in html


def test_preferences_page_query_count_does_not_grow_with_groups(client, member, group, make_group):
    client.force_login(member)
    client.get(URL)  # the session and the language are read once

    def count():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as context:
            assert client.get(URL).status_code == 200
        return len(context)

    one = count()
    for index in range(5):
        join(member, make_group(f"g{index}"))
    assert count() == one


@pytest.fixture
def make_group(db):
    from groups.models import WorkingGroup

    return lambda slug: WorkingGroup.objects.create(name=slug.upper(), slug=slug)


def test_preferences_save_levels_email_and_digest(client, member, group):
    preference = services.email_preference(member)
    preference.digest_due_at = timezone.now() + datetime.timedelta(days=3)
    preference.save()
    client.force_login(member)
    response = client.post(
        URL,
        form_data(
            group,
            **{
                f"level_{group.pk}": "muted",
                "email_documents": ["document_new"],
                "email_meetings": None,
                "digest": "daily",
                "digest_hour": "18",
                "digest_weekday": "4",
            },
        ),
    )
    assert response.status_code == 302
    assert response.url == URL
    assert GroupLevel.objects.get(user=member, group=group).level == "muted"
    preference.refresh_from_db()
    assert preference.enabled is True
    assert preference.kinds_off == sorted(
        [
            Kind.DOCUMENT_VERSION,
            Kind.MEETING_SCHEDULED,
            Kind.MEETING_MOVED,
            Kind.MEETING_CANCELLED,
            Kind.MEETING_SOON,
            Kind.MINUTES_PUBLISHED,
        ]
    )
    assert (preference.digest, preference.digest_hour, preference.digest_weekday) == (
        Digest.DAILY,
        18,
        4,
    )
    # The digest computes its next time afresh.
    assert preference.digest_due_at is None
    html = client.get(URL).content.decode()
    assert "Your notification settings were saved." in html
    assert 'value="document_version" id' in html and 'value="document_version" checked' not in html


def test_preferences_save_master_switch_off(client, member, group):
    client.force_login(member)
    assert client.post(URL, form_data(group, enabled=None)).status_code == 302
    preference = EmailPreference.objects.get(user=member)
    assert preference.enabled is False
    assert not preference.wants(Kind.MENTION)


def test_preferences_save_keeps_following_the_default_if_level_unchanged(client, member, group):
    client.force_login(member)
    assert client.post(URL, form_data(group)).status_code == 302
    # Not pinned: a later change of the group's default still applies.
    assert not GroupLevel.objects.filter(user=member, group=group).exists()


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"digest_hour": "24"}, "Choose a full hour from 00:00 to 23:00."),
        ({"digest_hour": "eight"}, "Choose a full hour from 00:00 to 23:00."),
        ({"digest_weekday": "7"}, "Choose a day of the week."),
        ({"digest": "hourly"}, "Select a valid choice."),
        ({"email_you": ["mention", "gossip"]}, "“gossip” is not a kind of notification."),
        ({"email_documents": ["mention"]}, "“mention” is not a kind of notification."),
        ({"level": "loud"}, None),
    ],
)
def test_preferences_bad_input_changes_nothing(client, member, group, changes, error):
    if "level" in changes:
        changes = {f"level_{group.pk}": changes.pop("level")}
        error = "Select a valid choice."
    client.force_login(member)
    response = client.post(URL, form_data(group, enabled=None, **changes))
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not EmailPreference.objects.filter(user=member).exists()
    assert not GroupLevel.objects.filter(user=member).exists()


def test_preferences_level_for_a_group_not_taken_part_in_changes_nothing(
    client, member, group, other_group
):
    client.force_login(member)
    data = form_data(group, enabled=None, **{f"level_{group.pk}": "muted"})
    data[f"level_{other_group.pk}"] = "watching"
    response = client.post(URL, data)
    assert response.status_code == 400
    assert "You can only choose levels for groups you take part in." in response.content.decode()
    assert not GroupLevel.objects.filter(user=member).exists()
    assert not EmailPreference.objects.filter(user=member).exists()


def test_preferences_save_is_all_or_nothing(member, group, other_group):
    with pytest.raises(PermissionDenied):
        services.preferences_save(
            user=member,
            levels={group.pk: "muted", other_group.pk: "watching"},
            enabled=False,
            kinds_off=[],
            digest="daily",
            digest_hour=8,
            digest_weekday=0,
        )
    assert not GroupLevel.objects.filter(user=member).exists()
    assert not EmailPreference.objects.filter(user=member).exists()


@pytest.mark.parametrize(
    "email",
    [
        {"kinds_off": ["gossip"]},
        {"digest": "hourly"},
        {"digest_hour": 24},
        {"digest_hour": True},
        {"digest_weekday": -1},
    ],
)
def test_email_preference_set_refuses_bad_values(member, email):
    from django.core.exceptions import ValidationError

    values = {
        "enabled": True,
        "kinds_off": [],
        "digest": "weekly",
        "digest_hour": 8,
        "digest_weekday": 0,
    }
    with pytest.raises(ValidationError):
        services.email_preference_set(user=member, **{**values, **email})
    assert not EmailPreference.objects.filter(user=member).exists()


def test_preferences_in_german(client, member, group):
    member.language = "de"
    member.save()
    client.force_login(member)
    html = client.get(URL, headers={"accept-language": "de"}).content.decode()
    assert "Benachrichtigungseinstellungen" in html
    assert "Zusammenfassung" in html


def test_preferences_linked_from_notifications_and_account_settings(client, member):
    client.force_login(member)
    assert URL in client.get(reverse("notifications:list")).content.decode()
    assert URL in client.get(reverse("accounts:profile_edit")).content.decode()


def test_preferences_group_joined_after_the_page_was_loaded_keeps_its_level(
    client, member, group, other_group
):
    client.force_login(member)
    data = form_data(group, digest="off")  # the page as loaded, before joining other_group
    join(member, other_group)
    assert client.post(URL, data).status_code == 302
    assert EmailPreference.objects.get(user=member).digest == Digest.OFF
    assert not GroupLevel.objects.filter(user=member).exists()
