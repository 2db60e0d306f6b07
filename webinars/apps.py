from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebinarsConfig(AppConfig):
    name = "webinars"
    verbose_name = _("Public webinars")

    def ready(self):
        from core import hooks, periodic

        from . import services

        hooks.register("meetings.meeting_changed", services.on_meeting_changed)
        # Run by the worker's chain (core.periodic); each is idempotent.
        periodic.register("webinars.expire", services.registrations_expire)
        periodic.register("webinars.reminders", services.reminders_send)
        periodic.register("webinars.follow_ups", services.follow_ups_send)
        periodic.register("webinars.retention", services.personal_data_delete)
