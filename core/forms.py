from django.forms.renderers import TemplatesSetting


class FormRenderer(TemplatesSetting):
    """Every form renders its fields the same way: label, input, then the
    field's errors and help text, linked by aria-describedby."""

    form_template_name = "core/forms/form.html"
