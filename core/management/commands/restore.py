import sqlite3

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from core import backup


class Command(BaseCommand):
    # The system checks would open the database first, where a missing one
    # should be this command's own clear error.
    requires_system_checks = []
    help = (
        "Restores an archive written by 'manage.py backup' into an empty database "
        "(DATABASE_URL) and an empty MEDIA_ROOT, after checking every file's sha256. "
        "Refuses, changing nothing, if either is not empty or the archive is bad."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the archive written by 'manage.py backup'")

    def handle(self, *args, file, **options):
        try:
            result = backup.restore(file)
        except (backup.BackupError, OSError) as error:
            raise CommandError(" ".join(str(error).split())) from error
        except (DatabaseError, sqlite3.Error) as error:
            message = " ".join(str(error).split())
            raise CommandError(f"The database (DATABASE_URL) cannot be used: {message}") from error
        manifest = result.manifest
        if not manifest["media"]["included"]:
            self.stderr.write(
                self.style.WARNING(
                    "The archive holds no documents' files (they were in S3): the bucket's "
                    "own versioning and backups apply."
                )
            )
        self.stdout.write(
            f"Restored the {manifest['database']['vendor']} database of "
            f"{manifest['created_at']} and {result.files} file(s)."
        )
        if result.pending_migrations:
            self.stdout.write(
                f"This release has {result.pending_migrations} migration(s) more: "
                f"run 'manage.py migrate'."
            )
