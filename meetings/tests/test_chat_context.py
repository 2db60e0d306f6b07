"""The chat partial: readable without JavaScript, with what chat.js needs."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from meetings import selectors, services
from meetings.models import Meeting, RoomMute, RoomReadState

pytestmark = pytest.mark.django_db


@pytest.fixture
def room(group):
    return services.standing_room(group)


def test_group_chat_page_shows_the_last_messages_without_javascript(
    client, member, moderator, room
):
    for number in range(1, 56):
        services.message_send(actor=moderator, room=room, body=f"note **{number}**")
    services.message_send(actor=member, room=room, body="my own *words*")
    client.force_login(member)
    page = client.get(reverse("meetings:group_chat", args=[room.group.slug]))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-stream="room:{room.pk}"' in html
    assert 'data-seq="56"' in html
    assert "note <strong>55</strong>" in html
    assert "note <strong>6</strong>" not in html  # older than the last 50
    assert 'data-has-more="true"' in html
    assert 'data-body="my own *words*"' in html  # to edit one's own message
    assert html.count('<li class="chat-message') == 50
    assert "56 unread" not in html and "55 unread" in html
    assert "js/chat.js" in html


def test_chat_context_says_who_may_do_what(member, moderator, room):
    context = selectors.chat_context(member, room)["chat"]
    assert context["can_send"] is True and context["refusal"] is None
    assert context["can_moderate"] is False
    assert selectors.chat_context(moderator, room)["chat"]["can_moderate"] is True
    RoomMute.objects.create(
        room=room, user=member, until=timezone.now() + datetime.timedelta(minutes=5)
    )
    context = selectors.chat_context(member, room)["chat"]
    assert context["can_send"] is False
    assert context["muted_until"] is not None
    assert context["can_send_when_open"] is False


def test_chat_context_of_a_meeting_room_not_yet_open(member, group):
    starts = timezone.now() + datetime.timedelta(days=1)
    meeting = Meeting.objects.create(
        group=group, title="Later", starts_at=starts, ends_at=starts + datetime.timedelta(hours=1)
    )
    context = selectors.chat_context(member, services.meeting_room(meeting))["chat"]
    assert context["can_send"] is False
    assert context["closed"] is True
    assert context["can_send_when_open"] is True
    assert context["opens_at"] < starts < context["closes_at"]


def test_chat_context_counts_unread_after_the_mark(member, moderator, room):
    for number in range(4):
        services.message_send(actor=moderator, room=room, body=f"m{number}")
    RoomReadState.objects.create(room=room, user=member, last_read_seq=1)
    context = selectors.chat_context(member, room)["chat"]
    assert (context["last_read_seq"], context["unread"], context["last_seq"]) == (1, 3, 4)


def test_chat_context_asks_the_same_number_of_queries_however_many_messages(
    member, moderator, room, django_assert_max_num_queries
):
    for number in range(5):
        services.message_send(actor=moderator, room=room, body=f"m{number}")
    room = type(room).objects.select_related("group", "meeting").get(pk=room.pk)
    with django_assert_max_num_queries(12) as few:
        selectors.chat_context(member, room)
    for number in range(60):
        services.message_send(actor=member, room=room, body=f"n{number}")
    room = type(room).objects.select_related("group", "meeting").get(pk=room.pk)
    with django_assert_max_num_queries(len(few.captured_queries)):
        selectors.chat_context(member, room)


def test_chat_offers_no_moderator_controls_and_says_why_if_moderator_has_no_mfa(
    client, make_user, group, moderator, room
):
    from groups.models import Role
    from tests.fixtures.people import join

    nomfa = make_user("nomfa@example.org", display_name="Nomfa Moderator")
    join(nomfa, group, Role.MODERATOR)
    context = selectors.chat_context(nomfa, room)["chat"]
    assert context["can_moderate"] is False and context["moderation_needs_mfa"] is True
    assert selectors.chat_context(moderator, room)["chat"]["moderation_needs_mfa"] is False
    client.force_login(nomfa)
    html = client.get(reverse("meetings:group_chat", args=[group.slug])).text
    assert 'data-moderator="false"' in html
    assert "data-chat-mfa" in html and reverse("mfa_index") in html
    client.force_login(moderator)
    html = client.get(reverse("meetings:group_chat", args=[group.slug])).text
    assert 'data-moderator="true"' in html and "data-chat-mfa" not in html
