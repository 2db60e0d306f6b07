"""Writes to working groups: membership, invitations, join requests.

Every function checks permission itself, runs in one transaction, writes an
audit entry, and publishes its realtime events after commit:

- ``group:<id>``  ``membership.changed`` {group, user, role, active} — to the group
- ``user:<id>``   ``membership.revoked`` {group} — to the person who lost access,
  ``access.changed`` {group} — to the person whose role or access end changed
  (on either, their open sockets decide every subscription afresh: the streams
  no longer allowed end, the others follow the new end),
  ``membership.created`` {group}

Inside the transaction, hooks hear of what people are told of: a role
changed (``groups.role_changed``: membership, actor), an invitation accepted
(``groups.invitation_accepted``: invitation, membership) and a join request
(``groups.join_request_created``: join_request). Whatever the public pages
show changes (a group's name or summary, its membership) calls
``public.changed`` (group_id), so that their cache is dropped.
"""

import datetime
import re

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from core import hooks
from core.realtime import emit, group_stream, user_stream

from . import emails, permissions
from .models import AuditEntry, Invitation, JoinRequest, Membership, Role, WorkingGroup


def audit(*, group: WorkingGroup | None, actor: User | None, action: str, summary: str, **data):
    """Records who did what to ``group``. Called inside the writing transaction."""
    return AuditEntry.objects.create(
        group=group,
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        summary=summary[:500],
        data=data,
    )


def _membership_changed(membership: Membership) -> None:
    permissions.roles_changed()
    # The group's public page lists its people and counts their sectors.
    hooks.call("public.changed", group_id=membership.group_id)
    payload = {
        "group": membership.group_id,
        "user": membership.user_id,
        "role": membership.role,
        "active": membership.is_valid,
    }
    emit(group_stream(membership.group_id), "membership.changed", payload)


def _access_changed(membership: Membership) -> None:
    emit(user_stream(membership.user_id), "access.changed", {"group": membership.group_id})


def _require_guest_end(role: str, expires_at) -> None:
    if role == Role.GUEST and expires_at is None:
        raise ValidationError(_("A guest's access needs an end date."), code="guest_end")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError(_("The end date must lie in the future."), code="past")


def _other_moderators(group: WorkingGroup, membership: Membership) -> bool:
    return (
        Membership.objects.valid()
        .filter(group=group, role=Role.MODERATOR)
        .exclude(pk=membership.pk)
        .exists()
    )


# --- Groups -------------------------------------------------------------------


def group_create(
    *, actor: User, name: str, slug: str, description: str = "", public_summary: str = ""
) -> WorkingGroup:
    """Creates a working group. Organisers only; PermissionDenied otherwise.
    Calls the ``public.changed`` hook (the public home lists the groups)."""
    permissions.check_create_group(actor)
    with transaction.atomic():
        group = WorkingGroup.objects.create(
            name=name, slug=slug, description=description, public_summary=public_summary
        )
        audit(group=group, actor=actor, action="group.created", summary=name)
        hooks.call("public.changed", group_id=group.pk)
    return group


def group_update(*, actor: User, group: WorkingGroup, data: dict) -> WorkingGroup:
    """Saves the group's settings (name, description, public summary, no
    message text in emails, archived).
    Moderators only. Sends ``group.updated`` to the group and calls the
    ``public.changed`` hook."""
    permissions.check_moderate_group(actor, group)
    with transaction.atomic():
        changed = [field for field, value in data.items() if getattr(group, field) != value]
        for field in changed:
            setattr(group, field, data[field])
        if changed:
            group.save(update_fields=changed)
            audit(
                group=group,
                actor=actor,
                action="group.updated",
                summary=", ".join(changed),
                fields=changed,
            )
            emit(group_stream(group.pk), "group.updated", {"group": group.pk})
            hooks.call("public.changed", group_id=group.pk)
    return group


# --- Membership -----------------------------------------------------------------


def membership_create(
    *,
    actor: User,
    group: WorkingGroup,
    user: User,
    role: str,
    expires_at: datetime.datetime | None = None,
) -> Membership:
    """Adds ``user`` to ``group`` (or restores a former membership). Moderators
    only. Sends ``membership.changed`` and ``membership.created``."""
    permissions.check_moderate_group(actor, group)
    return _membership_grant(
        actor=actor, group=group, user=user, role=role, expires_at=expires_at, invited_by=actor
    )


