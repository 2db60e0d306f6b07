from django import forms
from django.utils.translation import gettext_lazy as _

from . import permissions
from .models import Kind, SourceKind
from .services import CHANGE_SUMMARY_MAX, SUMMARY_MAX, TITLE_MAX


class ResultForm(forms.Form):
    """The working copy, and the sources to choose from: the group's
    threads, documents and meetings the moderator sees."""

    kind = forms.ChoiceField(label=_("Kind"), choices=Kind.choices)
    title = forms.CharField(label=_("Title"), max_length=TITLE_MAX)
    summary = forms.CharField(
        label=_("Summary"),
        max_length=SUMMARY_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One or two plain sentences, shown in lists, feeds and link previews."),
    )
    body = forms.CharField(
        label=_("Text"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 18}),
        help_text=_("Markdown. Published versions are frozen; this is the draft."),
    )

    def __init__(self, *args, user, group, **kwargs):
        super().__init__(*args, **kwargs)
        labels = {
            SourceKind.THREAD: _("Discussions it came from"),
            SourceKind.DOCUMENT: _("Documents it came from"),
            SourceKind.MEETING: _("Meetings it came from"),
        }
        self.source_kinds = []
        for kind in permissions.source_rules():
            self.fields[f"sources_{kind}"] = forms.ModelMultipleChoiceField(
                label=labels.get(kind, kind),
                queryset=permissions.source_candidates(user, group, kind),
                required=False,
                widget=forms.CheckboxSelectMultiple,
                help_text=_("Shown to the group's people beside the text; never to the public."),
            )
            self.source_kinds.append(kind)

    def sources(self) -> dict:
        return {
            kind: [obj.pk for obj in self.cleaned_data.get(f"sources_{kind}", [])]
            for kind in self.source_kinds
        }


class PublishForm(forms.Form):
    change_summary = forms.CharField(
        label=_("What changed"),
        max_length=CHANGE_SUMMARY_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required: shown with this version, in its history and in the feeds."),
        error_messages={"required": _("Say in a few words what this version changes.")},
    )


class WithdrawForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Shown to everyone on the result's pages."),
        error_messages={"required": _("Say why the result is withdrawn.")},
    )


class DiffForm(forms.Form):
    """Two versions of one result to compare (from older to newer)."""

    def __init__(self, *args, numbers: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(n, _("Version %(number)d") % {"number": n}) for n in numbers]
        self.fields["from"] = forms.TypedChoiceField(label=_("From"), choices=choices, coerce=int)
        self.fields["to"] = forms.TypedChoiceField(label=_("To"), choices=choices, coerce=int)

    def clean(self):
        data = super().clean()
        if data.get("from") is not None and data.get("from") == data.get("to"):
            raise forms.ValidationError(_("Choose two different versions."))
        return data
