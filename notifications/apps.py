from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self):
        from core import hooks, periodic

        from . import periodic as notification_periodic
        from . import services

        hooks.register("discussions.post_created", services.notify_post_created)
        hooks.register("discussions.posts_read", services.notifications_read_for_posts)
        hooks.register("discussions.report_created", services.notify_report_created)
        hooks.register("documents.version_added", services.notify_version_added)
        hooks.register("meetings.meeting_changed", services.notify_meeting_changed)
        hooks.register("meetings.message_mentioned", services.notify_message_mentioned)
        hooks.register("meetings.meeting_text_mentioned", services.notify_meeting_text_mentioned)
        hooks.register("groups.join_request_created", services.notify_join_request_created)
        hooks.register("groups.invitation_accepted", services.notify_invitation_accepted)
        hooks.register("groups.role_changed", services.notify_role_changed)

        # Run by the worker's chain (core.periodic), reminders before digests.
        periodic.register(
            "notifications.meeting_reminders", notification_periodic.meeting_reminders
        )
        periodic.register(
            "notifications.guest_expiry_notices", notification_periodic.guest_expiry_notices
        )
        periodic.register("notifications.digests", notification_periodic.digests_due)
