"""When something happened: unambiguous dates in each language and the
one <time> element (core.when, the tag ``{% when %}``)."""

import datetime
import re

import pytest
from django.template import Context, Template
from django.utils import timezone, translation
from django.utils.formats import date_format

MOMENT = datetime.datetime(2026, 12, 6, 0, 15, tzinfo=datetime.UTC)  # 01:15 in Berlin


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en", "6 Dec 2026, 01:15"), ("de", "6. Dez. 2026, 01:15")],
)
def test_date_formats_are_unambiguous_in_each_language(language, expected):
    with translation.override(language), timezone.override("Europe/Berlin"):
        local = timezone.localtime(MOMENT)
        assert date_format(local, "DATETIME_FORMAT") == expected
        assert date_format(local, "SHORT_DATETIME_FORMAT") == expected
        assert date_format(local, "DATE_FORMAT") == expected.split(",")[0]
        assert date_format(local, "SHORT_DATE_FORMAT") == expected.split(",")[0]


def render(value, language):
    with translation.override(language), timezone.override("Europe/Berlin"):
        return Template("{% load when %}{% when value %}").render(Context({"value": value}))


@pytest.mark.parametrize(
    ("language", "relative"), [("en", "5 minutes ago"), ("de", "vor 5 Minuten")]
)
def test_when_tells_a_recent_time_relative_with_the_exact_one_on_hover(language, relative):
    moment = timezone.now() - datetime.timedelta(minutes=5, seconds=10)
    html = render(moment, language).replace("\xa0", " ")
    match = re.fullmatch(r'<time datetime="([^"]+)" title="([^"]+)" data-when>([^<]+)</time>', html)
    assert match, html
    assert datetime.datetime.fromisoformat(match[1]) == moment
    assert re.fullmatch(r"\d{1,2}\.? \w{3,5}\.? \d{4}, \d\d:\d\d", match[2]), match[2]
    assert match[3] == relative


@pytest.mark.parametrize(
    ("language", "expected"), [("en", "6 Mar 2025, 01:15"), ("de", "6. März 2025, 01:15")]
)
def test_when_tells_a_time_older_than_a_day_exactly(language, expected):
    html = render(datetime.datetime(2025, 3, 6, 0, 15, tzinfo=datetime.UTC), language)
    assert html == (
        f'<time datetime="2025-03-06T01:15:00+01:00" title="{expected}" data-when>{expected}</time>'
    )


def test_when_tells_a_future_time_exactly_and_nothing_for_none():
    future = timezone.now() + datetime.timedelta(hours=2)
    html = render(future, "en")
    assert "from now" not in html and "ago" not in html
    assert render(None, "en") == ""
