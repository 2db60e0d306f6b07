"""Backup and restore through the real stack: a workspace with data made through
the services, ``python manage.py backup`` and ``python manage.py restore`` run
as processes of their own, a restore into an empty database (a new SQLite file;
on PostgreSQL a database created here and dropped afterwards) and an empty
media folder, then every table's row count and every document version's bytes
compared. Bad archives and targets that are not empty are refused with nothing
written."""

import contextlib
import datetime
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path
from urllib.parse import quote

import pytest
from django.apps import apps
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from discussions import services as discussions
from documents import services as documents
from documents.models import DocumentVersion
from groups import services as groups
from groups.models import Role
from meetings import services as meetings
from notifications.models import Notification
from tests.fixtures.people import enable_mfa

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db(transaction=True)


def _url(name: str) -> str:
    """A DATABASE_URL for ``name`` on the test's own server (or a SQLite file)."""
    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{name}"
    credentials = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"])
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def manage(*args, database_url: str, media: Path, **env) -> subprocess.CompletedProcess:
    """``python manage.py ...`` as its own process, on the given database and media."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("S3_")},
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(media),
        "DEBUG": "1",
        "SECRET_KEY": "insecure-test-key",
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@contextlib.contextmanager
def empty_database(tmp_path: Path, label: str):
    """The DATABASE_URL of a new, empty database: a SQLite file, or on
    PostgreSQL a database created for the test and dropped afterwards."""
    if connection.vendor == "sqlite":
        path = tmp_path / f"{label}.sqlite3"
        path.touch()  # an empty file is an empty SQLite database
        yield _url(str(path))
        return
    import psycopg

    name = f"test_backup_restore_{os.getpid()}_{label}"
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params["dbname"] = "postgres"
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _url(name)
    finally:
        with psycopg.connect(**params, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def _raw(database_url: str):
    """A plain DB-API cursor on another database (not Django's connection)."""
    if database_url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(database_url[len("sqlite:///") :])) as conn:
            yield conn.cursor()
        return
    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params["dbname"] = database_url.rsplit("/", 1)[1]
    with psycopg.connect(**params) as conn, conn.cursor() as cursor:
        yield cursor


def tables() -> list[str]:
    """Every table of every model of every app (many-to-many tables too)."""
    return sorted(
        {
            model._meta.db_table
            for model in apps.get_models(include_auto_created=True)
            if model._meta.managed and not model._meta.proxy
        }
        | {"django_migrations"}
    )


def row_counts(cursor, names) -> dict[str, int]:
    counts = {}
    for table in names:
        cursor.execute(f'SELECT COUNT(*) FROM "{table}"')  # noqa: S608 (names from models)
        counts[table] = cursor.fetchone()[0]
    return counts


def existing_tables(database_url: str) -> list[str]:
    with _raw(database_url) as cursor:
        if database_url.startswith("sqlite:///"):
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        else:
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return sorted(row[0] for row in cursor.fetchall())


