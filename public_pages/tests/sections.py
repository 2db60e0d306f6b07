"""Public sections as the lower apps provide them (contract 1), for the tests:
named in ``settings.PUBLIC_SECTIONS`` by the tests that need them."""

CALLS = []


def upcoming(request, group=None):
    CALLS.append(group)
    where = group.name if group is not None else "everywhere"
    return {
        "template": "public_pages/tests/_section.html",
        "context": {"heading": "Upcoming webinars", "text": f"Webinar for {where}"},
        "order": 20,
    }


def published(request, group=None):
    return {
        "template": "public_pages/tests/_section.html",
        "context": {"heading": "Published results", "text": "Interim results"},
        "order": 10,
    }


def nothing(request, group=None):
    return None
