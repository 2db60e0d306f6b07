"""The live chat in a real Chromium: two members in the group's standing room.

One goes offline, the other sends; back online, the first shows the missed
messages once, in order; presence follows in both.
"""

import datetime
import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from meetings import services
from meetings.models import ChatMessage, Meeting, RoomMute
from tests.fixtures.people import join

from .helpers import assert_no_browser_errors, login_with_session, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LIVE_TIMEOUT_MS = 20_000
# Chromium logs a socket that cannot connect while the network is off.
OFFLINE_ERRORS = [
    r"console error: WebSocket connection to 'ws://.*' failed: .*",
]


@pytest.fixture
def ana(make_user, group):
    person = make_user("ana@example.org", display_name="Ana Arendt")
    join(person, group)
    return person


@pytest.fixture
def bo(make_user, group):
    person = make_user("bo@example.org", display_name="Bo Brandt")
    join(person, group)
    return person


def open_chat(new_context, server, user, group) -> Page:
    context = new_context()
    login_with_session(context, server, user)
    page = context.new_page()
    page.goto(f"{server}/groups/{group.slug}/chat/")
    expect(page.locator("html[data-socket=open]")).to_have_count(1)
    return page


def say(page: Page, text: str) -> None:
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")


def shown(page: Page) -> list[str]:
    """The texts of the messages the page shows, top to bottom."""
    return [
        text.strip()
        for text in page.locator("[data-chat-messages] > li .chat-body").all_inner_texts()
    ]


def expect_shown(page: Page, texts: list[str]) -> None:
    expect(page.locator("[data-chat-messages] > li .chat-body")).to_have_text(
        texts, timeout=LIVE_TIMEOUT_MS
    )


def expect_present(page: Page, names: list[str]) -> None:
    people = page.locator("[data-chat-people] .chat-person")
    expect(people).to_have_count(len(names), timeout=LIVE_TIMEOUT_MS)
    for name in names:
        expect(page.locator("[data-chat-people]")).to_contain_text(name)


def test_missed_messages_arrive_once_in_order_after_going_offline(
    new_context, server, group, ana, bo
):
    room = services.standing_room(group)
    services.message_send(actor=bo, room=room, body="Welcome, **everyone**")
    page_a = open_chat(new_context, server, ana, group)
    page_b = open_chat(new_context, server, bo, group)

    # Rendered by the server, and live from here on.
    expect(page_a.locator("[data-chat-messages] strong")).to_have_text("everyone")
    expect_present(page_a, ["Ana Arendt", "Bo Brandt"])
    expect_present(page_b, ["Ana Arendt", "Bo Brandt"])

    say(page_a, "Hello @bo-brandt")
    expect_shown(page_b, ["Welcome, everyone", "Hello @Bo Brandt"])
    expect(page_b.locator("[data-chat-messages] a", has_text="Bo Brandt")).to_have_attribute(
        "href", re.compile(r"^/profile/")
    )
    expect_shown(page_a, ["Welcome, everyone", "Hello @Bo Brandt"])
    expect(page_a.locator("[data-chat-pending] > li")).to_have_count(0)

    # A goes offline: its socket drops, and B sees A leave.
    page_a.context.set_offline(True)
    page_a.evaluate("window.workspaceSocket.ws.close()")
    expect(page_a.locator("[data-chat-status]")).to_be_visible()
    expect_present(page_b, ["Bo Brandt"])

    say(page_b, "First while you were away")
    say(page_b, "Second while you were away")
    expect_shown(
        page_b,
        [
            "Welcome, everyone",
            "Hello @Bo Brandt",
            "First while you were away",
            "Second while you were away",
        ],
    )
    # B's own messages settled: no placeholders left.
    expect(page_b.locator("[data-chat-pending] > li")).to_have_count(0)

    # A comes back: the socket reconnects, catches up from its last number.
    page_a.context.set_offline(False)
    expect(page_a.locator("[data-chat-status]")).to_be_hidden(timeout=LIVE_TIMEOUT_MS)
    expect_shown(
        page_a,
        [
            "Welcome, everyone",
            "Hello @Bo Brandt",
            "First while you were away",
            "Second while you were away",
        ],
    )
    seqs = page_a.locator("[data-chat-messages] > li").evaluate_all(
        "items => items.map(item => Number(item.dataset.seq))"
    )
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) == 4
    expect_present(page_a, ["Ana Arendt", "Bo Brandt"])
    expect_present(page_b, ["Ana Arendt", "Bo Brandt"])

    # Live again in both directions.
    say(page_a, "Back again")
    expect_shown(
        page_b,
        [
            "Welcome, everyone",
            "Hello @Bo Brandt",
            "First while you were away",
            "Second while you were away",
            "Back again",
        ],
    )
    shot(page_a, "chat-after-reconnect")
    assert_no_browser_errors(page_a, expected=OFFLINE_ERRORS)
    assert_no_browser_errors(page_b)


