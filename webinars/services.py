"""Writes to public webinars and their registrations. Each runs in one
transaction; whatever changes what a public page shows calls the hook
``public.changed`` (group_id) inside it, and every email is queued in the
outbox (``webinars.emails``) in the same transaction.

Capacity: a registration holds a place once confirmed (or while a freed place
is offered to it). Every decision about places is taken with the webinar's row
locked (``SELECT ... FOR UPDATE``; on SQLite every transaction is IMMEDIATE,
so they run one at a time), so the places held never exceed the capacity,
however many people confirm at once.

Answers to registrants never say whether an address is registered: a
registration for an address already registered sends its link again and
answers as for a new one.
"""

import datetime
import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core import hooks
from core.models import OutboundEmail
from groups import services as group_services
from groups.models import Role
from groups.services import audit
from meetings.models import Meeting

from . import emails, permissions
from .models import Presenter, Registration, Webinar
from .selectors import places_held

logger = logging.getLogger(__name__)

State = Registration.State
ACTIVE = (State.PENDING, State.CONFIRMED, State.WAITING, State.OFFERED)


def _public_changed(webinar: Webinar) -> None:
    hooks.call("public.changed", group_id=webinar.meeting.group_id)
    # The home shows every group's webinars.
    hooks.call("public.changed", group_id=None)


# --- Publishing -------------------------------------------------------------------


def webinar_publish(
    *, actor, meeting: Meeting, abstract: str, presenters: list[tuple], capacity: int
) -> Webinar:
    """Publishes the webinar meeting ``meeting`` for everyone, or changes its
    announcement (abstract, presenters as (name, affiliation) or (name,
    affiliation, email) tuples, capacity). A presenter with an address is
    invited to the group as a guest whose access ends
    ``WEBINAR_PRESENTER_GUEST_DAYS`` after the webinar (``groups.services.
    invitation_send``; someone in the group or invited already is left as they
    are); ``webinar.presenters_invited`` lists the addresses invited (the
    address is not stored with the presenter, which is public).
    PermissionDenied unless ``permissions.can_publish``; ValidationError for
    a capacity below 1 or a cancelled meeting. A raised capacity offers the
    new places to the waiting list. Audited; calls ``public.changed``."""
    permissions.check_publish(actor, meeting)
    if not isinstance(capacity, int) or capacity < 1:
        raise ValidationError(_("The capacity is at least one person."), code="capacity")
    if meeting.status == Meeting.Status.CANCELLED:
        raise ValidationError(_("A cancelled meeting cannot be published."), code="cancelled")
    with transaction.atomic():
        webinar, created = Webinar.objects.select_for_update().get_or_create(
            meeting=meeting,
            defaults={"abstract": abstract, "capacity": capacity, "published_at": timezone.now()},
        )
        if not created:
            webinar.abstract = abstract
            webinar.capacity = capacity
            webinar.published_at = webinar.published_at or timezone.now()
            webinar.save(update_fields=["abstract", "capacity", "published_at"])
            # The calendar entries registrants hold change: a higher SEQUENCE.
            Meeting.objects.filter(pk=meeting.pk).update(revision=F("revision") + 1)
            meeting.refresh_from_db(fields=["revision"])
        webinar.meeting = meeting
        webinar.presenters.all().delete()
        Presenter.objects.bulk_create(
            Presenter(webinar=webinar, name=name, affiliation=affiliation, position=index)
            for index, (name, affiliation, *_email) in enumerate(presenters)
        )
        webinar.presenters_invited = _invite_presenters(actor, meeting, presenters)
        audit(
            group=meeting.group,
            actor=actor,
            action="webinar.published" if created else "webinar.changed",
            summary=meeting.title,
        )
        _offer_free_places(webinar)
        _public_changed(webinar)
    return webinar


