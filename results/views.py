"""Thin views: look up through ``permissions``, call a service, render.

The public ones (``@login_not_required``) read no session of their own and
write no message: a visitor gets no session cookie from them. A member of
the group sees on the same addresses the drafts and the sources too.
"""

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from groups import permissions as group_permissions
from groups.decorators import mfa_gate
from groups.models import WorkingGroup

from . import feeds, permissions, selectors, services
from .forms import DiffForm, PublishForm, ResultForm, WithdrawForm

PAGE_SIZE = 30

FIELD_OF_CODE = {
    "kind": "kind",
    "title": "title",
    "summary": "summary",
    "sources": None,
    "change_summary": "change_summary",
    "reason": "reason",
}


def _error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


def _add_error(form, error: ValidationError) -> None:
    field = FIELD_OF_CODE.get(error.code)
    form.add_error(field if field in form.fields else None, _error_text(error))


def _viewer(request, group) -> dict:
    """What the person sees beside the public text: the group's people see
    drafts and sources, its moderators the actions."""
    user = request.user
    member = user.is_authenticated and group_permissions.is_member(user, group)
    moderator = member and group_permissions.is_moderator(user, group)
    return {
        "is_member": member,
        "is_moderator": moderator,
        "can_write": moderator and permissions.can_write_results(user, group),
    }


def _absolute(path: str) -> str:
    return settings.SITE_URL + path


# --- Public ---------------------------------------------------------------------------


