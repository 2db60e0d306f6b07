import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Sector


class WorkingGroup(models.Model):
    """A closed room of members, moderators and invited guests."""

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("short name in addresses"), max_length=80, unique=True)
    description = models.TextField(
        _("theme"), blank=True, help_text=_("What the group works on (Markdown).")
    )
    public_summary = models.TextField(
        _("public summary"),
        blank=True,
        help_text=_("Shown to the public on the join page. Plain text."),
    )
    # For confidential groups: notification emails say what happened and
    # link to it, without the text of posts and messages.
    emails_without_text = models.BooleanField(
        _("no message text in emails"),
        default=False,
        help_text=_(
            "Emails about this group say what happened and link to it, "
            "without quoting posts, messages or minutes."
        ),
    )
    archived = models.BooleanField(
        _("archived"), default=False, help_text=_("An archived group is read-only.")
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("working group")
        verbose_name_plural = _("working groups")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("groups:detail", kwargs={"slug": self.slug})


class Role(models.TextChoices):
    MODERATOR = "moderator", _("Moderator")
    MEMBER = "member", _("Member")
    GUEST = "guest", _("Guest")


def valid_membership_q(prefix: str = "", at=None) -> Q:
    """The condition of a membership that grants access now (``prefix``: the
    path to the membership from the model filtered, e.g. ``"memberships__"``):
    active and, for guests, not expired. Expiry is decided at read time, so
    an expired guest loses access at once, with no scheduled job."""
    at = at or timezone.now()
    return Q(**{f"{prefix}active": True}) & (
        Q(**{f"{prefix}expires_at__isnull": True}) | Q(**{f"{prefix}expires_at__gt": at})
    )


class MembershipQuerySet(models.QuerySet):
    def valid(self, at=None):
        """Memberships that grant access now (``valid_membership_q``)."""
        return self.filter(valid_membership_q(at=at))


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("person"),
    )
    group = models.ForeignKey(
        WorkingGroup,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("group"),
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(_("joined"), default=timezone.now)
    expires_at = models.DateTimeField(
        _("access ends"), null=True, blank=True, help_text=_("Required for guests.")
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("invited by"),
    )
    active = models.BooleanField(_("active"), default=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "group"], name="membership_unique"),
            models.CheckConstraint(
                condition=~Q(role="guest") | Q(expires_at__isnull=False),
                name="membership_guest_expires",
            ),
        ]
        indexes = [models.Index(fields=["group", "active"])]

    def __str__(self):
        return f"{self.user} · {self.group} ({self.get_role_display()})"

    @property
    def is_valid(self) -> bool:
        return self.active and (self.expires_at is None or self.expires_at > timezone.now())


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class InvitationQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )

    def by_token(self, token: str):
        return self.filter(token_hash=_hash_token(token))


class Invitation(models.Model):
    """An invitation by email. Only the token's hash is stored; the token itself
    is in the link and nowhere else."""

    email = models.EmailField(_("email address"))
    group = models.ForeignKey(
        WorkingGroup,
        on_delete=models.CASCADE,
        related_name="invitations",
        verbose_name=_("group"),
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.MEMBER)
    language = models.CharField(
        _("language of the invitation"),
        max_length=10,
        choices=settings.LANGUAGES,
        default="en",
    )
    expires_at = models.DateTimeField(_("link valid until"))
    access_until = models.DateTimeField(
        _("guest access ends"), null=True, blank=True, help_text=_("Required for guests.")
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("invited by"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("last sent"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("accepted by"),
    )
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(role="guest") | Q(access_until__isnull=False),
                name="invitation_guest_access_until",
            ),
        ]

    def __str__(self):
        return f"{self.email} → {self.group}"

    def set_new_token(self) -> str:
        """Gives the invitation a fresh token and returns it (it is not stored)."""
        token = secrets.token_urlsafe(32)
        self.token_hash = _hash_token(token)
        return token

    @property
    def status(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class JoinRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")

    name = models.CharField(_("name"), max_length=200)
    email = models.EmailField(_("email address"))
    affiliation = models.CharField(_("affiliation"), max_length=200, blank=True)
    sector = models.CharField(_("sector"), max_length=20, choices=Sector.choices, blank=True)
    motivation = models.TextField(_("why you would like to join"), max_length=3000)
    group = models.ForeignKey(
        WorkingGroup,
        on_delete=models.CASCADE,
        related_name="join_requests",
        verbose_name=_("group"),
    )
    language = models.CharField(max_length=10, choices=settings.LANGUAGES, default="en")
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PENDING
    )
    created_at = models.DateTimeField(_("received"), default=timezone.now)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("handled by"),
    )
    handled_at = models.DateTimeField(_("handled"), null=True, blank=True)
    decision_message = models.TextField(_("message to the person"), blank=True)

    class Meta:
        verbose_name = _("join request")
        verbose_name_plural = _("join requests")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} → {self.group}"


class AuditEntry(models.Model):
    """Who did what, when: one row per change made through a service."""

    group = models.ForeignKey(
        WorkingGroup,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="audit_entries",
        verbose_name=_("group"),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("who"),
    )
    action = models.CharField(_("action"), max_length=60)
    summary = models.CharField(_("what"), max_length=500)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["group", "-created_at"])]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action}: {self.summary}"


class GroupVisitQuerySet(models.QuerySet):
    def mark(self, user, group, section: str = "group", at=None) -> None:
        """Records that ``user`` opened ``group``'s page of ``section`` now
        (or ``at``): one UPDATE once the person has been there before."""
        at = at or timezone.now()
        if not self.filter(user=user, group=group, section=section).update(seen_at=at):
            self.update_or_create(user=user, group=group, section=section, defaults={"seen_at": at})

    def seen_at(self, user, group_ref: str, section: str) -> models.Subquery:
        """For a query over rows with a group (``group_ref``, the name of the
        field): when ``user`` last opened that group's overview or its
        ``section`` page (NULL if never)."""
        visits = self.filter(
            user_id=user.pk,
            group_id=models.OuterRef(group_ref),
            section__in=[GroupVisit.Section.GROUP, section],
        ).order_by("-seen_at")
        return models.Subquery(visits.values("seen_at")[:1])


class GroupVisit(models.Model):
    """When a person last opened a group's overview or one of its lists: what
    the home page counts as new in that group (documents and versions,
    minutes) is what came after the overview or that list was opened. A
    personal mark that no one else sees, like a thread's read mark."""

    class Section(models.TextChoices):
        GROUP = "group", _("Overview")
        DOCUMENTS = "documents", _("Documents")
        MEETINGS = "meetings", _("Meetings")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey(WorkingGroup, on_delete=models.CASCADE, related_name="+")
    section = models.CharField(max_length=20, choices=Section.choices, default=Section.GROUP)
    seen_at = models.DateTimeField(default=timezone.now)

    objects = GroupVisitQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "group", "section"], name="group_visit_once_per_section"
            ),
        ]

    def __str__(self):
        return f"{self.user} · {self.group} · {self.seen_at:%Y-%m-%d %H:%M}"
