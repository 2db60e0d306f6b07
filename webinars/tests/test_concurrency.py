"""The capacity under concurrency: real threads, each with its own database
connection, released together by a barrier. On PostgreSQL they race and the
webinar's row lock decides; on SQLite writers queue (``BEGIN IMMEDIATE``).
Run with ``DATABASE_URL=postgres://...`` for the PostgreSQL case."""

import datetime

import pytest
from django.utils import timezone

from meetings.models import Meeting
from tests.concurrency import run_together
from webinars import services
from webinars.models import Registration, Webinar

pytestmark = pytest.mark.django_db(transaction=True)

State = Registration.State
PEOPLE = 50


@pytest.fixture
def nearly_full(group, moderator):
    """A webinar of 10 places, 7 taken."""
    starts = timezone.now() + datetime.timedelta(days=2)
    meeting = Meeting.objects.create(
        group=group,
        title="Crowded",
        kind=Meeting.Kind.WEBINAR,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(hours=1),
    )
    webinar = Webinar.objects.create(
        meeting=meeting, abstract="x", capacity=10, published_at=timezone.now()
    )
    for number in range(7):
        Registration.objects.create(
            webinar=webinar,
            name=f"Early {number}",
            email=f"early{number}@example.org",
            language="en",
            token=Registration.new_token(),
            state=State.CONFIRMED,
            confirmed_at=timezone.now(),
        )
    return webinar


def test_fifty_confirmations_at_once_never_exceed_the_capacity(nearly_full):
    pending = [
        Registration.objects.create(
            webinar=nearly_full,
            name=f"Late {number}",
            email=f"late{number}@example.org",
            language="en",
            token=Registration.new_token(),
            state=State.PENDING,
            link_expires_at=timezone.now() + datetime.timedelta(hours=48),
        )
        for number in range(PEOPLE)
    ]
    outcomes = run_together(
        *[lambda r=r: services.registration_confirm(registration=r) for r in pending]
    )
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    states = [o.state for o in outcomes]
    assert states.count(State.CONFIRMED) == 3
    assert states.count(State.WAITING) == PEOPLE - 3
    assert nearly_full.registrations.filter(state=State.CONFIRMED).count() == 10
    assert nearly_full.registrations.count() == 7 + PEOPLE


def address(number: int) -> str:
    """Ten people register the same address (in different cases)."""
    if number < 10:
        return "SAME@example.org" if number % 2 else "same@example.org"
    return f"person{number}@example.org"


def test_fifty_registrations_at_once_each_stored_once(nearly_full):
    jobs = [
        lambda number=number: services.registration_create(
            webinar=nearly_full, name=f"Person {number}", email=address(number), language="en"
        )
        for number in range(PEOPLE)
    ]
    outcomes = run_together(*jobs)
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    assert nearly_full.registrations.filter(state=State.PENDING).count() == PEOPLE - 9
    assert nearly_full.registrations.filter(email__iexact="same@example.org").count() == 1
