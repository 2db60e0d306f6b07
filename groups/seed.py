"""Demo data of the groups app, hooked into ``manage.py seed_demo``."""

import datetime

from django.utils import timezone

from .models import Membership, Role, WorkingGroup

DEMO_GROUPS = [
    ("crises", "Impact of multiple crises on migration and mobility",
     "How overlapping crises — conflict, pandemics, economic shocks, disasters — "
     "shape who moves, where and how.", "moderator1"),
    ("climate-work", "Climate change, technology and the future of work",
     "Climate-related mobility, the green transition and digital work as drivers "
     "of migration.", "moderator2"),
    ("fair-migration", "Fair migration",
     "Fair recruitment, rights and decent work along migration corridors.", "moderator1"),
    ("future-of-migration", "The future of migration: drivers and opportunities",
     "Scenarios for migration in 2040 and the opportunities they open.", "moderator2"),
]  # fmt: skip

# Who is in which group, by demo-user key.
DEMO_MEMBERS = {
    "crises": ["member1", "member2", "member3"],
    "climate-work": ["member2", "member4", "member5"],
    "fair-migration": ["member1", "member3", "member4"],
    "future-of-migration": ["member5", "member1"],
}


def seed_groups(users: dict) -> None:
    for slug, name, theme, moderator in DEMO_GROUPS:
        group, _ = WorkingGroup.objects.update_or_create(
            slug=slug,
            defaults={
                "name": name,
                "description": f"## {name}\n\n{theme}\n\n*Pre-working group of the conference.*",
                "public_summary": theme,
            },
        )
        _member(group, users[moderator], Role.MODERATOR)
        for key in DEMO_MEMBERS[slug]:
            _member(group, users[key], Role.MEMBER)
    # The guest (an outside expert) takes part in one group for 30 days.
    crises = WorkingGroup.objects.get(slug="crises")
    _member(crises, users["guest"], Role.GUEST, timezone.now() + datetime.timedelta(days=30))


def _member(group, user, role, expires_at=None) -> None:
    Membership.objects.update_or_create(
        group=group,
        user=user,
        defaults={"role": role, "expires_at": expires_at, "active": True},
    )
