import datetime

import icalendar
import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test.utils import override_settings
from django.utils import timezone

from core.models import OutboundEmail
from core.outbox import send_due
from groups.models import AuditEntry
from meetings import services as meeting_services
from meetings.models import Meeting
from webinars import services
from webinars.models import Registration, Webinar

from .conftest import confirmed, register

State = Registration.State


def sent_to(address):
    send_due()
    return [message for message in mail.outbox if message.to == [address]]


def calendar_of(message):
    """The attached calendar file, parsed back."""
    for _name, content, mimetype in message.attachments:
        if mimetype.startswith("text/calendar"):
            return icalendar.Calendar.from_ical(content)
    return None


def event_of(calendar):
    (event,) = calendar.walk("VEVENT")
    return event


def later(**delta):
    return timezone.now() + datetime.timedelta(**delta)


# --- Publishing ----------------------------------------------------------------------


def test_webinar_publish_stores_the_announcement_and_tells_public_pages(
    webinar_meeting, moderator, public_changes
):
    webinar = services.webinar_publish(
        actor=moderator,
        meeting=webinar_meeting,
        abstract="Abstract",
        presenters=[("Ada", "Uni A")],
        capacity=10,
    )
    assert webinar.is_public and webinar.capacity == 10
    assert [(p.name, p.affiliation) for p in webinar.presenters.all()] == [("Ada", "Uni A")]
    assert public_changes == [webinar_meeting.group_id, None]
    assert AuditEntry.objects.filter(action="webinar.published").count() == 1


def test_webinar_publish_again_changes_presenters_and_raises_the_sequence(
    webinar, webinar_meeting, moderator
):
    revision = Meeting.objects.get(pk=webinar_meeting.pk).revision
    services.webinar_publish(
        actor=moderator, meeting=webinar_meeting, abstract="New", presenters=[], capacity=5
    )
    webinar.refresh_from_db()
    assert webinar.abstract == "New" and webinar.presenters.count() == 0
    assert Meeting.objects.get(pk=webinar_meeting.pk).revision == revision + 1


def test_webinar_unpublish_takes_the_page_down_and_publish_brings_it_back(
    webinar, webinar_meeting, moderator, public_changes
):
    services.webinar_unpublish(actor=moderator, webinar=webinar)
    webinar.refresh_from_db()
    assert not webinar.is_public
    assert public_changes[-2:] == [webinar_meeting.group_id, None]
    assert AuditEntry.objects.filter(action="webinar.unpublished").count() == 1
    with pytest.raises(ValidationError, match="closed"):
        services.registration_create(**registration_fields(webinar))
    services.webinar_publish(
        actor=moderator, meeting=webinar_meeting, abstract="Back", presenters=[], capacity=3
    )
    webinar.refresh_from_db()
    assert webinar.is_public


def registration_fields(webinar):
    return {
        "webinar": webinar,
        "name": "Rita",
        "email": "rita@example.org",
        "affiliation": "",
        "keep_informed": False,
        "language": "en",
        "time_zone": "",
    }


@pytest.mark.parametrize("state", ["pending", "confirmed", "waiting"])
def test_webinar_unpublish_refused_while_people_are_registered(
    webinar, moderator, state, public_changes
):
    registration = register(webinar, "rita@example.org")
    Registration.objects.filter(pk=registration.pk).update(state=state)
    with pytest.raises(ValidationError) as refused:
        services.webinar_unpublish(actor=moderator, webinar=webinar)
    assert refused.value.code == "registered" and "cancel the webinar" in refused.value.messages[0]
    webinar.refresh_from_db()
    assert webinar.is_public and public_changes == []
    assert not AuditEntry.objects.filter(action="webinar.unpublished").exists()


def test_webinar_unpublish_allowed_once_cancelled(webinar, webinar_meeting, moderator):
    confirmed(webinar, "rita@example.org")
    meeting_services.meeting_update(
        actor=moderator, meeting=webinar_meeting, data={"status": Meeting.Status.CANCELLED}
    )
    services.webinar_unpublish(actor=moderator, webinar=webinar)
    webinar.refresh_from_db()
    assert not webinar.is_public
    # The registrant's own links still work (the cancellation told them).
    assert Registration.objects.get().state == State.CONFIRMED


def test_webinar_unpublish_refused_if_member(webinar, member):
    with pytest.raises(PermissionDenied):
        services.webinar_unpublish(actor=member, webinar=webinar)
    webinar.refresh_from_db()
    assert webinar.is_public


def test_webinar_publish_refused_if_member(webinar_meeting, member):
    with pytest.raises(PermissionDenied):
        services.webinar_publish(
            actor=member, meeting=webinar_meeting, abstract="x", presenters=[], capacity=1
        )
    assert not Webinar.objects.exists()


