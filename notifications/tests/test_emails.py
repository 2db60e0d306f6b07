"""Notification emails, end to end: the real write paths queue them in the
outbox, the outbox sends them through Django's SMTP backend to a real SMTP
server (aiosmtpd, ``smtp_mailer``), and what arrives is read back with the
``email`` module. "The hold passes" is the rows' ``due_at`` moved to now."""

import datetime
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from core.models import OutboundEmail
from core.outbox import send_due
from discussions import services as discussions
from documents import services as documents
from documents.tests.conftest import PDF, upload
from groups import services as groups
from groups.models import Membership, Role
from notifications import emails, services
from notifications import unsubscribe as links
from notifications.models import EmailPreference, Kind, Level, Notification
from notifications.tests.conftest import handle
from notifications.tests.test_kinds import invite, join_new, request_to_join, schedule
from tests.fixtures.people import enable_mfa, join

pytestmark = pytest.mark.django_db

HOST = urlsplit(settings.SITE_URL).hostname


@pytest.fixture(autouse=True)
def _media(media_root):
    """Uploaded files go to a fresh folder (tests.fixtures.media)."""


def deliver(mailbox=None) -> list:
    """The hold passes: everything queued is due and sent; returns what the
    SMTP server received."""
    OutboundEmail.objects.filter(sent_at__isnull=True).update(due_at=timezone.now())
    send_due()
    return mailbox.messages if mailbox is not None else []


def to(messages, user) -> list:
    return [m for m in messages if m["To"] == user.email]


def body(message, subtype="plain") -> str:
    return message.get_body(preferencelist=(subtype,)).get_content()


def rows_for(user):
    return OutboundEmail.objects.filter(to=user.email)


# --- Queued at write time -----------------------------------------------------------


def test_a_mention_queues_one_email_held_two_minutes_batched_per_person(thread, member, moderator):
    before = timezone.now()
    discussions.post_create(actor=moderator, thread=thread, body=f"Thoughts, {handle(member)}?")
    row = rows_for(member).get()
    notification = Notification.objects.get(recipient=member)
    assert notification.kind == Kind.MENTION
    assert row.ref == notification.pk
    assert row.compose == emails.COMPOSE
    assert row.batch_key == f"notifications:{member.pk}"
    hold = row.due_at - before
    assert datetime.timedelta(minutes=2) <= hold < datetime.timedelta(minutes=3)
    # A retried write of the same notifications queues nothing more.
    post = thread.posts.order_by("position").last()
    services.notify_post_created(post=post, mentioned=[member], new_thread=False)
    assert rows_for(member).count() == 1


def test_holds_are_per_kind_and_follow_the_settings(settings):
    settings.NOTIFY_EMAIL_HOLD_MINUTES = 30
    settings.NOTIFY_MENTION_HOLD_MINUTES = 5
    assert emails.hold(Kind.WATCHED_POST) == datetime.timedelta(minutes=30)
    assert emails.hold(Kind.MENTION) == datetime.timedelta(minutes=5)
    assert emails.hold(Kind.MEETING_SOON) == datetime.timedelta(0)


def test_a_watched_post_waits_the_general_hold(thread, member, moderator):
    before = timezone.now()
    discussions.post_create(actor=moderator, thread=thread, body="A new angle")
    row = rows_for(member).get()
    assert datetime.timedelta(minutes=10) <= row.due_at - before < datetime.timedelta(minutes=11)


def test_no_email_is_queued_if_the_kind_or_all_email_is_off(thread, member, moderator, guest):
    EmailPreference.objects.create(user=member, kinds_off=[Kind.WATCHED_POST])
    EmailPreference.objects.create(user=guest, enabled=False)
    services.thread_level_set(user=guest, thread=thread, level=Level.WATCHING)
    discussions.post_create(actor=moderator, thread=thread, body="Plain news")
    assert Notification.objects.filter(recipient__in=[member, guest]).count() == 2
    assert not OutboundEmail.objects.exists()
    # The kind off is only that kind: a mention still goes.
    discussions.post_create(actor=moderator, thread=thread, body=f"{handle(member)} see this")
    assert rows_for(member).count() == 1


