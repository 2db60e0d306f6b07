"""The public pages: the home for visitors at ``/`` (signed-in people get
their own home there), the same page at ``/public/`` for everyone, and a page
per group.

For visitors (not signed in) a page is served from the cache
(``core.public_cache``, per language and path) and sets no session cookie: nothing here touches
``request.session`` beyond asking whether someone is signed in, which reads no
cookie that is not there. The one per-visitor part of a page, the CSRF token
of the language switch, is stored as a placeholder and filled in per request.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from core import public_cache
from groups.decorators import mfa_gate
from groups.views import dashboard

from . import permissions, selectors, services
from .forms import IntroductionForm


def _home_page(request, csrf_token: str):
    context = {
        "introduction": selectors.introduction(),
        "groups": selectors.public_groups(),
        "sections": _render_sections(request, selectors.sections(request), csrf_token),
        "can_edit_introduction": permissions.can_edit_introduction(request.user),
    }
    return "public_pages/home.html", context, None


def _group_page(request, csrf_token: str, slug: str):
    group = selectors.public_group(slug)
    if group is None:
        raise Http404
    context = {
        "group": group,
        "people": selectors.listed_people(group),
        "mix": selectors.sector_mix(group),
        "sections": _render_sections(request, selectors.sections(request, group), csrf_token),
    }
    return "public_pages/group.html", context, selectors.seconds_until_next_change(group)


def _render_sections(request, found: list[dict], csrf_token: str) -> list[str]:
    return [
        render_to_string(
            section["template"], {**section.get("context", {}), "csrf_token": csrf_token}, request
        )
        for section in found
    ]


@login_not_required
def home(request):
    """``/``: the person's own home when signed in, the public home otherwise."""
    if request.user.is_authenticated:
        return dashboard(request)
    return public_cache.serve(request, _home_page)


@login_not_required
def about(request):
    """The public home, for everyone (signed-in people see what visitors see)."""
    return public_cache.serve(request, _home_page)


@login_not_required
def group_page(request, slug):
    """A group's public page: its public summary, its public sections, the
    people who chose to be listed and the mix of sectors."""
    return public_cache.serve(request, _group_page, slug)


def introduction_edit(request):
    """Organisers edit the process's name and introduction (403 for others)."""
    permissions.check_edit_introduction(request.user)
    if refused := mfa_gate(request):
        return refused
    form = IntroductionForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            services.introduction_save(actor=request.user, texts=form.texts())
            messages.success(request, _("The introduction was saved."))
            return redirect("public:introduction_edit")
        return render(request, "public_pages/introduction_edit.html", {"form": form}, status=400)
    return render(request, "public_pages/introduction_edit.html", {"form": form})