def webinar_unpublish(*, actor, webinar: Webinar) -> Webinar:
    """Takes the public page of ``webinar`` down (registration closes with
    it); publishing it again brings it back. Refused (ValidationError
    "registered") for a webinar still to come, not cancelled, for which
    anyone holds or waits for a registration: they are told through a
    cancellation of the meeting, never by a page that is simply gone. Their
    personal links keep working. PermissionDenied unless
    ``permissions.can_publish``.
    Audited; calls ``public.changed``."""
    permissions.check_publish(actor, webinar.meeting)
    with transaction.atomic():
        webinar = Webinar.objects.select_for_update().select_related("meeting").get(pk=webinar.pk)
        if webinar.published_at is None:
            return webinar
        meeting = webinar.meeting
        to_come = meeting.status != Meeting.Status.CANCELLED and meeting.ends_at > timezone.now()
        active = to_come and webinar.registrations.filter(state__in=ACTIVE).count()
        if active:
            raise ValidationError(
                ngettext(
                    "%(count)d person is registered or waiting: cancel the webinar "
                    "to tell them, then take it down.",
                    "%(count)d people are registered or waiting: cancel the webinar "
                    "to tell them, then take it down.",
                    active,
                )
                % {"count": active},
                code="registered",
            )
        webinar.published_at = None
        webinar.save(update_fields=["published_at"])
        audit(
            group=webinar.meeting.group,
            actor=actor,
            action="webinar.unpublished",
            summary=webinar.meeting.title,
        )
        _public_changed(webinar)
    return webinar


def _invite_presenters(actor, meeting: Meeting, presenters: list[tuple]) -> list[str]:
    access_until = meeting.ends_at + datetime.timedelta(days=settings.WEBINAR_PRESENTER_GUEST_DAYS)
    invited = []
    for _name, _affiliation, *email in presenters:
        if not email or not email[0]:
            continue
        try:
            group_services.invitation_send(
                actor=actor,
                group=meeting.group,
                email=email[0],
                role=Role.GUEST,
                access_until=access_until,
                language=getattr(actor, "language", None),
            )
        except ValidationError as error:
            if error.code in ("member", "invited"):
                continue  # in the group, or invited, already
            raise
        invited.append(email[0])
    return invited


def on_meeting_changed(*, meeting: Meeting, actor, change: str) -> None:
    """Hook ``meetings.meeting_changed``: a published webinar that moved or was
    cancelled tells everyone registered (a calendar update or cancellation),
    and its public pages change."""
    if meeting.kind != Meeting.Kind.WEBINAR or change not in ("moved", "cancelled"):
        return
    webinar = Webinar.objects.filter(meeting=meeting).first()
    if webinar is None:
        return
    webinar.meeting = meeting
    told = webinar.registrations.filter(state__in=ACTIVE).exclude(state=State.PENDING)
    for registration in told:
        registration.webinar = webinar
        emails.queue_change(registration, cancelled=change == "cancelled")
    _public_changed(webinar)


# --- Registration ------------------------------------------------------------------


def registration_refusal(webinar: Webinar, *, now=None) -> str | None:
    """Why nobody can register for ``webinar`` now, or None."""
    now = now or timezone.now()
    meeting = webinar.meeting
    if not webinar.is_public:
        return _("This webinar is not published; registration is closed.")
    if meeting.status == Meeting.Status.CANCELLED:
        return _("This webinar is cancelled.")
    if now >= meeting.starts_at:
        return _("This webinar has started; registration is closed.")
    return None


def registration_create(
    *,
    webinar: Webinar,
    name: str,
    email: str,
    affiliation: str = "",
    keep_informed: bool = False,
    language: str,
    time_zone: str = "",
) -> None:
    """Registers ``email`` for ``webinar``, awaiting confirmation: the link
    (valid ``WEBINAR_CONFIRM_HOURS``) is emailed. For an address registered
    already nothing new is stored and the person's link is sent again (the
    confirmation link while unconfirmed, else their personal links); a
    cancelled or expired registration starts afresh. ValidationError when
    the webinar is cancelled or has started. Returns nothing: the answer must
    not reveal whether the address was registered."""
    refusal = registration_refusal(webinar)
    if refusal:
        raise ValidationError(refusal, code="closed")
    email = email.strip()
    fields = {
        "name": name.strip(),
        "affiliation": affiliation.strip(),
        "keep_informed": bool(keep_informed),
        "language": language,
        "time_zone": time_zone,
        "privacy_notice_version": settings.WEBINAR_PRIVACY_NOTICE_VERSION,
    }
    for attempt in range(2):
        try:
            with transaction.atomic():
                _register(webinar, email, fields)
            return
        except IntegrityError:
            # Someone registered the same address at the same moment: the
            # second time round it exists, and its link is sent again.
            if attempt:
                raise


