"""Emails of the groups app, rendered in the recipient's language (HTML and
text) and queued in the outbox (``core.outbox``): call them inside the
transaction of the change, which they commit with; the worker sends them."""

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from core.outbox import email_queue


def _send(*, to: str, language: str, template: str, context: dict, key: str) -> None:
    with translation.override(language):
        context = {**context, "site_url": settings.SITE_URL}
        subject = render_to_string(f"groups/email/{template}_subject.txt", context).strip()
        text = render_to_string(f"groups/email/{template}.txt", context)
        html = render_to_string(f"groups/email/{template}.html", context)
    email_queue(to=to, language=language, subject=subject, text=text, html=html, key=key)


def send_invitation(invitation, token: str) -> None:
    link = settings.SITE_URL + reverse("groups:invitation", kwargs={"token": token})
    _send(
        to=invitation.email,
        language=invitation.language,
        template="invitation",
        context={"invitation": invitation, "group": invitation.group, "link": link},
        # One email per link sent (a resend makes a new link).
        key=f"groups.invitation:{invitation.token_hash}",
    )


def send_join_request_declined(join_request) -> None:
    _send(
        to=join_request.email,
        language=join_request.language,
        template="join_request_declined",
        context={"join_request": join_request, "group": join_request.group},
        key=f"groups.join_request_declined:{join_request.pk}",
    )
