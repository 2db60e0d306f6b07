import datetime

import pytest
from allauth.mfa.models import Authenticator
from django.utils import timezone

from groups.models import Membership, Role, WorkingGroup


def enable_mfa(user):
    """Gives ``user`` a TOTP authenticator, as allauth stores one after enrolment."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    TOTP.activate(user, generate_totp_secret())
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    return user


def join(user, group, role=Role.MEMBER, expires_at=None, active=True):
    if role == Role.GUEST and expires_at is None:
        expires_at = timezone.now() + datetime.timedelta(days=30)
    return Membership.objects.create(
        user=user, group=group, role=role, expires_at=expires_at, active=active
    )


@pytest.fixture
def group(db):
    return WorkingGroup.objects.create(
        name="Fair migration", slug="fair-migration", description="# Fair\n\nRights and work."
    )


@pytest.fixture
def other_group(db):
    return WorkingGroup.objects.create(name="Future of migration", slug="future")


@pytest.fixture
def member(make_user, group):
    user = make_user("member@example.org", display_name="Mia Member", affiliation="Uni A")
    join(user, group)
    return user


@pytest.fixture
def moderator(make_user, group):
    user = enable_mfa(make_user("moderator@example.org", display_name="Max Moderator"))
    join(user, group, Role.MODERATOR)
    return user


@pytest.fixture
def guest(make_user, group):
    user = make_user("guest@example.org", display_name="Gina Guest")
    join(user, group, Role.GUEST)
    return user


@pytest.fixture
def expired_guest(make_user, group):
    user = make_user("expired@example.org", display_name="Ex Guest")
    join(user, group, Role.GUEST, expires_at=timezone.now() - datetime.timedelta(minutes=1))
    return user


@pytest.fixture
def removed_member(make_user, group):
    user = make_user("removed@example.org", display_name="Rem Oved")
    join(user, group, active=False)
    return user


@pytest.fixture
def other_member(make_user, other_group):
    user = make_user("other@example.org", display_name="Otto Other")
    join(user, other_group)
    return user


@pytest.fixture
def other_moderator(make_user, other_group):
    user = enable_mfa(make_user("othermod@example.org", display_name="Olive Othermod"))
    join(user, other_group, Role.MODERATOR)
    return user


@pytest.fixture
def outsider(make_user):
    return make_user("outsider@example.org", display_name="Out Sider")


@pytest.fixture
def organiser(make_user):
    return enable_mfa(
        make_user("organiser@example.org", display_name="Olga Organiser", is_staff=True)
    )


@pytest.fixture
def published(monkeypatch):
    """The realtime events sent (still delivered), as (stream, type, payload)."""
    from core import realtime

    sent = []
    original = realtime.publish

    def recording(stream, event_type, payload, seq=None):
        sent.append((stream, event_type, payload))
        original(stream, event_type, payload, seq)

    monkeypatch.setattr(realtime, "publish", recording)
    return sent
