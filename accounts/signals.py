"""Tells a person's open sockets that their sign-in may have changed.

After they signed out, or their password, active flag or staff flag changed
(whichever way: allauth's change and reset, the admin, a command), the event
``sessions.changed`` goes on their user stream after commit. Each of their
sockets then checks its own session again (``core.sessions``) and closes if it
no longer signs them in; sockets of sessions that still do decide their
subscriptions afresh. Connected in ``AccountsConfig.ready()``.
"""

from django.db import transaction
from django.utils import timezone

from core.realtime import emit, user_stream
from core.sessions import SESSIONS_CHANGED, session_fingerprint

# What get_user's answer for a session (or the access rule) depends on.
SIGN_IN_FIELDS = ("password", "is_active", "is_staff")


def sessions_changed(user_id, *, ended_session_key: str | None = None) -> None:
    """Sends ``sessions.changed`` {ended} on the user's stream after commit;
    ``ended`` names the session that was signed out (None: check them all)."""
    payload = {
        "ended": session_fingerprint(ended_session_key) if ended_session_key else None,
    }

    def send():
        with transaction.atomic():
            emit(user_stream(user_id), SESSIONS_CHANGED, payload)

    transaction.on_commit(send)


def signed_out(sender, request, user, **kwargs) -> None:
    """``user_logged_out``: it is sent before the session is flushed, so the
    event names the session, and its sockets close without asking."""
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if user is not None and user.pk is not None and session_key:
        sessions_changed(user.pk, ended_session_key=session_key)


def _relevant(update_fields) -> bool:
    return update_fields is None or bool(set(update_fields) & set(SIGN_IN_FIELDS))


def remember_sign_in_fields(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    """``pre_save`` of the user: what the fields were before."""
    if raw or instance._state.adding or instance.pk is None or not _relevant(update_fields):
        return
    instance._sign_in_before = (
        sender._default_manager.filter(pk=instance.pk).values_list(*SIGN_IN_FIELDS).first()
    )


def sign_in_fields_saved(
    sender, instance, created=False, raw=False, update_fields=None, **kwargs
) -> None:
    """``post_save`` of the user: tells the sockets if one of them changed."""
    before = instance.__dict__.pop("_sign_in_before", None)
    if raw or created or before is None:
        return
    if before != tuple(getattr(instance, field) for field in SIGN_IN_FIELDS):
        sessions_changed(instance.pk)


def user_deleted(sender, instance, **kwargs) -> None:
    """``post_delete`` of the user: their sessions name nobody now."""
    sessions_changed(instance.pk)


def signed_in(sender, request, user, **kwargs) -> None:
    """``user_logged_in``: signing in is being in (``User.last_seen_at``); the
    middleware then has nothing to write for a while."""
    now = timezone.now()
    user._meta.model.objects.filter(pk=user.pk).update(last_seen_at=now)
    user.last_seen_at = now