@login_not_required
@require_safe
def site_list(request):
    """Every group's published results."""
    page = Paginator(selectors.published_list(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "results/site_list.html",
        {
            "page": page,
            "results": page.object_list,
            "canonical": _absolute(request.path),
        },
    )


@login_not_required
@require_safe
def result_list(request, group):
    group = get_object_or_404(WorkingGroup, slug=group)
    viewer = _viewer(request, group)
    results = selectors.group_results(request.user, group)
    page = Paginator(results, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "results/result_list.html",
        {
            "group": group,
            "page": page,
            "results": page.object_list,
            "canonical": _absolute(request.path),
            **viewer,
        },
    )


def _result_page(request, result, version, *, is_latest: bool):
    viewer = _viewer(request, result.group)
    versions = selectors.result_versions(result)
    latest = versions[0] if versions else None
    context = {
        "group": result.group,
        "result": result,
        "version": version,
        "versions": versions,
        "is_latest": is_latest,
        "sources": selectors.sources_for(request.user, result) if viewer["is_member"] else [],
        "unpublished_changes": viewer["is_member"]
        and selectors.has_unpublished_changes(result, latest),
        # Each address is its own: the stable one shows the latest version,
        # a version's stays the same for good.
        "canonical": _absolute(request.path),
        "cite_url": _absolute(version.get_absolute_url()) if version else "",
        **viewer,
    }
    return render(request, "results/result_detail.html", context)


@login_not_required
@require_safe
def result_detail(request, group, slug):
    """The latest published version at the result's stable address; for the
    group's people, the draft of a result never published."""
    result = permissions.access_result(request.user, group, slug)
    if not result.is_published:
        return _result_page(request, result, None, is_latest=True)
    version = result.versions.get(number=result.latest_number)
    version.result = result
    return _result_page(request, result, version, is_latest=True)


@login_not_required
@require_safe
def version_detail(request, group, slug, number):
    """One published version at its own, citable address."""
    version = permissions.access_version(request.user, group, slug, number)
    result = version.result
    return _result_page(request, result, version, is_latest=version.number == result.latest_number)


@login_not_required
@require_safe
def version_diff(request, group, slug):
    """What changed between two published versions (``?from=1&to=3``)."""
    result = permissions.access_result(request.user, group, slug)
    versions = selectors.result_versions(result)
    numbers = [v.number for v in reversed(versions)]
    data = request.GET if "from" in request.GET or "to" in request.GET else None
    if data is None and len(numbers) >= 2:
        data = {"from": numbers[-2], "to": numbers[-1]}
    form = DiffForm(data, numbers=numbers)
    context = {
        "group": result.group,
        "result": result,
        "form": form,
        "canonical": _absolute(request.path),
    }
    status = 200
    if data is not None and form.is_valid():
        by_number = {v.number: v for v in versions}
        low, high = sorted((form.cleaned_data["from"], form.cleaned_data["to"]))
        old, new = by_number[low], by_number[high]
        old.result = new.result = result
        context["diff"] = selectors.version_diff(old, new)
    elif data is not None:
        status = 400
    return render(request, "results/version_diff.html", context, status=status)


site_feed = login_not_required(feeds.SiteResultsFeed())
group_feed = login_not_required(feeds.GroupResultsFeed())


# --- The group's people -----------------------------------------------------------------


@require_safe
def draft(request, group, slug):
    """The working copy, for the group's people."""
    result = permissions.access_result_draft(request.user, group, slug)
    return render(
        request,
        "results/draft.html",
        {
            "group": result.group,
            "result": result,
            "sources": selectors.sources_for(request.user, result),
            **_viewer(request, result.group),
        },
    )


# --- Moderators -------------------------------------------------------------------------


def result_moderator_view(view):
    """For the group's moderators: Http404 for people who cannot read the
    draft, 403 for the group's other people; moderators without two-factor
    authentication are led to turn it on first."""

    @wraps(view)
    def wrapper(request, group, slug, *args, **kwargs):
        result = permissions.access_result_as_moderator(request.user, group, slug)
        if refused := mfa_gate(request):
            return refused
        return view(request, result, *args, **kwargs)

    return wrapper


@require_http_methods(["GET", "POST"])
def result_create(request, group):
    group = group_permissions.access_group(request.user, group)
    if not permissions.can_write_results(request.user, group):
        raise PermissionDenied
    if refused := mfa_gate(request):
        return refused
    form = ResultForm(request.POST or None, user=request.user, group=group)
    if request.method == "POST" and form.is_valid():
        try:
            result = services.result_create(
                actor=request.user,
                group=group,
                kind=form.cleaned_data["kind"],
                title=form.cleaned_data["title"],
                summary=form.cleaned_data["summary"],
                body=form.cleaned_data["body"],
                sources=form.sources(),
            )
        except ValidationError as error:
            _add_error(form, error)
        else:
            messages.success(request, _("The draft was saved. Only the group sees it."))
            return redirect("results:draft", group=group.slug, slug=result.slug)
    return render(
        request,
        "results/result_form.html",
        {"group": group, "form": form, "is_moderator": True},
        status=400 if form.errors else 200,
    )


@result_moderator_view
@require_http_methods(["GET", "POST"])
def result_edit(request, result):
    initial = {
        "kind": result.kind,
        "title": result.title,
        "summary": result.summary,
        "body": result.body,
    }
    for source in result.sources.all():
        initial.setdefault(f"sources_{source.kind}", []).append(source.object_id)
    form = ResultForm(request.POST or None, initial=initial, user=request.user, group=result.group)
    if request.method == "POST" and form.is_valid():
        try:
            services.result_update(
                actor=request.user,
                result=result,
                kind=form.cleaned_data["kind"],
                title=form.cleaned_data["title"],
                summary=form.cleaned_data["summary"],
                body=form.cleaned_data["body"],
                sources=form.sources(),
            )
        except ValidationError as error:
            _add_error(form, error)
        else:
            messages.success(request, _("The draft was saved. Only the group sees it."))
            return redirect("results:draft", group=result.group.slug, slug=result.slug)
    return render(
        request,
        "results/result_form.html",
        {"group": result.group, "result": result, "form": form, "is_moderator": True},
        status=400 if form.errors else 200,
    )


@result_moderator_view
@require_http_methods(["GET", "POST"])
def result_publish(request, result):
    form = PublishForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            version = services.result_publish(
                actor=request.user,
                result=result,
                change_summary=form.cleaned_data["change_summary"],
            )
        except ValidationError as error:
            _add_error(form, error)
        else:
            messages.success(
                request,
                _("Version %(number)d is published and public.") % {"number": version.number},
            )
            return redirect(version)
    return render(
        request,
        "results/result_publish.html",
        {"group": result.group, "result": result, "form": form, "is_moderator": True},
        status=400 if form.errors else 200,
    )


@result_moderator_view
@require_http_methods(["GET", "POST"])
def result_withdraw(request, result):
    form = WithdrawForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.result_withdraw(
                actor=request.user, result=result, reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            _add_error(form, error)
        else:
            messages.success(
                request, _("The result was withdrawn. Its addresses stay, with a notice.")
            )
            return redirect(result)
    return render(
        request,
        "results/result_withdraw.html",
        {"group": result.group, "result": result, "form": form, "is_moderator": True},
        status=400 if form.errors else 200,
    )


@result_moderator_view
@require_http_methods(["GET", "POST"])
def result_delete(request, result):
    if request.method == "POST":
        try:
            services.result_delete(actor=request.user, result=result)
        except ValidationError as error:
            messages.error(request, _error_text(error))
            return redirect(result)
        messages.success(request, _("The draft was deleted."))
        return redirect("results:list", group=result.group.slug)
    return render(
        request,
        "results/result_delete.html",
        {"group": result.group, "result": result, "is_moderator": True},
    )