def test_webinar_publish_refused_if_working_session(webinar_meeting, moderator):
    webinar_meeting.kind = Meeting.Kind.SESSION
    webinar_meeting.save()
    with pytest.raises(PermissionDenied):
        services.webinar_publish(
            actor=moderator, meeting=webinar_meeting, abstract="x", presenters=[], capacity=1
        )


def test_webinar_publish_refused_if_capacity_below_one(webinar_meeting, moderator):
    with pytest.raises(ValidationError):
        services.webinar_publish(
            actor=moderator, meeting=webinar_meeting, abstract="x", presenters=[], capacity=0
        )
    assert not Webinar.objects.exists()


# --- Registration and double opt-in ----------------------------------------------------


def test_registration_create_stores_consent_and_sends_the_confirmation_link(webinar, settings):
    settings.WEBINAR_PRIVACY_NOTICE_VERSION = "v7"
    registration = register(webinar, "rita@example.org", keep_informed=True, affiliation="NGO")
    assert registration.state == State.PENDING
    assert registration.privacy_notice_version == "v7"
    assert registration.keep_informed is True
    assert registration.link_expires_at == pytest.approx(
        later(hours=48), abs=datetime.timedelta(seconds=5)
    )
    (message,) = sent_to("rita@example.org")
    assert f"/w/{registration.token}/confirm/" in message.body
    assert "video.example.org" not in message.body


def test_registration_counts_only_once_confirmed(webinar):
    registration = register(webinar, "rita@example.org")
    assert services.places_held(webinar) == 0
    registration = services.registration_confirm(registration=registration)
    assert registration.state == State.CONFIRMED
    assert services.places_held(webinar) == 1


def test_registration_create_twice_keeps_one_and_sends_the_link_again(webinar):
    first = register(webinar, "rita@example.org")
    again = register(webinar, "RITA@example.org", name="Someone else")
    assert Registration.objects.count() == 1
    assert again.pk == first.pk and again.name == "Rita Registrant"
    messages = sent_to("rita@example.org")
    assert len(messages) == 2
    assert all(f"/w/{first.token}/confirm/" in m.body for m in messages)


def test_registration_create_for_a_confirmed_address_sends_the_personal_links(webinar):
    registration = confirmed(webinar, "rita@example.org")
    register(webinar, "rita@example.org")
    assert Registration.objects.get().state == State.CONFIRMED
    last = sent_to("rita@example.org")[-1]
    assert f"/w/{registration.token}/" in last.body and calendar_of(last) is not None


def test_registration_confirm_refused_if_link_expired(webinar):
    registration = register(webinar, "rita@example.org")
    Registration.objects.filter(pk=registration.pk).update(link_expires_at=later(seconds=-1))
    with pytest.raises(ValidationError) as error:
        services.registration_confirm(registration=registration)
    assert error.value.code == "expired"
    assert Registration.objects.get().state == State.PENDING


def test_registration_create_refused_if_webinar_started(webinar, webinar_meeting):
    Meeting.objects.filter(pk=webinar_meeting.pk).update(starts_at=later(minutes=-1))
    webinar.meeting.refresh_from_db()
    with pytest.raises(ValidationError):
        register(webinar, "late@example.org")
    assert not Registration.objects.exists()
    assert not OutboundEmail.objects.filter(to="late@example.org").exists()


def test_registration_create_refused_if_webinar_cancelled(webinar, webinar_meeting, moderator):
    meeting_services.meeting_update(
        actor=moderator, meeting=webinar_meeting, data={"status": Meeting.Status.CANCELLED}
    )
    webinar.meeting.refresh_from_db()
    with pytest.raises(ValidationError):
        register(webinar, "rita@example.org")


def test_registrations_expire_deletes_unconfirmed_after_72_hours(webinar):
    old = register(webinar, "old@example.org")
    Registration.objects.filter(pk=old.pk).update(created_at=later(hours=-72, seconds=-1))
    young = register(webinar, "young@example.org")
    Registration.objects.filter(pk=young.pk).update(created_at=later(hours=-71))
    kept = confirmed(webinar, "kept@example.org")
    Registration.objects.filter(pk=kept.pk).update(created_at=later(hours=-100))
    assert services.registrations_expire() == 1
    assert not OutboundEmail.objects.filter(to="old@example.org").exists()
    assert set(Registration.objects.values_list("email", flat=True)) == {
        "young@example.org",
        "kept@example.org",
    }


# --- Capacity and the waiting list ----------------------------------------------------


