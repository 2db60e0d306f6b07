from django import forms

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
