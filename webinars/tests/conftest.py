import datetime

import pytest
from django.utils import timezone

from core import hooks
from meetings.models import Meeting
from webinars import services
from webinars.models import Registration


@pytest.fixture
def webinar_meeting(group, moderator):
    starts = timezone.now() + datetime.timedelta(days=3)
    return Meeting.objects.create(
        group=group,
        title="Labour migration: what works",
        kind=Meeting.Kind.WEBINAR,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(hours=1, minutes=30),
        agenda="Members-only agenda: secret plans",
        video_link="https://video.example.org/secret-room-4711",
        created_by=moderator,
    )


@pytest.fixture
def webinar(webinar_meeting, moderator):
    return services.webinar_publish(
        actor=moderator,
        meeting=webinar_meeting,
        abstract="How **skills partnerships** work.",
        presenters=[("Dr. Ada Lovelace", "Uni A"), ("Bo Presenter", "")],
        capacity=3,
    )


@pytest.fixture
def public_changes():
    """The ``public.changed`` calls made (group ids), as ``public`` would hear them."""
    calls = []

    def listen(*, group_id):
        calls.append(group_id)

    hooks.register("public.changed", listen)
    yield calls
    hooks.unregister("public.changed", listen)


def register(webinar, email, *, name="Rita Registrant", language="en", **fields):
    services.registration_create(
        webinar=webinar, name=name, email=email, language=language, **fields
    )
    return Registration.objects.get(webinar=webinar, email__iexact=email)


def confirmed(webinar, email, **fields):
    return services.registration_confirm(registration=register(webinar, email, **fields))