def test_typing_edit_and_unread_mark(new_context, server, group, ana, bo):
    page_a = open_chat(new_context, server, ana, group)
    page_b = open_chat(new_context, server, bo, group)
    expect_present(page_a, ["Ana Arendt", "Bo Brandt"])

    # Typing shows on the other page.
    page_b.get_by_label("Message", exact=True).press_sequentially("Hmm", delay=30)
    expect(page_a.locator("[data-chat-typing]")).to_have_text("Bo Brandt is typing…")
    page_b.get_by_label("Message", exact=True).press("Enter")
    expect_shown(page_a, ["Hmm"])
    expect(page_a.locator("[data-chat-typing]")).to_have_text("")

    # Shift+Enter is a new line; Enter sends.
    box = page_a.get_by_label("Message", exact=True)
    box.fill("line one")
    box.press("Shift+Enter")
    box.press_sequentially("line two")
    box.press("Enter")
    expect(page_b.locator("[data-chat-messages] > li").last).to_contain_text("line one")
    expect(page_b.locator("[data-chat-messages] > li").last).to_contain_text("line two")

    # A edits their own message; B sees the change, marked as edited.
    mine = page_a.locator("[data-chat-messages] > li.chat-mine").last
    mine.hover()
    mine.get_by_role("button", name="Edit").click()
    editor = mine.locator(".chat-edit textarea")
    expect(editor).to_have_value("line one\nline two")
    shot(page_a, "chat-editing")
    editor.fill("one line")
    editor.press("Enter")
    expect(page_b.locator("[data-chat-messages] > li").last).to_contain_text("one line")
    expect(page_b.locator("[data-chat-messages] > li").last.locator(".chat-edited")).to_be_visible()
    # B may not edit A's message.
    expect(page_b.locator("[data-chat-messages] > li").last.get_by_role("button")).to_have_count(0)

    # Unread: what arrives while B's page is away counts until B looks again.
    page_b.goto(f"{server}/groups/{group.slug}/")
    say(page_a, "Did you see this?")
    expect_shown(page_a, ["Hmm", "one line", "Did you see this?"])
    page_b.goto(f"{server}/groups/{group.slug}/chat/")
    badge = page_b.locator("[data-unread-room]")
    # Seen: the page marks it read and the mark goes.
    expect(badge).to_be_hidden(timeout=LIVE_TIMEOUT_MS)
    page_b.reload()
    expect(page_b.locator("[data-chat-messages] > li")).to_have_count(3)
    expect(page_b.locator("[data-unread-room]")).to_be_hidden()
    assert_no_browser_errors(page_a)
    assert_no_browser_errors(page_b)


def test_meeting_room_scroll_back_and_moderator_mutes(
    new_context, server, group, member, moderator
):
    starts = timezone.now() + datetime.timedelta(minutes=10)
    meeting = Meeting.objects.create(
        group=group, title="Session", starts_at=starts, ends_at=starts + datetime.timedelta(hours=1)
    )
    room = services.meeting_room(meeting)
    for number in range(1, 71):
        ChatMessage.objects.create(
            room=room,
            author=member,
            body=f"m{number}",
            body_html=f"<p>m{number}</p>",
            seq=next_seq_of(room),
        )
    page_mod = new_context().new_page()
    login_with_session(page_mod.context, server, moderator)
    page_mod.goto(f"{server}/meetings/{meeting.pk}/")
    page_mia = new_context().new_page()
    login_with_session(page_mia.context, server, member)
    page_mia.goto(f"{server}/meetings/{meeting.pk}/")
    for page in (page_mod, page_mia):
        expect(page.locator("html[data-socket=open]")).to_have_count(1)
    items = page_mod.locator("[data-chat-messages] > li")
    expect(items).to_have_count(50)
    expect(items.first).to_have_text(re.compile("m21"))

    # Scrolled to the top, the earlier messages come, in order, once.
    page_mod.locator("[data-chat-log]").evaluate("log => { log.scrollTop = 0; }")
    expect(items).to_have_count(70, timeout=LIVE_TIMEOUT_MS)
    texts = [text.strip() for text in items.locator(".chat-body").all_inner_texts()]
    assert texts == [f"m{number}" for number in range(1, 71)]
    expect(page_mod.locator("[data-chat-more]")).to_be_hidden()

    # The moderator mutes Mia from one of her messages; her page stops taking messages.
    message = items.last
    message.hover()
    message.get_by_role("button", name="Mute").click()
    message.get_by_label("Mute for").select_option("15")
    message.locator(".chat-mute").get_by_role("button", name="Mute").click()
    expect(page_mia.locator("[data-chat-refusal]")).to_contain_text(
        "A moderator muted you", timeout=LIVE_TIMEOUT_MS
    )
    expect(page_mia.locator("[data-chat-form]")).to_be_hidden()
    assert RoomMute.objects.filter(room=room, user=member).exists()
    shot(page_mod, "chat-meeting-moderator")
    assert_no_browser_errors(page_mod)
    assert_no_browser_errors(page_mia)


def next_seq_of(room) -> int:
    from django.db import transaction

    from core.realtime import next_seq

    with transaction.atomic():
        return next_seq(room.stream)
