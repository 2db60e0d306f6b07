"""The discussion pages: thin interfaces over permissions, selectors and services.

Objects are looked up through ``permissions.access_*`` (404 for missing and
forbidden alike); a person who may see something but not do the thing gets
403; moderator actions lead a moderator without two-factor authentication to
turn it on first, as the groups pages do. Service ValidationErrors go next to
the field they concern, or into a message: never a 500.
"""

import json
import re

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core import hooks
from groups import permissions as group_permissions
from groups.decorators import group_view, mfa_gate, moderator_view
from groups.mentions import render_post

from . import permissions, presenters, selectors, services
from .forms import (
    HideForm,
    MarkReadForm,
    MoveForm,
    PostEditForm,
    PreviewForm,
    ReactionForm,
    ReplyForm,
    ReportCloseForm,
    ReportForm,
    SplitForm,
    ThreadForm,
    ThreadModerateForm,
    WatchForm,
)
from .models import Post, Report

THREAD_LIST_FILTERS = ("all", "unread", "mine")


def _error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


def _is_htmx(request) -> bool:
    return bool(getattr(request, "htmx", False))


def post_url(post: Post) -> str:
    """The thread page on which ``post`` stands, scrolled to it."""
    url = post.thread.get_absolute_url()
    page = selectors.page_of_post(post)
    if page > 1:
        url += "?" + urlencode({"page": page})
    return f"{url}#post-{post.pk}"


def _as_moderator(request, thread):
    """403 for those who may see the thread but not moderate it; the 2FA page
    for moderators without it (returned); None when they may go ahead."""
    permissions.check_moderate_thread(request.user, thread)
    return mfa_gate(request)


# --- Thread list --------------------------------------------------------------


@group_view
def thread_list(request, group):
    show = request.GET.get("show")
    if show not in THREAD_LIST_FILTERS:
        show = "all"
    page = selectors.thread_list(request.user, group, show=show, page=request.GET.get("page"))
    is_moderator = group_permissions.is_moderator(request.user, group)
    return render(
        request,
        "discussions/thread_list.html",
        {
            "group": group,
            "page": page,
            "show": show,
            "filters": [
                ("all", _("All")),
                ("unread", _("Unread")),
                ("mine", _("Mine")),
            ],
            "can_start": permissions.can_start_thread(request.user, group),
            "is_moderator": is_moderator,
            "open_reports": (
                permissions.reports_visible_to(request.user, group)
                .filter(status=Report.Status.OPEN)
                .count()
                if is_moderator
                else 0
            ),
        },
    )


@group_view
def thread_create(request, group):
    permissions.check_start_thread(request.user, group)
    form = ThreadForm(request.POST or None)
    preview_html = None
    status = 200
    if request.method == "POST":
        if form.is_valid() and "preview" in request.POST:
            preview_html = render_post(form.cleaned_data["body"], group)[0]
        elif form.is_valid():
            try:
                thread = services.thread_create(
                    actor=request.user,
                    group=group,
                    title=form.cleaned_data["title"],
                    body=form.cleaned_data["body"],
                )
            except ValidationError as error:
                form.add_error(None, _error_text(error))
            else:
                messages.success(request, _("The thread was started."))
                return redirect(thread)
        if form.errors:
            status = 400
    return render(
        request,
        "discussions/thread_create.html",
        {
            "group": group,
            "form": form,
            "preview_html": preview_html,
            "is_moderator": group_permissions.is_moderator(request.user, group),
        },
        status=status,
    )


# --- Thread page --------------------------------------------------------------


