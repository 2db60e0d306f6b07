"""Unsubscribe links (RFC 8058): signed, dated, no sign-in. GET asks and
changes nothing; POST (the page's button or the mail client's one-click
POST) applies the link's scope; a link altered, expired or about what no
longer exists gets 400 and changes nothing."""

import datetime
import time

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from notifications import unsubscribe as links
from notifications.models import Digest, EmailPreference, Kind, Level, ThreadLevel

ONE_CLICK = "List-Unsubscribe=One-Click"


def path(user, scope: str) -> str:
    return reverse("notifications:unsubscribe", args=[links.token(user.pk, scope)])


@pytest.fixture
def mail_client():
    """A mail client's one-click POST: no session, no CSRF token, checks enforced."""
    return Client(enforce_csrf_checks=True)


def one_click(mail_client, url):
    return mail_client.post(url, data=ONE_CLICK, content_type="application/x-www-form-urlencoded")


def preference_of(user) -> EmailPreference | None:
    return EmailPreference.objects.filter(user=user).first()


def old_token(user_id: int, scope: str, *, days: float) -> str:
    """A link as it was made ``days`` ago (signing's own timestamp, moved back)."""

    class Then(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time() - days * 24 * 3600))

    return Then(salt=links.SALT).sign_object([user_id, scope], compress=False)


def test_headers_name_the_link_and_one_click(member, settings):
    headers = links.headers(member.pk, "all")
    assert headers["List-Unsubscribe-Post"] == ONE_CLICK
    link = headers["List-Unsubscribe"]
    prefix = settings.SITE_URL + reverse("notifications:unsubscribe", args=["x"])[:-2]
    assert link.startswith(f"<{prefix}") and link.endswith("/>")
    assert links.read(link[len(prefix) + 1 : -2]) == (member.pk, "all")
    assert links.read(links.token(member.pk, "kind:mention")) == (member.pk, "kind:mention")


