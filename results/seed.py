"""Demo data of the results app, hooked into ``manage.py seed_demo``.

Each demo group gets an interim result published in two versions, with a
draft of further changes, and a recommendation still in draft. Written as
rows, not through the services: these ask the acting moderator for
two-factor authentication, which the demo people have not set up. Running it
again changes nothing.
"""

import datetime

from django.utils import timezone

from groups.models import WorkingGroup
from groups.seed import DEMO_GROUPS

from .models import Kind, Result, ResultVersion

V1 = """## What we found

Across the corridors we looked at, **recruitment fees** remain the main
driver of debt among migrant workers.

## What we propose

1. Ban recruitment fees charged to workers.
2. Check recruitment agencies.
"""
V2 = V1.replace("2. Check recruitment agencies.", "2. Check recruitment agencies twice a year.")
DRAFT = V2 + "3. Publish the list of agencies checked.\n"


def seed_results(users: dict) -> None:
    now = timezone.now().replace(second=0, microsecond=0)
    for slug, _name, _theme, moderator_key in DEMO_GROUPS:
        group = WorkingGroup.objects.get(slug=slug)
        moderator = users[moderator_key]
        result, created = Result.objects.get_or_create(
            group=group,
            slug="interim-findings",
            defaults={
                "kind": Kind.INTERIM,
                "title": "Interim findings",
                "summary": "What the group found so far, and what it proposes.",
                "body": DRAFT,
                "created_by": moderator,
            },
        )
        if created:
            for number, body, change in (
                (1, V1, "First public version"),
                (2, V2, "Checks made regular"),
            ):
                ResultVersion.objects.create(
                    result=result,
                    number=number,
                    kind=result.kind,
                    title=result.title,
                    summary=result.summary,
                    body=body,
                    change_summary=change,
                    published_at=now - datetime.timedelta(days=10 - 5 * number),
                    published_by=moderator,
                )
            result.latest_number = 2
            result.published_at = now
            result.save(update_fields=["latest_number", "published_at"])
        Result.objects.get_or_create(
            group=group,
            slug="recommendations",
            defaults={
                "kind": Kind.RECOMMENDATION,
                "title": "Recommendations for action",
                "summary": "A first outline, for the group's comments.",
                "body": "## Recommendations\n\n- To be discussed in the next session.\n",
                "created_by": moderator,
            },
        )
