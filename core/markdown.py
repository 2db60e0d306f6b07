"""The one Markdown pipeline: posts, chat, agendas, minutes, group descriptions.

markdown-it-py with raw HTML off renders; nh3 sanitises as the very last step,
so whatever the renderer lets through, only the allowed tags, attributes and URL
schemes reach the page. Links get ``rel="nofollow noopener noreferrer"``.
"""

import re
from collections.abc import Callable

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "a", "img",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "class"},
    "img": {"src", "alt", "title"},
    "code": {"class"},
    "th": {"class"},
    "td": {"class"},
    "ol": {"start"},
}
ALIGN_CLASSES = {"align-left", "align-right", "align-center"}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "nofollow noopener noreferrer"

_md = (
    MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    .enable("table")
    .enable("strikethrough")
)


def _table_alignment_as_class(state) -> None:
    """Table alignment as a class, not a style attribute: the CSP allows no
    inline styles."""
    for token in state.tokens:
        if token.type in {"th_open", "td_open"} and token.attrs.get("style"):
            align = token.attrs.pop("style").removeprefix("text-align:")
            token.attrs["class"] = f"align-{align}"


_md.core.ruler.push("table_alignment_as_class", _table_alignment_as_class)


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute != "class":
        return value
    if tag == "code":
        return value if value.startswith("language-") and value[9:].isalnum() else None
    if tag in {"th", "td"}:
        return value if value in ALIGN_CLASSES else None
    if tag == "a":
        return value if value == "mention" else None
    return None


def sanitise(html: str) -> str:
    """Only the allowed subset of HTML survives."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        strip_comments=True,
    )


MENTION = re.compile(r"@([A-Za-z0-9][A-Za-z0-9._-]{0,62}[A-Za-z0-9]|[A-Za-z0-9])")
# A mention resolver maps a handle to (display name, profile URL), or None.
MentionResolver = Callable[[str], tuple[str, str] | None]


def _mention_rule(state, silent: bool) -> bool:
    """``@handle`` of someone the resolver knows becomes a link to their profile.
    Not inside code; not in the middle of a word or an email address; not in a
    link's text (a link inside a link is broken apart by every HTML parser)."""
    resolver = state.env.get("mentions")
    pos = state.pos
    if resolver is None or state.linkLevel > 0 or state.src[pos] != "@":
        return False
    if pos > 0 and (state.src[pos - 1].isalnum() or state.src[pos - 1] in "._-@"):
        return False
    match = MENTION.match(state.src, pos)
    if match is None:
        return False
    found = resolver(match.group(1).lower())
    if found is None:
        return False
    if not silent:
        name, url = found
        token = state.push("link_open", "a", 1)
        token.attrs = {"href": url, "class": "mention"}
        text = state.push("text", "", 0)
        text.content = f"@{name}"
        state.push("link_close", "a", -1)
    state.pos = match.end()
    return True


_md.inline.ruler.before("emphasis", "mention", _mention_rule)


def render(text: str, *, mentions: MentionResolver | None = None) -> str:
    """Markdown source → safe HTML. With ``mentions``, ``@handle`` of a person
    it resolves becomes a link (their display name is escaped like any text)."""
    env = {"mentions": mentions} if mentions else {}
    return sanitise(_md.render(text, env))


def mentioned_handles(text: str) -> set[str]:
    """The handles written as ``@handle`` in ``text`` (lower case)."""
    return {match.group(1).lower() for match in MENTION.finditer(text or "")}
