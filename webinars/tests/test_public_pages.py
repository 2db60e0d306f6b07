"""The webinar section on the public pages (public_pages renders the
sections of PUBLIC_SECTIONS and caches each page per language until
``public.changed``)."""

from django.test import Client, TestCase
from django.urls import reverse

from meetings import services as meeting_services
from meetings.models import Meeting

from .conftest import confirmed


def test_public_home_and_group_page_show_the_upcoming_webinar(webinar, group):
    visitor = Client()
    for url in (reverse("public:home"), reverse("public:group", kwargs={"slug": group.slug})):
        page = visitor.get(url)
        assert page.status_code == 200
        assert "Labour migration: what works" in page.text
        assert webinar.get_absolute_url() in page.text
        assert "video.example.org" not in page.text and "secret plans" not in page.text


def test_public_home_shows_a_changed_webinar_at_once(webinar, webinar_meeting, moderator):
    visitor = Client()
    home = reverse("public:home")
    assert "Labour migration: what works" in visitor.get(home).text  # now cached
    with TestCase.captureOnCommitCallbacks(execute=True):
        meeting_services.meeting_update(
            actor=moderator, meeting=webinar_meeting, data={"title": "Renamed webinar"}
        )
    assert "Renamed webinar" in visitor.get(home).text
    with TestCase.captureOnCommitCallbacks(execute=True):
        meeting_services.meeting_update(
            actor=moderator, meeting=webinar_meeting, data={"status": Meeting.Status.CANCELLED}
        )
    assert "Cancelled" in visitor.get(home).text


def test_public_home_is_unchanged_by_a_registration(webinar):
    confirmed(webinar, "rita@example.org")
    assert "rita@example.org" not in Client().get(reverse("public:home")).text
