"""Backup and restore of a whole workspace: the database and the documents'
files in one tar archive (``manage.py backup FILE``, ``manage.py restore FILE``).

The archive holds

- ``database/dump.pgcustom`` (PostgreSQL: ``pg_dump --format=custom``) or
  ``database/db.sqlite3`` (SQLite: a copy made by SQLite's online backup API);
- ``media/<path>``: every file of ``MEDIA_ROOT`` (local disk only; with S3
  storage the bucket's own versioning and backups apply and the archive holds
  the database only);
- ``manifest.json``, written last: the format version, when it was made, the
  database vendor, the migrations applied (read in the dump's own snapshot),
  and every file with its size and sha256.

Why the database is dumped first and the files copied after: the documents
app writes a version's bytes to storage *before* the transaction that adds
its row commits (and removes them again if that transaction fails), and
deletes a document's files only *after* the deletion commits
(``documents.services``). So every file a row of the snapshot names already
exists when the snapshot is taken, and is still there afterwards unless a
deletion committed after the snapshot. The backup reads the files the
snapshot names (every ``FileField`` of every model, found through
``django.apps``) in that same snapshot; if one of them is gone when the media
are copied, such a deletion raced the backup, and the whole backup is made
again (a few times at most). Files written after the snapshot (uploads whose
rows are not in it) are copied too and are harmless: no row names them.

Restore changes nothing until everything is checked: the target database has
no rows in any table of the project and the media folder holds no file; the
archive's manifest is read, every member is a regular file (no link, device
or folder) under a name that stays inside the media folder, and every sha256
matches. Then the files are written (and read again to check their sha256)
and the database is restored last in one step (``pg_restore
--single-transaction``, or SQLite's backup API, which replaces the file's
content at once); if that fails, the files just written are removed, so a
failed restore leaves the target as it found it.

Everything here knows no app: the models and their file fields are found
through ``django.apps``.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django.apps import apps
from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection, models, transaction
from django.db.migrations.loader import MigrationLoader

FORMAT = 1
MANIFEST = "manifest.json"
DATABASE_MEMBERS = {"postgresql": "database/dump.pgcustom", "sqlite": "database/db.sqlite3"}
MEDIA_PREFIX = "media/"
ATTEMPTS = 5
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup or restore that cannot be done; the message is one line for a person."""


# --- What the project holds ---------------------------------------------------------


def project_tables() -> set[str]:
    """Every table of the installed apps' models (many-to-many tables too) and
    Django's record of migrations."""
    tables = {"django_migrations"}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.managed and not model._meta.proxy:
            tables.add(model._meta.db_table)
    return tables


def file_fields() -> list[tuple[str, str]]:
    """(table, column) of every file field of every model."""
    return [
        (model._meta.db_table, fld.column)
        for model in apps.get_models()
        for fld in model._meta.concrete_fields
        if isinstance(fld, models.FileField)
    ]


def media_on_disk() -> bool:
    """Whether documents are stored in MEDIA_ROOT on local disk (not S3)."""
    return isinstance(default_storage, FileSystemStorage)


def media_root() -> Path:
    return Path(default_storage.location)


def known_migrations() -> set[tuple[str, str]]:
    return set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)


# --- PostgreSQL's client tools -------------------------------------------------------


def _pg_env() -> dict[str, str]:
    """The connection settings for pg_dump and pg_restore, in their environment
    (a password never appears on a command line)."""
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    for key, name in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER")):
        if db.get(key):
            env[name] = str(db[key])
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    for option in ("sslmode", "sslrootcert", "sslcert", "sslkey", "passfile"):
        if option in db.get("OPTIONS", {}):
            env[f"PG{option.upper()}"] = str(db["OPTIONS"][option])
    env["PGDATABASE"] = db["NAME"]
    return env


