import pytest
from django.core.management import call_command

from webinars.models import Presenter, Webinar

pytestmark = pytest.mark.django_db


def test_seed_demo_publishes_the_upcoming_webinars_and_again_changes_nothing(client):
    call_command("seed_demo", verbosity=0)
    webinars = list(Webinar.objects.select_related("meeting"))
    assert webinars and all(w.is_public for w in webinars)
    counts = (Webinar.objects.count(), Presenter.objects.count())
    call_command("seed_demo", verbosity=0)
    assert (Webinar.objects.count(), Presenter.objects.count()) == counts
    page = client.get(webinars[0].get_absolute_url())
    assert page.status_code == 200
    assert webinars[0].meeting.title in page.text
    assert "interim findings" in page.text
    home = client.get("/")
    assert webinars[0].meeting.title in home.text
