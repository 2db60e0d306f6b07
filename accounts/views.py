from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from . import services
from .forms import ProfileForm
from .permissions import access_profile


def profile(request, pk):
    user = access_profile(request.user, pk)
    return render(request, "accounts/profile.html", {"profile_user": user})


def profile_edit(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        services.profile_update(actor=request.user, user=request.user, data=form.cleaned_data)
        messages.success(request, _("Your profile was saved."))
        return redirect(request.user)
    return render(request, "accounts/profile_edit.html", {"form": form})


@login_not_required
@require_POST
def set_language(request):
    """Django's language switch, open to everyone; a signed-in user's choice is
    also kept in their profile."""
    response = django_set_language(request)
    language = request.POST.get("language")
    if request.user.is_authenticated and language in dict(settings.LANGUAGES):
        services.language_set(user=request.user, language=language)
    return response