def _membership_grant(*, actor, group, user, role, expires_at, invited_by) -> Membership:
    if role not in Role.values:
        raise ValidationError(_("Unknown role."), code="role")
    if role != Role.GUEST:
        expires_at = None
    _require_guest_end(role, expires_at)
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(group=group, user=user).first()
        if membership is not None and membership.is_valid:
            raise ValidationError(
                _("%(name)s is already in this group.") % {"name": user}, code="member"
            )
        if membership is None:
            membership = Membership(group=group, user=user)
        membership.role = role
        membership.expires_at = expires_at
        membership.active = True
        membership.joined_at = timezone.now()
        membership.invited_by = invited_by
        membership.save()
        audit(
            group=group,
            actor=actor,
            action="membership.created",
            summary=f"{user} ({role})",
            user=user.pk,
            role=role,
        )
        _membership_changed(membership)
        emit(user_stream(user.pk), "membership.created", {"group": group.pk})
    return membership


def membership_change_role(
    *, actor: User, membership: Membership, role: str, expires_at: datetime.datetime | None = None
) -> Membership:
    """Gives a member another role (a guest needs an access end date). The last
    moderator keeps their role. Moderators only, not on their own membership
    (PermissionDenied). Sends ``membership.changed`` and ``access.changed``
    (to the person)."""
    group = membership.group
    permissions.check_change_role(actor, membership)
    if role not in Role.values:
        raise ValidationError(_("Unknown role."), code="role")
    if role != Role.GUEST:
        expires_at = None
    _require_guest_end(role, expires_at)
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        if not membership.is_valid:
            raise ValidationError(_("This membership has ended."), code="ended")
        if (
            membership.role == Role.MODERATOR
            and role != Role.MODERATOR
            and not _other_moderators(group, membership)
        ):
            raise ValidationError(
                _("A group needs at least one moderator. Appoint another one first."),
                code="last_moderator",
            )
        old = membership.role
        membership.role = role
        membership.expires_at = expires_at
        membership.save(update_fields=["role", "expires_at"])
        audit(
            group=group,
            actor=actor,
            action="membership.role_changed",
            summary=f"{membership.user}: {old} → {role}",
            user=membership.user_id,
            old=old,
            new=role,
        )
        _membership_changed(membership)
        _access_changed(membership)
        if old != role:
            hooks.call("groups.role_changed", membership=membership, actor=actor)
    return membership


def membership_extend(
    *, actor: User, membership: Membership, expires_at: datetime.datetime
) -> Membership:
    """Moves a guest's access end date (earlier or later). Moderators only.
    Sends ``membership.changed`` and ``access.changed`` (to the person)."""
    permissions.check_moderate_group(actor, membership.group)
    if membership.role != Role.GUEST:
        raise ValidationError(_("Only a guest's access has an end date."), code="not_guest")
    _require_guest_end(Role.GUEST, expires_at)
    with transaction.atomic():
        Membership.objects.filter(pk=membership.pk).update(expires_at=expires_at, active=True)
        membership.refresh_from_db()
        audit(
            group=membership.group,
            actor=actor,
            action="membership.extended",
            summary=f"{membership.user}: {expires_at:%Y-%m-%d}",
            user=membership.user_id,
            until=expires_at.isoformat(),
        )
        _membership_changed(membership)
        _access_changed(membership)
    return membership


def _membership_end(*, actor: User, membership: Membership, action: str) -> Membership:
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        if not membership.active:
            return membership
        if membership.role == Role.MODERATOR and not _other_moderators(
            membership.group, membership
        ):
            raise ValidationError(
                _("A group needs at least one moderator. Appoint another one first."),
                code="last_moderator",
            )
        membership.active = False
        membership.save(update_fields=["active"])
        audit(
            group=membership.group,
            actor=actor,
            action=action,
            summary=str(membership.user),
            user=membership.user_id,
        )
        _membership_changed(membership)
        emit(user_stream(membership.user_id), "membership.revoked", {"group": membership.group_id})
    return membership


def membership_revoke(*, actor: User, membership: Membership) -> Membership:
    """Removes someone from the group; their access ends with the next request
    and their sockets drop the group's streams. Moderators only, not on
    themselves (they leave the group instead; PermissionDenied)."""
    permissions.check_remove_membership(actor, membership)
    return _membership_end(actor=actor, membership=membership, action="membership.revoked")


def membership_leave(*, actor: User, group: WorkingGroup) -> Membership:
    """The actor leaves ``group``. PermissionDenied if they are not in it."""
    membership = permissions.membership_of(actor, group)
    if membership is None:
        raise PermissionDenied
    return _membership_end(actor=actor, membership=membership, action="membership.left")


