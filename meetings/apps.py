from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MeetingsConfig(AppConfig):
    name = "meetings"
    verbose_name = _("Meetings")

    def ready(self):
        from core import streams

        from . import chat, presence
        from .permissions import room_stream_access

        streams.register(
            "room", room_stream_access, on_join=presence.on_join, on_leave=presence.on_leave
        )
        for frame_type, handler in chat.FRAME_HANDLERS.items():
            streams.register_frame(frame_type, handler)
