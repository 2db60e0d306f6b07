"""The daphne process holding a page's socket killed under people chatting in
real Chromium pages, behind nginx (tests/topology.py: two processes for the
pages, two for the sockets; the socket-level test of the same is in
tests/test_faults.py): the pages whose socket was on the killed socket
process reconnect through nginx to the other, catch up and send again what
was not acknowledged; all show every message once, in order."""

import os
import signal
import time

import pytest
from django.db import connection
from playwright.sync_api import expect

from tests import servers, topology
from tests.fixtures.people import join

from .helpers import assert_no_browser_errors, login
from .test_chat import LIVE_TIMEOUT_MS, OFFLINE_ERRORS, expect_shown, say, shown

MESSAGES = "[data-chat-messages] > li .chat-body"

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(tmp_path):
    reason = topology.missing_services()
    if reason:
        pytest.skip(reason)
    database = servers.database_url(connection.settings_dict)
    with topology.running(tmp_path, database_url=database) as built:
        yield built


def socket_process(site) -> str:
    """The base URL of the socket process holding the only socket open (the
    access logs: connected minus disconnected; the page before has closed
    its). No socket is on a page process."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        open_now = open_sockets(site)
        if sorted(open_now.values()) == [0, 0, 0, 1]:
            holder = next(url for url, count in open_now.items() if count == 1)
            assert holder in site.sockets, (holder, open_now)
            return holder
        time.sleep(0.1)
    raise AssertionError(f"not one socket open: {open_now}")


def open_sockets(site) -> dict[str, int]:
    return {url: site.open_sockets(url) for url in (*site.pages, *site.sockets)}


def open_chat(site, new_context, person, group, password):
    page = new_context().new_page()
    login(page, site.nginx, person.email, password)
    page.goto(f"{site.nginx}/groups/{group.slug}/chat/")
    expect(page.locator("html[data-socket=open]")).to_have_count(1)
    return page


def test_pages_keep_chatting_when_a_daphne_is_killed(site, new_context, make_user, group, password):
    """The daphne killed is the socket process holding Cem's socket."""
    people = [
        make_user("cem@example.org", display_name="Cem Celik"),
        make_user("ana@example.org", display_name="Ana Arendt"),
        make_user("bo@example.org", display_name="Bo Brandt"),
    ]
    for person in people:
        join(person, group)
    cem = open_chat(site, new_context, people[0], group, password)
    victim_url = socket_process(site)  # the socket process with Cem's socket
    victim = site.processes[victim_url]
    ana, bo = (open_chat(site, new_context, person, group, password) for person in people[1:])
    pages = [ana, bo, cem]

    say(ana, "one")
    expect_shown(ana, ["one"])  # stored before "two" is written: a fixed order
    say(bo, "two")
    for page in pages:
        expect_shown(page, ["one", "two"])

    # Cem's process stops answering (what it has not read is lost with it),
    # then dies; Cem writes on while the page reconnects.
    os.killpg(victim.pid, signal.SIGSTOP)
    say(cem, "three")
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(5)
    expect(cem.locator("html[data-socket=closed]")).to_have_count(1)
    say(cem, "four")
    say(ana, "five")
    say(bo, "six")

    # In sequence order, which is commit order: every page the same, each
    # message once, Cem's two in the order written.
    for page in pages:
        expect(page.locator(MESSAGES)).to_have_count(6, timeout=LIVE_TIMEOUT_MS)
        expect(page.locator("html[data-socket=open]")).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
        expect(page.locator("[data-chat-pending] > *")).to_have_count(0)
    order = shown(ana)
    assert sorted(order) == sorted(["one", "two", "three", "four", "five", "six"]), order
    assert order[:2] == ["one", "two"]
    assert order.index("three") < order.index("four"), order
    for page in (bo, cem):
        assert shown(page) == order
    # The pages reconnected through nginx to the other socket process.
    survivor = next(url for url in site.sockets if url != victim_url)
    deadline = time.monotonic() + 10
    while open_sockets(site)[survivor] != len(pages) and time.monotonic() < deadline:
        time.sleep(0.1)
    now = open_sockets(site)  # (the killed one's log ends with its sockets open)
    assert [now[url] for url in (*site.pages, survivor)] == [0, 0, len(pages)], now
    # The database holds the same: a reloaded page shows it.
    ana.reload()
    expect_shown(ana, order)
    for page in pages:
        assert_no_browser_errors(page, expected=OFFLINE_ERRORS)
