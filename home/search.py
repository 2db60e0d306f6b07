"""The search of everything a person may see: threads and posts
(``discussions.search``), documents (names and descriptions) and meetings
(titles, agendas, minutes). Each part starts from its app's
``*_visible_to(user)``, so a result is shown exactly to those who may open it."""

from django.shortcuts import render
from django.utils.http import urlencode

from discussions.search import SearchForm, highlight, post_search, query_terms
from documents.selectors import document_search
from meetings.selectors import meeting_search

# Documents and meetings are few next to posts: the first ones found are shown.
DOCUMENTS_SHOWN = 20
MEETINGS_SHOWN = 20


def _contains(text: str, words: list[str]) -> bool:
    text = text.casefold()
    return any(word.casefold() in text for word in words)


def search_everything(user, *, query: str, group=None, page=1) -> dict:
    """The results for ``query`` (in ``group`` only, if given): ``threads``, a
    page of ``discussions.search.post_search``; ``documents`` and ``meetings``,
    the first ones found, each with ``snippet`` (escaped HTML, matches in
    <mark>) and, for meetings, ``snippet_field`` (agenda or minutes)."""
    words, without = query_terms(query)
    documents = list(
        document_search(user, words=words, without=without, group=group, limit=DOCUMENTS_SHOWN)
    )
    for document in documents:
        document.title_html = highlight(document.title, words)
        document.snippet = highlight(document.description, words) if document.description else ""
    meetings = list(
        meeting_search(user, words=words, without=without, group=group, limit=MEETINGS_SHOWN)
    )
    for meeting in meetings:
        meeting.title_html = highlight(meeting.title, words)
        # Minutes only where the person may read them (drafts: moderators).
        in_minutes = meeting.minutes_readable and _contains(meeting.minutes, words)
        if in_minutes and not _contains(meeting.agenda, words):
            meeting.snippet_field = "minutes"
            meeting.snippet = highlight(meeting.minutes, words)
        else:
            meeting.snippet_field = "agenda" if meeting.agenda else ""
            meeting.snippet = highlight(meeting.agenda, words) if meeting.agenda else ""
    return {
        "threads": post_search(user, query=query, group=group, page=page),
        "documents": documents,
        "meetings": meetings,
    }


def search(request):
    """The search page behind the header's box: one box, an optional group of
    one's own, and the results of every kind."""
    form = SearchForm(request.GET if "q" in request.GET else None, user=request.user)
    results = None
    more = ""
    if form.is_bound and form.is_valid():
        query = form.cleaned_data["q"]
        group = form.cleaned_data["group"]
        results = search_everything(
            request.user, query=query, group=group, page=request.GET.get("page")
        )
        more = urlencode({"q": query, **({"group": group.slug} if group else {})})
    return render(
        request,
        "home/search.html",
        {"form": form, "results": results, "query_string": more},
    )
