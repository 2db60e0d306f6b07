from django import template
from django.utils.safestring import mark_safe

from core import markdown as pipeline

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> str:
    """Renders Markdown through the one sanitising pipeline."""
    return mark_safe(pipeline.render(text or ""))  # noqa: S308 - sanitised by nh3
