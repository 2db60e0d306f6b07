import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from groups.models import WorkingGroup


class Meeting(models.Model):
    class Kind(models.TextChoices):
        SESSION = "session", _("Working session")
        WEBINAR = "webinar", _("Public webinar")

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        CANCELLED = "cancelled", _("Cancelled")

    group = models.ForeignKey(
        WorkingGroup, on_delete=models.CASCADE, related_name="meetings", verbose_name=_("group")
    )
    title = models.CharField(_("title"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.SESSION)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    agenda = models.TextField(_("agenda"), blank=True, help_text=_("Markdown."))
    video_link = models.URLField(_("video link"), blank=True, max_length=500)
    minutes = models.TextField(_("minutes"), blank=True, help_text=_("Markdown."))
    minutes_published_at = models.DateTimeField(_("minutes published"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.SCHEDULED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Bumped on every change, for the SEQUENCE of the calendar entry.
    revision = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("meeting")
        verbose_name_plural = _("meetings")
        ordering = ["starts_at"]
        indexes = [models.Index(fields=["group", "starts_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="meeting_ends_after_start"
            ),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("meetings:detail", kwargs={"pk": self.pk})

    def room_open_window(self):
        """When the meeting's chat room takes messages."""
        return (
            self.starts_at - timedelta(minutes=settings.MEETING_ROOM_OPENS_MINUTES_BEFORE),
            self.ends_at + timedelta(minutes=settings.MEETING_ROOM_CLOSES_MINUTES_AFTER),
        )


class ChatRoom(models.Model):
    """A group's standing room (no meeting) or a meeting's own room."""

    group = models.ForeignKey(WorkingGroup, on_delete=models.CASCADE, related_name="rooms")
    meeting = models.OneToOneField(
        Meeting, on_delete=models.CASCADE, null=True, blank=True, related_name="room"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["group"], condition=Q(meeting__isnull=True), name="one_standing_room"
            )
        ]

    def __str__(self):
        return f"{self.group}: {self.meeting or 'standing room'}"

    @property
    def stream(self) -> str:
        return f"room:{self.pk}"

    def is_open(self, at=None) -> bool:
        if self.meeting_id is None:
            return True
        opens, closes = self.meeting.room_open_window()
        at = at or timezone.now()
        return self.meeting.status == Meeting.Status.SCHEDULED and opens <= at <= closes


class ChatMessage(models.Model):
    room = models.ForeignKey(ChatRoom, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    body = models.TextField()
    body_html = models.TextField()
    # The room stream's sequence number, allocated in the writing transaction:
    # sequence order is commit order.
    seq = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # The sending page's name for the message (its chat.send frame's
    # client_id): a page resends what was not acknowledged when its socket
    # dropped, and a name its author used before is not stored again.
    client_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["room", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="chat_message_unique_seq"),
            models.UniqueConstraint(
                fields=["author", "client_id"],
                condition=~models.Q(client_id=""),
                name="chat_message_unique_client_id",
            ),
        ]

    def __str__(self):
        return f"{self.room} #{self.seq}"


class RoomMute(models.Model):
    room = models.ForeignKey(ChatRoom, on_delete=models.CASCADE, related_name="mutes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    until = models.DateTimeField()
    muted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="room_mute_unique")]

    def __str__(self):
        return f"{self.user} muted in {self.room} until {self.until}"


class RoomReadState(models.Model):
    """How far a person has read in a room: the room stream's sequence number
    of the last event they saw. Messages after it are unread."""

    room = models.ForeignKey(ChatRoom, on_delete=models.CASCADE, related_name="read_states")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    last_read_seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="room_read_state_unique")
        ]

    def __str__(self):
        return f"{self.user} read {self.room} up to #{self.last_read_seq}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CalendarFeed(models.Model):
    """A person's secret calendar address covering all their groups' meetings.
    Only the token's hash is stored; a new token revokes the old address."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"Calendar of {self.user}"

    def set_new_token(self) -> str:
        token = secrets.token_urlsafe(32)
        self.token_hash = _hash(token)
        return token

    @classmethod
    def by_token(cls, token: str):
        return cls.objects.filter(token_hash=_hash(token)).select_related("user").first()