def files_under(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def upload(name: str, content: bytes):
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def pdf(text: str) -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        + f"% {text}\n".encode()
        + b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


@pytest.fixture
def workspace(make_user, media_root):
    """A workspace with data in it, every part made through its service: the
    demo data, then an organiser's group with a moderator, members and a
    guest, threads with replies and a mention, documents with two versions, a
    meeting with its chat, and the notifications all that caused."""
    call_command("seed_demo", verbosity=0)
    organiser = enable_mfa(make_user("boss@example.org", is_staff=True, display_name="Olga Boss"))
    group = groups.group_create(actor=organiser, name="Backup group", slug="backup-group")
    moderator = enable_mfa(make_user("mod@example.org", display_name="Max Mod"))
    groups.membership_create(actor=organiser, group=group, user=moderator, role=Role.MODERATOR)
    people = [make_user(f"m{i}@example.org", display_name=f"Member{i}") for i in range(3)]
    for person in people:
        groups.membership_create(actor=moderator, group=group, user=person, role=Role.MEMBER)
    guest = make_user("g@example.org", display_name="Gina Guest")
    groups.membership_create(
        actor=moderator,
        group=group,
        user=guest,
        role=Role.GUEST,
        expires_at=timezone.now() + datetime.timedelta(days=20),
    )
    for n in range(3):
        thread = discussions.thread_create(
            actor=people[n], group=group, title=f"Thread {n}", body=f"Opening post {n}"
        )
        first = discussions.post_create(actor=moderator, thread=thread, body="A reply @Member0")
        discussions.post_create(actor=guest, thread=thread, body="Nested", parent=first)
    for n in range(2):
        document = documents.document_upload(
            actor=people[n],
            group=group,
            uploaded=upload(f"d{n}.pdf", pdf(f"v1 {n}")),
            title=f"D{n}",
        )
        documents.version_add(
            actor=moderator, document=document, uploaded=upload(f"d{n}.pdf", pdf(f"v2 {n}"))
        )
    meeting = meetings.meeting_schedule(
        actor=moderator,
        group=group,
        data={
            "title": "Session",
            "starts_at": timezone.now() - datetime.timedelta(minutes=5),
            "ends_at": timezone.now() + datetime.timedelta(hours=1),
        },
    )
    room = meetings.meeting_room(meeting)
    for n, person in enumerate([moderator, *people]):
        meetings.message_send(actor=person, room=room, body=f"Chat message {n}")
    assert DocumentVersion.objects.filter(document__group=group).count() == 4
    assert Notification.objects.exists()
    return media_root


def source_url() -> str:
    return _url(settings.DATABASES["default"]["NAME"])


def test_backup_and_restore_keep_every_row_and_file(workspace, tmp_path):
    archive = tmp_path / "backups" / "workspace.tar"
    archive.parent.mkdir()
    made = manage("backup", str(archive), database_url=source_url(), media=workspace)
    assert made.returncode == 0, made.stderr
    assert archive.is_file()
    assert [p.name for p in archive.parent.iterdir()] == ["workspace.tar"]  # no temporary left
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert manifest["format"] == 1
    assert manifest["database"]["vendor"] == connection.vendor
    assert ["documents", "0001_initial"] in manifest["migrations"]
    assert {f["path"] for f in manifest["media"]["files"]} == set(files_under(workspace))

    with connection.cursor() as cursor:
        source = row_counts(cursor, tables())
    for table in ("documents_documentversion", "discussions_post", "meetings_chatmessage"):
        assert source[table] > 0
    assert source["notifications_notification"] > 0
    source_versions = sorted(
        DocumentVersion.objects.values_list("pk", "file", "sha256").order_by("pk")
    )
    assert len(source_versions) >= 4

    restored_media = tmp_path / "restored-media"
    with empty_database(tmp_path, "ok") as target:
        restored = manage("restore", str(archive), database_url=target, media=restored_media)
        assert restored.returncode == 0, restored.stderr
        assert "Restored" in restored.stdout

        with _raw(target) as cursor:
            assert row_counts(cursor, tables()) == source
            cursor.execute("SELECT id, file, sha256 FROM documents_documentversion ORDER BY id")
            versions = sorted(tuple(row) for row in cursor.fetchall())
        assert versions == source_versions
        for _pk, name, digest in versions:
            assert sha256(restored_media / name) == digest == sha256(workspace / name)
        assert files_under(restored_media) == files_under(workspace)
        # The migration state came along: nothing left to migrate.
        check = manage("migrate", "--check", database_url=target, media=restored_media)
        assert check.returncode == 0, check.stdout + check.stderr

        # Restoring again: the database is not empty now; refused, nothing changed.
        empty_media = tmp_path / "empty-media"
        again = manage("restore", str(archive), database_url=target, media=empty_media)
        assert again.returncode != 0
        assert "The target database is not empty" in again.stderr
        assert len(again.stderr.strip().splitlines()) == 1
        assert files_under(empty_media) == []
        with _raw(target) as cursor:
            assert row_counts(cursor, tables()) == source


def _rewrite(archive: Path, into: Path, change) -> Path:
    """A copy of ``archive`` whose members and manifest ``change`` may alter:
    ``change(members, manifest)`` with members a list of (TarInfo, bytes)."""
    with tarfile.open(archive) as tar:
        members = [(info, tar.extractfile(info).read()) for info in tar.getmembers()]
    manifest = json.loads({i.name: d for i, d in members}["manifest.json"])
    members = [(i, d) for i, d in members if i.name != "manifest.json"]
    change(members, manifest)
    data = json.dumps(manifest).encode()
    info = tarfile.TarInfo("manifest.json")
    info.size = len(data)
    members.append((info, data))
    with tarfile.open(into, "w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return into


def test_restore_refuses_bad_archives_and_full_targets_and_writes_nothing(workspace, tmp_path):
    archive = tmp_path / "workspace.tar"
    made = manage("backup", str(archive), database_url=source_url(), media=workspace)
    assert made.returncode == 0, made.stderr
    name = DocumentVersion.objects.order_by("pk").first().file.name

    # One byte of a document changed inside the archive.
    flipped = tmp_path / "flipped.tar"
    shutil.copy(archive, flipped)
    with tarfile.open(flipped) as tar:
        offset = tar.getmember(f"media/{name}").offset_data
    with open(flipped, "r+b") as raw:
        raw.seek(offset + 3)
        byte = raw.read(1)
        raw.seek(offset + 3)
        raw.write(bytes([byte[0] ^ 0x01]))

    # A path that leaves the media folder, listed in the manifest with its right sha256.
    def escape(members, manifest):
        data = b"outside\n"
        info = tarfile.TarInfo("media/../escaped.txt")
        info.size = len(data)
        members.append((info, data))
        digest = hashlib.sha256(data).hexdigest()
        manifest["media"]["files"].append({"path": "../escaped.txt", "size": 8, "sha256": digest})

    # A link among the files.
    def link(members, manifest):
        info = tarfile.TarInfo("media/documents/link")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        members.append((info, b""))

    # A file the manifest does not list.
    def unlisted(members, manifest):
        info = tarfile.TarInfo("media/documents/extra")
        info.size = 1
        members.append((info, b"x"))

    # From a release with a migration this one does not know.
    def newer(members, manifest):
        manifest["migrations"].append(["documents", "9999_from_the_future"])

    cases = {
        "does not match its sha256": flipped,
        "from a newer release": _rewrite(archive, tmp_path / "newer.tar", newer),
        "would leave the media folder": _rewrite(archive, tmp_path / "escape.tar", escape),
        "is not a regular file": _rewrite(archive, tmp_path / "link.tar", link),
        "not listed": _rewrite(archive, tmp_path / "unlisted.tar", unlisted),
    }
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 100)
    cases["is not a backup archive"] = tmp_path / "junk.tar"

    restored_media = tmp_path / "out" / "media"
    with empty_database(tmp_path, "bad") as target:
        for message, bad in cases.items():
            refused = manage("restore", str(bad), database_url=target, media=restored_media)
            assert refused.returncode != 0, (message, refused.stdout)
            assert message in refused.stderr, refused.stderr
            assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
            assert existing_tables(target) == [], message
            assert not restored_media.exists(), message
            assert not (tmp_path / "out" / "escaped.txt").exists()

        # Media folder not empty: refused, the database stays empty.
        restored_media.mkdir(parents=True)
        (restored_media / "left-over.pdf").write_bytes(b"x")
        refused = manage("restore", str(archive), database_url=target, media=restored_media)
        assert refused.returncode != 0
        assert "The media folder" in refused.stderr and "is not empty" in refused.stderr
        assert existing_tables(target) == []
        assert files_under(restored_media) == ["left-over.pdf"]

    if connection.vendor == "postgresql":
        # Without pg_dump on PATH: a clear error, no archive.
        bare = manage(
            "backup",
            str(tmp_path / "none.tar"),
            database_url=source_url(),
            media=workspace,
            PATH=str(tmp_path / "no-bin"),
        )
        assert bare.returncode != 0
        assert "pg_dump was not found on PATH" in bare.stderr
        assert not (tmp_path / "none.tar").exists()


def test_compose_image_carries_the_client_tools_of_its_database_and_a_backups_volume():
    """The web image's pg_dump/pg_restore are of the compose database's major
    version, and the web services mount the volume the README's commands use."""
    import re

    compose = (ROOT / "docker-compose.yml").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    server = re.search(r"^\s+image: postgres:(\d+)", compose, re.M).group(1)
    client = re.search(r"^ARG POSTGRES_CLIENT_MAJOR=(\d+)$", dockerfile, re.M).group(1)
    assert client == server
    assert "postgresql-client-${POSTGRES_CLIENT_MAJOR}" in dockerfile
    web = re.search(r"^x-web: &web\n(.*?)(?=^\S)", compose, re.M | re.S).group(1)
    assert "- backups:/backups" in web
    assert re.search(r"^volumes:\n(?:  \w+:\n)*  backups:$", compose, re.M)
    assert "/backups" in re.search(r"chown workspace:workspace ([^\n]*)", dockerfile).group(1)


def test_backup_names_files_lost_before_it_and_still_completes(workspace, tmp_path):
    """A version whose file was already gone (lost before the backup, its row
    still there) cannot be in the archive: the backup says so and the
    manifest lists it, and everything else is backed up and restorable."""
    lost = DocumentVersion.objects.order_by("pk").first().file.name
    (workspace / lost).unlink()
    archive = tmp_path / "workspace.tar"
    made = manage("backup", str(archive), database_url=source_url(), media=workspace)
    assert made.returncode == 0, made.stderr
    assert "missing from" in made.stderr and lost in made.stderr
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert manifest["media"]["missing"] == [lost]
    assert {f["path"] for f in manifest["media"]["files"]} == set(files_under(workspace))
    restored_media = tmp_path / "restored-media"
    with empty_database(tmp_path, "lost") as target:
        restored = manage("restore", str(archive), database_url=target, media=restored_media)
        assert restored.returncode == 0, restored.stderr
    assert files_under(restored_media) == files_under(workspace)


def test_backup_with_documents_in_s3_holds_the_database_only_and_says_so(make_user, tmp_path):
    make_user("one@example.org")
    archive = tmp_path / "workspace.tar"
    s3 = {"S3_BUCKET_NAME": "workspace-documents", "S3_ENDPOINT_URL": "http://127.0.0.1:9"}
    made = manage("backup", str(archive), database_url=source_url(), media=tmp_path / "m", **s3)
    assert made.returncode == 0, made.stderr
    assert "S3 bucket; its own versioning and backups apply" in made.stderr
    with tarfile.open(archive) as tar:
        assert [m.name for m in tar.getmembers() if m.name.startswith("media/")] == []
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert manifest["media"]["included"] is False
    with empty_database(tmp_path, "s3") as target:
        restored = manage("restore", str(archive), database_url=target, media=tmp_path / "m", **s3)
        assert restored.returncode == 0, restored.stderr
        assert "the bucket's own versioning and backups apply" in restored.stderr
        with _raw(target) as cursor:
            cursor.execute("SELECT email FROM accounts_user")
            assert [row[0] for row in cursor.fetchall()] == ["one@example.org"]


def test_backup_starts_again_if_a_document_is_deleted_after_its_snapshot(workspace, tmp_path):
    """The race the order of the backup leaves: a document deleted after the
    database's snapshot, whose files are gone before the media are copied.
    PostgreSQL only, where the backup can be held between the two for certain:
    pg_dump takes its snapshot, then waits for a table another connection
    has locked; meanwhile the document is deleted through its service."""
    if connection.vendor != "postgresql":
        pytest.skip("holding pg_dump after its snapshot needs PostgreSQL (DATABASE_URL)")
    import time

    import psycopg

    from accounts.models import User
    from documents.models import Document

    moderator = User.objects.get(email="mod@example.org")
    victim = Document.objects.get(title="D0", group__slug="backup-group")
    names = set(victim.versions.values_list("file", flat=True))
    assert len(names) == 2
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    archive = tmp_path / "workspace.tar"
    with psycopg.connect(**params) as blocker, psycopg.connect(**params, autocommit=True) as peek:
        blocker.execute('LOCK TABLE "public_pages_introduction" IN ACCESS EXCLUSIVE MODE')
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("S3_")},
            "DATABASE_URL": source_url(),
            "MEDIA_ROOT": str(workspace),
        }
        process = subprocess.Popen(
            [sys.executable, "manage.py", "backup", str(archive)],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not peek.execute(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = 'pg_dump' "
            "AND wait_event_type = 'Lock'"
        ).fetchone():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "pg_dump never waited for the lock"
            time.sleep(0.05)
        documents.document_delete(actor=moderator, document=victim)
        assert not any((workspace / name).exists() for name in names)
        blocker.rollback()  # pg_dump goes on, with the snapshot that still has D0
    _stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert "the backup started again" in stderr
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert "missing" not in manifest["media"]
    assert {f["path"] for f in manifest["media"]["files"]} == set(files_under(workspace))

    restored_media = tmp_path / "restored-media"
    with empty_database(tmp_path, "race") as target:
        restored = manage("restore", str(archive), database_url=target, media=restored_media)
        assert restored.returncode == 0, restored.stderr
        with _raw(target) as cursor:
            cursor.execute("SELECT title FROM documents_document WHERE title = 'D0'")
            assert cursor.fetchall() == []
            cursor.execute("SELECT file, sha256 FROM documents_documentversion")
            versions = cursor.fetchall()
    assert versions
    for name, digest in versions:
        assert sha256(restored_media / name) == digest


def test_client_tools_older_than_the_server_are_refused_clearly():
    from core.backup import BackupError, check_client_version

    check_client_version("pg_dump", client=16, server=16)
    check_client_version("pg_dump", client=17, server=16)
    with pytest.raises(BackupError, match="pg_dump 15 cannot work with PostgreSQL server 16"):
        check_client_version("pg_dump", client=15, server=16)


def test_restore_takes_a_database_whose_project_tables_are_all_empty(make_user, tmp_path):
    """Tables of the project without a row (a schema made by hand, an aborted
    attempt) count as empty: the restore replaces them."""
    make_user("one@example.org")
    archive = tmp_path / "workspace.tar"
    made = manage("backup", str(archive), database_url=source_url(), media=tmp_path / "media")
    assert made.returncode == 0, made.stderr
    with empty_database(tmp_path, "tables") as target:
        with _raw(target) as cursor:
            cursor.execute('CREATE TABLE "accounts_user" (id integer)')
            cursor.execute('CREATE TABLE "django_migrations" (id integer)')
            cursor.connection.commit()
        restored = manage("restore", str(archive), database_url=target, media=tmp_path / "new")
        assert restored.returncode == 0, restored.stderr
        with _raw(target) as cursor:
            cursor.execute("SELECT email FROM accounts_user")
            assert [row[0] for row in cursor.fetchall()] == ["one@example.org"]
            cursor.execute("SELECT COUNT(*) FROM django_migrations")
            assert cursor.fetchone()[0] > 20
