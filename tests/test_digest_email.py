"""Digests end to end: the worker's periodic chain runs the digest work and
sends what it queued to a real SMTP server, in English and in German, with
one-click unsubscribe. The rules of digests are notifications/tests/test_digests.py."""

import datetime

import pytest
from django.utils import timezone

from core.models import OutboundEmail, OutboxSweep
from core.tasks import sweep_ensure, sweep_outbox
from discussions import services as discussions
from notifications.models import Digest, EmailPreference, Kind, Notification, TargetType
from tests.fixtures.people import join

pytestmark = pytest.mark.django_db


def test_digests_go_out_by_smtp_in_each_persons_language(
    make_user, group, moderator, smtp_mailer, database_tasks
):
    now = timezone.now()
    english = make_user("en@example.org", display_name="Erin English", language="en")
    german = make_user("de@example.org", display_name="Greta German", language="de")
    away = make_user("away@example.org", display_name="Not Away")
    thread = discussions.thread_create(
        actor=moderator, group=group, title="Labour pathways", body="What works?"
    )
    post = thread.posts.get(position=1)
    for person in (english, german, away):
        join(person, group)
        EmailPreference.objects.create(
            user=person,
            digest=Digest.DAILY,
            digest_covered_until=now - datetime.timedelta(days=1),
            digest_due_at=now - datetime.timedelta(minutes=1),
        )
        Notification.objects.create(
            recipient=person,
            kind=Kind.WATCHED_POST,
            group=group,
            actor=moderator,
            target_type=TargetType.POST,
            target_id=post.pk,
            url=post.get_absolute_url(),
            subject=thread.title,
            created_at=now - datetime.timedelta(hours=2),
        )
    type(away).objects.filter(pk=away.pk).update(last_seen_at=now - datetime.timedelta(hours=1))

    sweep_ensure()
    sweep_outbox.call(OutboxSweep.objects.get().token)  # one run of the worker's chain

    messages = {message["To"]: message for message in smtp_mailer.wait_for_count(2)}
    assert set(messages) == {english.email, german.email}  # ``away`` was in since
    assert messages[english.email]["Subject"] == "Your daily summary from the workspace"
    assert messages[german.email]["Subject"] == "Ihre tägliche Zusammenfassung aus dem Workspace"
    for message in messages.values():
        assert message.get_content_type() == "multipart/alternative"
        text = message.get_body(preferencelist=("plain",)).get_content()
        html = message.get_body(preferencelist=("html",)).get_content()
        assert "Labour pathways" in text and "Labour pathways" in html
        assert post.get_absolute_url() in text
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["List-Unsubscribe"].startswith("<http")
        assert html.count("/unsubscribe/") == 2  # digests only, and all email
    assert OutboundEmail.objects.filter(sent_at__isnull=True).count() == 0
    # A second run of the chain sends nothing more.
    sweep_outbox.call(OutboxSweep.objects.get().token)
    assert len(smtp_mailer.messages) == 2