def thread_detail(request, pk):
    # The thread comes with the user's rights, read mark, watching and the
    # stream's position (read before the posts: an event committed in
    # between is then replayed to the page, harmless, rather than lost).
    thread, viewer = selectors.thread_for_page(request.user, pk)
    read_position = thread.read_position or 0
    page = selectors.thread_page(request.user, thread, page=request.GET.get("page"))
    posts = list(page.object_list)
    if posts:
        services.thread_mark_read_shown(
            user=request.user,
            thread=thread,
            position=max(post.position for post in posts),
            read_position=thread.read_position,
        )
        # Whatever told the person of these posts has now been read.
        hooks.call("discussions.posts_read", user=request.user, post_ids=[p.pk for p in posts])
    return render(
        request,
        "discussions/thread_detail.html",
        {
            "thread": thread,
            "group": thread.group,
            "viewer": viewer,
            "page": page,
            "posts": presenters.post_items(
                request,
                posts,
                viewer,
                read_position=read_position,
                page_ids={post.pk for post in posts},
            ),
            "seq": thread.seq or 0,
            "read_position": read_position,
            "unread": max(0, thread.last_position - read_position),
            "watching": bool(thread.watching),
            "form": ReplyForm() if viewer.can_reply() else None,
        },
    )


def thread_first_unread(request, pk):
    thread = permissions.access_thread(request.user, pk)
    post = selectors.first_unread_post(request.user, thread)
    if post is None:
        return redirect(thread)
    post.thread = thread
    return redirect(post_url(post))


def thread_mark_read(request, pk):
    thread = permissions.access_thread(request.user, pk)
    if request.method != "POST":
        return _method_not_allowed()
    form = MarkReadForm(request.POST)
    position = thread.last_position
    if form.is_valid() and form.cleaned_data["position"] is not None:
        position = form.cleaned_data["position"]
    services.thread_mark_read(user=request.user, thread=thread, position=position)
    if _is_htmx(request):
        return HttpResponse(status=204)
    return redirect("discussions:thread_list", slug=thread.group.slug)


def thread_watch(request, pk):
    thread = permissions.access_thread(request.user, pk)
    if request.method != "POST":
        return _method_not_allowed()
    form = WatchForm(request.POST)
    watching = form.is_valid() and form.cleaned_data["watching"]
    services.subscription_set(user=request.user, thread=thread, watching=watching)
    if watching:
        messages.success(request, _("You are watching this thread."))
    else:
        messages.success(request, _("You no longer watch this thread."))
    return redirect(thread)


# --- Posts --------------------------------------------------------------------


def _reply_context(thread, viewer, form, *, parent=None, preview_html=None):
    return {
        "thread": thread,
        "group": thread.group,
        "viewer": viewer,
        "form": form,
        "parent": parent,
        "parent_see_hidden": parent is not None and viewer.can_view_history(parent),
        "preview_html": preview_html,
        "inline_preview_id": f"reply-preview-{parent.pk}" if parent else "reply-preview-inline",
    }


def _quote(post: Post) -> str:
    """The Markdown that quotes ``post``: a first line naming its author and
    linking the post, then its text. The name is escaped, so that it reads
    as written, never as Markdown."""
    lines = post.body.strip().splitlines() or [""]
    author = str(post.author) if post.author_id else _("Former member")
    name = _MARKDOWN_PUNCTUATION.sub(r"\\\g<0>", author)
    head = _("**%(name)s** [wrote](%(url)s):") % {"name": name, "url": post.get_absolute_url()}
    return f"> {head}\n>\n" + "\n".join(f"> {line}".rstrip() for line in lines) + "\n\n"


# What a name must escape to stay text in Markdown (CommonMark: any ASCII punctuation).
_MARKDOWN_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")


def _post_in_thread(thread, pk) -> Post | None:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    return thread.posts.select_related("author").filter(pk=pk).first()


def _inline_ids(inline: bool, parent: Post | None) -> dict:
    """The ids of an inline reply form's fields, its own on a page that has
    the thread's reply form too."""
    if not inline:
        return {}
    return {"auto_id": f"reply-{parent.pk if parent else 'inline'}-%s"}


