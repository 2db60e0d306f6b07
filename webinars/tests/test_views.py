import csv
import datetime
import io

import pytest
from django.conf import settings
from django.core import mail
from django.core.cache import cache
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone

from core.models import OutboundEmail
from core.outbox import send_due
from discussions import services as discussion_services
from documents.models import Document
from groups.models import Role
from meetings.models import Meeting
from tests.fixtures.people import join
from webinars import public
from webinars.models import Registration

from .conftest import confirmed, register

State = Registration.State


@pytest.fixture
def visitor():
    """A browser without a session, with CSRF checks on as in real life."""
    return Client(enforce_csrf_checks=False)


def form(**fields):
    return {
        "name": "Rita Registrant",
        "email": "rita@example.org",
        "affiliation": "NGO",
        "consent": "on",
        "time_zone": "Europe/Berlin",
        "website": "",
        **fields,
    }


def detail_url(webinar):
    return reverse("webinars:detail", kwargs={"pk": webinar.pk})


# --- The public page ---------------------------------------------------------------------


def test_public_page_shows_the_announcement_without_video_link_or_session(visitor, webinar):
    response = visitor.get(detail_url(webinar))
    assert response.status_code == 200
    text = response.text
    assert "Labour migration: what works" in text and "Dr. Ada Lovelace" in text
    assert "<strong>skills partnerships</strong>" in text
    assert "video.example.org" not in text and "secret-room" not in text
    assert "secret plans" not in text  # the members' agenda
    assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert text.count("<h1") == 1


def test_public_page_is_404_if_not_published(visitor, webinar_meeting):
    assert visitor.get(reverse("webinars:detail", kwargs={"pk": 999})).status_code == 404


def test_public_pages_show_no_members_only_content(visitor, webinar, member, group, moderator):
    thread = discussion_services.thread_create(
        actor=member, group=group, title="Internal thread title", body="Internal post body"
    )
    assert thread.pk
    Document.objects.none()  # documents: the page reads nothing of them either
    registration = confirmed(webinar, "rita@example.org")
    urls = [
        detail_url(webinar),
        reverse("webinars:registered", kwargs={"pk": webinar.pk}),
        reverse("webinars:privacy"),
        reverse("webinars:confirm", kwargs={"token": registration.token}),
        reverse("webinars:cancel", kwargs={"token": registration.token}),
        reverse("webinars:join", kwargs={"token": registration.token}),
    ]
    for url in urls:
        response = visitor.get(url)
        assert response.status_code == 200, url
        for secret in (
            "Internal thread title",
            "Internal post body",
            "secret plans",
            "video.example.org",
            member.email,
            moderator.email,
        ):
            assert secret not in response.text, (url, secret)
        assert settings.SESSION_COOKIE_NAME not in response.cookies, url


def test_public_section_lists_upcoming_webinars_only(rf, webinar, webinar_meeting, other_group):
    section = public.section(rf.get("/"))
    assert section["template"] == "webinars/public/_section.html"
    assert [w.pk for w in section["context"]["webinars"]] == [webinar.pk]
    assert public.section(rf.get("/"), group=webinar_meeting.group)["context"]["webinars"]
    assert public.section(rf.get("/"), group=other_group) is None
    Meeting.objects.filter(pk=webinar_meeting.pk).update(
        starts_at=timezone.now() - datetime.timedelta(hours=3),
        ends_at=timezone.now() - datetime.timedelta(hours=2),
    )
    assert public.section(rf.get("/")) is None


def test_public_section_renders_without_video_link(rf, webinar):
    from django.template.loader import render_to_string

    section = public.section(rf.get("/"))
    html = render_to_string(section["template"], section["context"])
    assert "Labour migration: what works" in html and "video.example.org" not in html


def test_public_section_costs_one_query_whatever_the_number(rf, webinar, django_assert_num_queries):
    with django_assert_num_queries(1):
        public.section(rf.get("/"))


# --- Registration ---------------------------------------------------------------------------


def test_register_creates_a_pending_registration_and_redirects(visitor, webinar):
    response = visitor.post(detail_url(webinar), form(keep_informed="on"))
    assert response.status_code == 302
    assert response["Location"] == reverse("webinars:registered", kwargs={"pk": webinar.pk})
    registration = Registration.objects.get()
    assert registration.state == State.PENDING
    assert registration.keep_informed and registration.time_zone == "Europe/Berlin"
    assert registration.language == "en"
    assert settings.SESSION_COOKIE_NAME not in response.cookies


