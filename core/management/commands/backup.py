import sqlite3

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from core import backup


class Command(BaseCommand):
    # The system checks would open the database first, where a missing one
    # should be this command's own clear error.
    requires_system_checks = []
    help = (
        "Writes one archive (tar) with the database (pg_dump --format=custom, or a "
        "copy of the SQLite file), every file of MEDIA_ROOT and a manifest with "
        "their sha256. See core/backup.py and the README's 'Backup and restore'."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the archive to write, e.g. /backups/workspace.tar")

    def handle(self, *args, file, **options):
        try:
            result = backup.backup(file)
        except (backup.BackupError, OSError) as error:
            raise CommandError(" ".join(str(error).split())) from error
        except (DatabaseError, sqlite3.Error) as error:
            message = " ".join(str(error).split())
            raise CommandError(f"The database (DATABASE_URL) cannot be used: {message}") from error
        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(warning))
        manifest = result.manifest
        self.stdout.write(
            f"Backup written to {result.path}: the {manifest['database']['vendor']} database "
            f"and {len(manifest['media']['files'])} file(s)."
        )