def test_a_muted_or_mentions_only_person_gets_no_email_where_no_notification(
    thread, member, moderator, guest, make_user, group
):
    listener = join_new(group, "listener@example.org", "Lis Tener")
    services.thread_level_set(user=member, thread=thread, level=Level.MUTED)
    services.thread_level_set(user=listener, thread=thread, level=Level.MENTIONS)
    discussions.post_create(actor=moderator, thread=thread, body=f"{handle(member)} news")
    assert not Notification.objects.filter(recipient__in=[member, listener]).exists()
    assert not rows_for(member).exists() and not rows_for(listener).exists()


@pytest.mark.parametrize("size", [10, 100])
def test_fan_out_emails_take_the_same_queries_whatever_the_group_size(
    size, group, moderator, make_user, django_assert_num_queries
):
    for number in range(size):
        join(make_user(f"e{size}-{number}@example.org", display_name=f"E {number}"), group)
    meeting = schedule(moderator, group)
    Notification.objects.all().delete()
    OutboundEmail.objects.all().delete()
    with django_assert_num_queries(6):
        services.notify_meeting_changed(meeting=meeting, actor=moderator, change="scheduled")
    assert OutboundEmail.objects.count() == size


@pytest.mark.parametrize("size", [10, 100])
def test_post_fan_out_emails_take_the_same_queries_whatever_the_group_size(
    size, group, member, moderator, make_user, django_assert_num_queries
):
    services.group_default_level_set(actor=moderator, group=group, level=Level.WATCHING)
    for number in range(size):
        join(make_user(f"w{size}-{number}@example.org", display_name=f"W {number}"), group)
    thread = discussions.thread_create(actor=member, group=group, title="T", body="x")
    post = discussions.post_create(actor=moderator, thread=thread, body="y")
    post.thread = thread
    Notification.objects.all().delete()
    OutboundEmail.objects.all().delete()
    # The post's notifications (7), then the recipients' addresses and
    # preferences and one insert into the outbox.
    with django_assert_num_queries(9):
        services.notify_post_created(post=post, mentioned=[], new_thread=False)
    assert OutboundEmail.objects.count() == size + 1  # everyone but the author


def test_a_person_whose_time_zone_is_unknown_still_gets_the_email(
    smtp_mailer, group, moderator, member
):
    type(member).objects.filter(pk=member.pk).update(time_zone="Mars/Olympus_Mons")
    schedule(moderator, group, title="Session")
    assert len(to(deliver(smtp_mailer), member)) == 1


def test_after_commit_the_task_sends_what_is_due_and_holds_the_rest(
    smtp_mailer, settings, thread, member, moderator, django_capture_on_commit_callbacks
):
    # Tasks run at once here (ImmediateBackend): the commit runs the send task.
    with django_capture_on_commit_callbacks(execute=True):
        discussions.post_create(actor=moderator, thread=thread, body="Held")
    assert smtp_mailer.messages == []  # ten minutes to go
    settings.NOTIFY_EMAIL_HOLD_MINUTES = 0
    with django_capture_on_commit_callbacks(execute=True):
        discussions.post_create(actor=moderator, thread=thread, body="At once")
    # The second is due, and takes the one still held with it: one email.
    (message,) = smtp_mailer.messages
    assert message["To"] == member.email
    assert message["Subject"] == "2 new notifications"


# --- Sent: every kind, its sentence ------------------------------------------------


