from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Introduction(models.Model):
    """The process's name and introduction on the public home, one row per
    language; organisers edit them (``public_pages.services.introduction_save``)."""

    language = models.CharField(
        _("language"), max_length=10, choices=settings.LANGUAGES, unique=True
    )
    name = models.CharField(_("name of the process"), max_length=200)
    text = models.TextField(
        _("introduction"), blank=True, max_length=5000, help_text=_("Markdown.")
    )
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("updated by"),
    )

    class Meta:
        verbose_name = _("introduction")
        verbose_name_plural = _("introductions")
        ordering = ["language"]

    def __str__(self):
        return f"{self.name} ({self.language})"
