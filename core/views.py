import logging
import sys

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults
from django.views.decorators.cache import never_cache

from .outage import DATABASE_UNAVAILABLE, describe

logger = logging.getLogger(__name__)

# Seconds after which a client may try again (the Retry-After of a 503).
RETRY_AFTER = 30


@login_not_required
@never_cache
def health(request):
    """Liveness and readiness for the proxy and the orchestrator: the database answers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return JsonResponse({"status": "error", "database": False}, status=503)
    return JsonResponse({"status": "ok"})


def server_error(request, template_name="500.html"):
    """The handler500: a database that cannot be reached is no error of this
    code but an outage, so it is answered 503 "temporarily unavailable, try
    again" (templates/503.html, rendered without touching the database) with
    Retry-After, and logged as one line without a traceback. Any other error
    is Django's 500."""
    error = sys.exc_info()[1]
    if not isinstance(error, DATABASE_UNAVAILABLE):
        return defaults.server_error(request, template_name)
    logger.warning(
        "Database unavailable, answered 503: %s %s (%s)",
        request.method,
        request.path,
        describe(error),
    )
    response = HttpResponse(
        loader.get_template("503.html").render(), status=503, content_type="text/html"
    )
    response["Retry-After"] = str(RETRY_AFTER)
    response["Cache-Control"] = "no-store"
    # Logged above: Django's own log line would repeat it with the traceback.
    response._has_been_logged = True
    return response