def test_every_post_kind_arrives_with_its_sentence(
    smtp_mailer, group, thread, member, moderator, guest, make_user
):
    watcher = join_new(group, "watcher@example.org", "Wat Cher")
    services.group_level_set(user=watcher, group=group, level=Level.WATCHING)
    reply_to = thread.posts.get(position=1)
    discussions.post_create(
        actor=moderator, thread=thread, body=f"Yes, {handle(guest)}", parent=reply_to
    )
    discussions.thread_create(actor=guest, group=group, title="Second topic", body="Hi")
    messages = deliver(smtp_mailer)
    # member: a reply to their post; guest: a mention; watcher (watching the
    # group): the new thread.
    replied = "Max Moderator replied to your post in “Labour pathways”"
    assert replied in body(to(messages, member)[0])
    assert "Max Moderator mentioned you in “Labour pathways”" in body(to(messages, guest)[0])
    started = to(messages, watcher)
    assert any("Gina Guest started “Second topic”" in body(m) for m in started)
    # A new post in a watched thread: member watches the thread they started.
    discussions.post_create(actor=guest, thread=thread, body="More")
    messages = deliver(smtp_mailer)
    assert "Gina Guest wrote in “Labour pathways”" in body(to(messages, member)[-1])


def test_every_other_kind_arrives_with_its_sentence(
    smtp_mailer, group, moderator, member, guest, outsider
):
    services.group_level_set(user=moderator, group=group, level=Level.WATCHING)
    documents.document_upload(
        actor=member, group=group, uploaded=upload("plan.pdf", PDF), title="Work plan"
    )
    request_to_join(group)
    thread = discussions.thread_create(actor=guest, group=group, title="Spam?", body="Buy")
    discussions.report_create(actor=member, post=thread.posts.get(), reason="Advertising")
    groups.invitation_accept(user=outsider, token=invite(group, moderator, outsider.email))
    host = enable_mfa(join_new(group, "host@example.org", "Hal Host", role=Role.MODERATOR))
    schedule(host, group, title="Third session")
    membership = Membership.objects.get(user=member, group=group)
    groups.membership_change_role(actor=moderator, membership=membership, role=Role.MODERATOR)
    messages = deliver(smtp_mailer)
    moderators = body(to(messages, moderator)[0])
    for sentence in [
        "Mia Member added the document “Work plan”",
        "Jo Applicant asks to join the group",
        "Mia Member reported a post in “Spam?”",
        "Out Sider accepted your invitation to Fair migration",
        "Hal Host scheduled the meeting “Third session”",
        "Gina Guest started “Spam?”",
    ]:
        assert sentence in moderators
    assert to(messages, moderator)[0]["Subject"] == "6 new notifications"
    assert "Max Moderator changed your role in Fair migration" in body(to(messages, member)[0])


def test_meeting_changes_and_document_versions_arrive_with_their_sentences(
    smtp_mailer, group, moderator, member
):
    from meetings import services as meetings
    from meetings.models import Meeting

    meeting = schedule(moderator, group, title="Third session")
    deliver(smtp_mailer)
    later = meeting.starts_at + datetime.timedelta(days=1)
    meetings.meeting_update(
        actor=moderator,
        meeting=meeting,
        data={"starts_at": later, "ends_at": later + datetime.timedelta(hours=1)},
    )
    moved = to(deliver(smtp_mailer), member)[-1]
    assert "Max Moderator moved the meeting “Third session” to another time" in body(moved)
    meetings.minutes_save(
        actor=moderator,
        meeting=meeting,
        minutes="We agreed on the plan.",
        publish=True,
        before_start_confirmed=True,
    )
    minutes = to(deliver(smtp_mailer), member)[-1]
    assert "Max Moderator published the minutes of “Third session”" in body(minutes)
    assert "We agreed on the plan." in body(minutes)
    meetings.meeting_update(
        actor=moderator, meeting=meeting, data={"status": Meeting.Status.CANCELLED}
    )
    cancelled = to(deliver(smtp_mailer), member)[-1]
    assert "Max Moderator cancelled the meeting “Third session”" in body(cancelled)
    assert len({m["Message-ID"] for m in to(smtp_mailer.messages, member)}) == 4

    services.group_level_set(user=member, group=group, level=Level.WATCHING)
    document = documents.document_upload(
        actor=moderator, group=group, uploaded=upload("plan.pdf", PDF), title="Work plan"
    )
    deliver(smtp_mailer)
    documents.version_add(
        actor=moderator,
        document=document,
        uploaded=upload("plan2.pdf", PDF + b"%v2"),
        change_note="Budget added",
    )
    version = to(deliver(smtp_mailer), member)[-1]
    assert "Max Moderator added a new version of “Work plan”" in body(version)
    assert "Budget added" in body(version)


