"""What the thread page shows of its posts, made once for many posts.

The ``posts`` partial of ``discussions/thread_detail.html`` gets plain dicts
and strings worked out here from what the selectors loaded (no queries): the
links, the classes, the times, and the markup of each post's foot and
reactions. Markup that many posts share is rendered once (for each distinct
set of rights, each distinct reaction) with a stand-in id, and each post's id
and reactions are filled in by string replacement: a page of posts has few
distinct sets and many links.
"""

from types import SimpleNamespace

from django.middleware.csrf import get_token
from django.template.loader import get_template
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy

from accounts.models import User
from core.when import when_html

from .models import ReactionKind

REACTION_NAMES = {
    ReactionKind.THUMBS_UP: gettext_lazy("Thumbs up"),
    ReactionKind.HEART: gettext_lazy("Heart"),
    ReactionKind.CELEBRATE: gettext_lazy("Celebrate"),
    ReactionKind.THINKING: gettext_lazy("Thinking"),
    ReactionKind.EYES: gettext_lazy("Eyes"),
}


# An id in URLs and markup made once for many posts, filled in for each: 20
# digits, longer than any database id, so it is never part of another number.
_STAND_IN = 10**20 - 1
POST_LINKS = ("post", "post_history")


def _link(name: str):
    """The URL ``name`` gives an id, as a function of the id: reversed once
    with a stand-in and filled in after, as a page of posts would otherwise
    reverse a dozen URLs per post."""
    prefix, _stand_in, suffix = reverse(name, args=[_STAND_IN]).partition(str(_STAND_IN))
    return lambda pk: f"{prefix}{pk}{suffix}"


# Where a post's reactions go in the markup made once for many posts.
_REACTIONS_SLOT = SafeString("<!--reactions-->")
# The rights the post_foot partial asks about.
FOOT_RIGHTS = ("react", "reply", "edit", "delete", "report", "moderate")


def _foot_renderer(thread_id: int, csrf_token: str):
    """A function giving the foot of a post of the thread (the template's
    ``post_foot`` partial): its reactions, and what the viewer may do with
    it. Each distinct set of rights is rendered once, for a stand-in post,
    whose id and reactions are then filled in (a page of posts has few
    distinct sets, and many links)."""
    template = get_template("discussions/thread_detail.html#post_foot")
    stand_in = str(_STAND_IN)
    rendered = {}

    def foot(can: dict[str, bool], hidden: bool, pk: int, reactions: str) -> str:
        key = (*(can[right] for right in FOOT_RIGHTS), hidden)
        if key not in rendered:
            context = {"can": can, "hidden": hidden, "pk": stand_in, "thread_id": thread_id}
            context |= {"reactions": _REACTIONS_SLOT, "csrf_token": csrf_token}
            rendered[key] = template.render(context).strip()
        # Only digits and markup the template made go in.
        html = rendered[key].replace(stand_in, str(pk)).replace(_REACTIONS_SLOT, reactions)
        return mark_safe(html)  # noqa: S308

    return foot


def _reactions_renderer(can_react: bool):
    """A function giving the markup of a post's reactions, from its counts
    ({kind: n}) and the viewer's own ({kind}): the reactions given, with
    their counts (toggles in its reactions form if ``can_react``), and, if
    ``can_react``, the one menu to add any allowed reaction. Each distinct
    reaction is rendered once (the template's ``reaction`` partial), each
    distinct menu and row of them put together once: a page of posts shows
    few distinct ones many times."""
    template = get_template("discussions/thread_detail.html#reaction")
    menu_template = get_template("discussions/thread_detail.html#reaction_menu")
    kinds = [
        (kind, emoji, str(REACTION_NAMES.get(kind, emoji))) for kind, emoji in ReactionKind.choices
    ]
    buttons = {}
    menus = {}
    rows = {}

    def button(kind, emoji, name, count, mine):
        key = (kind, count, mine)
        if key not in buttons:
            context = {"can_react": can_react, "kind": kind, "emoji": emoji, "name": name}
            buttons[key] = template.render({**context, "count": count, "mine": mine}).strip()
        return buttons[key]

    def menu(mine: set[str]) -> str:
        key = tuple(sorted(mine))
        if key not in menus:
            choices = [(kind, emoji, name, kind in mine) for kind, emoji, name in kinds]
            menus[key] = menu_template.render({"choices": choices}).strip()
        return menus[key]

    def reactions(counts: dict[str, int], mine: set[str]) -> str:
        key = (tuple(counts.items()), tuple(mine))
        if key not in rows:
            row = "".join(
                button(kind, emoji, name, counts[kind], kind in mine)
                for kind, emoji, name in kinds
                if counts.get(kind)
            )
            if can_react:
                row += menu(mine)
            rows[key] = mark_safe(row)  # noqa: S308 -- each piece rendered by the template
        return rows[key]

    return reactions


