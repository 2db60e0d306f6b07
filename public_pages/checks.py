"""``manage.py check`` (and every server start) says when ``PUBLIC_SECTIONS``
names something that is not a section function, instead of the public home
answering 500 to every visitor."""

from django.conf import settings
from django.core.checks import Error, register
from django.utils.module_loading import import_string


@register()
def check_public_sections(app_configs=None, **kwargs):
    errors = []
    sections = getattr(settings, "PUBLIC_SECTIONS", [])
    if not isinstance(sections, list | tuple):
        return [Error("PUBLIC_SECTIONS must be a list of dotted paths.", id="public_pages.E001")]
    for path in sections:
        try:
            function = import_string(path)
        except ImportError as error:
            errors.append(
                Error(
                    f"PUBLIC_SECTIONS names {path!r}, which cannot be imported: {error}",
                    hint="A dotted path to a function section(request, group=None).",
                    id="public_pages.E002",
                )
            )
            continue
        if not callable(function):
            errors.append(
                Error(f"PUBLIC_SECTIONS names {path!r}, which is not a function.",
                      id="public_pages.E003")
            )  # fmt: skip
    return errors