# --- The hold, batching -----------------------------------------------------------------


def test_what_was_read_in_the_app_meanwhile_is_not_sent(smtp_mailer, thread, member, moderator):
    discussions.post_create(actor=moderator, thread=thread, body=f"{handle(member)} look")
    services.notifications_mark_read(user=member)
    assert deliver(smtp_mailer) == []
    row = rows_for(member).get()
    assert row.sent_at is not None and row.dropped


def test_three_notifications_within_the_hold_go_out_as_one_email(
    smtp_mailer, thread, member, moderator, guest
):
    discussions.post_create(actor=moderator, thread=thread, body="One")
    discussions.post_create(actor=guest, thread=thread, body="Two")
    discussions.post_create(actor=moderator, thread=thread, body=f"{handle(member)} three")
    assert rows_for(member).count() == 3
    messages = to(deliver(smtp_mailer), member)
    assert len(messages) == 1
    message = messages[0]
    assert message["Subject"] == "3 new notifications"
    text = body(message)
    assert "One" in text and "Two" in text and "three" in text
    # All in one thread: threaded under it; unsubscribing is from all email.
    assert message["References"] == f"<thread-{thread.pk}@{HOST}>"
    assert "/unsubscribe/" in message["List-Unsubscribe"]


# --- Composed a chunk at a time ---------------------------------------------------------


def emails_of(people) -> list[list[OutboundEmail]]:
    """The outbox's view of the people's waiting emails: per person, their rows."""
    return [list(rows_for(person).order_by("created_at", "pk")) for person in people]


@pytest.mark.parametrize("size", [5, 20])
def test_a_chunk_of_emails_is_composed_with_the_same_queries_whatever_its_size(
    size, group, thread, moderator, make_user, django_assert_num_queries
):
    services.group_default_level_set(actor=moderator, group=group, level=Level.WATCHING)
    people = [
        join_new(group, f"c{size}-{number}@example.org", f"Chunk {number}")
        for number in range(size)
    ]
    type(people[0]).objects.filter(pk=people[0].pk).update(language="de")
    discussions.post_create(actor=moderator, thread=thread, body="The plan, in short")
    schedule(moderator, group, title="Chunk session")
    # Muted during the hold: that post is not emailed.
    services.thread_level_set(user=people[1], thread=thread, level=Level.MUTED)
    chunk = emails_of(people)
    assert all(len(rows) == 2 for rows in chunk)  # a post and a meeting each
    # The notifications (1); who may see them: the posts and the meetings (2),
    # their groups' people (2 + 4); what they are about (2); thread levels (4).
    with django_assert_num_queries(15):
        messages = emails.compose(chunk)
    assert len(messages) == size
    german, muted, *others = messages
    assert german.subject == "2 neue Benachrichtigungen"
    assert "Chunk session" in muted.subject and "The plan" not in muted.body
    for message in others:
        assert message.subject == "2 new notifications"
        assert "The plan, in short" in message.body and "Chunk session" in message.body
    # Bodies alike are rendered once, but each carries its own person's links.
    for person, message in zip(people, messages, strict=True):
        link = message.extra_headers["List-Unsubscribe"].strip("<>")
        assert links.read(link.rstrip("/").rsplit("/", 1)[1])[0] == person.pk
        assert link in message.body and link in message.alternatives[0].content


# --- Access and content checked again when sent ----------------------------------------


def test_nothing_is_sent_to_a_removed_member(smtp_mailer, thread, member, moderator, guest):
    discussions.post_create(actor=moderator, thread=thread, body=f"{handle(guest)} hi")
    groups.membership_revoke(actor=moderator, membership=Membership.objects.get(user=guest))
    assert to(deliver(smtp_mailer), guest) == []
    assert rows_for(guest).get().dropped


