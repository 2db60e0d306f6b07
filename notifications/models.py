"""What a person is told, and how much they want to be told.

A ``Notification`` is one thing one person is told about, in the app. It is
about one object, named by plain ids (``target_type``, ``target_id``) so that
this app depends on none of the objects' tables and access is decided again,
by the owning app's permissions, whenever it is shown. It is the in-app
notification itself; delivery by another channel (email) is meant to be a
row of its own per notification and channel, referring to it.

Most kinds are about a post; the others are about a document's version, a
meeting, a join request, a report or a membership (``TargetType``).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from discussions.models import Thread
from groups.models import WorkingGroup


class Level(models.TextChoices):
    """How much a person hears of a group or a thread (the conventions of
    Discourse and Zulip)."""

    WATCHING = "watching", _("Watching")
    TRACKING = "tracking", _("Tracking")
    MENTIONS = "mentions", _("Mentions only")
    MUTED = "muted", _("Muted")


DEFAULT_LEVEL = Level.TRACKING


class Kind(models.TextChoices):
    MENTION = "mention", _("Mention")
    REPLY = "reply", _("Reply")
    WATCHED_POST = "watched_post", _("New post in a watched thread")
    NEW_THREAD = "new_thread", _("New thread in a watched group")
    DOCUMENT_NEW = "document_new", _("New document")
    DOCUMENT_VERSION = "document_version", _("New version of a document")
    MEETING_SCHEDULED = "meeting_scheduled", _("Meeting scheduled")
    MEETING_MOVED = "meeting_moved", _("Meeting moved")
    MEETING_CANCELLED = "meeting_cancelled", _("Meeting cancelled")
    MINUTES_PUBLISHED = "minutes_published", _("Minutes published")
    JOIN_REQUEST = "join_request", _("Join request")
    REPORT = "report", _("Report on a post")
    INVITATION_ACCEPTED = "invitation_accepted", _("Invitation accepted")
    ROLE_CHANGED = "role_changed", _("Role changed")
    MEETING_SOON = "meeting_soon", _("Meeting starting soon")
    GUEST_EXPIRING = "guest_expiring", _("Guest access ending")


class TargetType(models.TextChoices):
    POST = "discussions.post", _("Post")
    REPORT = "discussions.report", _("Report")
    VERSION = "documents.version", _("Version of a document")
    MEETING = "meetings.meeting", _("Meeting")
    JOIN_REQUEST = "groups.joinrequest", _("Join request")
    MEMBERSHIP = "groups.membership", _("Membership")
    CHAT_MESSAGE = "meetings.chatmessage", _("Chat message")
    # A mention in a meeting's agenda or minutes: target_id is the meeting's.
    AGENDA = "meetings.agenda", _("Agenda of a meeting")
    MINUTES = "meetings.minutes", _("Minutes of a meeting")


class Notification(models.Model):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("recipient"),
    )
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    group = models.ForeignKey(
        WorkingGroup,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("group"),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    target_type = models.CharField(max_length=50, choices=TargetType.choices)
    target_id = models.PositiveBigIntegerField()
    url = models.CharField(max_length=500)
    # What the list says it is about (a thread's title), as it was when written.
    subject = models.CharField(_("about"), max_length=300)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        constraints = [
            # A retried write never tells anyone twice.
            models.UniqueConstraint(
                fields=["recipient", "kind", "target_type", "target_id"],
                name="notification_unique",
            )
        ]
        indexes = [
            models.Index(fields=["recipient", "read_at"]),
            models.Index(fields=["target_type", "target_id"]),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} for {self.recipient}: {self.subject}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class GroupLevel(models.Model):
    """A person's level for a group (unset: the group's default)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey(WorkingGroup, on_delete=models.CASCADE, related_name="+")
    level = models.CharField(_("level"), max_length=20, choices=Level.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "group"], name="group_level_unique")]

    def __str__(self):
        return f"{self.user} {self.level} {self.group}"


class ThreadLevel(models.Model):
    """A person's level for a thread, chosen by them (unset: watching if they
    watch it, otherwise their level for its group)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="+")
    level = models.CharField(_("level"), max_length=20, choices=Level.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "thread"], name="thread_level_unique")
        ]

    def __str__(self):
        return f"{self.user} {self.level} {self.thread}"


class GroupDefaultLevel(models.Model):
    """The level of a group's people who chose none, set by a moderator
    (unset: tracking)."""

    group = models.OneToOneField(WorkingGroup, on_delete=models.CASCADE, related_name="+")
    level = models.CharField(_("level"), max_length=20, choices=Level.choices)

    def __str__(self):
        return f"{self.group}: {self.level}"


class Digest(models.TextChoices):
    OFF = "off", _("Never")
    DAILY = "daily", _("Daily")
    WEEKLY = "weekly", _("Weekly")


class EmailPreference(models.Model):
    """How a person wants to be emailed (no row: the defaults). Email is one
    channel of the notifications above; the levels decide what is a
    notification at all, this decides which of them also become email."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_preference"
    )
    # False: no email of notifications or digests at all (one-click
    # unsubscribe "all email"). Emails a person asked for (sign-in, password)
    # are not notifications and still go.
    enabled = models.BooleanField(_("email me"), default=True)
    # The kinds (Kind values) the person wants no email of.
    kinds_off = models.JSONField(_("no email of"), default=list, blank=True)
    digest = models.CharField(
        _("summary email"), max_length=10, choices=Digest.choices, default=Digest.WEEKLY
    )
    # Local hour (in the person's time zone) and, for weekly digests, the
    # weekday (0 is Monday) it goes out.
    digest_hour = models.PositiveSmallIntegerField(_("at"), default=8)
    digest_weekday = models.PositiveSmallIntegerField(_("on"), default=0)
    # The end of the span the last digest covered: the next one starts here.
    digest_covered_until = models.DateTimeField(null=True, blank=True)
    # When the next digest is due (UTC), computed from the choices above.
    digest_due_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        verbose_name = _("email preference")
        verbose_name_plural = _("email preferences")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(digest_hour__lte=23), name="email_preference_hour"
            ),
            models.CheckConstraint(
                condition=models.Q(digest_weekday__lte=6), name="email_preference_weekday"
            ),
        ]

    def __str__(self):
        return f"{self.user}: {self.digest}"

    def wants(self, kind: str) -> bool:
        return self.enabled and kind not in self.kinds_off


class Reminder(models.Model):
    """A reminder that was sent: of ``kind`` about object ``target_id`` for
    the moment ``at`` (a meeting's start, a guest's end of access). Written
    in the transaction that tells the people, so that a reminder goes out
    once per moment: a meeting moved to a new time, or a guest given a new
    end, is a new moment and is reminded of again."""

    kind = models.CharField(max_length=30, choices=Kind.choices)
    target_id = models.PositiveBigIntegerField()
    at = models.DateTimeField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "target_id", "at"], name="reminder_unique")
        ]

    def __str__(self):
        return f"{self.kind} {self.target_id} at {self.at}"
