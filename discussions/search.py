"""Search across the groups a person can see.

On PostgreSQL: full-text search in both the ``english`` and the ``german``
configuration (a post matches if either does, ranked by the better one), with
the websearch syntax (``"a phrase"``, ``-without``, ``or``), using the GIN
indexes of migration 0002; ``ts_headline`` tells which words of a post matched
("Arbeitsmärkte" for "Arbeitsmarkt"). Elsewhere (the embedded SQLite): every
word must occur in the post, case-insensitively (``-word`` must not).

Snippets are always cut from the post's own text in Python: escaped first,
then the matched words wrapped in <mark>, so no user text reaches the page
unescaped.

One result per thread: its best-matching post (every post carries its thread's
title in ``search_text``, so a word of the title matches the whole thread),
with the number of matching posts in that thread.

Never shown: anything of groups the person cannot see, hidden threads (but to
their moderators), hidden posts (but to their author and the moderators),
deleted posts.
"""

import re

from django import forms
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
    Window,
)
from django.db.models.functions import Greatest, RowNumber
from django.utils.functional import cached_property
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from groups import permissions as group_permissions

from .models import Post
from .permissions import posts_visible_to

MAX_QUERY = 200
RESULTS_PER_PAGE = 20
SEARCH_CONFIGS = ("english", "german")
SNIPPET_CHARS = 240

# ts_headline marks the words it matched with these; only the words are used.
_START, _STOP = "\ue000", "\ue001"
_MARKED = re.compile(f"{_START}(.*?){_STOP}", re.DOTALL)


