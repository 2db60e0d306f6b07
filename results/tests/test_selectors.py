import pytest
from django.urls import reverse

from results import services
from results.selectors import text_diff


def test_text_diff_folds_long_unchanged_stretches():
    old = "\n".join(f"line {n}" for n in range(1, 21))
    new = old.replace("line 10", "line ten")
    rows = text_diff(old, new, context=2)
    assert rows[0] is None and rows[-1] is None  # folds before and after
    shown = [row for row in rows if row is not None]
    assert [row.old_number for row in shown] == [8, 9, 10, 11, 12]
    (changed,) = [row for row in shown if row.tag == "replace"]
    assert changed.old == [("line ", False), ("10", True)]
    assert changed.new == [("line ", False), ("ten", True)]


def test_text_diff_lines_added_and_removed():
    rows = text_diff("a\nb\nc", "a\nc\nd")
    tags = [(row.tag, row.old_number, row.new_number) for row in rows]
    assert tags == [("equal", 1, 1), ("delete", 2, None), ("equal", 3, 2), ("insert", None, 3)]


def test_text_diff_empty_if_same():
    assert text_diff("same\ntext", "same\ntext") == []


@pytest.mark.django_db
def test_feed_entries_say_a_result_was_withdrawn(client, result_v1, moderator):
    services.result_withdraw(actor=moderator, result=result_v1, reason="Superseded by the report.")
    feed = client.get(reverse("results:site_feed")).text
    assert "This result was withdrawn: Superseded by the report." in feed
