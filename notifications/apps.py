from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self):
        from core import hooks

        from . import services

        hooks.register("discussions.post_created", services.notify_post_created)
        hooks.register("discussions.posts_read", services.notifications_read_for_posts)