def test_registration_confirm_puts_on_the_waiting_list_if_full(webinar):
    for number in range(3):
        confirmed(webinar, f"p{number}@example.org")
    late = confirmed(webinar, "late@example.org")
    assert late.state == State.WAITING
    assert services.places_held(webinar) == 3
    (message,) = sent_to("late@example.org")[-1:]
    assert "waiting list" in message.body and calendar_of(message) is None


def test_registration_cancel_offers_the_place_to_the_next_on_the_waiting_list(webinar):
    holders = [confirmed(webinar, f"p{number}@example.org") for number in range(3)]
    first = confirmed(webinar, "first@example.org")
    second = confirmed(webinar, "second@example.org")
    services.registration_cancel(registration=holders[0])
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == State.OFFERED and second.state == State.WAITING
    assert first.link_expires_at == pytest.approx(
        later(hours=24), abs=datetime.timedelta(seconds=5)
    )
    offer = sent_to("first@example.org")[-1]
    assert f"/w/{first.token}/confirm/" in offer.body
    # Taking the offered place: confirmed, though the webinar is full.
    assert services.registration_confirm(registration=first).state == State.CONFIRMED
    assert services.places_held(webinar) == 3


def test_offer_deadline_is_never_after_the_start(webinar, webinar_meeting):
    Meeting.objects.filter(pk=webinar_meeting.pk).update(
        starts_at=later(hours=2), ends_at=later(hours=3)
    )
    webinar.meeting.refresh_from_db()
    holder = confirmed(webinar, "holder@example.org")
    webinar.capacity = 1
    webinar.save()
    waiting = confirmed(webinar, "waiting@example.org")
    assert waiting.state == State.WAITING
    services.registration_cancel(registration=holder)
    waiting.refresh_from_db()
    assert waiting.link_expires_at == webinar.meeting.starts_at


def test_registrations_expire_passes_an_untaken_place_to_the_next(webinar):
    holders = [confirmed(webinar, f"p{number}@example.org") for number in range(3)]
    first = confirmed(webinar, "first@example.org")
    second = confirmed(webinar, "second@example.org")
    services.registration_cancel(registration=holders[0])
    Registration.objects.filter(pk=first.pk).update(link_expires_at=later(seconds=-1))
    services.registrations_expire()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == State.EXPIRED and second.state == State.OFFERED
    with pytest.raises(ValidationError):
        services.registration_confirm(registration=first)
    assert services.places_held(webinar) == 3


def test_webinar_publish_with_more_places_offers_them_to_the_waiting_list(
    webinar, webinar_meeting, moderator
):
    for number in range(3):
        confirmed(webinar, f"p{number}@example.org")
    waiting = confirmed(webinar, "waiting@example.org")
    services.webinar_publish(
        actor=moderator, meeting=webinar_meeting, abstract="x", presenters=[], capacity=4
    )
    waiting.refresh_from_db()
    assert waiting.state == State.OFFERED


# --- Emails and calendar files ----------------------------------------------------------


def test_confirmation_email_carries_a_calendar_file_with_the_join_link_not_the_video(webinar):
    registration = confirmed(webinar, "rita@example.org")
    message = sent_to("rita@example.org")[-1]
    calendar = calendar_of(message)
    assert calendar["METHOD"] == "REQUEST"
    event = event_of(calendar)
    assert str(event["UID"]).startswith(f"webinar-{webinar.meeting.pk}@")
    assert f"/w/{registration.token}/" in str(event["LOCATION"])
    assert "video.example.org" not in calendar.to_ical().decode()
    assert "secret plans" not in message.body


def test_emails_are_in_the_registrants_language(webinar):
    confirmed(webinar, "rita@example.org", language="de")
    messages = sent_to("rita@example.org")
    assert messages[0].subject.startswith("Bitte bestätigen")
    assert messages[1].subject.startswith("Sie sind angemeldet")


def test_moving_the_webinar_sends_an_update_with_a_higher_sequence(
    webinar, webinar_meeting, moderator, public_changes
):
    confirmed(webinar, "rita@example.org")
    first = event_of(calendar_of(sent_to("rita@example.org")[-1]))
    meeting_services.meeting_update(
        actor=moderator,
        meeting=webinar_meeting,
        data={"starts_at": later(days=4), "ends_at": later(days=4, hours=1)},
    )
    update = sent_to("rita@example.org")[-1]
    assert update.subject.startswith("New time")
    event = event_of(calendar_of(update))
    assert event["UID"] == first["UID"]
    assert int(event["SEQUENCE"]) > int(first["SEQUENCE"])
    assert event.decoded("DTSTART") == webinar_meeting.starts_at.replace(microsecond=0)
    assert webinar_meeting.group_id in public_changes


