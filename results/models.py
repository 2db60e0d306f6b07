"""Published results of a working group: a working copy its moderators edit
(the draft, seen by the group's people) and the versions published from it,
each frozen and citable at its own address."""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from groups.models import WorkingGroup


class Kind(models.TextChoices):
    INTERIM = "interim", _("Interim result")
    RECOMMENDATION = "recommendation", _("Recommendation")


class Result(models.Model):
    group = models.ForeignKey(
        WorkingGroup, on_delete=models.CASCADE, related_name="results", verbose_name=_("group")
    )
    slug = models.SlugField(_("short name in addresses"), max_length=80)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.INTERIM)
    # The working copy (the draft): what the next version will freeze.
    title = models.CharField(_("title"), max_length=200)
    summary = models.CharField(
        _("summary"),
        max_length=300,
        blank=True,
        help_text=_("One or two plain sentences, shown in lists, feeds and link previews."),
    )
    body = models.TextField(_("text"), blank=True, help_text=_("Markdown."))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    # The number of the latest published version; 0 while never published.
    latest_number = models.PositiveIntegerField(_("latest version"), default=0)
    published_at = models.DateTimeField(_("last published"), null=True, blank=True)
    withdrawn_at = models.DateTimeField(_("withdrawn"), null=True, blank=True)
    withdrawal_reason = models.TextField(_("reason for the withdrawal"), blank=True)

    class Meta:
        verbose_name = _("result")
        verbose_name_plural = _("results")
        ordering = ["-published_at", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["group", "slug"], name="result_slug_unique_in_group")
        ]
        indexes = [models.Index(fields=["group", "latest_number"])]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("results:detail", kwargs={"group": self.group.slug, "slug": self.slug})

    @property
    def is_published(self) -> bool:
        return self.latest_number > 0

    @property
    def is_withdrawn(self) -> bool:
        return self.withdrawn_at is not None


class ResultVersion(models.Model):
    """One published version, frozen: no service changes it after it is written."""

    result = models.ForeignKey(
        Result, on_delete=models.CASCADE, related_name="versions", verbose_name=_("result")
    )
    number = models.PositiveIntegerField(_("version"))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    title = models.CharField(_("title"), max_length=200)
    summary = models.CharField(_("summary"), max_length=300, blank=True)
    body = models.TextField(_("text"))
    change_summary = models.CharField(_("what changed"), max_length=500)
    published_at = models.DateTimeField(_("published"), default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        verbose_name = _("published version")
        verbose_name_plural = _("published versions")
        ordering = ["result", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["result", "number"], name="result_version_unique")
        ]
        indexes = [models.Index(fields=["-published_at"])]

    def __str__(self):
        return f"{self.title} (v{self.number})"

    def get_absolute_url(self):
        return reverse(
            "results:version",
            kwargs={
                "group": self.result.group.slug,
                "slug": self.result.slug,
                "number": self.number,
            },
        )


class SourceKind(models.TextChoices):
    THREAD = "thread", _("Discussion")
    DOCUMENT = "document", _("Document")
    MEETING = "meeting", _("Meeting")


class ResultSource(models.Model):
    """A thread, document or meeting of the group the result came from,
    chosen by a moderator. Read through the owning app's ``*_visible_to``
    (``settings.RESULT_SOURCES``): never shown to someone who may not see it."""

    result = models.ForeignKey(
        Result, on_delete=models.CASCADE, related_name="sources", verbose_name=_("result")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=SourceKind.choices)
    object_id = models.PositiveBigIntegerField()

    class Meta:
        verbose_name = _("source")
        verbose_name_plural = _("sources")
        constraints = [
            models.UniqueConstraint(
                fields=["result", "kind", "object_id"], name="result_source_unique"
            )
        ]

    def __str__(self):
        return f"{self.kind} {self.object_id}"
