from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GroupsConfig(AppConfig):
    name = "groups"
    verbose_name = _("Working groups")

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from core import streams

        from .adapter import remember_sign_in

        user_logged_in.connect(remember_sign_in, dispatch_uid="groups.remember_sign_in")

        from .permissions import group_stream_access

        streams.register("group", group_stream_access)
