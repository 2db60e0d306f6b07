from django import forms
from django.core.validators import URLValidator
from django.utils.translation import gettext_lazy as _

from .models import Meeting


class DateTimeInput(forms.DateTimeInput):
    """The browser's date-and-time picker. Its value has no zone: the form
    reads it in the active time zone, which is the person's own."""

    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")


class MeetingForm(forms.Form):
    """Schedules or changes a meeting; the times are read in the active time
    zone (the moderator's own, set from the profile)."""

    title = forms.CharField(label=_("Title"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=Meeting.Kind.choices)
    starts_at = forms.DateTimeField(label=_("Starts"), widget=DateTimeInput)
    ends_at = forms.DateTimeField(label=_("Ends"), widget=DateTimeInput)
    video_link = forms.URLField(
        label=_("Video link"),
        required=False,
        max_length=500,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text=_("The address of the video call, starting with https://."),
    )
    agenda = forms.CharField(
        label=_("Agenda"),
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text=_("Markdown: **bold**, *italic*, lists, links."),
    )

    def __init__(self, *args, time_zone_name: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        if time_zone_name:
            zone_help = _("In your time zone, %(zone)s.") % {"zone": time_zone_name}
            self.fields["starts_at"].help_text = zone_help
            self.fields["ends_at"].help_text = zone_help

    @classmethod
    def initial_for(cls, meeting: Meeting) -> dict:
        return {name: getattr(meeting, name) for name in cls.base_fields}

    def clean(self):
        cleaned = super().clean()
        starts, ends = cleaned.get("starts_at"), cleaned.get("ends_at")
        if starts and ends and ends <= starts:
            self.add_error("ends_at", _("A meeting ends after it starts."))
        return cleaned


class MinutesForm(forms.Form):
    minutes = forms.CharField(
        label=_("Minutes"),
        required=False,
        max_length=100_000,
        widget=forms.Textarea(attrs={"rows": 18}),
        help_text=_("Markdown. Members see the minutes once they are published."),
    )


class CalendarFeedForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("create", "create"), ("renew", "renew"), ("revoke", "revoke")]
    )