def _register(webinar: Webinar, email: str, fields: dict) -> None:
    now = timezone.now()
    existing = (
        Registration.objects.select_for_update()
        .filter(webinar=webinar, email__iexact=email)
        .first()
    )
    if existing is not None:
        existing.webinar = webinar
        if existing.state in (State.CONFIRMED, State.WAITING, State.OFFERED):
            emails.queue_links_again(existing)
            return
        if existing.state == State.PENDING:
            existing.link_expires_at = _confirm_deadline(now)
            existing.save(update_fields=["link_expires_at"])
            emails.queue_confirm_link(existing)
            return
        # Cancelled or expired: a new registration in the same row (new token).
        registration = existing
        for key, value in fields.items():
            setattr(registration, key, value)
        registration.state = State.PENDING
        registration.token = Registration.new_token()
        registration.created_at = now
        registration.link_expires_at = _confirm_deadline(now)
        registration.confirmed_at = registration.waiting_since = registration.cancelled_at = None
        registration.save()
    else:
        registration = Registration.objects.create(
            webinar=webinar,
            email=email,
            state=State.PENDING,
            token=Registration.new_token(),
            created_at=now,
            link_expires_at=_confirm_deadline(now),
            **fields,
        )
    emails.queue_confirm_link(registration)


def _confirm_deadline(now) -> datetime.datetime:
    return now + datetime.timedelta(hours=settings.WEBINAR_CONFIRM_HOURS)


def registration_confirm(*, registration: Registration) -> Registration:
    """Follows the emailed link: a pending registration takes a place if one
    is free, else joins the waiting list; an offered place is taken.
    ValidationError (code ``expired``) for a link past its time, (``closed``)
    once the webinar started or was cancelled. A registration confirmed
    already is returned unchanged. Emails the outcome (a place: with the
    calendar file)."""
    with transaction.atomic():
        # The webinar's row first: every decision about its places is taken
        # under this lock, one after another.
        webinar = (
            Webinar.objects.select_for_update()
            .select_related("meeting__group")
            .get(pk=registration.webinar_id)
        )
        registration = _locked(registration)
        registration.webinar = webinar
        now = timezone.now()
        if registration.state in (State.CONFIRMED, State.WAITING):
            return registration
        if registration.state not in (State.PENDING, State.OFFERED):
            raise ValidationError(_("This link is no longer valid."), code="expired")
        if registration.link_expires_at is None or now > registration.link_expires_at:
            raise ValidationError(_("This link has expired."), code="expired")
        refusal = registration_refusal(webinar, now=now)
        if refusal:
            raise ValidationError(refusal, code="closed")
        if registration.state == State.OFFERED or places_held(webinar) < webinar.capacity:
            registration.state = State.CONFIRMED
            registration.confirmed_at = now
            registration.link_expires_at = None
            registration.save(update_fields=["state", "confirmed_at", "link_expires_at"])
            emails.queue_registered(registration)
        else:
            registration.state = State.WAITING
            registration.waiting_since = now
            registration.link_expires_at = None
            registration.save(update_fields=["state", "waiting_since", "link_expires_at"])
            emails.queue_waiting(registration)
        _public_changed(webinar)  # the places left
    return registration


def _locked(registration: Registration) -> Registration:
    """The registration again, locked; ValidationError if it was deleted
    meanwhile (unconfirmed for too long)."""
    locked = Registration.objects.select_for_update().filter(pk=registration.pk).first()
    if locked is None:
        raise ValidationError(_("This link is no longer valid."), code="expired")
    return locked


