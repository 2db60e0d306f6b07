from django import forms


class MarkReadForm(forms.Form):
    notification = forms.IntegerField(min_value=1)
