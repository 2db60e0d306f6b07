"""Signed unsubscribe links for notification emails (RFC 8058 one-click).

A link names a person and a scope, signed with the site's secret and dated:

- ``all``: no notification email or digest at all;
- ``digest``: no more summary emails;
- ``kind:<kind>``: no email of that kind of notification;
- ``thread:<pk>``: nothing more of that thread (its level becomes
  "mentions only").

It needs no sign-in: whoever holds the link may use it, as with every
mailing list. A link older than ``UNSUBSCRIBE_MAX_AGE_DAYS`` or altered in
any way is refused (``read`` raises ``BadLink``) and changes nothing.
"""

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "notifications.unsubscribe"
SCOPES = ("all", "digest")
PREFIXED_SCOPES = ("kind", "thread")


class BadLink(Exception):
    """The link was altered, names an unknown scope, or is too old."""

    def __init__(self, expired: bool = False):
        super().__init__("expired" if expired else "bad signature")
        self.expired = expired


def token(user_id: int, scope: str) -> str:
    return signing.dumps([user_id, scope], salt=SALT, compress=False)


def read(value: str) -> tuple[int, str]:
    """The (user id, scope) a link names; BadLink if it cannot be trusted."""
    max_age = settings.UNSUBSCRIBE_MAX_AGE_DAYS * 24 * 3600
    try:
        user_id, scope = signing.loads(value, salt=SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise BadLink(expired=True) from None
    except (signing.BadSignature, ValueError, TypeError):
        raise BadLink from None
    if not isinstance(user_id, int) or not isinstance(scope, str):
        raise BadLink
    prefix, _sep, _rest = scope.partition(":")
    if scope not in SCOPES and prefix not in PREFIXED_SCOPES:
        raise BadLink
    return user_id, scope


def url(user_id: int, scope: str) -> str:
    """The absolute address of the link."""
    return settings.SITE_URL + reverse("notifications:unsubscribe", args=[token(user_id, scope)])


def headers(user_id: int, scope: str, *, link: str = "") -> dict[str, str]:
    """The two headers (RFC 2369, RFC 8058) that let a mail client offer
    "unsubscribe" and do it with one POST (``link``: the link, if made already)."""
    link = link or url(user_id, scope)
    return {
        "List-Unsubscribe": f"<{link}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