def post_create(request, pk):
    """The reply page: GET shows the form (replying to ?parent=, or quoting
    ?quote=); POST writes the reply. A locked thread shows why it takes no
    reply; posting anyway gets the reason next to the field.

    From the thread page with htmx, the same form comes inline under the
    post answered (the ``inline_form`` partial), is posted from there, and on
    success gives way to a line saying so; the ``discussions:posted`` event
    it triggers has the page put the reply in its place in the thread (as
    the live update would)."""
    thread = permissions.access_thread(request.user, pk)
    viewer = permissions.thread_viewer(request.user, thread)
    if not viewer.can_open_reply_form():
        raise PermissionDenied
    inline = _is_htmx(request)
    if request.method != "POST":
        initial = {}
        parent = None
        if "quote" in request.GET or "parent" in request.GET:
            parent = _post_in_thread(thread, request.GET.get("quote", request.GET.get("parent")))
            if parent is None:
                raise Http404
            initial["parent"] = parent.pk
            if (
                "quote" in request.GET
                and not parent.is_deleted
                and (not parent.hidden or viewer.can_view_history(parent))
            ):
                initial["body"] = _quote(parent)
        form = ReplyForm(initial=initial, **_inline_ids(inline, parent))
        context = _reply_context(thread, viewer, form, parent=parent)
        if inline:
            form.fields["body"].widget.attrs["autofocus"] = True
            return render(request, "discussions/reply.html#inline_form", context)
        return render(request, "discussions/reply.html", context)
    form = ReplyForm(request.POST)
    parent = None
    preview_html = None
    if form.is_valid() and form.cleaned_data["parent"]:
        parent = _post_in_thread(thread, form.cleaned_data["parent"])
        if parent is None:
            form.add_error("body", _("You can only reply to a post of this thread."))
    if inline:
        form.auto_id = _inline_ids(inline, parent)["auto_id"]
    if form.is_valid() and "preview" in request.POST:
        preview_html = render_post(form.cleaned_data["body"], thread.group)[0]
    elif form.is_valid():
        try:
            post = services.post_create(
                actor=request.user, thread=thread, body=form.cleaned_data["body"], parent=parent
            )
        except ValidationError as error:
            form.add_error("body", _error_text(error))
        else:
            if inline:
                response = render(request, "discussions/reply.html#inline_done", {})
                response["HX-Trigger"] = json.dumps(
                    {"discussions:posted": {"post": post.pk, "position": post.position}}
                )
                return response
            messages.success(request, _("Your reply was posted."))
            post.thread = thread
            return redirect(post_url(post))
    context = _reply_context(thread, viewer, form, parent=parent, preview_html=preview_html)
    if inline:
        # 200, as htmx swaps in only successful answers: the errors stand next to the field.
        return render(request, "discussions/reply.html#inline_form", context)
    return render(request, "discussions/reply.html", context, status=400 if form.errors else 200)


def post_redirect(request, pk):
    post = permissions.access_post(request.user, pk)
    return redirect(post_url(post))


def _render_post(request, post, viewer, *, status=200):
    post = selectors.post_detail(request.user, post)
    items = presenters.post_items(
        request,
        [post],
        viewer,
        read_position=selectors.read_position(request.user, post.thread),
        page_ids=None,
    )
    return render(
        request,
        "discussions/thread_detail.html#posts",
        {"posts": items, "thread": post.thread, "viewer": viewer},
        status=status,
    )


def post_fragment(request, pk):
    """One post as this viewer sees it, for the live updates of the thread page."""
    post = permissions.access_post(request.user, pk)
    viewer = permissions.thread_viewer(request.user, post.thread)
    return _render_post(request, post, viewer)


def post_edit(request, pk):
    post = permissions.access_post(request.user, pk)
    viewer = permissions.thread_viewer(request.user, post.thread)
    if not viewer.can_edit_post(post):
        raise PermissionDenied
    if not viewer.is_author(post) and (refused := mfa_gate(request)):
        return refused
    form = PostEditForm(request.POST or None, initial={"body": post.body})
    preview_html = None
    status = 200
    if request.method == "POST":
        if form.is_valid() and "preview" in request.POST:
            preview_html = render_post(form.cleaned_data["body"], post.thread.group)[0]
        elif form.is_valid():
            try:
                services.post_edit(actor=request.user, post=post, body=form.cleaned_data["body"])
            except ValidationError as error:
                form.add_error("body", _error_text(error))
            else:
                messages.success(request, _("Your changes were saved."))
                return redirect(post_url(post))
        if form.errors:
            status = 400
    return render(
        request,
        "discussions/post_edit.html",
        {
            "post": post,
            "thread": post.thread,
            "group": post.thread.group,
            "form": form,
            "preview_html": preview_html,
        },
        status=status,
    )