def test_register_keeps_keep_informed_off_unless_ticked(visitor, webinar):
    page = visitor.get(detail_url(webinar)).text
    assert (
        'name="keep_informed"' in page
        and "checked" not in page.split('name="keep_informed"')[1][:80]
    )
    visitor.post(detail_url(webinar), form())
    assert Registration.objects.get().keep_informed is False


def test_register_in_german_stores_the_language(visitor, webinar):
    visitor.post(detail_url(webinar), form(), headers={"Accept-Language": "de"})
    assert Registration.objects.get().language == "de"


def test_register_refused_without_consent_changes_nothing(visitor, webinar):
    response = visitor.post(detail_url(webinar), form(consent=""))
    assert response.status_code == 400
    assert not Registration.objects.exists() and not OutboundEmail.objects.exists()


def test_register_answers_alike_whether_or_not_the_address_is_registered(visitor, webinar):
    confirmed(webinar, "known@example.org")
    known = visitor.post(detail_url(webinar), form(email="known@example.org"))
    unknown = visitor.post(detail_url(webinar), form(email="unknown@example.org"))
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert Registration.objects.filter(email="known@example.org").count() == 1


def test_register_with_filled_honeypot_stores_nothing(visitor, webinar):
    response = visitor.post(detail_url(webinar), form(website="http://spam.example"))
    assert response.status_code == 302
    assert not Registration.objects.exists() and not OutboundEmail.objects.exists()


def test_register_refused_after_the_start(visitor, webinar, webinar_meeting):
    Meeting.objects.filter(pk=webinar_meeting.pk).update(
        starts_at=timezone.now() - datetime.timedelta(minutes=5)
    )
    page = visitor.get(detail_url(webinar))
    assert "registration is closed" in page.text and "<form" not in page.text.split("Register")[-1]
    response = visitor.post(detail_url(webinar), form())
    assert response.status_code == 400
    assert not Registration.objects.exists()


def test_register_says_full_and_puts_on_waiting_list(visitor, webinar):
    for number in range(3):
        confirmed(webinar, f"p{number}@example.org")
    assert "waiting list" in visitor.get(detail_url(webinar)).text


def test_register_rate_limited_per_connection(visitor, webinar, settings):
    settings.WEBINAR_REGISTER_IP_RATE_LIMIT = "2/3600"
    for number in range(2):
        assert (
            visitor.post(detail_url(webinar), form(email=f"a{number}@example.org")).status_code
            == 302
        )
    response = visitor.post(detail_url(webinar), form(email="a9@example.org"))
    assert response.status_code == 429
    assert "Too many registrations from your connection" in response.text
    assert Registration.objects.count() == 2


def test_register_rate_limited_per_address(webinar, settings):
    settings.WEBINAR_REGISTER_EMAIL_RATE_LIMIT = "2/3600"
    for number in range(2):
        client = Client(REMOTE_ADDR=f"10.0.0.{number}")
        assert client.post(detail_url(webinar), form()).status_code == 302
    response = Client(REMOTE_ADDR="10.0.0.9").post(detail_url(webinar), form())
    assert response.status_code == 429
    assert OutboundEmail.objects.filter(to="rita@example.org").count() == 2


# --- Personal links --------------------------------------------------------------------------


def test_confirm_link_shows_a_button_and_confirms_on_post(visitor, webinar):
    registration = register(webinar, "rita@example.org")
    url = reverse("webinars:confirm", kwargs={"token": registration.token})
    page = visitor.get(url)
    assert page.status_code == 200 and "Confirm my registration" in page.text
    assert page["Referrer-Policy"] == "same-origin"
    assert Registration.objects.get().state == State.PENDING  # a link scanner confirms nothing
    response = visitor.post(url)
    assert response.status_code == 200 and "Your place is confirmed" in response.text
    assert Registration.objects.get().state == State.CONFIRMED


