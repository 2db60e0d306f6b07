"""Demo data of the webinars app, hooked into ``manage.py seed_demo``.

Every upcoming demo meeting of kind "webinar" is published with an abstract,
a capacity and a presenter, so that the public home shows upcoming
webinars. Written as rows, not through the services: these ask the acting
moderator for two-factor authentication, which the demo people have not set
up. Running it again changes nothing.
"""

from django.utils import timezone

from meetings.models import Meeting

from .models import Presenter, Webinar

ABSTRACT = (
    "The working group presents its **interim findings** and asks for your views: "
    "what is missing, what should the conference take up? Questions are welcome "
    "in the chat throughout."
)


def seed_webinars(users: dict) -> None:
    upcoming = Meeting.objects.filter(
        kind=Meeting.Kind.WEBINAR, starts_at__gt=timezone.now(), webinar__isnull=True
    )
    for meeting in upcoming:
        webinar = Webinar.objects.create(
            meeting=meeting, abstract=ABSTRACT, capacity=100, published_at=timezone.now()
        )
        Presenter.objects.create(
            webinar=webinar, name="Dr. Leila Nasser", affiliation="Centre for Migration Studies"
        )
