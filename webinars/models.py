import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from meetings.models import Meeting


def default_reminder_offsets() -> list[int]:
    return list(settings.WEBINAR_REMINDER_MINUTES)


class Webinar(models.Model):
    """A webinar meeting published for everyone: its public announcement,
    capacity and reminder offsets. The meeting keeps the time, the title,
    the status and the video link (never shown on a public page)."""

    meeting = models.OneToOneField(
        Meeting, on_delete=models.CASCADE, related_name="webinar", verbose_name=_("meeting")
    )
    abstract = models.TextField(_("abstract"), help_text=_("Markdown."))
    capacity = models.PositiveIntegerField(_("capacity"))
    # Minutes before the start; the reminders follow the webinar when it moves.
    reminder_offsets = models.JSONField(default=default_reminder_offsets)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    follow_up_sent_at = models.DateTimeField(null=True, blank=True)
    personal_data_deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("public webinar")
        verbose_name_plural = _("public webinars")
        constraints = [
            models.CheckConstraint(condition=Q(capacity__gte=1), name="webinar_capacity_positive")
        ]

    def __str__(self):
        return str(self.meeting)

    def get_absolute_url(self):
        return reverse("webinars:detail", kwargs={"pk": self.pk})

    @property
    def is_public(self) -> bool:
        return self.published_at is not None


class Presenter(models.Model):
    webinar = models.ForeignKey(Webinar, on_delete=models.CASCADE, related_name="presenters")
    name = models.CharField(_("name"), max_length=200)
    affiliation = models.CharField(_("affiliation"), max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["webinar", "position", "pk"]

    def __str__(self):
        return f"{self.name} ({self.affiliation})" if self.affiliation else self.name


class Registration(models.Model):
    """One person's registration, without an account. ``token`` is the
    secret of their personal links (confirm, join, cancel, calendar)."""

    class State(models.TextChoices):
        PENDING = "pending", _("Awaiting confirmation")
        CONFIRMED = "confirmed", _("Registered")
        WAITING = "waiting", _("On the waiting list")
        OFFERED = "offered", _("Offered a freed place")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Offer expired")

    webinar = models.ForeignKey(Webinar, on_delete=models.CASCADE, related_name="registrations")
    name = models.CharField(_("name"), max_length=200)
    email = models.EmailField(_("email address"))
    affiliation = models.CharField(_("affiliation"), max_length=200, blank=True)
    language = models.CharField(_("language"), max_length=10)
    # The browser's zone when registering (for the times in emails); blank: UTC.
    time_zone = models.CharField(max_length=64, blank=True)
    privacy_notice_version = models.CharField(max_length=40)
    keep_informed = models.BooleanField(_("keep informed"), default=False)
    token = models.CharField(max_length=64, unique=True)
    state = models.CharField(_("state"), max_length=20, choices=State.choices)
    created_at = models.DateTimeField(_("registered"), default=timezone.now)
    # The confirmation link (or a freed place's) is valid until this time.
    link_expires_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)
    waiting_since = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    attended = models.BooleanField(_("attended"), null=True, blank=True)

    class Meta:
        verbose_name = _("webinar registration")
        verbose_name_plural = _("webinar registrations")
        ordering = ["webinar", "created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                "webinar", Lower("email"), name="webinar_registration_one_per_email"
            )
        ]
        indexes = [models.Index(fields=["webinar", "state"])]

    def __str__(self):
        return f"{self.name} → {self.webinar}"

    @staticmethod
    def new_token() -> str:
        return secrets.token_urlsafe(24)

    @property
    def holds_place(self) -> bool:
        return self.state in (self.State.CONFIRMED, self.State.OFFERED)

    def join_window(self) -> tuple:
        meeting = self.webinar.meeting
        opens = meeting.starts_at - timedelta(minutes=settings.WEBINAR_JOIN_OPENS_MINUTES_BEFORE)
        return opens, meeting.ends_at