def _plain(text: str) -> SafeString:
    """``text`` the view made of numbers and fixed words only: nothing in it
    to escape, so the template is told not to try (it would, for each such
    value of each post)."""
    return mark_safe(text)  # noqa: S308


def post_items(
    request, posts, viewer, *, read_position: int, page_ids: set[int] | None
) -> list[dict]:
    """What the ``posts`` partial shows of each post, worked out from what is
    loaded already (no queries; posts from ``selectors.thread_page`` or
    ``post_detail``): what the viewer may do (``viewer.post_actions``) as the
    links to do it, the classes, the reactions, the times. Plain dicts and
    strings, as they are the quickest for the template to look up and show."""
    if not posts:
        return []
    link = {name: _link(f"discussions:{name}") for name in POST_LINKS}
    profile = _link("accounts:profile")
    foot = _foot_renderer(posts[0].thread_id, get_token(request))
    reactions = {react: _reactions_renderer(react) for react in (False, True)}
    names = {}  # the name User.__str__ gives, by the two fields it reads

    def name(display_name: str | None, email: str | None) -> str:
        if (display_name, email) not in names:
            person = SimpleNamespace(display_name=display_name, email=email or "")
            names[display_name, email] = User.get_full_name(person)
        return names[display_name, email]

    items = []
    now = timezone.now()
    for post in posts:
        pk = post.pk
        can = viewer.post_actions(post)
        is_new = post.position > read_position and not viewer.is_author(post)
        css = f"post depth-{post.depth}"
        if is_new:
            css += " post-new"
        if post.hidden:
            css += " post-hidden"
        if post.is_deleted:
            css += " post-deleted"
        item = {
            "ref": _plain(f"post-{pk}"),
            "css": _plain(css),
            "path": post.path,
            "position": _plain(str(post.position)),
            "is_deleted": post.is_deleted,
            "is_new": is_new,
            "hidden": post.hidden,
            "text_withheld": post.hidden and not can["see_hidden"],
            "hidden_reason": post.hidden_reason,
            "body_html": post.body_html,
            "author_name": "",
            "author_url": "",
            "url": link["post"](pk),
            # The <time> element every page shows for when something happened.
            "created_html": when_html(post.created_at, now=now),
            "edited": post.edited_at is not None,
            "history_url": link["post_history"](pk) if can["history"] else "",
            "foot_html": "",
            "in_reply_to_url": "",
            "in_reply_to_name": "",
        }
        if not post.is_deleted and not item["text_withheld"]:  # the page shows its foot
            row = reactions[can["react"]](
                getattr(post, "reaction_counts", {}), getattr(post, "my_reactions", set())
            )
            item["foot_html"] = foot(can, post.hidden, pk, row)
        if post.author_id:
            item["author_name"] = name(post.author_display_name, post.author_email)
            item["author_url"] = profile(post.author_id)
        # Deeper than the page indents, or its parent is on another page:
        # say whom it answers (a single post, for live updates, goes next to
        # its parent).
        if post.parent_id:
            elsewhere = page_ids is not None and post.parent_id not in page_ids
            if elsewhere or post.depth <= post.parent_depth:
                item["in_reply_to_url"] = (
                    link["post"](post.parent_id) if elsewhere else f"#post-{post.parent_id}"
                )
                if post.parent_deleted_at is None and post.parent_author_id:
                    item["in_reply_to_name"] = name(
                        post.parent_author_display_name, post.parent_author_email
                    )
        item["notes"] = item["edited"] or is_new or bool(item["in_reply_to_url"])
        items.append(item)
    return items
