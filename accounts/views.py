from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

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
