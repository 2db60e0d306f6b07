import datetime
import logging
import zoneinfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone, translation

logger = logging.getLogger(__name__)


class UserPreferencesMiddleware:
    """Activates the signed-in user's preferred language and time zone.

    Runs after LocaleMiddleware (which picked a language from the cookie or the
    browser) and AuthenticationMiddleware, so the profile wins when it says
    something.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            if user.language:
                translation.activate(user.language)
                request.LANGUAGE_CODE = user.language
            if user.time_zone:
                try:
                    timezone.activate(zoneinfo.ZoneInfo(user.time_zone))
                except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                    timezone.deactivate()
        response = self.get_response(request)
        timezone.deactivate()
        return response


class LastSeenMiddleware:
    """Records when a signed-in person was last in (``User.last_seen_at``,
    which digests ask: "have they been in since?"). At most one UPDATE every
    ``LAST_SEEN_UPDATE_SECONDS`` per person and no query on other requests:
    the user row is already loaded for the session.

    The same write, after commit, makes sure the worker's periodic chain runs
    (``core.tasks.sweep_ensure``): a workspace in use always has its
    reminders and digests, even if nothing started the chain."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = timezone.now()
            interval = datetime.timedelta(seconds=settings.LAST_SEEN_UPDATE_SECONDS)
            if user.last_seen_at is None or now - user.last_seen_at >= interval:
                get_user_model().objects.filter(pk=user.pk).update(last_seen_at=now)
                user.last_seen_at = now
                transaction.on_commit(_sweep_ensure)
        return self.get_response(request)


def _sweep_ensure() -> None:
    from core.tasks import sweep_ensure

    try:
        sweep_ensure()
    except Exception:
        # The person's page matters more; the next request tries again.
        logger.exception("Could not make sure the periodic chain runs")