def registration_cancel(*, registration: Registration) -> Registration:
    """The registrant cancels: the place (if they held one) is offered to the
    next on the waiting list. A cancelled registration stays cancelled.
    ValidationError once the webinar has ended."""
    with transaction.atomic():
        webinar = (
            Webinar.objects.select_for_update()
            .select_related("meeting__group")
            .get(pk=registration.webinar_id)
        )
        registration = _locked(registration)
        registration.webinar = webinar
        if registration.state not in ACTIVE:
            return registration
        if timezone.now() >= webinar.meeting.ends_at:
            raise ValidationError(_("This webinar is over."), code="closed")
        held = registration.holds_place
        registration.state = State.CANCELLED
        registration.cancelled_at = timezone.now()
        registration.link_expires_at = None
        registration.save(update_fields=["state", "cancelled_at", "link_expires_at"])
        emails.queue_cancelled_by_registrant(registration, held_place=held)
        if held:
            _offer_free_places(webinar)
            _public_changed(webinar)
    return registration


def _offer_free_places(webinar: Webinar, *, now=None) -> int:
    """Offers the free places to the first on the waiting list, each to be
    taken by a deadline (``WEBINAR_OFFER_HOURS``, never after the start).
    Called with the webinar's row locked. Returns the number offered."""
    now = now or timezone.now()
    meeting = webinar.meeting
    if meeting.status == Meeting.Status.CANCELLED or now >= meeting.starts_at:
        return 0
    free = webinar.capacity - places_held(webinar)
    if free <= 0:
        return 0
    deadline = min(now + datetime.timedelta(hours=settings.WEBINAR_OFFER_HOURS), meeting.starts_at)
    chosen = list(
        webinar.registrations.select_for_update()
        .filter(state=State.WAITING)
        .order_by("waiting_since", "pk")[:free]
    )
    for registration in chosen:
        registration.webinar = webinar
        registration.state = State.OFFERED
        registration.link_expires_at = deadline
        registration.save(update_fields=["state", "link_expires_at"])
        emails.queue_offer(registration)
    return len(chosen)


# --- Moderators --------------------------------------------------------------------


def attendance_mark(*, actor, registration: Registration, attended: bool | None) -> Registration:
    """Marks whether a registrant attended (None: not known).
    PermissionDenied unless the actor may publish the webinar."""
    meeting = registration.webinar.meeting
    permissions.check_publish(actor, meeting)
    with transaction.atomic():
        Registration.objects.filter(pk=registration.pk).update(attended=attended)
        registration.attended = attended
    return registration


# --- Periodic work (core.periodic) ---------------------------------------------------