def post_delete(request, pk):
    post = permissions.access_post(request.user, pk)
    viewer = permissions.thread_viewer(request.user, post.thread)
    if not viewer.can_delete_post(post):
        raise PermissionDenied
    if not viewer.is_author(post) and (refused := mfa_gate(request)):
        return refused
    if request.method == "POST":
        services.post_delete(actor=request.user, post=post)
        messages.success(request, _("The post was deleted."))
        return redirect(post_url(post))
    return render(
        request,
        "discussions/post_delete.html",
        {"post": post, "thread": post.thread, "group": post.thread.group},
    )


def post_history(request, pk):
    post = permissions.access_post(request.user, pk)
    viewer = permissions.thread_viewer(request.user, post.thread)
    if not viewer.can_view_history(post):
        raise PermissionDenied
    revisions = selectors.post_revisions(post)
    return render(
        request,
        "discussions/post_history.html",
        {"post": post, "thread": post.thread, "group": post.thread.group, "revisions": revisions},
    )


def post_react(request, pk):
    post = permissions.access_post(request.user, pk)
    if request.method != "POST":
        return _method_not_allowed()
    form = ReactionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Unknown reaction."))
    else:
        services.reaction_toggle(actor=request.user, post=post, kind=form.cleaned_data["kind"])
    if _is_htmx(request):
        viewer = permissions.thread_viewer(request.user, post.thread)
        return _render_post(request, post, viewer)
    return redirect(post_url(post))


def _method_not_allowed():
    return HttpResponseNotAllowed(["POST"])