def test_cancelling_the_webinar_sends_a_calendar_cancellation(webinar, webinar_meeting, moderator):
    confirmed(webinar, "rita@example.org")
    first = event_of(calendar_of(sent_to("rita@example.org")[-1]))
    meeting_services.meeting_update(
        actor=moderator, meeting=webinar_meeting, data={"status": Meeting.Status.CANCELLED}
    )
    message = sent_to("rita@example.org")[-1]
    calendar = calendar_of(message)
    assert calendar["METHOD"] == "CANCEL"
    event = event_of(calendar)
    assert event["STATUS"] == "CANCELLED" and event["UID"] == first["UID"]
    assert int(event["SEQUENCE"]) > int(first["SEQUENCE"])


def test_cancelling_ones_registration_sends_a_calendar_cancellation(webinar):
    registration = confirmed(webinar, "rita@example.org")
    services.registration_cancel(registration=registration)
    calendar = calendar_of(sent_to("rita@example.org")[-1])
    assert calendar["METHOD"] == "CANCEL"


def test_email_is_dropped_if_its_registration_was_deleted(webinar):
    registration = register(webinar, "rita@example.org")
    registration.delete()
    send_due()
    assert mail.outbox == []
    assert OutboundEmail.objects.get(to="rita@example.org").dropped


# --- Reminders ---------------------------------------------------------------------------


def reminders(address):
    return [m for m in sent_to(address) if m.subject.startswith("Reminder")]


def test_reminders_go_24_hours_and_1_hour_before_once_each(webinar, webinar_meeting):
    confirmed(webinar, "rita@example.org")
    register(webinar, "pending@example.org")  # unconfirmed: no reminder
    starts = webinar_meeting.starts_at
    assert services.reminders_send(now=starts - datetime.timedelta(hours=24, minutes=1)) == 0
    assert services.reminders_send(now=starts - datetime.timedelta(hours=24)) == 1
    assert services.reminders_send(now=starts - datetime.timedelta(hours=23)) == 0
    assert services.reminders_send(now=starts - datetime.timedelta(minutes=60)) == 1
    assert services.reminders_send(now=starts - datetime.timedelta(minutes=10)) == 0
    assert len(reminders("rita@example.org")) == 2
    assert reminders("pending@example.org") == []


def test_reminders_move_with_the_webinar(webinar, webinar_meeting, moderator):
    confirmed(webinar, "rita@example.org")
    old_start = webinar_meeting.starts_at
    assert services.reminders_send(now=old_start - datetime.timedelta(hours=23)) == 1
    new_start = old_start + datetime.timedelta(days=2)
    meeting_services.meeting_update(
        actor=moderator,
        meeting=webinar_meeting,
        data={"starts_at": new_start, "ends_at": new_start + datetime.timedelta(hours=1)},
    )
    # At the old reminder time nothing more; at the new one, again.
    assert services.reminders_send(now=old_start - datetime.timedelta(minutes=59)) == 0
    assert services.reminders_send(now=new_start - datetime.timedelta(hours=23)) == 1


def test_reminder_offsets_are_stored_on_the_webinar(webinar, webinar_meeting):
    webinar.reminder_offsets = [180]
    webinar.save()
    confirmed(webinar, "rita@example.org")
    starts = webinar_meeting.starts_at
    assert services.reminders_send(now=starts - datetime.timedelta(hours=23)) == 0
    assert services.reminders_send(now=starts - datetime.timedelta(hours=3)) == 1


# --- After the webinar: follow-up and retention ----------------------------------------------


def test_follow_up_goes_once_after_the_end_with_the_join_form(webinar, webinar_meeting):
    confirmed(webinar, "rita@example.org")
    ends = webinar_meeting.ends_at
    assert services.follow_ups_send(now=ends - datetime.timedelta(minutes=1)) == 0
    assert services.follow_ups_send(now=ends + datetime.timedelta(minutes=1)) == 1
    assert services.follow_ups_send(now=ends + datetime.timedelta(minutes=2)) == 0
    message = sent_to("rita@example.org")[-1]
    assert f"/join/?group={webinar_meeting.group_id}" in message.body


