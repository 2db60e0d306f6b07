"""The public pages' section of published results (``PUBLIC_SECTIONS``)."""

from . import selectors

SECTION_SIZE = 5


def section(request, group=None) -> dict | None:
    """The latest published results (of ``group``, or of every group) that
    are not withdrawn, for the public home and a group's public page; None
    when there is none. The same for everyone who asks: it reads nothing of
    the request's person (the page is cached for all visitors)."""
    results = selectors.published_list().filter(withdrawn_at__isnull=True)
    if group is not None:
        results = results.filter(group=group)
    results = list(results[:SECTION_SIZE])
    if not results:
        return None
    return {
        "template": "results/public/_section.html",
        "context": {"results": results, "group": group},
        "order": 30,
    }
