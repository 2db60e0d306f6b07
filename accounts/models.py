import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _


class Sector(models.TextChoices):
    ACADEMIA = "academia", _("Academia")
    POLICY = "policy", _("Policymaking and administration")
    BUSINESS = "business", _("Business")
    CIVIL_SOCIETY = "civil_society", _("Civil society")
    OTHER = "other", _("Other")


def timezone_choices():
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


# The fields of a person a public page may show, each with its opt-in.
PUBLIC_PROFILE_FIELDS = {
    "public_name": "display_name",
    "public_affiliation": "affiliation",
    "public_sector": "sector",
    "public_country": "country",
    "public_bio": "bio",
}


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person with an account. The email address is the login."""

    email = models.EmailField(_("email address"), unique=True)
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    affiliation = models.CharField(_("affiliation"), max_length=200, blank=True)
    sector = models.CharField(_("sector"), max_length=20, choices=Sector.choices, blank=True)
    country = models.CharField(_("country"), max_length=100, blank=True)
    bio = models.TextField(_("short bio"), max_length=1000, blank=True)
    language = models.CharField(
        _("preferred language"), max_length=10, choices=settings.LANGUAGES, blank=True
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, choices=timezone_choices, blank=True
    )
    is_staff = models.BooleanField(
        _("organiser"),
        default=False,
        help_text=_("Organisers create groups, appoint moderators and use the admin."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    # When the person last used the workspace (a signed-in request), to within
    # LAST_SEEN_UPDATE_SECONDS (accounts.middleware.LastSeenMiddleware).
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    # What the public pages of the person's groups may show of them, each
    # field by its own choice, all off until they turn one on. Listed at all
    # only with the name (``public_name``); the others add to that entry.
    public_name = models.BooleanField(
        _("list me by name on the public pages of my groups"),
        default=False,
        help_text=_(
            "Anyone on the internet can then read your name there, and what you tick "
            "below. Off: you are not listed (only counted in the group's mix of sectors)."
        ),
    )
    public_affiliation = models.BooleanField(_("show my affiliation there"), default=False)
    public_sector = models.BooleanField(_("show my sector there"), default=False)
    public_country = models.BooleanField(_("show my country there"), default=False)
    public_bio = models.BooleanField(_("show my short bio there"), default=False)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["display_name", "email"]

    def __str__(self):
        return self.get_full_name()

    def get_absolute_url(self):
        return reverse("accounts:profile", kwargs={"pk": self.pk})

    def get_full_name(self):
        return self.display_name or self.email.split("@")[0]

    def get_short_name(self):
        return self.get_full_name()

    @property
    def mention_handle(self) -> str:
        """What others type after @ to mention this person: their name as a slug."""
        return slugify(self.get_full_name()) or f"user{self.pk}"

    def clean(self):
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()
