"""The admin shows meetings and chats for organisers; changes that others must
see go through the meeting pages (and so through the services), hence read-only."""

from django.contrib import admin

from groups.admin import ReadOnlyAdmin

from .models import CalendarFeed, ChatMessage, ChatRoom, Meeting, RoomMute


@admin.register(Meeting)
class MeetingAdmin(ReadOnlyAdmin):
    list_display = ["title", "group", "kind", "starts_at", "ends_at", "status"]
    list_filter = ["group", "kind", "status"]
    search_fields = ["title"]
    date_hierarchy = "starts_at"


@admin.register(ChatRoom)
class ChatRoomAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "group", "meeting"]
    list_filter = ["group"]


@admin.register(ChatMessage)
class ChatMessageAdmin(ReadOnlyAdmin):
    list_display = ["room", "seq", "author", "created_at", "edited_at", "deleted_at"]
    list_filter = ["room__group"]
    list_select_related = ["room__group", "room__meeting", "author"]
    exclude = ["body_html"]


@admin.register(RoomMute)
class RoomMuteAdmin(ReadOnlyAdmin):
    list_display = ["user", "room", "until", "muted_by"]


@admin.register(CalendarFeed)
class CalendarFeedAdmin(ReadOnlyAdmin):
    list_display = ["user", "created_at"]
    exclude = ["token_hash"]