def test_unsubscribe_get_asks_and_changes_nothing(mail_client, member):
    response = mail_client.get(path(member, "all"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Stop getting all notification emails and summaries?" in html
    assert '<form method="post"' in html
    assert preference_of(member) is None
    assert mail_client.head(path(member, "all")).status_code == 200
    assert preference_of(member) is None


def test_unsubscribe_one_click_all_turns_email_off(mail_client, member):
    response = one_click(mail_client, path(member, "all"))
    assert response.status_code == 200
    assert "Done: you will no longer get all notification emails and summaries." in (
        response.content.decode()
    )
    preference = preference_of(member)
    assert preference.enabled is False
    assert preference.digest == Digest.WEEKLY  # only what the link names
    assert not preference.wants(Kind.MENTION)


def test_unsubscribe_one_click_digest_turns_summaries_off(mail_client, member):
    from notifications import services

    preference = services.email_preference(member)
    preference.digest_due_at = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    preference.save()
    assert one_click(mail_client, path(member, "digest")).status_code == 200
    preference.refresh_from_db()
    assert preference.digest == Digest.OFF
    assert preference.enabled is True
    assert preference.digest_due_at is None


def test_unsubscribe_one_click_kind_turns_that_kind_off(mail_client, member):
    assert one_click(mail_client, path(member, "kind:reply")).status_code == 200
    preference = preference_of(member)
    assert preference.kinds_off == [Kind.REPLY]
    assert preference.enabled is True
    assert not preference.wants(Kind.REPLY)
    assert preference.wants(Kind.MENTION)


def test_unsubscribe_one_click_thread_sets_mentions_only(mail_client, member, thread):
    from discussions.models import Subscription

    assert Subscription.objects.filter(user=member, thread=thread).exists()  # its starter
    assert one_click(mail_client, path(member, f"thread:{thread.pk}")).status_code == 200
    assert ThreadLevel.objects.get(user=member, thread=thread).level == Level.MENTIONS
    assert preference_of(member) is None  # nothing else changed


def test_unsubscribe_from_the_page_button(client, member):
    """The page's own form (no CSRF token: the signed link is the authority)."""
    client.get(path(member, "kind:mention"))
    response = client.post(path(member, "kind:mention"))
    assert response.status_code == 200
    assert preference_of(member).kinds_off == [Kind.MENTION]


def test_unsubscribe_twice_is_fine(mail_client, member, thread):
    for scope in ("all", "digest", "kind:report", f"thread:{thread.pk}"):
        assert one_click(mail_client, path(member, scope)).status_code == 200
        assert one_click(mail_client, path(member, scope)).status_code == 200
    preference = preference_of(member)
    assert preference.kinds_off == [Kind.REPORT]
    assert ThreadLevel.objects.filter(user=member).count() == 1


@pytest.mark.parametrize("method", ["get", "post"])
def test_unsubscribe_tampered_link_is_refused(mail_client, member, other_member, method):
    good = links.token(member.pk, "all")
    _payload, _sep, rest = good.partition(":")
    forged = signing.b64_encode(f'[{other_member.pk},"all"]'.encode()).decode()
    for token in (
        f"{forged}:{rest}",  # someone else's id under member's signature
        good[:-1] + ("A" if good[-1] != "A" else "B"),  # the signature altered
        "nonsense",
        links.token(member.pk, "everything"),  # signed, but no scope we know
        signing.dumps([member.pk, "all"], salt="another.salt"),
    ):
        url = reverse("notifications:unsubscribe", args=[token])
        response = one_click(mail_client, url) if method == "post" else mail_client.get(url)
        assert response.status_code == 400, token
        assert "This unsubscribe link is not valid. Nothing was changed." in (
            response.content.decode()
        )
    assert not EmailPreference.objects.exists()


def test_unsubscribe_expired_link_is_refused(mail_client, member, settings):
    settings.UNSUBSCRIBE_MAX_AGE_DAYS = 90
    fresh = old_token(member.pk, "all", days=89)
    assert (
        one_click(mail_client, reverse("notifications:unsubscribe", args=[fresh])).status_code
        == 200
    )
    EmailPreference.objects.all().delete()
    expired = old_token(member.pk, "all", days=91)
    url = reverse("notifications:unsubscribe", args=[expired])
    for response in (mail_client.get(url), one_click(mail_client, url)):
        assert response.status_code == 400
        assert "This unsubscribe link has expired. Nothing was changed." in (
            response.content.decode()
        )
    assert not EmailPreference.objects.exists()


def test_unsubscribe_expiry_follows_the_setting(mail_client, member, settings):
    url = path(member, "all")
    settings.UNSUBSCRIBE_MAX_AGE_DAYS = 0
    time.sleep(1.1)  # signing counts whole seconds
    assert one_click(mail_client, url).status_code == 400
    assert not EmailPreference.objects.exists()


@pytest.mark.parametrize(
    "scope",
    ["kind:gossip", "kind:", "thread:999999", "thread:abc", "thread:²", "thread:" + "9" * 30],
)
def test_unsubscribe_unknown_kind_or_thread_changes_nothing(mail_client, member, scope):
    response = one_click(mail_client, path(member, scope))
    assert response.status_code == 400
    assert "Nothing was changed." in response.content.decode()
    assert not EmailPreference.objects.exists()
    assert not ThreadLevel.objects.exists()


def test_unsubscribe_deleted_thread_changes_nothing(mail_client, member, thread):
    url = path(member, f"thread:{thread.pk}")
    thread.delete()
    assert one_click(mail_client, url).status_code == 400
    assert not ThreadLevel.objects.exists()


def test_unsubscribe_inactive_or_deleted_person_changes_nothing(mail_client, member, guest):
    member.is_active = False
    member.save()
    assert one_click(mail_client, path(member, "all")).status_code == 400
    url = path(guest, "all")
    guest.delete()
    assert one_click(mail_client, url).status_code == 400
    assert not EmailPreference.objects.exists()


def test_unsubscribe_page_links_to_the_preferences(mail_client, member):
    html = one_click(mail_client, path(member, "all")).content.decode()
    assert reverse("notifications:preferences") in html