def test_confirm_link_expired_says_so_and_changes_nothing(visitor, webinar):
    registration = register(webinar, "rita@example.org")
    Registration.objects.filter(pk=registration.pk).update(
        link_expires_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    url = reverse("webinars:confirm", kwargs={"token": registration.token})
    assert "This link has expired" in visitor.get(url).text
    response = visitor.post(url)
    assert response.status_code == 400 and "expired" in response.text
    assert Registration.objects.get().state == State.PENDING


@pytest.mark.parametrize("token", ["x", "not-a-token-of-anyone-at-all-123", "a" * 300])
def test_personal_link_with_invalid_token_is_404_with_a_clear_page(visitor, webinar, token):
    for name in ("webinars:join", "webinars:confirm", "webinars:cancel", "webinars:calendar"):
        response = visitor.get(reverse(name, kwargs={"token": token}))
        assert response.status_code == 404
        assert "This link is not valid" in response.text


def test_join_link_redirects_only_inside_the_window(visitor, webinar, webinar_meeting):
    registration = confirmed(webinar, "rita@example.org")
    url = reverse("webinars:join", kwargs={"token": registration.token})
    now = timezone.now()

    def starts_in(minutes):
        Meeting.objects.filter(pk=webinar_meeting.pk).update(
            starts_at=now + datetime.timedelta(minutes=minutes),
            ends_at=now + datetime.timedelta(minutes=minutes + 60),
        )

    starts_in(31)
    early = visitor.get(url)
    assert early.status_code == 200 and "opens 30 minutes before" in early.text
    assert "video.example.org" not in early.text
    starts_in(29)
    inside = visitor.get(url)
    assert inside.status_code == 302
    assert inside["Location"] == "https://video.example.org/secret-room-4711"
    starts_in(-59)
    assert visitor.get(url).status_code == 302
    starts_in(-61)
    late = visitor.get(url)
    assert late.status_code == 200 and "over" in late.text


def test_join_link_refused_if_not_confirmed(visitor, webinar, webinar_meeting):
    registration = register(webinar, "rita@example.org")
    Meeting.objects.filter(pk=webinar_meeting.pk).update(
        starts_at=timezone.now() + datetime.timedelta(minutes=5)
    )
    response = visitor.get(reverse("webinars:join", kwargs={"token": registration.token}))
    assert response.status_code == 200 and "confirmed registrations only" in response.text


def test_cancel_link_cancels_and_frees_the_place(visitor, webinar):
    registration = confirmed(webinar, "rita@example.org")
    url = reverse("webinars:cancel", kwargs={"token": registration.token})
    assert Registration.objects.get().state == State.CONFIRMED  # a GET cancels nothing
    assert "Cancel my registration" in visitor.get(url).text
    response = visitor.post(url)
    assert "Your registration is cancelled" in response.text
    assert Registration.objects.get().state == State.CANCELLED


def test_calendar_link_gives_the_registrants_calendar_file(visitor, webinar):
    registration = confirmed(webinar, "rita@example.org")
    response = visitor.get(reverse("webinars:calendar", kwargs={"token": registration.token}))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    assert b"METHOD:REQUEST" in response.content and b"video.example.org" not in response.content


# --- Moderators --------------------------------------------------------------------------------


def test_publish_page_publishes_the_webinar(client, moderator, webinar_meeting):
    client.force_login(moderator)
    url = reverse("webinars:publish", kwargs={"pk": webinar_meeting.pk})
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "abstract": "About it",
            "presenters": "Ada Lovelace; Uni A; ada@example.org\n\nBo",
            "capacity": "25",
        },
    )
    assert response.status_code == 302
    from groups.models import Invitation

    assert Invitation.objects.get().email == "ada@example.org"
    webinar = webinar_meeting.webinar
    assert webinar.capacity == 25
    assert [(p.name, p.affiliation) for p in webinar.presenters.all()] == [
        ("Ada Lovelace", "Uni A"),
        ("Bo", ""),
    ]


def test_publish_page_refuses_bad_input_and_changes_nothing(client, moderator, webinar_meeting):
    client.force_login(moderator)
    url = reverse("webinars:publish", kwargs={"pk": webinar_meeting.pk})
    for data in (
        {"abstract": "x", "capacity": "0"},
        {"abstract": "x", "capacity": "many"},
        {"abstract": "", "capacity": "3"},
        {"abstract": "x", "capacity": "3", "presenters": "; Uni without a name"},
        {"abstract": "x", "capacity": "3", "presenters": "Ada; Uni A; not-an-address"},
    ):
        assert client.post(url, data).status_code == 400
    assert not hasattr(Meeting.objects.get(pk=webinar_meeting.pk), "webinar_cache")
    assert not Registration.objects.exists()
    from webinars.models import Webinar

    assert not Webinar.objects.exists()


