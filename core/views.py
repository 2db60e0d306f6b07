from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from accounts.services import language_set


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


@login_not_required
@require_POST
def set_language(request):
    """Django's language switch, open to everyone; a signed-in user's choice is
    also kept in their profile."""
    response = django_set_language(request)
    language = request.POST.get("language")
    if request.user.is_authenticated and language in dict(settings.LANGUAGES):
        language_set(user=request.user, language=language)
    return response
