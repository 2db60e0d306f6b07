from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .models import Introduction


class IntroductionForm(forms.Form):
    """The process's name and introduction, a pair of fields per language."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        existing = {row.language: row for row in Introduction.objects.all()}
        for code, language in settings.LANGUAGES:
            row = existing.get(code)
            self.fields[f"name_{code}"] = forms.CharField(
                label=_("Name of the process (%(language)s)") % {"language": language},
                max_length=200,
                required=code == settings.LANGUAGE_CODE,
                initial=row.name if row else "",
            )
            self.fields[f"text_{code}"] = forms.CharField(
                label=_("Introduction (%(language)s)") % {"language": language},
                help_text=_("Markdown. Shown to everyone on the public home."),
                max_length=5000,
                required=False,
                widget=forms.Textarea(attrs={"rows": 8}),
                initial=row.text if row else "",
            )

    def texts(self) -> dict[str, tuple[str, str]]:
        return {
            code: (self.cleaned_data[f"name_{code}"], self.cleaned_data[f"text_{code}"])
            for code, _language in settings.LANGUAGES
        }
