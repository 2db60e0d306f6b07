"""The socket's origin check: only the site's own pages may open a socket.

A browser sends the ``Origin`` of the page that opens a WebSocket, and the
session cookie goes with it whatever that page is. So the socket is accepted
only from the site's own origins, each compared as scheme, host and port:

- the origin of ``SITE_URL`` (the address people reach the workspace at);
- each of ``CSRF_TRUSTED_ORIGINS``, the origins the site's forms are trusted
  from; an entry ``https://*.example.org`` stands for that domain and its
  subdomains over https, as for Django's CSRF check.

A missing, ``null``, unparsable or any other origin is refused before the
application sees the connection. (Channels' ``AllowedHostsOriginValidator``
compares the host alone, so another port or scheme of the same host passed.)
The settings are read on every connection, never at import.
"""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.utils.http import is_same_domain

DEFAULT_PORTS = {"http": 80, "https": 443}


def _parts(address: str, *, bare: bool = False) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) address, lower case, with the
    scheme's default port filled in; None if it is none. ``bare``: only an
    origin as browsers send it (no user, path, query or fragment)."""
    try:
        parts = urlsplit(address.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    if bare and (
        "@" in parts.netloc or parts.path not in ("", "/") or parts.query or parts.fragment
    ):
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def site_origins() -> tuple[set[tuple[str, str, int]], list[tuple[str, str]]]:
    """The accepted origins: exact (scheme, host, port) triples, and
    (scheme, domain pattern) pairs from wildcard entries of
    ``CSRF_TRUSTED_ORIGINS`` (the pattern as ``is_same_domain`` takes it)."""
    exact, wildcards = set(), []
    for address in [settings.SITE_URL, *settings.CSRF_TRUSTED_ORIGINS]:
        if "://*" in address:
            scheme, _, netloc = address.partition("://")
            wildcards.append((scheme.lower(), netloc[1:].lower()))
        elif (parts := _parts(address)) is not None:
            exact.add(parts)
    return exact, wildcards


def origin_allowed(origin: str | None) -> bool:
    """Whether ``origin`` (the Origin header's value) is one of the site's own."""
    if not origin:
        return False
    parts = _parts(origin, bare=True)
    if parts is None:
        return False
    exact, wildcards = site_origins()
    if parts in exact:
        return True
    scheme = parts[0]
    netloc = urlsplit(origin.strip()).netloc.lower()
    return any(
        scheme == allowed and is_same_domain(netloc, pattern) for allowed, pattern in wildcards
    )


def _origin(scope) -> str | None:
    values = [value for name, value in scope.get("headers", ()) if name == b"origin"]
    if len(values) != 1:
        return None  # none, or several: neither names one page
    return values[0].decode("latin-1")


class SiteOriginValidator:
    """ASGI middleware for WebSocket connections: refuses (closes before
    accepting) any connection whose ``Origin`` is not one of the site's
    own (``origin_allowed``)."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(_origin(scope)):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
