"""Two-factor authentication with TOTP and recovery codes, through allauth's views."""

import pytest
from allauth.mfa.models import Authenticator
from django.urls import reverse

from tests.totp import totp

pytestmark = pytest.mark.django_db


@pytest.fixture
def tolerant_totp(settings):
    # One period of tolerance lets a test use a fresh code right after
    # activation (allauth refuses a code that was used already).
    settings.MFA_TOTP_TOLERANCE = 1


def sign_in(client, user, password):
    response = client.post(reverse("account_login"), {"login": user.email, "password": password})
    assert response.status_code == 302
    return response


def confirm_password(client, password):
    """allauth asks for the password again before security changes, except
    right after signing in: a fresh sign-in counts
    (``groups.adapter.AccountAdapter.is_reauthentication_required``)."""
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200


def activate_totp(client, user, password):
    sign_in(client, user, password)
    confirm_password(client, password)
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    secret = client.session["mfa.totp.secret"]
    response = client.post(reverse("mfa_activate_totp"), {"code": totp(secret)})
    assert response.status_code == 302, response.content
    return secret


def test_totp_activation_fails_and_stores_nothing_if_code_is_wrong(client, user, password):
    sign_in(client, user, password)
    confirm_password(client, password)
    client.get(reverse("mfa_activate_totp"))
    response = client.post(reverse("mfa_activate_totp"), {"code": "000000"})
    assert response.status_code == 200
    assert "Incorrect code." in response.text
    assert not Authenticator.objects.filter(user=user).exists()


def test_totp_activation_creates_totp_and_recovery_codes(client, user, password):
    activate_totp(client, user, password)
    types = set(Authenticator.objects.filter(user=user).values_list("type", flat=True))
    assert types == {Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES}


def test_login_asks_for_totp_and_completes_with_right_code(client, user, password, tolerant_totp):
    secret = activate_totp(client, user, password)
    client.logout()
    response = client.post(reverse("account_login"), {"login": user.email, "password": password})
    assert response["Location"] == reverse("mfa_authenticate")
    assert "_auth_user_id" not in client.session
    wrong = client.post(reverse("mfa_authenticate"), {"code": "123456"})
    assert wrong.status_code == 200
    assert "_auth_user_id" not in client.session
    done = client.post(reverse("mfa_authenticate"), {"code": totp(secret, offset=1)})
    assert done.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_login_completes_with_a_recovery_code_once(client, user, password):
    activate_totp(client, user, password)
    codes = (
        Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
        .wrap()
        .get_unused_codes()
    )
    client.logout()
    client.post(reverse("account_login"), {"login": user.email, "password": password})
    client.post(reverse("mfa_authenticate"), {"code": codes[0]})
    assert client.session["_auth_user_id"] == str(user.pk)
    client.logout()
    client.post(reverse("account_login"), {"login": user.email, "password": password})
    again = client.post(reverse("mfa_authenticate"), {"code": codes[0]})
    assert again.status_code == 200
    assert "_auth_user_id" not in client.session