# --- Invitations ------------------------------------------------------------------


def _normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    validate_email(email)
    return email


def invitation_send(
    *,
    actor: User,
    group: WorkingGroup,
    email: str,
    role: str,
    access_until: datetime.datetime | None = None,
    language: str | None = None,
) -> Invitation:
    """Invites ``email`` to ``group`` with ``role`` and emails the link after
    commit. Moderators only. ValidationError for a bad address, a person
    already in the group or already invited, or a guest without end date."""
    permissions.check_moderate_group(actor, group)
    try:
        email = _normalise_email(email)
    except ValidationError:
        raise ValidationError(_("This is not a valid email address."), code="invalid") from None
    if role not in Role.values:
        raise ValidationError(_("Unknown role."), code="role")
    if role != Role.GUEST:
        access_until = None
    _require_guest_end(role, access_until)
    if Membership.objects.valid().filter(group=group, user__email__iexact=email).exists():
        raise ValidationError(_("This person is already in the group."), code="member")
    if group.invitations.pending().filter(email__iexact=email).exists():
        raise ValidationError(
            _("This address has a pending invitation already; resend it from the list."),
            code="invited",
        )
    language = language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
    with transaction.atomic():
        invitation = Invitation(
            email=email,
            group=group,
            role=role,
            access_until=access_until,
            language=language,
            invited_by=actor,
            sent_at=timezone.now(),
            expires_at=timezone.now() + datetime.timedelta(days=settings.INVITATION_VALID_DAYS),
        )
        token = invitation.set_new_token()
        invitation.save()
        audit(
            group=group,
            actor=actor,
            action="invitation.sent",
            summary=f"{email} ({role})",
            email=email,
            role=role,
        )
        emails.send_invitation(invitation, token)
    return invitation


def invitation_resend(*, actor: User, invitation: Invitation) -> Invitation:
    """Sends a fresh link (the old one stops working) and renews the expiry.
    Moderators only; not for accepted or revoked invitations."""
    permissions.check_moderate_group(actor, invitation.group)
    if invitation.accepted_at or invitation.revoked_at:
        raise ValidationError(_("This invitation is closed."), code="closed")
    with transaction.atomic():
        token = invitation.set_new_token()
        invitation.sent_at = timezone.now()
        invitation.expires_at = timezone.now() + datetime.timedelta(
            days=settings.INVITATION_VALID_DAYS
        )
        invitation.save(update_fields=["token_hash", "sent_at", "expires_at"])
        audit(
            group=invitation.group,
            actor=actor,
            action="invitation.resent",
            summary=invitation.email,
        )
        emails.send_invitation(invitation, token)
    return invitation


def invitation_revoke(*, actor: User, invitation: Invitation) -> Invitation:
    """Closes a pending invitation: its link stops working. Moderators only."""
    permissions.check_moderate_group(actor, invitation.group)
    if invitation.accepted_at:
        raise ValidationError(_("This invitation was accepted already."), code="accepted")
    with transaction.atomic():
        if invitation.revoked_at is None:
            invitation.revoked_at = timezone.now()
            invitation.save(update_fields=["revoked_at"])
            audit(
                group=invitation.group,
                actor=actor,
                action="invitation.revoked",
                summary=invitation.email,
            )
    return invitation


