"""Demo data of the discussions app, hooked into ``manage.py seed_demo``.

Each demo group gets a few threads with nested replies, @mentions and
reactions, written through the services as the demo people (so read marks,
watches and notifications are what they would be). One group discusses in
German. A thread that exists already (same group and title) is left as it
is, so running it again changes nothing.
"""

from groups.models import WorkingGroup

from . import services
from .models import Thread

# group slug -> threads: (author, title, opening post, replies, reactions to
# the opening post); a reply is (author, text, index of the post it answers:
# 0 the opening post, 1 the first reply, ..., reactions [(person, kind)]).
THREADS = {
    "crises": [
        (
            "member1",
            "Displacement after the 2023 earthquakes: what the data shows",
            "The latest displacement figures for the region suggest that most people "
            "who left stayed within **50 km** of home. That fits what we saw after "
            "earlier disasters: short-distance, temporary moves first.\n\n"
            "Which sources are we using for the chapter on compounding crises?",
            [
                (
                    "member3",
                    "Our field teams saw the same. Families moved in with relatives in "
                    "the next town and went back as soon as schools reopened. The "
                    "official registers miss most of these moves.",
                    0,
                    [("member1", "thumbs_up"), ("moderator1", "thumbs_up")],
                ),
                (
                    "member2",
                    "For the labour side: employers in the region reported staff "
                    "shortages for about six months. @lucia-fernandez, do you know "
                    "whether people who went back found their old jobs?",
                    1,
                    [("member3", "eyes")],
                ),
                (
                    "member3",
                    "Mostly not in construction, where day labourers were replaced "
                    "quickly. I will ask our colleagues for numbers.",
                    2,
                    [("member2", "heart")],
                ),
                (
                    "moderator1",
                    "Thank you all. Let us collect the sources in the documents "
                    "folder *Background reading*, and @amira-haddad drafts the "
                    "paragraph for the next session.",
                    0,
                    [("member1", "celebrate")],
                ),
            ],
            [("member2", "thumbs_up"), ("member3", "thinking")],
        ),
        (
            "moderator1",
            "How do we define “multiple crises” in our recommendations?",
            "Before we write, we should agree on a working definition. Proposal: "
            "*two or more shocks that overlap in time and reinforce each other's "
            "effect on mobility* (for example conflict and food prices). Too narrow?",
            [
                (
                    "guest",
                    "From the humanitarian side I would add slow-onset crises, such "
                    "as drought, which rarely count as a “shock” but drive moves for years.",
                    0,
                    [("moderator1", "thumbs_up"), ("member1", "thumbs_up")],
                ),
                (
                    "member1",
                    "Agreed, @grace-guest. Then “shocks and stresses” instead of "
                    "“shocks”, as in the resilience literature.",
                    1,
                    [("guest", "heart")],
                ),
            ],
            [("member1", "thinking")],
        ),
    ],
    "climate-work": [
        (
            "member4",
            "Green transition jobs and labour migration",
            "Ghana's solar and battery projects need far more electricians than "
            "vocational schools train. Several companies recruit in neighbouring "
            "countries already. Should our group look at **skills partnerships** "
            "between sending and receiving countries?",
            [
                (
                    "member5",
                    "Yes. We tested an online training module with a partner in "
                    "Accra: 60 % finished it, but recognition of the certificate "
                    "was the real obstacle.",
                    0,
                    [("member4", "thumbs_up"), ("moderator2", "eyes")],
                ),
                (
                    "member2",
                    "German chambers recognise such certificates only case by case. "
                    "@sofia-rossi, could you share the module outline? I would show "
                    "it to our recognition office.",
                    1,
                    [("member5", "thumbs_up")],
                ),
                (
                    "member5",
                    "I uploaded the outline to the documents. Happy to present it at "
                    "the working session.",
                    2,
                    [("member2", "celebrate"), ("member4", "heart")],
                ),
            ],
            [("moderator2", "thumbs_up"), ("member5", "thumbs_up")],
        ),
        (
            "moderator2",
            "Planned relocation: examples for the webinar",
            "For the public webinar I would like two or three well-documented cases "
            "of planned relocation because of sea-level rise or flooding. Fiji "
            "and the Isle de Jean Charles come to mind. Other suggestions?",
            [
                (
                    "member4",
                    "Coastal communities near Keta in Ghana: several villages moved "
                    "inland after storm surges. There is a good study from the "
                    "University of Ghana.",
                    0,
                    [("moderator2", "thumbs_up")],
                ),
                (
                    "member2",
                    "Less a relocation than a warning: the Halligen in the North Sea, "
                    "where the debate has started. @malik-moderator, shall I ask a "
                    "speaker from the district?",
                    0,
                    [("moderator2", "thinking")],
                ),
            ],
            [],
        ),
    ],
    "fair-migration": [
        (
            "member3",
            "Recruitment fees: zero-fee policies in practice",
            "The ILO's General Principles say workers should not pay recruitment "
            "fees or related costs. In practice, many still pay for visas, medical "
            "checks and transport. Which zero-fee policies have actually worked?",
            [
                (
                    "member4",
                    "Ghana's licensing of recruitment agencies helped a little, but "
                    "fees simply moved to sub-agents in the villages.",
                    0,
                    [("member3", "thumbs_up"), ("member1", "eyes")],
                ),
                (
                    "member1",
                    "The employer-pays model works where the **buyer** enforces it: "
                    "some garment brands now audit their suppliers' recruitment. "
                    "@kwame-mensah, does the ministry track the sub-agents?",
                    1,
                    [("member4", "thumbs_up")],
                ),
                (
                    "member4",
                    "Only those registered. We estimate two thirds work informally.",
                    2,
                    [("member1", "thinking"), ("member3", "eyes")],
                ),
                (
                    "moderator1",
                    "This belongs in our interim findings. I added a line on "
                    "sub-agents to the draft.",
                    0,
                    [("member3", "celebrate")],
                ),
            ],
            [("moderator1", "thumbs_up"), ("member4", "thumbs_up"), ("member1", "heart")],
        ),
        (
            "member1",
            "Complaint mechanisms along the corridor",
            "Where can a worker complain when a promise made at recruitment is "
            "broken abroad? I would like to map the mechanisms along the Lebanon, "
            "Gulf and Europe corridors for our next session.",
            [
                (
                    "member3",
                    "The Red Cross runs help desks in several transit countries. I "
                    "can add their contacts.",
                    0,
                    [("member1", "heart")],
                ),
            ],
            [("moderator1", "eyes")],
        ),
    ],
    # This group discusses in German.
    "future-of-migration": [
        (
            "member5",
            "Szenarien 2040: welche Treiber gewichten wir?",
            "Für die Szenarien brauchen wir eine gemeinsame Liste der Treiber. "
            "Mein Vorschlag: **Demografie**, Klimawandel, Digitalisierung der Arbeit "
            "und politische Stabilität. Fehlt etwas Wichtiges?",
            [
                (
                    "member1",
                    "Ich würde Bildung ergänzen: Wer studiert, wandert anders. Die "
                    "Hochschulmigration nach Europa hat sich in zehn Jahren fast "
                    "verdoppelt.",
                    0,
                    [("member5", "thumbs_up"), ("moderator2", "thumbs_up")],
                ),
                (
                    "moderator2",
                    "Guter Punkt. @sofia-rossi, kannst du die Liste im Dokument "
                    "„Szenarien-Entwurf“ nachtragen?",
                    1,
                    [("member5", "thumbs_up")],
                ),
                (
                    "member5",
                    "Erledigt, Version 2 liegt im Ordner *Entwürfe*.",
                    2,
                    [("moderator2", "celebrate"), ("member1", "heart")],
                ),
            ],
            [("member1", "thinking")],
        ),
        (
            "moderator2",
            "Chancen der Migration für ländliche Regionen",
            "Viele ländliche Regionen verlieren junge Menschen. Wo hat Zuwanderung "
            "Schulen, Praxen oder Betriebe erhalten? Beispiele aus euren Ländern "
            "sind willkommen.",
            [
                (
                    "member5",
                    "In Riace (Kalabrien) hat die Aufnahme Geflüchteter das Dorf "
                    "jahrelang belebt, mit allen politischen Folgen.",
                    0,
                    [("moderator2", "eyes")],
                ),
            ],
            [],
        ),
    ],
}


def seed_discussions(users: dict) -> None:
    for slug, threads in THREADS.items():
        group = WorkingGroup.objects.get(slug=slug)
        for author, title, body, replies, reactions in threads:
            if Thread.objects.filter(group=group, title=title).exists():
                continue
            thread = services.thread_create(
                actor=users[author], group=group, title=title, body=body
            )
            posts = [thread.posts.get()]
            _react(posts[0], reactions, users)
            for reply_author, text, parent, reply_reactions in replies:
                post = services.post_create(
                    actor=users[reply_author], thread=thread, body=text, parent=posts[parent]
                )
                posts.append(post)
                _react(post, reply_reactions, users)


def _react(post, reactions, users) -> None:
    for person, kind in reactions:
        services.reaction_toggle(actor=users[person], post=post, kind=kind)
