"""core.sessions.session_state: a socket's session decided as get_user decides
a request's, without writing to the session."""

import datetime

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from core.sessions import session_fingerprint, session_state

pytestmark = pytest.mark.django_db


def session_key_of(user) -> str:
    client = Client()
    client.force_login(user)
    return client.session.session_key


def edit(session_key, **changes):
    row = Session.objects.get(session_key=session_key)
    data = row.get_decoded()
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    Session.objects.filter(session_key=session_key).update(
        session_data=Session.get_session_store_class()().encode(data)
    )


def test_session_state_gives_the_user_and_expiry_if_session_stands(user):
    key = session_key_of(user)
    state = session_state(key, user.pk)
    assert state.user == user
    assert state.expires_at == Session.objects.get(session_key=key).expire_date


def test_session_state_ends_if_session_is_missing_or_signed_out(user, client):
    assert session_state(None, user.pk).user is None
    assert session_state("nosuchsessionkey", user.pk).user is None
    client.force_login(user)
    key = client.session.session_key
    client.logout()
    assert session_state(key, user.pk).user is None


def test_session_state_ends_if_session_expired(user):
    key = session_key_of(user)
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert session_state(key, user.pk).user is None


def test_session_state_ends_if_session_is_someone_elses(user, make_user):
    other = make_user("someone@example.org")
    assert session_state(session_key_of(other), user.pk).user is None


def test_session_state_ends_if_user_is_inactive(user):
    key = session_key_of(user)
    user.is_active = False
    user.save()
    assert session_state(key, user.pk).user is None


def test_session_state_ends_if_password_changed(user):
    key = session_key_of(user)
    user.set_password("another-pass-phrase")
    user.save()
    assert session_state(key, user.pk).user is None


def test_session_state_ends_if_hash_or_backend_is_missing_or_unknown(user):
    for changes in (
        {HASH_SESSION_KEY: None},
        {BACKEND_SESSION_KEY: None},
        {BACKEND_SESSION_KEY: "somewhere.Else"},
    ):
        key = session_key_of(user)
        assert session_state(key, user.pk).user == user
        edit(key, **changes)
        assert session_state(key, user.pk).user is None, changes


def test_session_state_accepts_hash_made_with_a_fallback_secret_and_writes_nothing(user, settings):
    key = session_key_of(user)
    before = Session.objects.get(session_key=key)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-newer-secret-key-" + "x" * 40
    assert session_state(key, user.pk).user == user
    after = Session.objects.get(session_key=key)
    assert (after.session_data, after.expire_date) == (before.session_data, before.expire_date)


def test_session_fingerprint_is_stable_and_does_not_show_the_key():
    assert session_fingerprint("abc") == session_fingerprint("abc")
    assert session_fingerprint("abc") != session_fingerprint("abd")
    assert "abc" not in session_fingerprint("abc")