@override_settings(WEBINAR_RETENTION_DAYS=30)
def test_personal_data_delete_keeps_only_those_who_asked_to_be_kept_informed(
    webinar, webinar_meeting
):
    confirmed(webinar, "gone@example.org", name="Gone Person")
    confirmed(webinar, "kept@example.org", keep_informed=True)
    ends = webinar_meeting.ends_at
    assert services.personal_data_delete(now=ends + datetime.timedelta(days=29)) == 0
    assert services.personal_data_delete(now=ends + datetime.timedelta(days=30, minutes=1)) == 1
    assert list(Registration.objects.values_list("email", flat=True)) == ["kept@example.org"]
    assert not OutboundEmail.objects.filter(to="gone@example.org").exists()
    assert OutboundEmail.objects.filter(to="kept@example.org").exists()
    entry = AuditEntry.objects.get(action="webinar.personal_data_deleted")
    logged = f"{entry.summary} {entry.data}"
    assert "gone@example.org" not in logged and "Gone Person" not in logged
    assert entry.data["deleted"] == 1
    # Once only.
    assert services.personal_data_delete(now=ends + datetime.timedelta(days=40)) == 0
    assert AuditEntry.objects.filter(action="webinar.personal_data_deleted").count() == 1


def test_attendance_mark_refused_if_member(webinar, member, moderator):
    registration = confirmed(webinar, "rita@example.org")
    with pytest.raises(PermissionDenied):
        services.attendance_mark(actor=member, registration=registration, attended=True)
    services.attendance_mark(actor=moderator, registration=registration, attended=True)
    assert Registration.objects.get().attended is True


def test_follow_up_links_the_groups_results_where_named(webinar, webinar_meeting, settings):
    settings.WEBINAR_RESULTS_URL_NAME = "groups:detail"  # any URL taking the group's slug
    confirmed(webinar, "rita@example.org")
    services.follow_ups_send(now=webinar_meeting.ends_at + datetime.timedelta(minutes=1))
    message = sent_to("rita@example.org")[-1]
    assert f"/groups/{webinar_meeting.group.slug}/" in message.body


def test_periodic_work_is_registered_with_the_worker_chain():
    from core import periodic

    names = set(periodic.registered())
    assert {"webinars.expire", "webinars.reminders", "webinars.follow_ups",
            "webinars.retention"} <= names  # fmt: skip
    assert periodic.registered()["webinars.reminders"] is services.reminders_send


def test_renaming_a_webinar_meeting_tells_the_public_pages(
    webinar, webinar_meeting, moderator, public_changes
):
    public_changes.clear()
    meeting_services.meeting_update(
        actor=moderator, meeting=webinar_meeting, data={"title": "A new title"}
    )
    assert webinar_meeting.group_id in public_changes and None in public_changes


def test_webinar_publish_invites_a_presenter_as_an_expiring_guest(
    webinar_meeting, moderator, member, settings
):
    from groups.models import Invitation, Role

    settings.WEBINAR_PRESENTER_GUEST_DAYS = 14
    webinar = services.webinar_publish(
        actor=moderator,
        meeting=webinar_meeting,
        abstract="x",
        presenters=[
            ("Ada Lovelace", "Uni A", "ada@example.org"),
            ("Mia Member", "Uni A", member.email),  # in the group already: left alone
            ("Bo", "", ""),
        ],
        capacity=5,
    )
    assert webinar.presenters_invited == ["ada@example.org"]
    invitation = Invitation.objects.get()
    assert invitation.email == "ada@example.org" and invitation.role == Role.GUEST
    assert invitation.access_until == webinar_meeting.ends_at + datetime.timedelta(days=14)
    assert webinar.presenters.count() == 3
    assert "ada@example.org" not in str(list(webinar.presenters.values()))


def test_registration_confirm_refused_if_deleted_meanwhile(webinar):
    registration = register(webinar, "rita@example.org")
    Registration.objects.filter(pk=registration.pk).delete()
    with pytest.raises(ValidationError):
        services.registration_confirm(registration=registration)
    with pytest.raises(ValidationError):
        services.registration_cancel(registration=registration)


def test_follow_up_links_the_groups_published_results_by_default(webinar, webinar_meeting):
    confirmed(webinar, "rita@example.org")
    services.follow_ups_send(now=webinar_meeting.ends_at + datetime.timedelta(minutes=1))
    message = sent_to("rita@example.org")[-1]
    assert f"/groups/{webinar_meeting.group.slug}/results/" in message.body


def test_registrant_emails_carry_html_with_the_text_s_words_escaped(webinar):
    register(webinar, "rita@example.org", name="Rita <b>Bold</b>")
    row = OutboundEmail.objects.get(to="rita@example.org")
    assert "Hello Rita <b>Bold</b>," in row.text
    assert "Hello Rita &lt;b&gt;Bold&lt;/b&gt;," in row.html and "<b>" not in row.html
    (message,) = sent_to("rita@example.org")
    ((html, mimetype),) = message.alternatives
    assert mimetype == "text/html" and "Confirm my registration</a>" in html