def post_report(request, pk):
    post = permissions.access_post(request.user, pk)
    if not permissions.thread_viewer(request.user, post.thread).can_report(post):
        raise PermissionDenied
    form = ReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.report_create(
                actor=request.user, post=post, reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            form.add_error("reason", _error_text(error))
        else:
            messages.success(
                request, _("Thank you. The group's moderators will look at your report.")
            )
            return redirect(post_url(post))
    return render(
        request,
        "discussions/post_report.html",
        {"post": post, "thread": post.thread, "group": post.thread.group, "form": form},
        status=400 if form.errors else 200,
    )


# --- Moderation ---------------------------------------------------------------


THREAD_ACTIONS = {
    "pin": (services.thread_pin, {"pinned": True}, gettext_lazy("The thread was pinned.")),
    "unpin": (services.thread_pin, {"pinned": False}, gettext_lazy("The thread was unpinned.")),
    "lock": (services.thread_lock, {"locked": True}, gettext_lazy("The thread was locked.")),
    "unlock": (
        services.thread_lock,
        {"locked": False},
        gettext_lazy("The thread was unlocked."),
    ),
    "hide": (
        services.thread_hide,
        {"hidden": True},
        gettext_lazy("The thread was hidden from members."),
    ),
    "unhide": (
        services.thread_hide,
        {"hidden": False},
        gettext_lazy("The thread is visible again."),
    ),
}


def thread_moderate(request, pk):
    thread = permissions.access_thread(request.user, pk)
    if refused := _as_moderator(request, thread):
        return refused
    if request.method != "POST":
        return _method_not_allowed()
    form = ThreadModerateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Unknown action."))
        return redirect(thread)
    service, flags, done = THREAD_ACTIONS[form.cleaned_data["action"]]
    service(actor=request.user, thread=thread, **flags)
    messages.success(request, done)
    return redirect(thread)


def thread_move(request, pk):
    thread = permissions.access_thread(request.user, pk)
    if refused := _as_moderator(request, thread):
        return refused
    targets = permissions.thread_move_targets(request.user, thread).order_by("name")
    form = MoveForm(request.POST or None, groups=targets)
    if request.method == "POST" and form.is_valid():
        to_group = form.cleaned_data["group"]
        try:
            services.thread_move(actor=request.user, thread=thread, to_group=to_group)
        except ValidationError as error:
            form.add_error("group", _error_text(error))
        else:
            messages.success(
                request, _("The thread was moved to %(group)s.") % {"group": to_group.name}
            )
            return redirect(thread)
    return render(
        request,
        "discussions/thread_move.html",
        {"thread": thread, "group": thread.group, "form": form},
        status=400 if form.errors else 200,
    )


def post_hide(request, pk):
    post = permissions.access_post(request.user, pk)
    if refused := _as_moderator(request, post.thread):
        return refused
    form = HideForm(request.POST or None, initial={"reason": post.hidden_reason})
    if request.method == "POST" and form.is_valid():
        hidden = request.POST.get("action") != "unhide"
        try:
            services.post_set_hidden(
                actor=request.user, post=post, hidden=hidden, reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            form.add_error("reason", _error_text(error))
        else:
            if hidden:
                messages.success(request, _("The post was hidden."))
            else:
                messages.success(request, _("The post is visible again."))
            return redirect(post_url(post))
    return render(
        request,
        "discussions/post_hide.html",
        {"post": post, "thread": post.thread, "group": post.thread.group, "form": form},
        status=400 if form.errors else 200,
    )


def thread_split(request, pk):
    post = permissions.access_post(request.user, pk)
    if refused := _as_moderator(request, post.thread):
        return refused
    form = SplitForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            new_thread = services.thread_split(
                actor=request.user, post=post, title=form.cleaned_data["title"]
            )
        except ValidationError as error:
            form.add_error("title", _error_text(error))
        else:
            messages.success(request, _("The replies were split off into a new thread."))
            return redirect(new_thread)
    replies = post.thread.posts.filter(path__startswith=post.path).count() - 1
    return render(
        request,
        "discussions/thread_split.html",
        {
            "post": post,
            "thread": post.thread,
            "group": post.thread.group,
            "form": form,
            "replies": replies,
        },
        status=400 if form.errors else 200,
    )


@moderator_view
def report_queue(request, group):
    show = "handled" if request.GET.get("show") == "handled" else "open"
    reports = (
        permissions.reports_visible_to(request.user, group)
        .select_related("post__thread", "post__author", "reporter", "handled_by")
        .order_by("-created_at")
    )
    if show == "open":
        reports = reports.filter(status=Report.Status.OPEN)
    else:
        reports = reports.exclude(status=Report.Status.OPEN)
    page = Paginator(reports, 30).get_page(request.GET.get("page"))
    return render(
        request,
        "discussions/report_queue.html",
        {"group": group, "page": page, "show": show, "is_moderator": True},
    )


def report_close(request, pk):
    report = permissions.access_report(request.user, pk)
    if refused := _as_moderator(request, report.post.thread):
        return refused
    if request.method != "POST":
        return _method_not_allowed()
    form = ReportCloseForm(request.POST)
    group = report.post.thread.group
    if not form.is_valid():
        messages.error(request, _("Please choose whether to resolve or dismiss the report."))
        return redirect("discussions:report_queue", slug=group.slug)
    try:
        services.report_close(
            actor=request.user, report=report, dismiss=form.cleaned_data["decision"] == "dismiss"
        )
    except ValidationError as error:
        messages.error(request, _error_text(error))
    else:
        if form.cleaned_data["decision"] == "dismiss":
            messages.success(request, _("The report was dismissed."))
        else:
            messages.success(request, _("The report was resolved."))
    return redirect("discussions:report_queue", slug=group.slug)


# --- Preview ------------------------------------------------------------------


@require_POST
def preview(request):
    """The text as it will look, for the thread (or group) it is written in:
    mentions resolve to that group's people, so it is authorised like the page."""
    form = PreviewForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "discussions/_preview.html",
            {"errors": [error for errors in form.errors.values() for error in errors]},
            status=200 if _is_htmx(request) else 400,
        )
    if form.cleaned_data["thread"]:
        group = permissions.access_thread(request.user, form.cleaned_data["thread"]).group
    else:
        group = (
            group_permissions.groups_visible_to(request.user)
            .filter(pk=form.cleaned_data["group"])
            .first()
        )
        if group is None:
            raise Http404
    html, _mentioned = render_post(form.cleaned_data["body"], group)
    return render(request, "discussions/_preview.html", {"html": html})
