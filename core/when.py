"""How the workspace shows when something happened: one ``<time>`` element.

``when_html(moment)`` gives ``<time datetime="ISO" title="exact" data-when>``
around "5 minutes ago" for what happened in the last day, around the exact
time in the language's unambiguous format ("6 Dec 2026, 01:15",
``workspace/formats``) for what is older or still to come. The exact time is
always in the title (shown on hover) and the ISO time in ``datetime``, from
which ``static/js/when.js`` keeps the relative text current every minute
(pages from a cache, fragments inserted live). Templates use the tag
``{% when value %}`` (``core/templatetags/when.py``); code that renders many
rows at once calls ``when_html`` itself.
"""

import datetime

from django.contrib.humanize.templatetags.humanize import naturaltime
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

# Up to this age a time is told relative to now; static/js/when.js agrees.
RELATIVE_FOR = datetime.timedelta(days=1)


def when_html(moment: datetime.datetime | None, *, now: datetime.datetime | None = None) -> str:
    """The ``<time>`` element for ``moment`` (a datetime; "" for None), in the
    current language and time zone."""
    if moment is None:
        return ""
    local = timezone.localtime(moment)
    exact = date_format(local, "DATETIME_FORMAT")
    age = (now or timezone.now()) - moment
    text = naturaltime(moment) if datetime.timedelta(0) <= age < RELATIVE_FOR else exact
    return format_html(
        '<time datetime="{}" title="{}" data-when>{}</time>', local.isoformat(), exact, text
    )
