"""The account flows through the real allauth views."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.django_db


def login(client, email, password):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def test_login_redirects_to_dashboard_if_password_is_right(client, user, password):
    response = login(client, "MEMBER@example.org", password)
    assert response.status_code == 302
    assert response["Location"] == reverse("groups:dashboard")
    page = client.get(reverse("groups:dashboard"))
    assert page.status_code == 200
    assert "Mia Member" in page.text


def test_login_shows_error_and_stays_anonymous_if_password_is_wrong(client, user):
    response = login(client, user.email, "not-the-password")
    assert response.status_code == 200
    assert "The email address and/or password you specified are not correct." in response.text
    assert "_auth_user_id" not in client.session


def test_login_fails_alike_for_unknown_and_known_email(client, user):
    known = login(client, user.email, "wrong-password")
    unknown = login(client, "nobody@example.org", "wrong-password")
    assert known.status_code == unknown.status_code == 200
    error = "The email address and/or password you specified are not correct."
    assert error in known.text and error in unknown.text


def test_login_is_rate_limited_if_failed_too_often(client, user):
    for _ in range(5):
        login(client, user.email, "wrong-password")
    response = login(client, user.email, "wrong-password")
    assert response.status_code == 429 or "Too many failed login attempts" in response.text


def test_logout_ends_the_session(client, user):
    client.force_login(user)
    response = client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert client.get(reverse("accounts:profile_edit")).status_code == 302
    home = client.get(reverse("groups:dashboard"))  # visitors' public home now
    assert "groups/dashboard.html" not in [t.name for t in home.templates]


def test_signup_shows_closed_page_and_creates_nobody_if_open_signup_is_tried(client):
    page = client.get(reverse("account_signup"))
    assert page.status_code == 200
    assert "Sign-up by invitation only" in page.text
    response = client.post(
        reverse("account_signup"),
        {
            "email": "intruder@example.org",
            "password1": "Sup3r-secret!",
            "password2": "Sup3r-secret!",
        },
    )
    assert response.status_code == 200
    assert not User.objects.filter(email="intruder@example.org").exists()


def test_password_reset_answers_alike_for_known_and_unknown_email(
    client, user, django_capture_on_commit_callbacks
):
    url = reverse("account_reset_password")
    # The emails leave through the outbox once the request's writes commit.
    with django_capture_on_commit_callbacks(execute=True):
        known = client.post(url, {"email": user.email})
        unknown = client.post(url, {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    recipients = {message.to[0] for message in mail.outbox}
    assert user.email in recipients
    reset_mail = next(m for m in mail.outbox if m.to == [user.email])
    assert "/accounts/password/reset/key/" in reset_mail.body
    # The unknown address learns nothing beyond "no account here"; no reset link.
    for message in mail.outbox:
        if message.to == ["nobody@example.org"]:
            assert "/accounts/password/reset/key/" not in message.body


def test_password_reset_link_sets_a_new_password(client, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("account_reset_password"), {"email": user.email})
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+/)", mail.outbox[0].body)
    response = client.get(link.group(1), follow=True)
    form_url = response.redirect_chain[-1][0] if response.redirect_chain else link.group(1)
    new_password = "a-brand-new-passphrase"
    done = client.post(form_url, {"password1": new_password, "password2": new_password})
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password(new_password)


def test_password_change_requires_the_old_password(client, user, password):
    client.force_login(user)
    url = reverse("account_change_password")
    wrong = client.post(
        url,
        {"oldpassword": "nope", "password1": "new-pass-phrase-1", "password2": "new-pass-phrase-1"},
    )
    assert wrong.status_code == 200
    user.refresh_from_db()
    assert user.check_password(password)
    right = client.post(
        url,
        {
            "oldpassword": password,
            "password1": "new-pass-phrase-1",
            "password2": "new-pass-phrase-1",
        },
    )
    assert right.status_code == 302
    user.refresh_from_db()
    assert user.check_password("new-pass-phrase-1")


def test_email_change_takes_effect_only_after_verification(
    client, user, django_capture_on_commit_callbacks
):
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("account_email"), {"action_add": "", "email": "mia.new@example.org"}
        )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.email == "member@example.org"
    assert not EmailAddress.objects.get(email="mia.new@example.org").verified
    link = re.search(r"http://testserver(/accounts/confirm-email/\S+/)", mail.outbox[-1].body)
    client.post(link.group(1))
    user.refresh_from_db()
    assert user.email == "mia.new@example.org"
    assert EmailAddress.objects.get(email="mia.new@example.org").verified
