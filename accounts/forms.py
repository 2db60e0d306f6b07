from allauth.account.forms import SignupForm
from allauth.core import context
from django import forms
from django.utils.translation import gettext_lazy as _

from .models import User


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = [
            "display_name",
            "affiliation",
            "sector",
            "country",
            "bio",
            "language",
            "time_zone",
        ]
        widgets = {"bio": forms.Textarea(attrs={"rows": 5})}


class InvitationSignupForm(SignupForm):
    """allauth's sign-up form, for someone who arrives through an invitation.

    The email address is the invitation's: shown, not editable, and already
    verified (the link proved it). Signing up accepts the invitation.
    """

    display_name = forms.CharField(label=_("Display name"), max_length=100)
    field_order = ["display_name", "email", "password1", "password2"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from groups.views import invitation_from_session

        self.invitation = invitation_from_session(context.request)
        if self.invitation is not None:
            self.fields["email"].initial = self.invitation.email
            self.fields["email"].disabled = True
            self.fields["email"].help_text = _("The address your invitation was sent to.")

    def clean_email(self):
        if self.invitation is None:
            return super().clean_email()
        return self.validate_unique_email(self.invitation.email)

    def custom_signup(self, request, user):
        from groups import services
        from groups.views import INVITATION_SESSION_KEY

        user.display_name = self.cleaned_data["display_name"]
        user.language = request.LANGUAGE_CODE if hasattr(request, "LANGUAGE_CODE") else ""
        user.save(update_fields=["display_name", "language"])
        token = request.session.pop(INVITATION_SESSION_KEY, None)
        if token:
            services.invitation_accept(user=user, token=token)
