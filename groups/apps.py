from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GroupsConfig(AppConfig):
    name = "groups"
    verbose_name = _("Working groups")

    def ready(self):
        from core import streams

        from .permissions import group_stream_access

        streams.register("group", group_stream_access)