class InvitationUnusable(Exception):
    """The token is unknown, or the invitation expired, was revoked or used."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def invitation_for_token(token: str) -> Invitation:
    """The pending invitation with ``token``; InvitationUnusable(reason) with
    reason unknown / accepted / revoked / expired otherwise."""
    invitation = Invitation.objects.by_token(token).select_related("group").first()
    if invitation is None:
        raise InvitationUnusable("unknown")
    if invitation.status != "pending":
        raise InvitationUnusable(invitation.status)
    return invitation


# Where the invitation link leaves its token for the sign-up that follows it.
INVITATION_SESSION_KEY = "groups.invitation_token"


def invitation_from_session(session) -> Invitation | None:
    """The pending invitation that brought this visitor to the sign-up (its
    token is in ``session``), or None."""
    token = session.get(INVITATION_SESSION_KEY)
    if not token:
        return None
    try:
        return invitation_for_token(token)
    except InvitationUnusable:
        return None


def email_matches(user: User, email: str) -> bool:
    """The invitation's address is one of the user's verified addresses."""
    from allauth.account.models import EmailAddress

    if user.email.lower() == email.lower():
        return True
    return EmailAddress.objects.filter(user=user, email__iexact=email, verified=True).exists()


def invitation_accept(*, user: User, token: str) -> Membership:
    """``user`` accepts the invitation: they join its group with its role.
    InvitationUnusable if the link is not (or no longer) valid;
    PermissionDenied if it was sent to another address."""
    with transaction.atomic():
        invitation = invitation_for_token(token)
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.status != "pending":  # lost a race with another click
            raise InvitationUnusable(invitation.status)
        if not email_matches(user, invitation.email):
            raise PermissionDenied
        group = invitation.group
        existing = Membership.objects.select_for_update().filter(group=group, user=user).first()
        if existing is not None and existing.is_valid:
            membership = existing  # already in: the invitation is simply used up
        else:
            membership = _membership_grant(
                actor=user,
                group=group,
                user=user,
                role=invitation.role,
                expires_at=invitation.access_until,
                invited_by=invitation.invited_by,
            )
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        audit(group=group, actor=user, action="invitation.accepted", summary=invitation.email)
        hooks.call("groups.invitation_accepted", invitation=invitation, membership=membership)
    return membership


def invitation_send_many(
    *,
    actor: User,
    group: WorkingGroup,
    emails_text: str,
    role: str,
    access_until=None,
    language=None,
) -> list[tuple[str, str, str]]:
    """Bulk invite: one invitation per address in ``emails_text`` (separated by
    new lines, commas, semicolons or spaces). Returns (address, outcome, message)
    per address, outcome being "sent" or "error"; one bad address does not stop
    the others."""
    permissions.check_moderate_group(actor, group)
    results = []
    seen = set()
    for raw in [part for part in re.split(r"[\s,;]+", emails_text or "") if part]:
        key = raw.lower()
        if key in seen:
            results.append((raw, "error", _("Listed twice.")))
            continue
        seen.add(key)
        try:
            invitation_send(
                actor=actor,
                group=group,
                email=raw,
                role=role,
                access_until=access_until,
                language=language,
            )
        except ValidationError as error:
            results.append((raw, "error", " ".join(error.messages)))
        except IntegrityError:
            results.append((raw, "error", _("Could not be saved; please try again.")))
        else:
            results.append((raw, "sent", _("Invitation sent.")))
    return results


# --- Join requests ------------------------------------------------------------------


def join_request_create(
    *,
    name: str,
    email: str,
    affiliation: str,
    sector: str,
    motivation: str,
    group: WorkingGroup,
    language: str,
) -> JoinRequest:
    """Stores a request from the public to join ``group`` (no account needed);
    it waits in the queue of the organisers and the group's moderators."""
    if group.archived:
        raise ValidationError(_("This group does not take new members."), code="archived")
    with transaction.atomic():
        join_request = JoinRequest.objects.create(
            name=name,
            email=email.strip().lower(),
            affiliation=affiliation,
            sector=sector,
            motivation=motivation,
            group=group,
            language=language,
        )
        audit(
            group=group,
            actor=None,
            action="join_request.received",
            summary=f"{name} <{join_request.email}>",
        )
        hooks.call("groups.join_request_created", join_request=join_request)
    return join_request


def join_request_decide(
    *, actor: User, join_request: JoinRequest, accept: bool, message: str = ""
) -> JoinRequest:
    """Accepts (sends an invitation as member) or declines (emails ``message``)
    a pending join request. Organisers and the group's moderators only."""
    permissions.check_handle_join_request(actor, join_request)
    with transaction.atomic():
        join_request = JoinRequest.objects.select_for_update().get(pk=join_request.pk)
        if join_request.status != JoinRequest.Status.PENDING:
            raise ValidationError(_("This request was handled already."), code="handled")
        if accept:
            already = Membership.objects.valid().filter(
                group=join_request.group, user__email__iexact=join_request.email
            )
            if (
                not already.exists()
                and not join_request.group.invitations.pending()
                .filter(email__iexact=join_request.email)
                .exists()
            ):
                invitation_send(
                    actor=actor,
                    group=join_request.group,
                    email=join_request.email,
                    role=Role.MEMBER,
                    language=join_request.language,
                )
        join_request.status = JoinRequest.Status.ACCEPTED if accept else JoinRequest.Status.DECLINED
        join_request.handled_by = actor
        join_request.handled_at = timezone.now()
        join_request.decision_message = message
        join_request.save()
        audit(
            group=join_request.group,
            actor=actor,
            action=f"join_request.{join_request.status}",
            summary=f"{join_request.name} <{join_request.email}>",
        )
        if not accept:
            emails.send_join_request_declined(join_request)
    return join_request
