from django import forms
from django.core.exceptions import ValidationError
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext_lazy as _

from .models import Digest, Kind, Level


class MarkReadForm(forms.Form):
    notification = forms.IntegerField(min_value=1)


class LevelForm(forms.Form):
    level = forms.ChoiceField(label=_("Notify me"), choices=Level.choices, widget=forms.RadioSelect)


class DefaultLevelForm(forms.Form):
    level = forms.ChoiceField(
        label=_("For everyone who chose nothing else"),
        choices=Level.choices,
        widget=forms.RadioSelect,
    )


# The kinds on the preferences page, in sections a person recognises. A kind
# added later and not named here still appears, under "Other".
EMAIL_SECTIONS = (
    (
        "you",
        _("About you"),
        (
            Kind.MENTION,
            Kind.REPLY,
            Kind.INVITATION_ACCEPTED,
            Kind.ROLE_CHANGED,
            Kind.GUEST_EXPIRING,
        ),
    ),
    ("discussions", _("Discussions"), (Kind.WATCHED_POST, Kind.NEW_THREAD)),
    ("documents", _("Documents"), (Kind.DOCUMENT_NEW, Kind.DOCUMENT_VERSION)),
    (
        "meetings",
        _("Meetings"),
        (
            Kind.MEETING_SCHEDULED,
            Kind.MEETING_MOVED,
            Kind.MEETING_CANCELLED,
            Kind.MEETING_SOON,
            Kind.MINUTES_PUBLISHED,
        ),
    ),
    ("moderation", _("Moderation"), (Kind.JOIN_REQUEST, Kind.REPORT)),
)
# Clearer than the kind's name where it is short.
EMAIL_LABELS = {
    Kind.MENTION: _("Someone mentions you (in a post, the chat, an agenda or minutes)"),
    Kind.REPLY: _("A reply to your post"),
    Kind.INVITATION_ACCEPTED: _("Someone you invited joined"),
    Kind.ROLE_CHANGED: _("Your role in a group changed"),
}
LEVEL_PREFIX = "level_"


def _email_sections():
    named = {kind for _key, _label, kinds in EMAIL_SECTIONS for kind in kinds}
    rest = tuple(kind for kind in Kind if kind not in named)
    sections = list(EMAIL_SECTIONS)
    if rest:
        sections.append(("other", _("Other"), rest))
    return sections


class PreferencesForm(forms.Form):
    """The preferences page: a level per group the person takes part in, the
    email switches, the summary email. ``rows`` are the person's groups as
    ``selectors.preferences`` gives them: (group, own level or None, the
    group's default)."""

    enabled = forms.BooleanField(
        label=_("Email me about my notifications"),
        required=False,
        help_text=_("Off: no notification emails and no summary emails at all."),
    )
    digest = forms.ChoiceField(
        label=_("Summary email"), choices=Digest.choices, widget=forms.RadioSelect
    )
    digest_hour = forms.TypedChoiceField(
        label=_("At"),
        coerce=int,
        choices=[(hour, f"{hour:02d}:00") for hour in range(24)],
        error_messages={"invalid_choice": _("Choose a full hour from 00:00 to 23:00.")},
    )
    digest_weekday = forms.TypedChoiceField(
        label=_("On (weekly only)"),
        coerce=int,
        choices=sorted(WEEKDAYS.items()),
        error_messages={"invalid_choice": _("Choose a day of the week.")},
    )

    def __init__(self, *args, rows, time_zone: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = rows
        self.fields["digest_hour"].help_text = _("In your time zone (%(zone)s).") % {
            "zone": time_zone
        }
        self.level_fields = []
        for group, _own, default in rows:
            name = f"{LEVEL_PREFIX}{group.pk}"
            # Not required: a group joined after the page was loaded is
            # simply not on it; its level stays as it is.
            self.fields[name] = forms.ChoiceField(
                label=group.name,
                required=False,
                choices=Level.choices,
                help_text=_("The group's default: %(level)s.") % {"level": Level(default).label},
            )
            self.level_fields.append(name)
        self.email_sections = []
        for key, label, kinds in _email_sections():
            name = f"email_{key}"
            self.fields[name] = forms.MultipleChoiceField(
                label=label,
                required=False,
                choices=[(kind.value, EMAIL_LABELS.get(kind, kind.label)) for kind in kinds],
                widget=forms.CheckboxSelectMultiple,
                error_messages={"invalid_choice": _("“%(value)s” is not a kind of notification.")},
            )
            self.email_sections.append(name)

    def level_boundfields(self):
        return [self[name] for name in self.level_fields]

    def email_boundfields(self):
        return [self[name] for name in self.email_sections]

    def clean(self):
        cleaned = super().clean()
        # A level for a group not on the page: one the person left or never
        # took part in (a stale page, or a hand-made request).
        mine = {f"{LEVEL_PREFIX}{group.pk}" for group, _own, _default in self.rows}
        stray = [key for key in self.data if key.startswith(LEVEL_PREFIX) and key not in mine]
        if stray:
            raise ValidationError(
                _("You can only choose levels for groups you take part in. Nothing was saved.")
            )
        return cleaned

    def levels(self) -> dict[int, str]:
        """{group pk: level} for the groups whose level the person changed."""
        changed = {}
        for group, own, default in self.rows:
            level = self.cleaned_data.get(f"{LEVEL_PREFIX}{group.pk}")
            if level and level != (own or default):
                changed[group.pk] = level
        return changed

    def kinds_off(self) -> list[str]:
        wanted = set()
        for name in self.email_sections:
            wanted.update(self.cleaned_data.get(name) or [])
        return sorted(set(Kind.values) - wanted)
