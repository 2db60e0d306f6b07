"""``User.last_seen_at``: written when a person signs in and by the
middleware at most every LAST_SEEN_UPDATE_SECONDS, with no query on the
requests in between."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db


def last_seen(user):
    return type(user).objects.values_list("last_seen_at", flat=True).get(pk=user.pk)


def test_signing_in_counts_as_being_in(client, user):
    assert last_seen(user) is None
    client.force_login(user)
    assert timezone.now() - last_seen(user) < datetime.timedelta(seconds=5)


def test_last_seen_is_written_again_only_after_the_interval(client, user, settings):
    settings.LAST_SEEN_UPDATE_SECONDS = 300
    client.force_login(user)
    recent = timezone.now() - datetime.timedelta(minutes=2)
    type(user).objects.filter(pk=user.pk).update(last_seen_at=recent)
    url = reverse("accounts:profile", args=[user.pk])
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    assert last_seen(user) == recent
    assert not [
        q for q in queries.captured_queries if "last_seen_at" in q["sql"] and "UPDATE" in q["sql"]
    ]

    old = timezone.now() - datetime.timedelta(minutes=6)
    type(user).objects.filter(pk=user.pk).update(last_seen_at=old)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    assert last_seen(user) > old
    updates = [
        q for q in queries.captured_queries if "UPDATE" in q["sql"] and "last_seen_at" in q["sql"]
    ]
    assert len(updates) == 1


def test_anonymous_requests_write_nothing(client, user):
    client.get(reverse("account_login"))
    assert last_seen(user) is None
