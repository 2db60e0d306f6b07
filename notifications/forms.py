from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Level


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
