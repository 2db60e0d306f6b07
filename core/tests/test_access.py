"""Nothing but the public pages and the login flow is reachable without login."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

pytestmark = pytest.mark.django_db

# Views anyone may open: the sign-in, reset and MFA flow, the sign-up (closed
# but through an invitation), the health check, the language switch, the
# invitation link, the public join request and the public pages of the
# process and its groups. Everything else needs login.
PUBLIC_URL_NAMES = {
    "health",
    # A signed link from an email: stops that person's emails without sign-in.
    "notifications:unsubscribe",
    "accounts:set_language",
    "account_login",
    "account_signup",
    "account_reset_password",
    "account_reset_password_done",
    "account_reset_password_from_key",
    "account_reset_password_from_key_done",
    "account_confirm_email",
    "account_email_verification_sent",
    "account_inactive",
    "account_logout",
    "mfa_authenticate",
    "account_login_code_confirm",
    "account_request_login_code",
    "account_confirm_login_code",
    "account_confirm_password_reset_code",
    "account_email_verification_code",
    "account_reauthenticate",
    "mfa_reauthenticate",
    "account_confirm_reauthentication_code",
    "mfa_trust",
    "admin:login",
    "groups:invitation",
    "groups:join",
    "groups:join_thanks",
    "meetings:feed",  # a calendar program's fetch, authorised by the secret token alone
    # Public webinars: the page with its registration form, the page after
    # registering, the privacy notice; a registrant's own links, authorised
    # by their secret token alone (join, confirm, cancel, calendar file).
    "webinars:detail",
    "webinars:registered",
    "webinars:privacy",
    "webinars:join",
    "webinars:confirm",
    "webinars:cancel",
    "webinars:calendar",
    # The public side: the home at / (the person's own home once signed in),
    # the same page for everyone at /public/, and a page per group.
    "public:home",
    "public:about",
    "public:group",
    # Published results: public by design; drafts answer 404 (results.permissions).
    "results:site_list",
    "results:site_feed",
    "results:list",
    "results:feed",
    "results:detail",
    "results:version",
    "results:diff",
}


def walk(patterns, namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from walk(pattern.url_patterns, ns)
        elif isinstance(pattern, URLPattern):
            yield f"{namespace}{pattern.name}" if pattern.name else None, pattern.callback


def is_public(view) -> bool:
    return getattr(view, "login_required", True) is False


def test_only_the_listed_views_are_public():
    public = {
        (name or "").split(":")[-1] if name and name.startswith("core:") else name
        for name, view in walk(get_resolver().url_patterns)
        if is_public(view)
    }
    unexpected = public - PUBLIC_URL_NAMES
    assert not unexpected, f"Views reachable without login: {sorted(unexpected)}"


@pytest.mark.parametrize(
    "url",
    [
        "/profile/edit/",
        "/profile/1/",
        "/accounts/email/",
        "/accounts/password/change/",
        "/accounts/2fa/",
        "/accounts/2fa/totp/activate/",
        "/admin/",
        "/admin/accounts/user/",
    ],
)
def test_page_redirects_to_login_if_anonymous(client, url):
    response = client.get(url, follow=True)
    assert response.redirect_chain, "expected a redirect to the login page"
    assert response.request["PATH_INFO"] == reverse("account_login")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "url",
    ["/", "/public/", "/accounts/login/", "/accounts/password/reset/", "/accounts/signup/",
     "/health/"],
)  # fmt: skip
def test_public_page_answers_if_anonymous(client, url):
    assert client.get(url).status_code == 200


def test_admin_login_goes_through_allauth(client):
    response = client.get("/admin/login/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_health_reports_ok(client):
    assert client.get("/health/").json() == {"status": "ok"}