def registrations_expire(*, now=None) -> int:
    """Deletes registrations unconfirmed for ``WEBINAR_UNCONFIRMED_DELETE_HOURS``
    and ends the offers of freed places not taken by their deadline, offering
    those places to the next on the waiting list. Returns how many changed."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(hours=settings.WEBINAR_UNCONFIRMED_DELETE_HOURS)
    with transaction.atomic():
        stale = Registration.objects.filter(state=State.PENDING, created_at__lt=cutoff)
        _forget_emails(list(stale.values_list("pk", flat=True)))
        deleted, _by_model = stale.delete()
    changed = deleted
    lapsed = (
        Registration.objects.filter(state=State.OFFERED, link_expires_at__lt=now)
        .values_list("webinar_id", flat=True)
        .distinct()
    )
    for webinar_id in list(lapsed):
        with transaction.atomic():
            webinar = (
                Webinar.objects.select_for_update().select_related("meeting").get(pk=webinar_id)
            )
            changed += webinar.registrations.filter(
                state=State.OFFERED, link_expires_at__lt=now
            ).update(state=State.EXPIRED, link_expires_at=None)
            _offer_free_places(webinar, now=now)
            _public_changed(webinar)
    return changed


def reminders_send(*, now=None) -> int:
    """Queues the reminders due: for each confirmed registration of a webinar
    that has not started, one per offset (minutes before the start, stored on
    the webinar) whose time has come; after a pause of the worker only the
    nearest one. The outbox key names the start it was for, so the reminders
    of a webinar that moved come again at its new time. Returns the number
    queued."""
    now = now or timezone.now()
    webinars = (
        permissions.webinars_public()
        .filter(
            meeting__status=Meeting.Status.SCHEDULED,
            meeting__starts_at__gt=now,
        )
        .select_related("meeting__group")
    )
    queued = 0
    for webinar in webinars:
        offsets = [o for o in webinar.reminder_offsets if isinstance(o, int) and o > 0]
        due = [
            offset
            for offset in offsets
            if webinar.meeting.starts_at - datetime.timedelta(minutes=offset) <= now
        ]
        if not due:
            continue
        # Only the nearest offset due: a late run does not send 24 h and 1 h at once.
        offset = min(due)
        registrations = list(webinar.registrations.filter(state=State.CONFIRMED))
        keys = {r.pk: emails.reminder_key(r, webinar.meeting, offset) for r in registrations}
        sent = set(
            OutboundEmail.objects.filter(key__in=keys.values()).values_list("key", flat=True)
        )
        with transaction.atomic():
            for registration in registrations:
                if keys[registration.pk] in sent:
                    continue
                registration.webinar = webinar
                emails.queue_reminder(registration, offset=offset, key=keys[registration.pk])
                queued += 1
    return queued


def follow_ups_send(*, now=None) -> int:
    """After a webinar has ended, once: a follow-up to those registered,
    linking the group's results and the join form. Returns the number queued."""
    now = now or timezone.now()
    webinars = permissions.webinars_public().filter(
        follow_up_sent_at__isnull=True,
        meeting__status=Meeting.Status.SCHEDULED,
        meeting__ends_at__lte=now,
        personal_data_deleted_at__isnull=True,
    )
    queued = 0
    for webinar_id in list(webinars.values_list("pk", flat=True)):
        with transaction.atomic():
            webinar = (
                Webinar.objects.select_for_update()
                .select_related("meeting__group")
                .filter(pk=webinar_id, follow_up_sent_at__isnull=True)
                .first()
            )
            if webinar is None:
                continue
            for registration in webinar.registrations.filter(state=State.CONFIRMED):
                registration.webinar = webinar
                emails.queue_follow_up(registration)
                queued += 1
            webinar.follow_up_sent_at = now
            webinar.save(update_fields=["follow_up_sent_at"])
    return queued


def personal_data_delete(*, now=None) -> int:
    """``WEBINAR_RETENTION_DAYS`` after a webinar ended (or was cancelled and
    its time passed), deletes its registrations, except those of people who
    asked to be kept informed. Logged in the group's audit log with counts
    only, never a name or address. Returns the number deleted."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(days=settings.WEBINAR_RETENTION_DAYS)
    due = Webinar.objects.filter(personal_data_deleted_at__isnull=True, meeting__ends_at__lt=cutoff)
    deleted = 0
    for webinar_id in list(due.values_list("pk", flat=True)):
        with transaction.atomic():
            webinar = (
                Webinar.objects.select_for_update()
                .select_related("meeting__group")
                .filter(pk=webinar_id, personal_data_deleted_at__isnull=True)
                .first()
            )
            if webinar is None:
                continue
            counts = webinar.registrations.aggregate(
                total=Count("pk"), kept=Count("pk", filter=Q(keep_informed=True))
            )
            gone = webinar.registrations.filter(keep_informed=False)
            _forget_emails(list(gone.values_list("pk", flat=True)))
            count, _by_model = gone.delete()
            webinar.personal_data_deleted_at = now
            webinar.save(update_fields=["personal_data_deleted_at"])
            audit(
                group=webinar.meeting.group,
                actor=None,
                action="webinar.personal_data_deleted",
                summary=f"{webinar.meeting.title}: {count} registrations deleted",
                webinar=webinar.pk,
                deleted=count,
                kept=counts["kept"],
            )
            deleted += count
    return deleted


def _forget_emails(registration_ids: list[int]) -> None:
    """The outbox rows of registrations being deleted go with them: they hold
    the address (and, until sent, the text). One not sent yet would be
    dropped anyway (``emails.compose`` finds no registration)."""
    if registration_ids:
        OutboundEmail.objects.filter(compose=emails.COMPOSE, ref__in=registration_ids).delete()
