import datetime
import zoneinfo

from allauth.account.forms import SignupForm
from allauth.core import context
from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Sector

from . import services
from .models import Role, WorkingGroup


def end_of_day(day: datetime.date) -> datetime.datetime:
    """The last moment of ``day`` in the active time zone (the viewer's)."""
    zone = timezone.get_current_timezone()
    if isinstance(zone, str):  # pragma: no cover - defensive
        zone = zoneinfo.ZoneInfo(zone)
    return datetime.datetime.combine(day, datetime.time(23, 59, 59), tzinfo=zone)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class AccessEndField(forms.DateField):
    """A date; the access ends at the end of that day."""

    widget = DateInput

    def clean(self, value):
        day = super().clean(value)
        if day is None:
            return None
        if day < timezone.localdate():
            raise forms.ValidationError(_("The end date must lie in the future."))
        return end_of_day(day)


# Which of a group's texts the public reads (public_pages), said where they are written.
GROUP_TEXT_HELP = {
    "description": _(
        "What the group works on (Markdown), for its people only; the public reads the "
        "public summary."
    ),
    "public_summary": _(
        "Shown to everyone on the public home and the group's public page. Plain text."
    ),
}


class GroupCreateForm(forms.ModelForm):
    class Meta:
        model = WorkingGroup
        fields = ["name", "slug", "description", "public_summary"]
        widgets = {"description": forms.Textarea(attrs={"rows": 6})}
        help_texts = GROUP_TEXT_HELP


class GroupSettingsForm(forms.ModelForm):
    class Meta:
        model = WorkingGroup
        fields = ["name", "description", "public_summary", "emails_without_text", "archived"]
        widgets = {"description": forms.Textarea(attrs={"rows": 8})}
        help_texts = GROUP_TEXT_HELP


class RoleFieldsMixin(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.MEMBER)
    access_until = AccessEndField(
        label=_("Guest access ends"),
        required=False,
        help_text=_("Required for guests: their access ends after this day."),
    )

    def clean(self):
        cleaned = super().clean()
        if (
            cleaned.get("role") == Role.GUEST
            and not cleaned.get("access_until")
            and "access_until" not in self.errors
        ):
            self.add_error("access_until", _("A guest's access needs an end date."))
        return cleaned


class InviteForm(RoleFieldsMixin):
    email = forms.EmailField(label=_("Email address"))
    language = forms.ChoiceField(
        label=_("Language of the invitation"), choices=settings.LANGUAGES, initial="en"
    )
    field_order = ["email", "role", "access_until", "language"]


class BulkInviteForm(RoleFieldsMixin):
    emails = forms.CharField(
        label=_("Email addresses"),
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=20_000,
        help_text=_("One per line, or separated by commas. Each is checked on its own."),
    )
    language = forms.ChoiceField(
        label=_("Language of the invitations"), choices=settings.LANGUAGES, initial="en"
    )
    field_order = ["emails", "role", "access_until", "language"]


class RoleForm(RoleFieldsMixin):
    pass


class ExtendForm(forms.Form):
    access_until = AccessEndField(label=_("Guest access ends"))


class JoinRequestForm(forms.Form):
    name = forms.CharField(label=_("Your name"), max_length=200)
    email = forms.EmailField(label=_("Email address"))
    affiliation = forms.CharField(label=_("Affiliation"), max_length=200, required=False)
    sector = forms.ChoiceField(
        label=_("Sector"), choices=[("", "—"), *Sector.choices], required=False
    )
    group = forms.ModelChoiceField(
        label=_("Working group"),
        queryset=WorkingGroup.objects.filter(archived=False),
        empty_label=None,
    )
    motivation = forms.CharField(
        label=_("Why would you like to join?"),
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=3000,
    )
    consent = forms.BooleanField(
        label=_(
            "I agree that the organisers and the group's moderators store and read these "
            "details to decide on my request, and contact me by email about it."
        ),
    )
    # Left empty by people; filled by bots. Hidden from view and from screen readers.
    website = forms.CharField(required=False, widget=forms.HiddenInput)


class DecideForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[("accept", _("Accept and send an invitation")), ("decline", _("Decline"))],
        widget=forms.RadioSelect,
    )
    message = forms.CharField(
        label=_("Message to the person"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=3000,
        help_text=_("Sent with a decline."),
    )


class InvitationSignupForm(SignupForm):
    """allauth's sign-up form, for someone who arrives through an invitation.

    The email address is the invitation's: shown, not editable, and already
    verified (the link proved it). Signing up accepts the invitation.
    """

    display_name = forms.CharField(label=_("Display name"), max_length=100)
    field_order = ["display_name", "email", "password1", "password2"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.invitation = services.invitation_from_session(context.request.session)
        if self.invitation is not None:
            self.fields["email"].initial = self.invitation.email
            self.fields["email"].disabled = True
            self.fields["email"].help_text = _("The address your invitation was sent to.")

    def clean_email(self):
        if self.invitation is None:
            return super().clean_email()
        return self.validate_unique_email(self.invitation.email)

    def custom_signup(self, request, user):
        user.display_name = self.cleaned_data["display_name"]
        user.language = request.LANGUAGE_CODE if hasattr(request, "LANGUAGE_CODE") else ""
        user.save(update_fields=["display_name", "language"])
        token = request.session.pop(services.INVITATION_SESSION_KEY, None)
        if token:
            services.invitation_accept(user=user, token=token)