def _pg_tool(name: str) -> tuple[str, int]:
    """The path and major version of ``pg_dump`` or ``pg_restore`` on PATH;
    BackupError if missing, or older than the server (it would refuse)."""
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} was not found on PATH: install the PostgreSQL client tools "
            f"(Debian: apt-get install postgresql-client)."
        )
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    found = re.search(r"(\d+)(?:\.\d+)?", out.stdout)
    if out.returncode != 0 or not found:
        raise BackupError(f"{path} --version failed: {out.stderr.strip() or out.stdout.strip()}")
    client = int(found.group(1))
    connection.ensure_connection()
    check_client_version(name, client=client, server=connection.pg_version // 10000)
    return path, client


def check_client_version(name: str, *, client: int, server: int) -> None:
    """BackupError if the client tool's major version is older than the
    server's: pg_dump refuses a newer server, and pg_restore may not know
    what it needs."""
    if server > client:
        raise BackupError(
            f"{name} {client} cannot work with PostgreSQL server {server}: install the "
            f"PostgreSQL {server} client tools (or newer) and put them first on PATH."
        )


def _run(command: list[str]) -> None:
    result = subprocess.run(command, env=_pg_env(), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        message = " ".join(result.stderr.split()) or f"exit status {result.returncode}"
        raise BackupError(f"{Path(command[0]).name} failed: {message}")


# --- Backup --------------------------------------------------------------------


@dataclass
class _Snapshot:
    """The database as dumped: the file, and what it says, read in the same snapshot."""

    path: Path
    referenced: set[str]
    migrations: list[tuple[str, str]]
    client: str = ""


def _dump_postgresql(into: Path) -> _Snapshot:
    """pg_dump of a snapshot this process exports and holds, so that the file
    names and migrations read here are exactly those of the dump."""
    pg_dump, client = _pg_tool("pg_dump")
    path = into / "dump.pgcustom"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        (snapshot,) = cursor.fetchone()
        _run([pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={path}"])
        referenced = _read_referenced(cursor)
        migrations = _read_migrations(cursor)
    return _Snapshot(path, referenced, migrations, client=f"pg_dump {client}")


def _dump_sqlite(into: Path) -> _Snapshot:
    """SQLite's online backup API: a consistent copy even while others write.
    The file names and migrations are read from the copy itself."""
    name = settings.DATABASES["default"]["NAME"]
    if str(name) == ":memory:" or not Path(name).is_file():
        raise BackupError(f"The SQLite database {name} is not a file.")
    path = into / "db.sqlite3"
    with (
        contextlib.closing(sqlite3.connect(name)) as source,
        contextlib.closing(sqlite3.connect(path)) as copy,
    ):
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        cursor = copy.cursor()
        referenced = _read_referenced(cursor)
        migrations = _read_migrations(cursor)
    return _Snapshot(path, referenced, migrations, client=f"sqlite {sqlite3.sqlite_version}")


def _read_referenced(cursor) -> set[str]:
    names = set()
    for table, column in file_fields():
        cursor.execute(f'SELECT "{column}" FROM "{table}"')  # noqa: S608 (names from models)
        names.update(row[0] for row in cursor.fetchall() if row[0])
    return names


def _read_migrations(cursor) -> list[tuple[str, str]]:
    cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
    return [tuple(row) for row in cursor.fetchall()]


class _Hashing(io.RawIOBase):
    """Reads a file, hashing what passes."""

    def __init__(self, raw):
        self.raw, self.sha256, self.size = raw, hashlib.sha256(), 0

    def readable(self):
        return True

    def read(self, size=-1):
        data = self.raw.read(size)
        self.sha256.update(data)
        self.size += len(data)
        return data


def _add(tar: tarfile.TarFile, name: str, path: Path) -> dict:
    """Adds a file with exactly the bytes it had when opened; its size and sha256."""
    with open(path, "rb") as raw:
        stat = os.fstat(raw.fileno())
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), 0o600
        reader = _Hashing(raw)
        tar.addfile(info, reader)
    return {"size": reader.size, "sha256": reader.sha256.hexdigest()}


def _media_files(root: Path) -> list[tuple[str, Path]]:
    """The regular files under ``root`` as (posix path relative to it, path);
    links are not followed and not copied."""
    found = []
    if not root.is_dir():
        return found
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file():
                continue
            found.append((path.relative_to(root).as_posix(), path))
    return found


def _still_referenced(names: set[str]) -> set[str]:
    """Which of ``names`` rows of the live database name now."""
    found = set()
    for model in apps.get_models():
        for fld in model._meta.concrete_fields:
            if isinstance(fld, models.FileField):
                found.update(
                    model._default_manager.filter(**{f"{fld.name}__in": names}).values_list(
                        fld.name, flat=True
                    )
                )
    return found


@dataclass
class BackupResult:
    manifest: dict
    path: Path
    warnings: list[str] = field(default_factory=list)


def backup(target: str | os.PathLike) -> BackupResult:
    """Writes the archive to ``target`` (atomically: a temporary file beside
    it, renamed when complete; readable by the owner only). BackupError if
    the database cannot be dumped or ``target`` cannot be written."""
    target = Path(target).absolute()
    if target.is_dir():
        raise BackupError(f"{target} is a folder; give the archive's file name.")
    if not target.parent.is_dir():
        raise BackupError(f"The folder {target.parent} does not exist.")
    if media_on_disk() and target.parent.resolve().is_relative_to(media_root().resolve()):
        raise BackupError("The archive cannot be written into the media folder it backs up.")
    vendor = connection.vendor
    if vendor not in DATABASE_MEMBERS:
        raise BackupError(f"Databases of {vendor} cannot be backed up; PostgreSQL or SQLite.")
    warnings = []
    for _attempt in range(ATTEMPTS):
        outcome = _backup_once(target, vendor, warnings)
        if outcome is not None:
            return BackupResult(outcome, target, warnings)
        warnings.append(
            "A document was deleted while the backup ran (after its database snapshot): "
            "the backup started again."
        )
    raise BackupError(
        "Documents were deleted during each of the backup's attempts; try again at a quieter time."
    )


def _backup_once(target: Path, vendor: str, warnings: list[str]) -> dict | None:
    """One attempt; None if a deletion raced it (see the module's docstring)."""
    work = Path(tempfile.mkdtemp(prefix=".backup-", dir=target.parent))
    part = work / "archive.tar"
    try:
        dump = _dump_postgresql(work) if vendor == "postgresql" else _dump_sqlite(work)
        with tarfile.open(part, "w", format=tarfile.PAX_FORMAT) as tar:
            database = {"vendor": vendor, "file": DATABASE_MEMBERS[vendor], "made_by": dump.client}
            database.update(_add(tar, DATABASE_MEMBERS[vendor], dump.path))
            dump.path.unlink()
            media: dict = {"included": media_on_disk(), "files": []}
            if media["included"]:
                copied = set()
                for relative, path in _media_files(media_root()):
                    try:
                        entry = {"path": relative, **_add(tar, MEDIA_PREFIX + relative, path)}
                    except FileNotFoundError:
                        continue  # deleted since the folder was listed: as if never there
                    media["files"].append(entry)
                    copied.add(relative)
                missing = dump.referenced - copied
                if missing:
                    lost = missing & _still_referenced(missing)
                    if missing - lost:
                        return None  # deleted after the snapshot: take a new one
                    media["missing"] = sorted(lost)
                    warnings.append(
                        f"{len(lost)} file(s) that the database names were missing from "
                        f"{media_root()} already before this backup (e.g. {min(lost)})."
                    )
            else:
                media["note"] = (
                    "Documents are stored in the S3 bucket; its own versioning and "
                    "backups apply. This archive holds the database only."
                )
                warnings.append(media["note"])
            manifest = {
                "format": FORMAT,
                "created_at": datetime.datetime.now(datetime.UTC).isoformat(),
                "database": database,
                "migrations": [list(m) for m in dump.migrations],
                "media": media,
            }
            data = json.dumps(manifest, indent=1, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
            tar.addfile(info, io.BytesIO(data))
        with open(part, "rb") as written:
            os.fsync(written.fileno())
        os.replace(part, target)
        _fsync_folder(target.parent)
        return manifest
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- Checking an archive ----------------------------------------------------------


def _safe_relative(name: str) -> str:
    """The media path of a member named ``media/<path>``; BackupError for any
    path that could leave the media folder."""
    relative = name[len(MEDIA_PREFIX) :]
    pure = PurePosixPath(relative)
    if (
        not relative
        or "\\" in relative
        or "\x00" in relative
        or pure.is_absolute()
        or any(part in ("", ".", "..") for part in relative.split("/"))
    ):
        raise BackupError(
            f"The archive is refused: the path {name!r} would leave the media folder."
        )
    return relative


@dataclass
class Archive:
    """A checked archive: its manifest and where each file is in it."""

    path: Path
    manifest: dict
    members: dict[str, tarfile.TarInfo]

    @property
    def vendor(self) -> str:
        return self.manifest["database"]["vendor"]

    @property
    def media_files(self) -> list[dict]:
        return self.manifest["media"]["files"]


def check_archive(path: str | os.PathLike) -> Archive:
    """Reads and checks an archive without writing anything: its manifest,
    every member a regular file at a safe name and listed in the manifest,
    and every sha256. BackupError with the first fault found."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path} is not a file.")
    try:
        tar = tarfile.open(path, "r:*")  # noqa: SIM115 (closed by the with below)
    except (tarfile.TarError, OSError) as error:
        raise BackupError(f"{path} is not a backup archive (not a readable tar file).") from error
    with tar:
        try:
            infos = tar.getmembers()
        except (tarfile.TarError, OSError, EOFError) as error:
            raise BackupError(f"{path} is damaged ({error}).") from error
        members: dict[str, tarfile.TarInfo] = {}
        for info in infos:
            if not info.isreg():
                raise BackupError(
                    f"The archive is refused: {info.name!r} is not a regular file "
                    f"(a link, a device or a folder)."
                )
            if info.name in members:
                raise BackupError(f"The archive is refused: {info.name!r} appears twice.")
            if info.name.startswith(MEDIA_PREFIX):
                _safe_relative(info.name)
            members[info.name] = info
        manifest = _read_manifest(tar, members)
        expected = _expected(manifest)
        if set(members) != set(expected) | {MANIFEST}:
            extra = sorted(set(members) - set(expected) - {MANIFEST})
            absent = sorted(set(expected) - set(members))
            raise BackupError(
                "The archive does not match its manifest: "
                + (f"not listed: {extra[0]}" if extra else f"missing: {absent[0]}")
            )
        for name, (size, sha256) in expected.items():
            info = members[name]
            if info.size != size or _sha256(tar.extractfile(info)) != sha256:
                raise BackupError(f"The archive is damaged: {name} does not match its sha256.")
    return Archive(path, manifest, members)


def _read_manifest(tar: tarfile.TarFile, members: dict) -> dict:
    if MANIFEST not in members:
        raise BackupError("This is not a workspace backup: it has no manifest.json.")
    try:
        manifest = json.loads(tar.extractfile(members[MANIFEST]).read())
    except (ValueError, UnicodeDecodeError) as error:
        raise BackupError(f"The archive's manifest.json cannot be read ({error}).") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(
            f"The archive's format {manifest.get('format') if isinstance(manifest, dict) else '?'}"
            f" is not the one this release reads ({FORMAT})."
        )
    try:
        database, media = manifest["database"], manifest["media"]
        if database["vendor"] not in DATABASE_MEMBERS:
            raise BackupError(f"The archive's database vendor {database['vendor']!r} is unknown.")
        if database["file"] != DATABASE_MEMBERS[database["vendor"]]:
            raise BackupError("The archive's manifest names the wrong database file.")
        int(database["size"]), str(database["sha256"])
        for entry in media["files"]:
            _safe_relative(MEDIA_PREFIX + str(entry["path"]))
            int(entry["size"]), str(entry["sha256"])
        [(str(app), str(name)) for app, name in manifest["migrations"]]
    except (KeyError, TypeError, ValueError) as error:
        raise BackupError(f"The archive's manifest.json is incomplete ({error}).") from error
    return manifest


def _expected(manifest: dict) -> dict[str, tuple[int, str]]:
    database = manifest["database"]
    expected = {database["file"]: (int(database["size"]), database["sha256"])}
    for entry in manifest["media"]["files"]:
        name = MEDIA_PREFIX + entry["path"]
        if name in expected:
            raise BackupError(f"The archive's manifest lists {name} twice.")
        expected[name] = (int(entry["size"]), entry["sha256"])
    return expected


def _sha256(stream) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


# --- Restore ---------------------------------------------------------------------


def tables_with_rows() -> list[str]:
    """The project's tables in the target database that hold rows."""
    existing = set(connection.introspection.table_names()) & project_tables()
    full = []
    with connection.cursor() as cursor:
        for table in sorted(existing):
            cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(table)} LIMIT 1")  # noqa: S608
            if cursor.fetchone():
                full.append(table)
    return full


def _check_target(archive: Archive) -> None:
    if archive.vendor != connection.vendor:
        raise BackupError(
            f"The archive holds a {archive.vendor} database; the target (DATABASE_URL) "
            f"is {connection.vendor}."
        )
    unknown = {tuple(m) for m in archive.manifest["migrations"]} - known_migrations()
    # Django's own tables and every app's are in the loader; an unknown name is a newer release.
    if unknown:
        app, name = min(unknown)
        raise BackupError(
            f"The archive is from a newer release (migration {app}.{name} is unknown here); "
            f"restore it with that release."
        )
    full = tables_with_rows()
    if full:
        raise BackupError(
            f"The target database is not empty ({len(full)} table(s) hold rows, e.g. "
            f"{full[0]}); restore into an empty database."
        )
    if archive.manifest["media"]["included"]:
        if not media_on_disk():
            raise BackupError(
                "The archive holds documents' files, but this workspace stores documents "
                "in S3; restore with MEDIA_ROOT on local disk."
            )
        root = media_root()
        if root.exists() and not root.is_dir():
            raise BackupError(f"The media folder {root} is not a folder.")
        if root.is_dir() and any(files for _folder, _dirs, files in os.walk(root)):
            raise BackupError(f"The media folder {root} is not empty; restore into an empty one.")


@dataclass
class RestoreResult:
    manifest: dict
    files: int
    pending_migrations: int


def restore(path: str | os.PathLike) -> RestoreResult:
    """Restores the archive at ``path`` into the configured database and media
    folder, which must be empty. BackupError (and nothing changed) for a bad
    archive, a target that is not empty, or a restore that failed."""
    archive = check_archive(path)
    _check_target(archive)
    if archive.vendor == "postgresql":
        _pg_tool("pg_restore")  # before anything is written
    written: list[Path] = []
    created: list[Path] = []
    try:
        if archive.manifest["media"]["included"]:
            _write_media(archive, written, created)
        _restore_database(archive)
    except BaseException:
        for path_ in written:
            path_.unlink(missing_ok=True)
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    applied = {tuple(m) for m in archive.manifest["migrations"]}
    return RestoreResult(archive.manifest, len(written), len(known_migrations() - applied))


def _write_media(archive: Archive, written: list[Path], created: list[Path]) -> None:
    root = media_root()
    _make_folders(root, created)
    resolved_root = root.resolve()
    with tarfile.open(archive.path, "r:*") as tar:
        for entry in archive.media_files:
            destination = root / entry["path"]
            if not destination.resolve().is_relative_to(resolved_root):
                raise BackupError(
                    f"The archive is refused: {entry['path']!r} would leave the media folder."
                )
            _make_folders(destination.parent, created)
            source = tar.extractfile(archive.members[MEDIA_PREFIX + entry["path"]])
            with open(destination, "xb") as out:
                written.append(destination)
                shutil.copyfileobj(source, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
    for entry in archive.media_files:
        with open(root / entry["path"], "rb") as stored:
            if _sha256(stored) != entry["sha256"]:
                raise BackupError(
                    f"{entry['path']} does not match its sha256 after writing it; "
                    f"nothing was restored."
                )


def _make_folders(folder: Path, created: list[Path]) -> None:
    """Makes ``folder`` and its missing parents, noting each one made."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        new.mkdir()
        created.append(new)


def _restore_database(archive: Archive) -> None:
    with (
        tempfile.TemporaryDirectory(prefix=".restore-") as work,
        tarfile.open(archive.path, "r:*") as tar,
    ):
        dump = Path(work) / "database"
        with open(dump, "wb") as out:
            shutil.copyfileobj(
                tar.extractfile(archive.members[archive.manifest["database"]["file"]]), out, CHUNK
            )
        if archive.vendor == "postgresql":
            pg_restore, _major = _pg_tool("pg_restore")
            existing = set(connection.introspection.table_names()) & project_tables()
            connection.close()
            command = [pg_restore, "--no-owner", "--exit-on-error", "--single-transaction"]
            if existing:  # empty tables of the project: replaced by the dump's
                command += ["--clean", "--if-exists"]
            _run([*command, f"--dbname={settings.DATABASES['default']['NAME']}", str(dump)])
        else:
            name = settings.DATABASES["default"]["NAME"]
            connection.close()
            with (
                contextlib.closing(sqlite3.connect(dump)) as source,
                contextlib.closing(sqlite3.connect(name)) as target,
            ):
                source.backup(target)
