"""Migrations are tested forward from the first release's schema with data in it.

The first release's schema is each app's first migration (the 0001 of every
app of the project; Django's and the libraries' apps at what those need).
The test takes the database back to nothing, migrates it to that schema,
writes rows with the historical models of that state (as the first release
would have: a person, a group with a membership, a thread with posts, a
document with a version, a meeting with its chat), migrates to the latest
state, and reads and writes the same data through today's models and
services. It leaves the database migrated to the latest state.
"""

import datetime
import hashlib

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from discussions import selectors as discussion_selectors
from discussions import services as discussions
from discussions.models import Post, Thread
from documents import permissions as document_permissions
from documents.models import DocumentVersion
from groups import permissions as group_permissions
from groups.models import Membership, Role
from meetings import services as meetings
from meetings.models import ChatMessage, Meeting
from notifications.models import Notification

PROJECT_APPS = [
    "core",
    "accounts",
    "groups",
    "discussions",
    "documents",
    "meetings",
    "webinars",
    "results",
    "notifications",
    "public_pages",
]


def _executor() -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    return executor


def first_migrations(executor: MigrationExecutor) -> list[tuple[str, str]]:
    """Each project app's first migration: the root of its chain in the graph."""
    graph = executor.loader.graph
    targets = []
    for app in PROJECT_APPS:
        roots = graph.root_nodes(app)  # no parent within the app
        assert len(roots) == 1, (app, roots)
        targets.append(roots[0])
    return targets


def _drop_everything() -> None:
    """Drops every table, as in a database just created. (Unapplying every
    migration is not possible: some of the libraries' are irreversible.)"""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in connection.introspection.table_names():
                cursor.execute(f"DROP TABLE IF EXISTS {quote(table)} CASCADE")
        else:
            cursor.execute("PRAGMA foreign_keys = OFF")
            for table in connection.introspection.table_names():
                cursor.execute(f"DROP TABLE IF EXISTS {quote(table)}")
            cursor.execute("PRAGMA foreign_keys = ON")
    assert connection.introspection.table_names() == []


@pytest.mark.django_db(transaction=True)
def test_migrations_carry_first_release_data_to_today(media_root):
    _drop_everything()  # an empty database
    executor = _executor()
    first = first_migrations(executor)
    executor.migrate(first)
    old = _executor().loader.project_state(first).apps  # the models as they were then
    assert ("documents", "0001_initial") in first

    User = old.get_model("accounts", "User")
    WorkingGroup = old.get_model("groups", "WorkingGroup")
    OldMembership = old.get_model("groups", "Membership")
    OldThread = old.get_model("discussions", "Thread")
    OldPost = old.get_model("discussions", "Post")
    Document = old.get_model("documents", "Document")
    OldVersion = old.get_model("documents", "DocumentVersion")
    OldMeeting = old.get_model("meetings", "Meeting")
    ChatRoom = old.get_model("meetings", "ChatRoom")
    OldMessage = old.get_model("meetings", "ChatMessage")
    StreamCounter = old.get_model("core", "StreamCounter")

    now = timezone.now()
    person = User.objects.create(email="early@example.org", password="!", display_name="Early")
    other = User.objects.create(email="second@example.org", password="!", display_name="Second")
    group = WorkingGroup.objects.create(name="First group", slug="first-group")
    OldMembership.objects.create(user=person, group=group, role="member", active=True)
    OldMembership.objects.create(user=other, group=group, role="member", active=True)
    thread = OldThread.objects.create(
        group=group, author=person, title="From the first release", last_position=2, post_count=2
    )
    for position, body in ((1, "The first post."), (2, "A reply.")):
        OldPost.objects.create(
            thread=thread,
            author=person,
            position=position,
            path=f"{position:06d}",
            body=body,
            body_html=f"<p>{body}</p>",
            search_text=body,
        )
    content = b"first release bytes\n"
    (media_root / "documents").mkdir()
    (media_root / "documents" / "first").write_bytes(content)
    document = Document.objects.create(group=group, title="Old paper", created_by=person)
    version = OldVersion.objects.create(
        document=document,
        number=1,
        file="documents/first",
        original_filename="paper.txt",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        content_type="text/plain",
        uploaded_by=person,
    )
    document.current_version = version
    document.save()
    meeting = OldMeeting.objects.create(
        group=group,
        title="First session",
        starts_at=now - datetime.timedelta(minutes=10),
        ends_at=now + datetime.timedelta(hours=1),
        created_by=person,
    )
    room = ChatRoom.objects.create(group=group, meeting=meeting)
    for seq in (1, 2):
        OldMessage.objects.create(
            room=room, author=person, body=f"hello {seq}", body_html=f"<p>hello {seq}</p>", seq=seq
        )
    StreamCounter.objects.create(stream=f"room:{room.pk}", last_seq=2)

    executor = _executor()
    executor.migrate(executor.loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()
    assert not _executor().migration_plan(_executor().loader.graph.leaf_nodes())

    # Today's models read the old rows...
    from accounts.models import User as Person

    early = Person.objects.get(email="early@example.org")
    second = Person.objects.get(email="second@example.org")
    membership = Membership.objects.get(user=early)
    assert membership.role == Role.MEMBER and group_permissions.is_member(early, membership.group)
    old_thread = Thread.objects.get(title="From the first release")
    assert [p.body for p in Post.objects.filter(thread=old_thread).order_by("position")] == [
        "The first post.",
        "A reply.",
    ]
    threads = discussion_selectors.thread_list(early, membership.group)
    assert old_thread.pk in {t.pk for t in threads}
    visible = document_permissions.documents_visible_to(early).get(title="Old paper")
    old_version = DocumentVersion.objects.get(document=visible)
    assert visible.current_version_id == old_version.pk
    with old_version.file.open("rb") as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == old_version.sha256
    old_meeting = Meeting.objects.get(title="First session")
    assert old_meeting.status == Meeting.Status.SCHEDULED

    # ... and today's services write on top of them.
    reply = discussions.post_create(
        actor=second, thread=old_thread, body="A reply written today @Early"
    )
    assert reply.position == 3
    assert Thread.objects.get(pk=old_thread.pk).post_count == 3
    assert Notification.objects.filter(recipient=early).exists()
    message = meetings.message_send(
        actor=second, room=meetings.meeting_room(old_meeting), body="hello today"
    )
    assert message.seq == 3
    assert list(ChatMessage.objects.filter(room=message.room).values_list("seq", flat=True)) == [
        1,
        2,
        3,
    ]