def test_publish_page_is_403_for_members_and_404_for_outsiders(
    client, member, make_user, webinar_meeting
):
    url = reverse("webinars:publish", kwargs={"pk": webinar_meeting.pk})
    client.force_login(member)
    assert client.get(url).status_code == 403
    client.force_login(make_user("outsider@example.org"))
    assert client.get(url).status_code == 404


def test_registrations_page_and_export_for_moderators(
    client, moderator, webinar, django_assert_max_num_queries
):
    confirmed(webinar, "rita@example.org", name="=Rita")
    register(webinar, "pending@example.org")
    client.force_login(moderator)
    page = client.get(reverse("webinars:registrations", kwargs={"pk": webinar.meeting.pk}))
    assert page.status_code == 200
    assert "rita@example.org" in page.text and "pending@example.org" in page.text
    export = client.get(reverse("webinars:export", kwargs={"pk": webinar.meeting.pk}))
    assert export["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[0][0] == "Name" and len(rows) == 3
    assert rows[1][:2] == ["'=Rita", "rita@example.org"]  # not a formula


def test_registrations_page_costs_the_same_queries_for_more_rows(
    client, moderator, webinar, django_assert_num_queries
):
    client.force_login(moderator)
    url = reverse("webinars:registrations", kwargs={"pk": webinar.meeting.pk})
    confirmed(webinar, "one@example.org")
    client.get(url)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        client.get(url)
    for number in range(5):
        register(webinar, f"more{number}@example.org")
    with CaptureQueriesContext(connection) as more:
        client.get(url)
    assert len(more) == len(one)


def test_registrations_export_is_404_for_outsiders(client, make_user, webinar):
    client.force_login(make_user("outsider@example.org"))
    assert (
        client.get(reverse("webinars:export", kwargs={"pk": webinar.meeting.pk})).status_code == 404
    )


def test_attendance_marks(client, moderator, member, webinar, group):
    registration = confirmed(webinar, "rita@example.org")
    url = reverse("webinars:attendance", kwargs={"pk": registration.pk})
    client.force_login(member)
    assert client.post(url, {"attended": "yes"}).status_code == 403
    client.force_login(moderator)
    assert client.post(url, {"attended": "yes"}).status_code == 302
    assert Registration.objects.get().attended is True
    client.post(url, {"attended": "maybe"})
    assert Registration.objects.get().attended is True
    client.post(url, {"attended": ""})
    assert Registration.objects.get().attended is None


def test_moderator_pages_need_mfa(client, make_user, group, webinar):
    nomfa = make_user("nomfa@example.org")
    join(nomfa, group, Role.MODERATOR)
    client.force_login(nomfa)
    response = client.get(reverse("webinars:registrations", kwargs={"pk": webinar.meeting.pk}))
    assert response.status_code == 302 and response["Location"] == reverse("mfa_index")


def test_end_to_end_with_emails(visitor, webinar):
    visitor.post(detail_url(webinar), form())
    send_due()
    (message,) = mail.outbox
    confirm_path = message.body.split(settings.SITE_URL)[1].split()[0]
    assert visitor.post(confirm_path).status_code == 200
    assert Registration.objects.get().state == State.CONFIRMED


def test_register_refuses_an_overlong_address_without_error(visitor, webinar):
    response = visitor.post(detail_url(webinar), form(email="a" * 250 + "@example.org"))
    assert response.status_code == 400
    assert not Registration.objects.exists()


def test_register_ignores_a_time_zone_that_is_no_zone(visitor, webinar):
    visitor.post(detail_url(webinar), form(time_zone="../../etc/passwd"))
    assert Registration.objects.get().time_zone == ""


def test_public_page_costs_the_same_queries_for_more_registrations(visitor, webinar):
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = detail_url(webinar)
    confirmed(webinar, "one@example.org")
    visitor.get(url)
    cache.clear()  # the page rendered afresh
    with CaptureQueriesContext(connection) as one:
        visitor.get(url)
    for number in range(5):
        confirmed(webinar, f"more{number}@example.org")
    cache.clear()
    with CaptureQueriesContext(connection) as more:
        visitor.get(url)
    assert len(more) == len(one) <= 5


def test_register_refuses_a_name_of_several_lines(visitor, webinar):
    response = visitor.post(detail_url(webinar), form(name="Rita\r\nBcc: x@example.org"))
    assert response.status_code == 400 and "one line" in response.text
    assert not Registration.objects.exists()


def csrf_of(response):
    import re

    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.text).group(1)


