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
            "public_name",
            "public_affiliation",
            "public_sector",
            "public_country",
            "public_bio",
        ]
        widgets = {"bio": forms.Textarea(attrs={"rows": 5})}
