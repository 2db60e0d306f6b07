"""Demo data of the public pages, hooked into ``manage.py seed_demo``: the
process's introduction in both languages, and some demo people listed."""

from core import hooks

from .models import Introduction

DEMO_INTRODUCTIONS = {
    "en": (
        "Migration conference 2027: the pre-working groups",
        "Four working groups prepare the key themes of the conference between their "
        "meetings. Their **webinars are open to everyone**, their interim results are "
        "published here, and anyone interested can ask to join.",
    ),
    "de": (
        "Migrationskonferenz 2027: die Vorbereitungsgruppen",
        "Vier Arbeitsgruppen bereiten zwischen ihren Treffen die Schwerpunktthemen der "
        "Konferenz vor. Ihre **Webinare stehen allen offen**, ihre Zwischenergebnisse "
        "werden hier veröffentlicht, und wer sich dafür interessiert, kann um Aufnahme "
        "bitten.",
    ),
}

# Demo people listed on their groups' public pages, with what they show.
DEMO_LISTED = {
    "moderator1": ["public_affiliation", "public_sector", "public_country"],
    "member1": ["public_affiliation", "public_country", "public_bio"],
    "member3": [],
}


def seed_public(users: dict) -> None:
    for language, (name, text) in DEMO_INTRODUCTIONS.items():
        Introduction.objects.update_or_create(
            language=language, defaults={"name": name, "text": text}
        )
    for key, choices in DEMO_LISTED.items():
        user = users.get(key)
        if user is None:
            continue
        user.public_name = True
        for choice in choices:
            setattr(user, choice, True)
        user.save(update_fields=["public_name", *choices])
    # Runs after the other seeders: a running server drops its public pages
    # for what all of them wrote.
    hooks.call("public.changed", group_id=None)
