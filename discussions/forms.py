"""Forms of the discussion pages. They check the shape of the input; the
services decide the rest, and their ValidationErrors are put next to the
field they concern."""

from django import forms
from django.utils.translation import gettext_lazy as _

from groups.models import WorkingGroup

from .models import ReactionKind
from .services import MAX_BODY, MAX_TITLE

BODY_HELP = _("Markdown: **bold**, *italic*, [links](https://…), lists, > quotes; @name mentions.")


class BodyField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 6})

    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Text"))
        kwargs.setdefault("help_text", BODY_HELP)
        kwargs.setdefault("max_length", MAX_BODY)
        super().__init__(**kwargs)


class ThreadForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=MAX_TITLE)
    body = BodyField(widget=forms.Textarea(attrs={"rows": 10}))


class ReplyForm(forms.Form):
    body = BodyField(label=_("Your reply"))
    parent = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


class PostEditForm(forms.Form):
    body = BodyField(widget=forms.Textarea(attrs={"rows": 10}))


class PreviewForm(forms.Form):
    """What the preview needs: the text, and the thread or the group it is
    for (its mentions resolve to that group's people)."""

    body = forms.CharField(
        max_length=MAX_BODY, error_messages={"required": _("Write something to preview it.")}
    )
    thread = forms.IntegerField(required=False, min_value=1)
    group = forms.IntegerField(required=False, min_value=1)

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("thread") and not cleaned.get("group"):
            raise forms.ValidationError(_("Nothing to preview here."))
        return cleaned


class ReactionForm(forms.Form):
    kind = forms.ChoiceField(choices=ReactionKind.choices)


class ReportForm(forms.Form):
    reason = forms.CharField(
        label=_("What is wrong with this post?"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Only the group's moderators see your report."),
    )


class HideForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        required=False,
        help_text=_("Required to hide: the author sees it."),
    )


class SplitForm(forms.Form):
    title = forms.CharField(label=_("Title of the new thread"), max_length=MAX_TITLE)


class MoveForm(forms.Form):
    group = forms.ModelChoiceField(
        label=_("Move to"), queryset=WorkingGroup.objects.none(), empty_label=None
    )

    def __init__(self, *args, groups, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = groups


class ThreadModerateForm(forms.Form):
    action = forms.ChoiceField(
        choices=[(a, a) for a in ("pin", "unpin", "lock", "unlock", "hide", "unhide")]
    )


class ReportCloseForm(forms.Form):
    decision = forms.ChoiceField(choices=[("resolve", _("Resolve")), ("dismiss", _("Dismiss"))])


class WatchForm(forms.Form):
    watching = forms.BooleanField(required=False)


class MarkReadForm(forms.Form):
    position = forms.IntegerField(required=False, min_value=0)
