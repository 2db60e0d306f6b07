"""What every page's template may need from groups."""

from .decorators import MFA_RESUME
from .permissions import needs_mfa_to_moderate


def mfa_resume(request) -> dict:
    """``mfa_resume``: for a person whom ``mfa_gate`` sent to turn on
    two-factor authentication, whether it is on now (``ready``) and the page
    they came from (``url``); shown by the account pages' layout. Costs a
    query only while such a page is remembered."""
    session = getattr(request, "session", None)
    if session is None or not session.get(MFA_RESUME):
        return {}
    return {
        "mfa_resume": {
            "url": session[MFA_RESUME],
            "ready": not needs_mfa_to_moderate(request.user),
        }
    }
