from django.core.management.base import BaseCommand, CommandError

from core import backup


class Command(BaseCommand):
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
        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(warning))
        manifest = result.manifest
        self.stdout.write(
            f"Backup written to {result.path}: the {manifest['database']['vendor']} database "
            f"and {len(manifest['media']['files'])} file(s)."
        )
