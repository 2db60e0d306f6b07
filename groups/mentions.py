"""Text written in a group (discussion posts, chat messages) through the one
Markdown pipeline, with @mentions of the group's people. Here, below the
apps that write such text, so that none imports another for it."""

from django.urls import reverse

from core import markdown

from .models import Membership


def mention_resolver(group):
    """@handle → (display name, profile URL) for the group's valid members.
    A handle two people share resolves to nobody."""
    people = {}
    ambiguous = set()
    for membership in Membership.objects.valid().filter(group=group).select_related("user"):
        user = membership.user
        handle = user.mention_handle
        if handle in people:
            ambiguous.add(handle)
        people[handle] = (user, (user.get_full_name(), reverse("accounts:profile", args=[user.pk])))
    for handle in ambiguous:
        people.pop(handle)

    def resolve(handle: str):
        found = people.get(handle)
        return found[1] if found else None

    resolve.people = {handle: found[0] for handle, found in people.items()}
    return resolve


def render_post(body: str, group) -> tuple[str, list]:
    """The safe HTML of a post or message written in ``group``, and the
    people it mentions."""
    if not markdown.mentioned_handles(body):
        # No @ at all: no need to load the group's people (most chat messages).
        return markdown.render(body), []
    resolver = mention_resolver(group)
    html = markdown.render(body, mentions=resolver)
    mentioned = [
        resolver.people[handle]
        for handle in markdown.mentioned_handles(body)
        if handle in resolver.people
    ]
    return html, mentioned


def mentioned_people(text: str, group, *, before: str = "") -> list:
    """The group's people ``text`` mentions that ``before`` (an earlier
    version of the same text) did not, by handle: for an agenda or minutes
    edited, only those newly mentioned. No query unless there is a new
    ``@handle``."""
    handles = markdown.mentioned_handles(text) - markdown.mentioned_handles(before)
    if not handles:
        return []
    people = mention_resolver(group).people
    return [people[handle] for handle in sorted(handles) if handle in people]
