"""Hostile values for the fuzz tests (tests/test_fuzz_forms.py,
tests/test_fuzz_frames.py): Hypothesis strategies and the log watch.

``FUZZ_EXAMPLES`` (default 4) is how many generated bodies each URL and
person gets after the fixed ones (ten times as many frames per person);
raise it for a longer hunt, e.g. ``FUZZ_EXAMPLES=200``. The examples are
the same on every run (derandomised, so a failure in CI repeats at home);
``FUZZ_RANDOM=1`` draws new ones each run.
"""

import contextlib
import logging
import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from core.request_log import RefusedRequestFilter

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 4)

# Deadline off: a request on a cold cache or a slow disk is not a failure;
# the fixtures are built once per case and every example undoes its writes.
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
    database=None,
)

HUGE = 200_000  # characters: far beyond every field's limit, within the body limit

texts = st.text(max_size=40)
control = st.sampled_from(["\x00", "a\x00b", "\x00" * 50, "\r\n", "\t", "\u202e", "\ufeff"])
huge = st.sampled_from(["x" * HUGE, "ä" * 5_000, "<b>" * 3_000, "\x00" * 5_000])
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(
        ["0", "-1", "-0", "1e309", "NaN", "inf", "-inf", "1.5", "0x10", "١٢", "9" * 400, "", " 1 "]
    ),
)
dates = st.sampled_from(
    [
        "2026-02-30",
        "0000-00-00",
        "0001-01-01",
        "9999-12-31 23:59",
        "10000-01-01",
        "2026-13-01T25:61",
        "1970-01-01T00:00:00Z",
        "2026-03-29 02:30",  # does not exist in Europe/Berlin
        "2026-10-25 02:30",  # exists twice in Europe/Berlin
        "yesterday",
        "-1",
    ]
)
words = st.sampled_from(
    [
        "yes",
        "no",
        "on",
        "true",
        "publish",
        "draft",
        "lock",
        "delete",
        "decline",
        "accept",
        "moderator",
        "member",
        "guest",
        "de",
        "xx",
        "en-us",
        "all",
        "none",
        "👍",
        "../../etc/passwd",
        "javascript:alert(1)",
        "https://evil.example/",
        "//evil.example",
        "a@b",
        "@",
        "<script>alert(1)</script>",
        "' OR 1=1 --",
        "%s%n",
        "{{ 7*7 }}",
    ]
)


def value(good: list[str] | None = None):
    """One hostile value for a field; ``good`` holds what a person would send
    there (so that the other fields' checks are reached too)."""
    options = [texts, control, huge, numbers, dates, words]
    if good:
        options.insert(0, st.sampled_from(good))
    return st.one_of(options)


def field_values(good: list[str] | None = None):
    """A field's value: one value, or several (a list where one is expected)."""
    return st.one_of(value(good), st.lists(value(good), min_size=0, max_size=4))


class LogWatch(logging.Handler):
    """Keeps every record at ERROR or above and every one with a traceback,
    as the console shows them: a refusal (4xx) is one line without its
    traceback there (core.request_log), and no error."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.addFilter(RefusedRequestFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)

    def lines(self) -> list[str]:
        return [
            f"{record.name}: {record.getMessage()}"
            + (f" ({record.exc_info[1]!r})" if record.exc_info else "")
            for record in self.records
        ]


@contextlib.contextmanager
def watching_logs():
    """Every logger's records (they all reach the root: settings.LOGGING)."""
    watch = LogWatch()
    root = logging.getLogger()
    root.addHandler(watch)
    try:
        yield watch
    finally:
        root.removeHandler(watch)


def described(error: BaseException) -> str:
    """What Hypothesis found: each distinct failure with its smallest example."""
    if isinstance(error, BaseExceptionGroup):
        return "\n".join(described(inner) for inner in error.exceptions)
    notes = "\n".join(getattr(error, "__notes__", []))
    text = f"{type(error).__name__}: {error}\n{notes}"
    return text if len(text) < 3000 else text[:3000] + " …"
