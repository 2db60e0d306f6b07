"""Demo data of the documents app, hooked into ``manage.py seed_demo``.

Each demo group gets two folders with a document in each, both in two
versions: small real files (Markdown and CSV), uploaded through the services
as the demo people, so they are checked, stored and counted as any upload.
A document that exists already (same group and title) is left as it is, so
running it again changes nothing.
"""

from django.core.files.uploadedfile import SimpleUploadedFile

from groups.models import WorkingGroup
from groups.seed import DEMO_GROUPS, DEMO_MEMBERS

from . import services
from .models import Document, Folder

READING_V1 = """# Background reading: {name}

- IOM, *World Migration Report 2024*, chapters 1 and 7.
- ILO, *General Principles and Operational Guidelines for Fair Recruitment* (2019).
- UNHCR, *Global Trends: Forced Displacement* (latest edition).
"""
READING_V2 = (
    READING_V1
    + """- OECD, *International Migration Outlook* (latest edition), the chapter on labour
  migration.
- Internal Displacement Monitoring Centre, *Global Report on Internal Displacement*.
"""
)

FIGURES_V1 = """indicator,2019,latest,latest year,source
international migrants (millions),272,281,2020,UN DESA
refugees and others in need of international protection (millions),26,43,2023,UNHCR
new displacements by disasters (millions),25,26,2023,IDMC
remittances to low and middle income countries (USD bn),548,656,2023,World Bank
"""
FIGURES_V2 = FIGURES_V1 + "migrant workers (millions),169,168,2022,ILO\n"

DRAFT_V1 = """# {name}: draft recommendations

## For governments

1. Make recruitment free for workers.
2. Recognise skills and qualifications across borders.

## For employers

1. Check recruitment along the whole supply chain.
"""
DRAFT_V2 = DRAFT_V1.replace(
    "2. Recognise skills and qualifications across borders.\n",
    "2. Recognise skills and qualifications across borders.\n"
    "3. Plan for mobility in climate adaptation strategies.\n",
)

# The group that works in German names its folders and documents in German.
NAMES = {
    "en": {
        "reading": "Background reading",
        "drafts": "Drafts",
        "reading_doc": "Reading list",
        "figures_doc": "Key figures",
        "draft_doc": "Draft recommendations",
    },
    "de": {
        "reading": "Hintergrund",
        "drafts": "Entwürfe",
        "reading_doc": "Leseliste",
        "figures_doc": "Eckdaten",
        "draft_doc": "Szenarien-Entwurf",
    },
}
GERMAN_GROUPS = {"future-of-migration"}


def seed_documents(users: dict) -> None:
    for slug, name, _theme, moderator_key in DEMO_GROUPS:
        group = WorkingGroup.objects.get(slug=slug)
        names = NAMES["de" if slug in GERMAN_GROUPS else "en"]
        moderator = users[moderator_key]
        member = users[DEMO_MEMBERS[slug][0]]
        other = users[DEMO_MEMBERS[slug][-1]]
        reading = _folder(group, names["reading"], moderator)
        drafts = _folder(group, names["drafts"], moderator)
        _document(
            group,
            reading,
            names["reading_doc"],
            member,
            ("reading-list.md", READING_V1.format(name=name), "First list"),
            ("reading-list.md", READING_V2.format(name=name), "Added OECD and IDMC reports"),
        )
        _document(
            group,
            reading,
            names["figures_doc"],
            other,
            ("key-figures.csv", FIGURES_V1, "Figures from the main reports"),
            ("key-figures.csv", FIGURES_V2, "Added migrant workers (ILO)"),
        )
        _document(
            group,
            drafts,
            names["draft_doc"],
            moderator,
            ("draft-recommendations.md", DRAFT_V1.format(name=name), "For the working session"),
            ("draft-recommendations.md", DRAFT_V2.format(name=name), "Added climate adaptation"),
        )


def _folder(group, name: str, actor) -> Folder:
    existing = Folder.objects.filter(group=group, parent=None, name=name).first()
    return existing or services.folder_create(actor=actor, group=group, name=name)


def _document(group, folder, title: str, actor, first, second) -> None:
    if Document.objects.filter(group=group, title=title).exists():
        return
    filename, text, note = first
    document = services.document_upload(
        actor=actor,
        group=group,
        uploaded=SimpleUploadedFile(filename, text.encode()),
        title=title,
        folder=folder,
        change_note=note,
    )
    filename, text, note = second
    services.version_add(
        actor=actor,
        document=document,
        uploaded=SimpleUploadedFile(filename, text.encode()),
        change_note=note,
    )
