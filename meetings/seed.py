"""Demo data of the meetings app, hooked into ``manage.py seed_demo``.

Each demo group gets an upcoming working session that starts in a few minutes
(so its chat room is open in the demo, with a first message), a past one with
published minutes and the chat of that meeting, a public webinar, and a few
messages in the group's standing chat. Running it again moves the times
along with the clock; the chat is written once (a room with messages is
left as it is).

The messages of the standing room and the open one go through
``services.message_send``. The past meeting's chat cannot (its room is
closed, as it should be for anyone now): it is written as ``message_send``
writes, sequence numbers and events included, at the meeting's own time.
"""

import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.realtime import emit, next_seq
from groups.mentions import render_post
from groups.models import WorkingGroup
from groups.seed import DEMO_GROUPS, DEMO_MEMBERS

from . import services
from .models import ChatMessage, Meeting

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
        session = _meeting(
            group,
            moderator,
            title="Working session: draft recommendations",
            kind=Meeting.Kind.SESSION,
            starts_at=soon,
            ends_at=soon + datetime.timedelta(minutes=90),
            agenda=AGENDA,
            video_link="https://meet.example.org/" + slug,
        )
        kickoff = _meeting(
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
        people = [moderator] + [users[key] for key in DEMO_MEMBERS[slug]]
        lines = CHAT_DE if slug in GERMAN_GROUPS else CHAT_EN
        _history(services.meeting_room(kickoff), people, lines["kickoff"], kickoff.starts_at)
        _send(services.standing_room(group), people, lines["standing"])
        _send(services.meeting_room(session), people, lines["session"])


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


# Who says what, by position: 0 the moderator, then the group's members in
# the order of ``groups.seed.DEMO_MEMBERS`` (counted round when a group has
# fewer); ``{n}`` is the handle of person n, for a mention.
CHAT_EN = {
    "kickoff": [
        (
            0,
            "Welcome, everyone! A quick round first: your name, where you work, and "
            "one question you bring to this group.",
        ),
        (
            1,
            "Hello everyone. My question: how do we write "
            "recommendations a ministry can act on within a year?",
        ),
        (2, "Hi all. I would like to know what employers can do beyond compliance."),
        (3, "Good to meet you. Could we share the slides afterwards?"),
        (0, "Yes, they go into the documents today. Thanks for the reminder, @{3}."),
        (1, "Proposal for the next session: one hour on the draft, half an hour on the webinar."),
        (2, "+1, and we should invite at least one speaker from a country of origin."),
        (0, "Agreed. The minutes follow tomorrow."),
    ],
    "standing": [
        (
            1,
            "Has anyone seen the new World Bank brief on remittances? It fits our "
            "chapter on crises.",
        ),
        (0, "Reminder: the working session is today; the room opens half an hour before."),
    ],
    "session": [
        (0, "The room is open, we start in a few minutes. The agenda is on the meeting page."),
    ],
}
CHAT_DE = {
    "kickoff": [
        (
            0,
            "Willkommen! Zuerst eine kurze Runde: Name, Organisation und eine Frage, "
            "die ihr in die Gruppe mitbringt.",
        ),
        (1, "Hallo zusammen. Meine Frage: Welche Szenarien sind für Kommunen überhaupt planbar?"),
        (2, "Hallo! Mich interessiert, wie sich digitale Arbeit auf Wanderungen auswirkt."),
        (0, "Danke. @{1}, magst du bis zur nächsten Sitzung eine Liste der Treiber entwerfen?"),
        (1, "Gern, ich lege sie in den Ordner Entwürfe."),
        (0, "Das Protokoll folgt morgen."),
    ],
    "standing": [
        (2, "Kennt jemand die neue OECD-Studie zur Zuwanderung in ländliche Regionen?"),
        (0, "Erinnerung: Die Arbeitssitzung ist heute, der Raum öffnet eine halbe Stunde vorher."),
    ],
    "session": [
        (
            0,
            "Der Raum ist offen, wir beginnen in wenigen Minuten. Die Tagesordnung "
            "steht auf der Seite der Sitzung.",
        ),
    ],
}
GERMAN_GROUPS = {"future-of-migration"}


def _person(people, position: int):
    if position == 0:
        return people[0]
    return people[1 + (position - 1) % (len(people) - 1)]


def _said(people, position: int, text: str) -> tuple:
    handles = [_person(people, n).mention_handle for n in range(4)]
    return _person(people, position), text.format(*handles)


def _send(room, people, lines) -> None:
    """Through the service, as the people would, once (a room with messages
    is left as it is)."""
    if room.messages.exists():
        return
    for position, text in lines:
        speaker, body = _said(people, position, text)
        services.message_send(actor=speaker, room=room, body=body)


def _history(room, people, lines, started_at) -> None:
    """A past meeting's chat, a minute apart from its start, written as
    ``message_send`` writes (its room is closed now), once."""
    if room.messages.exists():
        return
    with transaction.atomic():
        for minute, (position, text) in enumerate(lines):
            speaker, body = _said(people, position, text)
            html, _mentioned = render_post(body, room.group)
            message = ChatMessage.objects.create(
                room=room,
                author=speaker,
                body=body,
                body_html=html,
                seq=next_seq(room.stream),
                created_at=started_at + datetime.timedelta(minutes=2 + 3 * minute),
            )
            payload = {"message": services.message_payload(message)}
            emit(room.stream, "message.created", payload, seq=message.seq)
