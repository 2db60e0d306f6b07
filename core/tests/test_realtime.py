"""Sequence numbers and the event log."""

import threading

import pytest
from django.db import connection, transaction

from core import realtime
from core.models import StreamEvent


@pytest.mark.django_db(transaction=True)
def test_next_seq_refuses_to_run_outside_a_transaction():
    with pytest.raises(RuntimeError):
        realtime.next_seq("test:1")


@pytest.mark.django_db
def test_emit_numbers_events_per_stream_and_records_them():
    with transaction.atomic():
        assert realtime.emit("test:1", "a", {"n": 1}) == 1
        assert realtime.emit("test:1", "b", {"n": 2}) == 2
        assert realtime.emit("test:2", "a", {"n": 3}) == 1
    assert [(e.seq, e.type) for e in realtime.events_after("test:1", 0)] == [(1, "a"), (2, "b")]
    assert [e.seq for e in realtime.events_after("test:1", 1)] == [2]
    assert realtime.last_seq("test:1") == 2
    assert realtime.last_seq("test:none") == 0


@pytest.mark.django_db
def test_rolled_back_emit_leaves_no_event_and_no_gap_in_what_commits():
    with pytest.raises(RuntimeError), transaction.atomic():
        realtime.emit("test:1", "a", {})
        raise RuntimeError
    with transaction.atomic():
        seq = realtime.emit("test:1", "b", {})
    assert seq == 1
    assert StreamEvent.objects.filter(stream="test:1").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_get_distinct_numbers_in_commit_order():
    """Writers in parallel threads: every number is handed out once, and the
    order of the numbers is the order of the commits."""
    commits = []
    lock = threading.Lock()
    errors = []

    def writer(n):
        try:
            with transaction.atomic():
                seq = realtime.emit("test:race", "write", {"n": n})
                with lock:
                    commits.append(seq)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(commits) == list(range(1, 9))
    assert [e.seq for e in realtime.events_after("test:race", 0)] == list(range(1, 9))


async def _listening(stream):
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(realtime.stream_group(stream), channel)
    return layer, channel


@pytest.mark.django_db(transaction=True)
async def test_database_call_sends_its_events_from_the_loop_after_the_call():
    """Events published in the worker thread go out from the loop once the
    call ends, in order; also when it raises after committing them, never
    those of a rolled-back transaction."""
    import asyncio

    layer, channel = await _listening("test:dbcall")
    in_thread = []

    @realtime.database_call
    def write():
        with transaction.atomic():
            realtime.emit("test:dbcall", "one", {"n": 1})
            realtime.emit("test:dbcall", "two", {"n": 2})
        realtime.publish("test:dbcall", "three", {"n": 3})
        with transaction.atomic():
            realtime.emit("test:dbcall", "rolled-back", {"n": 4})
            transaction.set_rollback(True)
        in_thread.append("done")
        raise ValueError("after the commit")

    with pytest.raises(ValueError):
        await write()
    assert in_thread == ["done"]
    # Outside database_call, publish sends at once (no collecting left over);
    # coming next, it also shows that the rolled-back event was not sent.
    from channels.db import database_sync_to_async

    await database_sync_to_async(realtime.publish)("test:dbcall", "four", {"n": 5})
    received = [await asyncio.wait_for(layer.receive(channel), 3) for _ in range(4)]
    assert [(m["event"], m["seq"]) for m in received] == [
        ("one", 1),
        ("two", 2),
        ("three", None),
        ("four", None),
    ]
