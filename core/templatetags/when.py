from django import template

from core.when import when_html

register = template.Library()


@register.simple_tag(name="when")
def when_tag(value):
    """``{% when post.created_at %}``: when something happened, as
    ``core.when.when_html`` gives it (relative for the last day, exact
    otherwise, the exact time on hover)."""
    return when_html(value)
