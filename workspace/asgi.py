"""ASGI entry point: daphne serves HTTP and the WebSocket from here."""

import os

from core.daphne_http import http_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")
# get_asgi_application(), with body messages of up to 1 MB and the daphne
# patches of core.daphne_http that are switched on (settings) and tested for
# the installed versions (core.checks).
django_asgi_app = http_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from core.origins import SiteOriginValidator  # noqa: E402
from core.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Only the site's own pages (scheme, host and port) open a socket.
        "websocket": SiteOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
