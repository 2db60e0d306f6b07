import zoneinfo

from django import forms
from django.core.validators import validate_email
from django.urls import reverse_lazy
from django.utils.functional import lazy
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

MAX_PRESENTERS = 20


def _privacy_label():
    return format_html(
        '{} <a href="{}">{}</a>',
        _(
            "I agree that the group's moderators store my name, address and affiliation to run "
            "this webinar, as the privacy notice explains."
        ),
        reverse_lazy("webinars:privacy"),
        _("Read the privacy notice"),
    )


class PublishForm(forms.Form):
    """The public announcement of a webinar meeting."""

    abstract = forms.CharField(
        label=_("Abstract"),
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("Markdown. Shown to everyone on the webinar's public page."),
    )
    presenters = forms.CharField(
        label=_("Presenters"),
        required=False,
        max_length=5_000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "One per line: the name; the affiliation; optionally an email address, to invite "
            "the presenter as a guest of the group until shortly after the webinar. The "
            "address is not shown."
        ),
    )
    capacity = forms.IntegerField(label=_("Capacity"), min_value=1, max_value=100_000)

    def clean_presenters(self) -> list[tuple[str, str]]:
        presenters = []
        for line in self.cleaned_data["presenters"].splitlines():
            name, _sep, rest = line.partition(";")
            affiliation, _sep, email = rest.partition(";")
            name, affiliation, email = name.strip(), affiliation.strip(), email.strip()
            if not name and not affiliation and not email:
                continue
            if not name:
                raise forms.ValidationError(_("Each presenter needs a name."))
            if len(name) > 200 or len(affiliation) > 200:
                raise forms.ValidationError(_("A name or affiliation is at most 200 characters."))
            if email:
                try:
                    validate_email(email)
                except forms.ValidationError:
                    raise forms.ValidationError(
                        _("“%(email)s” is not a valid email address.") % {"email": email}
                    ) from None
            presenters.append((name, affiliation, email))
        if len(presenters) > MAX_PRESENTERS:
            raise forms.ValidationError(_("At most %(max)d presenters.") % {"max": MAX_PRESENTERS})
        return presenters

    @staticmethod
    def initial_for(webinar) -> dict:
        if webinar is None:
            return {}
        return {
            "abstract": webinar.abstract,
            "capacity": webinar.capacity,
            "presenters": "\n".join(
                f"{p.name}; {p.affiliation}" if p.affiliation else p.name
                for p in webinar.presenters.all()
            ),
        }


class RegistrationForm(forms.Form):
    name = forms.CharField(label=_("Your name"), max_length=200)
    email = forms.EmailField(label=_("Email address"), max_length=254)
    affiliation = forms.CharField(label=_("Affiliation"), max_length=200, required=False)
    consent = forms.BooleanField(label=lazy(_privacy_label, str)())
    keep_informed = forms.BooleanField(
        label=_("Keep me informed about this group's work"),
        required=False,
        help_text=_("Optional. We then keep your name and address after the webinar."),
    )
    # Filled in by the page's script with the browser's zone, for the emails.
    time_zone = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    # Left empty by people; filled by bots. Hidden from view and from screen readers.
    website = forms.CharField(required=False, widget=forms.HiddenInput)

    def _one_line(self, name: str) -> str:
        value = self.cleaned_data[name]
        if any(char in value for char in "\r\n\t\x0b\x0c"):
            raise forms.ValidationError(_("Please write this on one line."))
        return value

    def clean_name(self) -> str:
        return self._one_line("name")

    def clean_affiliation(self) -> str:
        return self._one_line("affiliation")

    def clean_time_zone(self) -> str:
        zone = self.cleaned_data["time_zone"].strip()
        try:
            return zone if zone and zoneinfo.ZoneInfo(zone) else ""
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return ""


class AttendanceForm(forms.Form):
    attended = forms.ChoiceField(
        choices=[("yes", _("Attended")), ("no", _("Did not attend")), ("", _("Not known"))],
        required=False,
    )

    def value(self) -> bool | None:
        return {"yes": True, "no": False}.get(self.cleaned_data["attended"])
