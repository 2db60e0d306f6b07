from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HomeConfig(AppConfig):
    """What spans the group apps: the home page's news and the search of
    everything, above discussions, documents and meetings."""

    name = "home"
    verbose_name = _("Home and search")
