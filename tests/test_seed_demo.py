"""``seed_demo`` fills every demo group with something to see (issue 15,
item 8): threads with nested replies, mentions and reactions, documents in
folders with two versions, a past meeting with published minutes and its
chat, the standing chat, an upcoming session with an open room, an upcoming
public webinar; run twice, it writes the same rows; and it mails nobody."""

import pytest
from django.core.management import call_command
from django.db.models import Count, Q
from django.utils import timezone

from core.models import OutboundEmail
from discussions.models import Post, Reaction, Thread
from documents.models import Document, DocumentVersion, Folder
from groups.models import WorkingGroup
from groups.seed import DEMO_GROUPS
from meetings.models import ChatMessage, ChatRoom, Meeting
from webinars.models import Webinar

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(media_root):
    """Uploaded files go to a fresh folder (tests.fixtures.media)."""


def counts() -> dict:
    return {
        model.__name__: model.objects.count()
        for model in (
            WorkingGroup,
            Thread,
            Post,
            Reaction,
            Folder,
            Document,
            DocumentVersion,
            Meeting,
            ChatRoom,
            ChatMessage,
            Webinar,
        )
    }


def test_seed_demo_twice_writes_the_same_rows():
    call_command("seed_demo", verbosity=0)
    first = counts()
    call_command("seed_demo", verbosity=0)
    assert counts() == first
    assert first["Thread"] >= 8 and first["DocumentVersion"] >= 2 * first["Document"]


def test_seed_demo_gives_every_group_something_of_every_kind():
    call_command("seed_demo", verbosity=0)
    now = timezone.now()
    for slug, *_rest in DEMO_GROUPS:
        group = WorkingGroup.objects.get(slug=slug)
        threads = Thread.objects.filter(group=group)
        assert threads.count() >= 2, slug
        # Nested replies: a reply to a reply.
        assert Post.objects.filter(thread__group=group, parent__parent__isnull=False).exists()
        assert Reaction.objects.filter(post__thread__group=group).count() >= 5, slug
        assert Post.objects.filter(thread__group=group, body_html__contains="mention").exists()
        documents = Document.objects.filter(group=group).annotate(n=Count("versions"))
        assert documents.count() >= 2 and all(d.n == 2 and d.folder_id for d in documents), slug
        meetings = Meeting.objects.filter(group=group)
        past = meetings.get(ends_at__lt=now, minutes_published_at__isnull=False)
        assert past.minutes
        assert ChatMessage.objects.filter(room__meeting=past).count() >= 5, slug
        assert ChatMessage.objects.filter(room__group=group, room__meeting=None).exists()
        session = meetings.get(kind=Meeting.Kind.SESSION, starts_at__gt=now)
        assert ChatRoom.objects.get(meeting=session).is_open()
        assert ChatMessage.objects.filter(room__meeting=session).exists()
        webinar = Webinar.objects.get(meeting__group=group)
        assert webinar.meeting.starts_at > now and webinar.published_at is not None


def test_seed_demo_mails_nobody():
    call_command("seed_demo", verbosity=0)
    assert not OutboundEmail.objects.filter(Q(sent_at__isnull=True) | Q(dropped=False)).exists()
