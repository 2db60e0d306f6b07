"""The section the public pages show (``PUBLIC_SECTIONS``): upcoming public
webinars, on the home (all groups) and on a group's public page."""

from . import selectors


def section(request, group=None) -> dict | None:
    """Upcoming public webinars (of ``group`` if given); None when there are none."""
    webinars = selectors.upcoming_public_webinars(group=group)
    if not webinars:
        return None
    return {
        "template": "webinars/public/_section.html",
        "context": {"webinars": webinars, "section_group": group},
        "order": 20,
    }
