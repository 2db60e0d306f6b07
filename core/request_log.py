"""One log line per refused request; tracebacks only for real errors.

Django logs every response of 400 or more through ``django.request`` (or a
``django.security.*`` logger for a bad host, a CSRF failure and the like), and
a refusal raised as an exception (``PermissionDenied``, a suspicious
operation) with its whole traceback, although nothing went wrong. The
``RefusedRequestFilter`` on the console handler turns each such record under
500 into one line::

    Refused 403 GET /groups/crises/manage/ user=12: Forbidden (Permission denied)

with the user's id (never the email address; ``-`` for a visitor). Records
of 500 and more, and every other logger's, pass unchanged: a real error keeps
its traceback.
"""

import logging

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.utils.functional import empty

REFUSAL_LOGGERS = ("django.request", "django.security")


class RefusedRequestFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool | logging.LogRecord:
        status = getattr(record, "status_code", None)
        if (
            not isinstance(status, int)
            or not 400 <= status < 500
            or not record.name.startswith(REFUSAL_LOGGERS)
        ):
            return True
        request = getattr(record, "request", None)
        method = getattr(request, "method", None) or "-"
        path = getattr(request, "path", None) or "-"
        reason = record.getMessage()
        reason = reason.removesuffix(f": {path}")
        # A copy: other handlers (a test's, an error tracker's) keep the original.
        line = logging.makeLogRecord(record.__dict__)
        line.msg = "Refused %s %s %s user=%s: %s"
        line.args = (status, method, path, _user_id(request), reason)
        line.exc_info = line.exc_text = line.stack_info = None
        return line


def _user_id(request) -> str:
    """The signed-in user's id as far as the request already knows it: the log
    runs after the response, possibly in another thread, so it reads no
    session and no user from the database."""
    if request is None:
        return "-"
    user = request.__dict__.get("user")  # AuthenticationMiddleware's lazy object
    wrapped = getattr(user, "_wrapped", user)
    if wrapped is not None and wrapped is not empty:
        return str(wrapped.pk) if wrapped.is_authenticated else "-"
    if settings.SESSION_COOKIE_NAME not in getattr(request, "COOKIES", {}):
        return "-"
    session = getattr(request, "session", None)
    if session is not None and session.accessed:  # loaded already: read without a query
        return str(session.get(SESSION_KEY) or "-")
    return "?"  # a session cookie nobody looked at during the request
