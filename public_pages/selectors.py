"""Reads for the public pages. Everything here is public by its nature: a
group's name and public summary, the people who chose to be listed (only the
fields they chose), counts, and the sections the lower apps publish."""

import datetime
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from accounts.models import PUBLIC_PROFILE_FIELDS, Sector
from groups.models import Membership, WorkingGroup

from .models import Introduction

# The sectors shown in a group's mix; anything else (or nothing given) is
# counted together as "other".
MIX_SECTORS = [Sector.ACADEMIA, Sector.POLICY, Sector.BUSINESS, Sector.CIVIL_SOCIETY]


@dataclass
class ProcessIntroduction:
    name: str
    text: str  # Markdown


@dataclass
class SectorCount:
    label: str
    count: int


@dataclass
class SectorMix:
    total: int
    sectors: list[SectorCount] = field(default_factory=list)


def introduction(language: str | None = None) -> ProcessIntroduction:
    """The process's name and introduction in ``language`` (the active one by
    default), else in the site's default language, else a general text."""
    language = language or get_language()
    rows = {
        row.language: row
        for row in Introduction.objects.filter(language__in={language, settings.LANGUAGE_CODE})
    }
    row = rows.get(language) or rows.get(settings.LANGUAGE_CODE)
    if row is not None:
        return ProcessIntroduction(name=row.name, text=row.text)
    return ProcessIntroduction(
        name=_("Working groups"),
        text=_(
            "The working groups prepare the themes of a conference together, between "
            "their meetings. Their webinars are open to everyone, their results are "
            "published here, and anyone interested can ask to join."
        ),
    )


def public_groups() -> list[WorkingGroup]:
    """Every working group, by name, with only what the public sees of it."""
    return list(WorkingGroup.objects.only("name", "slug", "public_summary", "archived"))


def public_group(slug: str) -> WorkingGroup | None:
    return (
        WorkingGroup.objects.only("name", "slug", "public_summary", "archived")
        .filter(slug=slug)
        .first()
    )


def _valid_people(group: WorkingGroup):
    """The group's people with a valid membership (a guest only before the
    end of their access), active accounts only."""
    return Membership.objects.valid().filter(group=group, user__is_active=True)


def listed_people(group: WorkingGroup) -> list[dict]:
    """The people of ``group`` who chose to be listed by name, each as a dict
    of the fields they chose to show (name always; affiliation, sector label,
    country, bio when chosen). Nothing else of the person leaves here."""
    people = []
    values = [f"user__{f}" for pair in PUBLIC_PROFILE_FIELDS.items() for f in pair]
    rows = (
        _valid_people(group)
        .filter(user__public_name=True)
        .order_by("user__display_name", "user__pk")
        .values(*values)
    )
    for row in rows:
        person = {}
        for choice, name in PUBLIC_PROFILE_FIELDS.items():
            if row[f"user__{choice}"] and row[f"user__{name}"]:
                person[name] = row[f"user__{name}"]
        if "display_name" not in person:
            # Chose to be listed without a display name: never their address.
            person["display_name"] = _("A member")
        if "sector" in person:
            person["sector"] = dict(Sector.choices).get(person["sector"], person["sector"])
        person["details"] = [
            person[name] for name in ("affiliation", "sector", "country") if name in person
        ]
        people.append(person)
    return people


def sector_mix(group: WorkingGroup) -> SectorMix:
    """How many of the group's people come from each sector: every valid
    membership counted, listed or not. Only counts are shown, so no unlisted
    person is named or described."""
    counts = dict(
        _valid_people(group)
        .values_list("user__sector")
        .annotate(n=Count("pk"))
        .values_list("user__sector", "n")
    )
    mix = SectorMix(total=sum(counts.values()))
    for sector in MIX_SECTORS:
        mix.sectors.append(SectorCount(label=sector.label, count=counts.pop(sector.value, 0)))
    mix.sectors.append(SectorCount(label=_("Other or not given"), count=sum(counts.values())))
    return mix


def seconds_until_next_change(group: WorkingGroup) -> float | None:
    """Seconds until the first guest's access in ``group`` ends, after which
    its page lists and counts one person fewer (None: no guest)."""
    end = _valid_people(group).aggregate(end=Min("expires_at"))["end"]
    if end is None:
        return None
    return max((end - timezone.now()) / datetime.timedelta(seconds=1), 1)


def sections(request, group: WorkingGroup | None = None) -> list[dict]:
    """The public sections the lower apps provide (``settings.PUBLIC_SECTIONS``:
    dotted paths of ``section(request, group=None) -> dict | None``), by their
    order. A section is public by contract: it is cached and shown to anyone,
    so it must not depend on who asks."""
    found = []
    for path in getattr(settings, "PUBLIC_SECTIONS", []):
        section = import_string(path)(request, group=group)
        if section is not None:
            found.append(section)
    return sorted(found, key=lambda section: section.get("order", 0))
