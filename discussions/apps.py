from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DiscussionsConfig(AppConfig):
    name = "discussions"
    verbose_name = _("Discussions")

    def ready(self):
        from core import streams

        from .permissions import thread_stream_access

        streams.register("thread", thread_stream_access)