class SearchForm(forms.Form):
    q = forms.CharField(
        label=_("Search for"),
        max_length=MAX_QUERY,
        error_messages={
            "required": _("Please enter a word to search for."),
            "max_length": _("Please search for at most %(limit_value)d characters."),
        },
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}),
    )
    group = forms.ModelChoiceField(
        label=_("In"),
        queryset=None,
        to_field_name="slug",
        required=False,
        empty_label=_("All my groups"),
        error_messages={"invalid_choice": _("Please choose one of your groups.")},
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = group_permissions.groups_visible_to(user).order_by("name")


def searchable_posts(user) -> QuerySet[Post]:
    """Posts ``user`` may find: those they may see (``posts_visible_to``:
    hidden ones only for their author and the group's moderators), not deleted."""
    return posts_visible_to(user).filter(deleted_at__isnull=True)


def query_terms(query: str) -> tuple[list[str], list[str]]:
    """The words to find and the words to leave out (``-word``): the SQLite
    fallback's, and those of the documents' and meetings' search."""
    wanted, unwanted = [], []
    for word in query.split():
        negative = word.startswith("-")
        word = word.lstrip("-").strip("\"'()")
        if word:
            (unwanted if negative else wanted).append(word)
    return wanted, unwanted


def _match_postgres(posts: QuerySet[Post], query: str) -> QuerySet[Post]:
    """Posts matching in either configuration, with ``rank``: the better one."""
    from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

    matches = Q()
    ranks = []
    for config in SEARCH_CONFIGS:
        # The same expression as the GIN indexes of migration 0002, so they are used.
        vector = SearchVector("search_text", config=config)
        search_query = SearchQuery(query, config=config, search_type="websearch")
        posts = posts.alias(**{f"vector_{config}": vector})
        matches |= Q(**{f"vector_{config}": search_query})
        ranks.append(SearchRank(F(f"vector_{config}"), search_query))
    return posts.filter(matches).alias(rank=Greatest(*ranks))


def _match_fallback(posts: QuerySet[Post], query: str) -> QuerySet[Post]:
    """Posts containing every word (and none of the ``-words``); ``rank`` 1
    where the post's own text, not only its thread's title, has them all."""
    wanted, unwanted = query_terms(query)
    if not wanted:  # only quotes, dashes, brackets
        return posts.none().alias(rank=Value(0))
    in_body = Q()
    for word in wanted:
        posts = posts.filter(search_text__icontains=word)
        in_body &= Q(body__icontains=word)
    for word in unwanted:
        posts = posts.exclude(search_text__icontains=word)
    return posts.alias(
        rank=Case(When(in_body, then=Value(1)), default=Value(0), output_field=IntegerField())
    )


class _CountedPaginator(Paginator):
    """A paginator given its count, so that the cheap count of matching threads
    stands in for counting the ranked query (which would rank every match twice)."""

    def __init__(self, object_list, per_page, *, count: int):
        super().__init__(object_list, per_page)
        self._given_count = count

    @cached_property
    def count(self) -> int:
        return self._given_count


def post_search(user, *, query: str, group=None, page: int | str | None = 1):
    """A page of results for ``query`` among the posts ``user`` may find (in
    ``group`` only, if given: one of the user's groups), best first.

    One result per thread: its best-matching post, with ``thread_hits`` (the
    thread's matching posts), ``title_html`` and ``snippet`` (escaped HTML
    with the matching words in <mark>). Three queries whatever the number of
    results: count, page, and the matched words (PostgreSQL only)."""
    posts = searchable_posts(user)
    if group is not None:
        posts = posts.filter(thread__group=group)
    postgres = connection.vendor == "postgresql"
    matches = _match_postgres(posts, query) if postgres else _match_fallback(posts, query)
    count = matches.values("thread_id").distinct().count()
    best = (
        matches.annotate(
            best=Window(
                RowNumber(),
                partition_by=[F("thread_id")],
                order_by=[F("rank").desc(), F("position").asc()],
            ),
            thread_hits=Window(Count("pk"), partition_by=[F("thread_id")]),
        )
        .filter(best=1)
        .select_related("thread__group", "author")
        .order_by(F("rank").desc(), "-created_at", "-pk")
    )
    page_obj = _CountedPaginator(best, RESULTS_PER_PAGE, count=count).get_page(page)
    items = list(page_obj.object_list)
    if postgres:
        words = _matched_words(items, query)
    else:
        wanted, _unwanted = query_terms(query)
        words = dict.fromkeys((post.pk for post in items), wanted)
    for post in items:
        post.title_html = highlight(post.thread.title, words[post.pk], whole_words=postgres)
        post.snippet = highlight(post.body, words[post.pk], whole_words=postgres)
    page_obj.object_list = items
    return page_obj


def _matched_words(posts: list[Post], query: str) -> dict[int, list[str]]:
    """For each post, the words of its text that PostgreSQL matched to the
    query ("Arbeitsmärkte" for "Arbeitsmarkt"), in either configuration.

    Only the words are taken from ts_headline: it drops or keeps markup in its
    output depending on its options, so the snippet is cut from the post's own
    text, escaped, by ``highlight``."""
    from django.contrib.postgres.search import SearchHeadline, SearchQuery

    if not posts:
        return {}
    headlines = {
        f"headline_{config}": SearchHeadline(
            "search_text",
            SearchQuery(query, config=config, search_type="websearch"),
            config=config,
            start_sel=_START,
            stop_sel=_STOP,
            highlight_all=True,
        )
        for config in SEARCH_CONFIGS
    }
    rows = (
        Post.objects.filter(pk__in=[post.pk for post in posts])
        .annotate(**headlines)
        .values_list("pk", *headlines)
    )
    words = {}
    for pk, *texts in rows:
        found = {word for text in texts for word in _MARKED.findall(text or "")}
        words[pk] = sorted(word for word in found if len(word) > 1)
    return words


def highlight(
    text: str, words: list[str], *, width: int = SNIPPET_CHARS, whole_words: bool = False
) -> SafeString:
    """A snippet of ``text`` around the first of ``words``, escaped, with each
    occurrence of the words wrapped in <mark> (only whole words if asked)."""
    text = " ".join(text.split())
    pattern = None
    if words:
        alternatives = "|".join(map(re.escape, sorted(words, key=len, reverse=True)))
        pattern = re.compile(rf"\b(?:{alternatives})\b" if whole_words else alternatives, re.I)
    first = pattern.search(text) if pattern else None
    start = 0
    if first and first.end() > width:  # not visible from the start: begin before it
        start = first.start() - width // 3
        start = text.find(" ", start, first.start()) + 1 or start
    end = len(text)
    if start + width < end:  # end at a space, after the first match
        end = start + width
        cut = text.rfind(" ", first.end() if first else start, end)
        end = cut if cut > start else end
    window = text[start:end]
    parts = ["… " if start else ""]
    position = 0
    for match in pattern.finditer(window) if pattern else ():
        parts.append(escape(window[position : match.start()]))
        parts.append(f"<mark>{escape(match.group())}</mark>")
        position = match.end()
    parts.append(escape(window[position:]))
    parts.append(" …" if end < len(text) else "")
    return mark_safe("".join(parts))  # noqa: S308 -- every piece of text is escaped
