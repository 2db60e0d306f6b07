"""What accounts takes from the layers above it through the settings (it
imports none of them): the profile rule and the demo data."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import User
from groups.models import Membership, WorkingGroup
from meetings.models import Meeting

pytestmark = pytest.mark.django_db


def test_profile_follows_the_groups_rule_if_configured(client, member, guest, outsider):
    url = reverse("accounts:profile", args=[member.pk])
    client.force_login(guest)
    assert client.get(url).status_code == 200
    client.force_login(outsider)
    assert client.get(url).status_code == 404


def test_profile_is_its_owners_alone_if_no_rule_is_configured(settings, client, member, guest):
    del settings.PROFILE_VISIBILITY_RULE
    url = reverse("accounts:profile", args=[member.pk])
    client.force_login(guest)
    assert client.get(url).status_code == 404
    client.force_login(member)
    assert client.get(url).status_code == 200


def test_seed_demo_runs_every_configured_seeder_and_again_changes_nothing():
    call_command("seed_demo", verbosity=0)
    counts = (
        User.objects.count(),
        WorkingGroup.objects.count(),
        Membership.objects.count(),
        Meeting.objects.count(),
    )
    assert all(counts), counts
    assert User.objects.filter(public_name=True).exists()  # public_pages' seeder
    call_command("seed_demo", verbosity=0)
    assert (
        User.objects.count(),
        WorkingGroup.objects.count(),
        Membership.objects.count(),
        Meeting.objects.count(),
    ) == counts
