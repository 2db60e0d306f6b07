from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PublicConfig(AppConfig):
    """The visitor's side: the public home at ``/`` and a public page per
    group, cached per language and dropped whenever what they show changes."""

    name = "public_pages"
    verbose_name = _("Public pages")

    def ready(self):
        from . import checks  # noqa: F401 (checks registers itself)
