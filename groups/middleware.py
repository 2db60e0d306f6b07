from .decorators import mfa_gate
from .permissions import is_organiser


class OrganiserMFAMiddleware:
    """Organisers reach the admin only with two-factor authentication turned
    on (``mfa_gate``, as for every moderator action)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and request.path.startswith("/admin/")
            and is_organiser(user)
            and (refused := mfa_gate(request))
        ):
            return refused
        return self.get_response(request)
