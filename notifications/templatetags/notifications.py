from django import template

from .. import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def unread_notifications(context) -> int:
    """The bell's count for the person viewing the page (0 when signed out)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    return selectors.unread_count(user)
