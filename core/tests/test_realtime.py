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