def test_public_page_is_rendered_once_and_each_visitor_gets_a_working_csrf_token(webinar):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    url = detail_url(webinar)
    page_one = first.get(url)
    with CaptureQueriesContext(connection) as queries:
        page_two = second.get(url)
    assert len(queries) == 0  # served from the cache: nothing looked up, nothing rendered
    assert "placeholder" not in page_two.text
    assert csrf_of(page_one) != csrf_of(page_two)
    assert settings.SESSION_COOKIE_NAME not in page_two.cookies
    response = second.post(url, form(csrfmiddlewaretoken=csrf_of(page_two)))
    assert response.status_code == 302
    assert Registration.objects.count() == 1


def test_public_page_shows_what_changed_at_once(visitor, webinar, webinar_meeting, moderator):
    from meetings import services as meeting_services

    url = detail_url(webinar)
    assert "3 places left" in visitor.get(url).text  # now stored
    with TestCase.captureOnCommitCallbacks(execute=True):
        confirmed(webinar, "rita@example.org")
    assert "2 places left" in visitor.get(url).text
    with TestCase.captureOnCommitCallbacks(execute=True):
        meeting_services.meeting_update(
            actor=moderator, meeting=webinar_meeting, data={"title": "A brand new title"}
        )
    assert "A brand new title" in visitor.get(url).text
    with TestCase.captureOnCommitCallbacks(execute=True):
        meeting_services.meeting_update(
            actor=moderator, meeting=webinar_meeting, data={"status": Meeting.Status.CANCELLED}
        )
    assert "This webinar is cancelled." in visitor.get(url).text


def test_stored_public_page_closes_registration_at_the_start(visitor, webinar, webinar_meeting):
    import time

    from django.core.cache import cache

    # Starts in two seconds (written without the hooks: only the clock moves).
    Meeting.objects.filter(pk=webinar_meeting.pk).update(
        starts_at=timezone.now() + datetime.timedelta(seconds=2)
    )
    cache.clear()
    url = detail_url(webinar)
    assert 'name="email"' in visitor.get(url).text  # stored until the start
    time.sleep(2.1)
    page = visitor.get(url)
    assert "registration is closed" in page.text and 'name="email"' not in page.text


def test_unpublish_takes_the_stored_public_page_down(visitor, webinar, webinar_meeting, moderator):
    from groups.models import WorkingGroup

    url = detail_url(webinar)
    home = reverse("public:home")
    assert visitor.get(url).status_code == 200  # now stored
    assert url in visitor.get(home).text
    client = Client()
    client.force_login(moderator)
    unpublish = reverse("webinars:unpublish", kwargs={"pk": webinar_meeting.pk})
    assert client.get(unpublish).status_code == 405
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(unpublish, follow=True)
    assert "The public page is taken down." in response.text
    assert "Not published: the public page is taken down." in response.text
    assert visitor.get(url).status_code == 404
    assert url not in visitor.get(home).text
    # An archived group's webinar is not public either, stored page or not.
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post(
            reverse("webinars:publish", kwargs={"pk": webinar_meeting.pk}),
            {"abstract": "Back.", "presenters": "", "capacity": "3"},
        )
    assert visitor.get(url).status_code == 200
    WorkingGroup.objects.filter(pk=webinar_meeting.group_id).update(archived=True)
    cache.clear()
    assert visitor.get(url).status_code == 404


def test_unpublish_with_registrations_says_why_and_changes_nothing(
    visitor, webinar, webinar_meeting, moderator
):
    confirmed(webinar, "rita@example.org")
    client = Client()
    client.force_login(moderator)
    response = client.post(
        reverse("webinars:unpublish", kwargs={"pk": webinar_meeting.pk}), follow=True
    )
    assert "1 person is registered or waiting" in response.text
    assert visitor.get(detail_url(webinar)).status_code == 200


def test_public_page_for_members_is_not_the_visitors_copy(client, member, webinar):
    url = detail_url(webinar)
    Client().get(url)  # a visitor's copy is stored
    client.force_login(member)
    assert "Sign out" in client.get(url).text or "Abmelden" in client.get(url).text