def test_nothing_is_sent_to_a_guest_whose_access_expired(
    smtp_mailer, thread, member, moderator, guest
):
    discussions.post_create(actor=moderator, thread=thread, body=f"{handle(guest)} hi")
    Membership.objects.filter(user=guest).update(
        expires_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    assert to(deliver(smtp_mailer), guest) == []


def test_nothing_is_sent_of_a_post_hidden_or_deleted_meanwhile(
    smtp_mailer, thread, member, moderator, guest
):
    hidden = discussions.post_create(actor=guest, thread=thread, body="Rude")
    deleted = discussions.post_create(actor=guest, thread=thread, body="Oops")
    discussions.post_set_hidden(actor=moderator, post=hidden, hidden=True, reason="Rude")
    discussions.post_delete(actor=guest, post=deleted)
    assert to(deliver(smtp_mailer), member) == []
    assert rows_for(member).count() == 2
    assert all(row.dropped for row in rows_for(member))


def test_nothing_is_sent_of_a_thread_moved_to_a_group_they_are_not_in(
    smtp_mailer, thread, member, moderator, guest, other_group
):
    discussions.post_create(actor=moderator, thread=thread, body=f"{handle(guest)} hi")
    join(moderator, other_group, Role.MODERATOR)
    discussions.thread_move(actor=moderator, thread=thread, to_group=other_group)
    assert to(deliver(smtp_mailer), guest) == []


def test_the_latest_edit_is_what_is_sent(smtp_mailer, thread, member, moderator):
    post = discussions.post_create(actor=moderator, thread=thread, body="First draft")
    discussions.post_edit(actor=moderator, post=post, body="Second thoughts")
    text = body(to(deliver(smtp_mailer), member)[0])
    assert "Second thoughts" in text and "First draft" not in text


def test_a_confidential_group_is_told_what_happened_without_the_text(
    smtp_mailer, client, group, thread, member, moderator
):
    client.force_login(moderator)
    response = client.post(
        reverse("groups:settings", args=[group.slug]),
        {
            "name": group.name,
            "description": group.description,
            "public_summary": "",
            "emails_without_text": "on",
        },
    )
    assert response.status_code == 302
    group.refresh_from_db()
    assert group.emails_without_text
    discussions.post_create(actor=moderator, thread=thread, body="The secret plan")
    message = to(deliver(smtp_mailer), member)[0]
    assert "The secret plan" not in body(message) and "The secret plan" not in body(message, "html")
    assert "Max Moderator wrote in “Labour pathways”" in body(message)
    assert thread.posts.order_by("position").last().get_absolute_url() in body(message)


def test_a_member_cannot_make_the_group_confidential(client, group, member):
    client.force_login(member)
    response = client.post(
        reverse("groups:settings", args=[group.slug]),
        {"name": "X", "description": "", "public_summary": "", "emails_without_text": "on"},
    )
    assert response.status_code in (403, 404)
    group.refresh_from_db()
    assert not group.emails_without_text


def test_a_kind_switched_off_during_the_hold_is_not_sent(smtp_mailer, thread, member, moderator):
    discussions.post_create(actor=moderator, thread=thread, body="News")
    EmailPreference.objects.create(user=member, kinds_off=[Kind.WATCHED_POST])
    assert to(deliver(smtp_mailer), member) == []


# --- Language, time zone ------------------------------------------------------------------


def test_english_and_german_subject_and_body(smtp_mailer, group, moderator, member, guest):
    guest.language = "de"
    guest.save(update_fields=["language"])
    schedule(moderator, group, title="Third session")
    messages = deliver(smtp_mailer)
    english, german = to(messages, member)[0], to(messages, guest)[0]
    assert english["Subject"] == (
        "[Fair migration] Max Moderator scheduled the meeting “Third session”"
    )
    assert "Open it:" in body(english)
    assert german["Subject"] == (
        "[Fair migration] Max Moderator hat die Sitzung „Third session“ angesetzt"
    )
    assert "Öffnen:" in body(german)
    assert "Alle E-Mails abbestellen" in body(german, "html")


def test_a_meeting_time_is_in_the_persons_time_zone(smtp_mailer, group, moderator, member):
    member.time_zone = "America/New_York"
    member.save(update_fields=["time_zone"])
    starts_at = datetime.datetime(2031, 1, 15, 15, 0, tzinfo=datetime.UTC)
    from meetings import services as meetings
    from meetings.models import Meeting

    meetings.meeting_schedule(
        actor=moderator,
        group=group,
        data={
            "title": "Winter session",
            "kind": Meeting.Kind.SESSION,
            "starts_at": starts_at,
            "ends_at": starts_at + datetime.timedelta(hours=1),
        },
    )
    text = body(to(deliver(smtp_mailer), member)[0])
    assert "When: 15 Jan 2031, 10:00 (EST)" in text


# --- Headers, unsubscribe ---------------------------------------------------------------


def test_post_emails_carry_thread_headers_and_a_stable_message_id(
    smtp_mailer, thread, member, moderator, guest
):
    opening = thread.posts.get(position=1)
    first = discussions.post_create(actor=guest, thread=thread, body="Answer", parent=opening)
    message = to(deliver(smtp_mailer), member)[0]
    root = f"<thread-{thread.pk}@{HOST}>"
    assert message["Message-ID"] == f"<post-{first.pk}@{HOST}>"
    assert message["In-Reply-To"] == root and message["References"] == root
    assert message["Subject"] == "[Fair migration] Labour pathways"
    # A reply to that reply: in reply to it, under the same root and subject.
    second = discussions.post_create(actor=moderator, thread=thread, body="Re", parent=first)
    message = to(deliver(smtp_mailer), member)[-1]
    assert message["In-Reply-To"] == f"<post-{first.pk}@{HOST}>"
    assert message["References"] == f"{root} <post-{first.pk}@{HOST}>"
    assert message["Message-ID"] == f"<post-{second.pk}@{HOST}>"
    assert message["Subject"] == "[Fair migration] Labour pathways"
    # Composed again (a resend after a crash), the same Message-ID.
    row = rows_for(member).order_by("pk").last()
    (again,) = emails.compose([[row]])
    assert again.extra_headers["Message-ID"] == message["Message-ID"]


def test_one_click_unsubscribe_from_the_header_stops_that_thread(
    smtp_mailer, client, thread, member, moderator
):
    discussions.post_create(actor=moderator, thread=thread, body="First")
    message = to(deliver(smtp_mailer), member)[0]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # As sent: one plain <URL>, not cut into RFC 2047 encoded words.
    raw = dict(message.raw_items())["List-Unsubscribe"]
    assert raw.startswith("<" + settings.SITE_URL) and "=?" not in raw
    url = message["List-Unsubscribe"].strip("<>")
    assert url.startswith(settings.SITE_URL + "/unsubscribe/")
    text = body(message)
    assert "Stop emails from this thread" in text and "Stop all email" in text
    response = client.post(
        url.removeprefix(settings.SITE_URL),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    discussions.post_create(actor=moderator, thread=thread, body="Second")
    assert len(to(deliver(smtp_mailer), member)) == 1
    assert not Notification.objects.filter(recipient=member, kind=Kind.WATCHED_POST).count() > 1


def test_one_click_unsubscribe_of_a_kind_turns_that_kind_off(
    smtp_mailer, client, group, member, moderator
):
    schedule(moderator, group, title="Session one")
    message = to(deliver(smtp_mailer), member)[0]
    url = message["List-Unsubscribe"].strip("<>").removeprefix("http://127.0.0.1:8000")
    response = client.post(
        url, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert Kind.MEETING_SCHEDULED in EmailPreference.objects.get(user=member).kinds_off
    schedule(moderator, group, title="Session two")
    assert not rows_for(member).filter(sent_at__isnull=True).exists()
