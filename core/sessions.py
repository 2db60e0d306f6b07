"""Whether the session a socket was opened with still stands.

A page checks its session on every request (``django.contrib.auth.get_user``);
a socket is authenticated once, when it opens. So the socket asks here again
whenever the person's sign-in may have changed (an event ``SESSIONS_CHANGED``
on their user stream) and when its session's expiry date comes, and closes if
the answer is no.

The check is ``get_user``'s: the session exists and has not expired, names the
socket's user and one of ``AUTHENTICATION_BACKENDS``, the backend still gives
that user (an inactive one it does not), and the session's auth hash matches
the user's (a password change ends every other session). Unlike ``get_user``
it only reads: where a page would flush the session or cycle its key, a
socket cannot hand the browser a new cookie.
"""

import datetime
from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
    load_backend,
)
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

# On a user stream: the person's sign-in may have changed (signed out, password
# or account changed). Payload {"ended": fingerprint of the session that was
# signed out, or None}: each socket of the person checks its own session.
SESSIONS_CHANGED = "sessions.changed"


@dataclass(frozen=True)
class SessionState:
    """The answer for one session: ``user`` is the user as the database has
    them now if the session stands, else None; ``expires_at`` is when the
    session ends by itself (None if unknown)."""

    user: object | None
    expires_at: datetime.datetime | None = None


ENDED = SessionState(user=None)


def session_fingerprint(session_key: str) -> str:
    """Names a session in an event without giving its key away."""
    return salted_hmac(
        "core.sessions.session_fingerprint", session_key, algorithm="sha256"
    ).hexdigest()


def _session_data(session_key: str) -> tuple[dict | None, datetime.datetime | None]:
    """The session's data and expiry date; (None, None) if it does not exist
    or has expired. Reads only."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    if isinstance(store, DatabaseSessionStore):  # db and cached_db
        row = (
            store.get_model_class()
            .objects.filter(session_key=session_key, expire_date__gt=timezone.now())
            .first()
        )
        if row is None:
            return None, None
        return store.decode(row.session_data), row.expire_date
    # Other engines keep their expiry to themselves (a cache's time to live):
    # load() answers {} once the session is gone.
    data = store.load()
    return (data or None), (store.get_expiry_date() if data else None)


def session_state(session_key: str | None, user_id) -> SessionState:
    """Whether the session ``session_key`` still signs in the user ``user_id``,
    decided as ``django.contrib.auth.get_user`` decides for a request. Runs
    database queries."""
    if not session_key:
        return ENDED
    data, expires_at = _session_data(session_key)
    if data is None:
        return ENDED
    try:
        session_user_id = get_user_model()._meta.pk.to_python(data[SESSION_KEY])
        backend_path = data[BACKEND_SESSION_KEY]
    except (KeyError, ValidationError):
        return ENDED
    if session_user_id != user_id or backend_path not in settings.AUTHENTICATION_BACKENDS:
        return ENDED
    user = load_backend(backend_path).get_user(session_user_id)
    if user is None:
        return ENDED
    if hasattr(user, "get_session_auth_hash"):
        session_hash = data.get(HASH_SESSION_KEY)
        if not session_hash:
            return ENDED
        verified = constant_time_compare(session_hash, user.get_session_auth_hash()) or any(
            constant_time_compare(session_hash, fallback)
            for fallback in user.get_session_auth_fallback_hash()
        )
        if not verified:
            return ENDED
    return SessionState(user=user, expires_at=expires_at)
