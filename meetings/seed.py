"""Demo data of the meetings app, hooked into ``manage.py seed_demo``.

Each demo group gets an upcoming working session that starts in a few minutes
(so its chat room is open in the demo), a past one with published minutes, and
a public webinar. Running it again moves the times along with the clock.
"""

import datetime

from django.db.models import F
from django.utils import timezone

from groups.models import WorkingGroup
from groups.seed import DEMO_GROUPS

from . import services
from .models import Meeting

AGENDA = """1. Welcome and round of introductions
2. Where our draft recommendations stand
3. **Next steps** and who takes which part
"""
MINUTES = """## Decisions

- The draft recommendations go to the whole group for comments.
- Two outside experts will be invited to the webinar.

## Actions

- Moderators: circulate the draft by Friday.
"""


def seed_meetings(users: dict) -> None:
    now = timezone.now().replace(second=0, microsecond=0)
    for slug, name, _theme, moderator_key in DEMO_GROUPS:
        group = WorkingGroup.objects.get(slug=slug)
        moderator = users[moderator_key]
        soon = now + datetime.timedelta(minutes=10)
        past = timezone.localtime(now - datetime.timedelta(days=14)).replace(hour=10, minute=0)
        webinar = timezone.localtime(now + datetime.timedelta(days=21)).replace(hour=15, minute=0)
        _meeting(
            group,
            moderator,
            title="Working session: draft recommendations",
            kind=Meeting.Kind.SESSION,
            starts_at=soon,
            ends_at=soon + datetime.timedelta(minutes=90),
            agenda=AGENDA,
            video_link="https://meet.example.org/" + slug,
        )
        _meeting(
            group,
            moderator,
            title="Kick-off session",
            kind=Meeting.Kind.SESSION,
            starts_at=past,
            ends_at=past + datetime.timedelta(hours=2),
            agenda="1. Who we are\n2. Our questions\n3. How we work together",
            video_link="https://meet.example.org/" + slug,
            minutes=MINUTES,
            minutes_published_at=past + datetime.timedelta(days=1),
        )
        _meeting(
            group,
            moderator,
            title=f"Public webinar: {name}",
            kind=Meeting.Kind.WEBINAR,
            starts_at=webinar,
            ends_at=webinar + datetime.timedelta(minutes=75),
            agenda="Presentation of our interim results, then questions from the audience.",
            video_link="https://webinar.example.org/" + slug,
        )


def _meeting(group, moderator, *, title, **fields) -> Meeting:
    fields |= {"status": Meeting.Status.SCHEDULED, "updated_at": timezone.now()}
    meeting, _created = Meeting.objects.update_or_create(
        group=group,
        title=title,
        # Moved times are a new version for the calendars that subscribed.
        defaults={**fields, "revision": F("revision") + 1},
        create_defaults={**fields, "created_by": moderator},
    )
    meeting.refresh_from_db()
    services.meeting_room(meeting)
    return meeting
