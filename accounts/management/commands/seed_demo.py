"""Demo data for a first look: known people with known passwords.

Idempotent: running it again updates the same rows. Each app adds its part as
a function named in ``settings.DEMO_SEEDERS`` (in dependency order); it
receives the demo users by key and must itself be idempotent. Seeders write
through the services where they can, so the notifications those write are
there; the emails they queue to the demo people are dropped at the end of the
seed's transaction (``core.outbox.emails_drop_queued_after``), so a seed
mails nobody.
"""

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.module_loading import import_string

from accounts.models import Sector, User
from core.outbox import emails_drop_queued_after, last_queued

DEMO_PASSWORD = "workspace-demo"

# key, email, display name, affiliation, sector, country, organiser?
DEMO_USERS = [
    (
        "organiser",
        "organiser@example.org",
        "Olivia Organiser",
        "Conference office",
        Sector.OTHER,
        "Germany",
        True,
    ),
    (
        "moderator1",
        "moderator1@example.org",
        "Mara Moderator",
        "University of Osnabrück",
        Sector.ACADEMIA,
        "Germany",
        False,
    ),
    (
        "moderator2",
        "moderator2@example.org",
        "Malik Moderator",
        "Federal Office for Migration",
        Sector.POLICY,
        "Germany",
        False,
    ),
    (
        "member1",
        "member1@example.org",
        "Amira Haddad",
        "Migration Policy Institute",
        Sector.ACADEMIA,
        "Lebanon",
        False,
    ),
    (
        "member2",
        "member2@example.org",
        "Jonas Becker",
        "Chamber of Commerce",
        Sector.BUSINESS,
        "Germany",
        False,
    ),
    (
        "member3",
        "member3@example.org",
        "Lucía Fernández",
        "Red Cross",
        Sector.CIVIL_SOCIETY,
        "Spain",
        False,
    ),
    (
        "member4",
        "member4@example.org",
        "Kwame Mensah",
        "Ministry of Labour",
        Sector.POLICY,
        "Ghana",
        False,
    ),
    (
        "member5",
        "member5@example.org",
        "Sofia Rossi",
        "Tech for Good",
        Sector.BUSINESS,
        "Italy",
        False,
    ),
    (
        "guest",
        "guest@example.org",
        "Grace Guest",
        "Independent expert",
        Sector.CIVIL_SOCIETY,
        "Kenya",
        False,
    ),
]


def _seeders():
    # The apps above accounts are named in the settings, not imported here.
    return [import_string(path) for path in settings.DEMO_SEEDERS]


def seed_users() -> dict[str, User]:
    users = {}
    for key, email, name, affiliation, sector, country, organiser in DEMO_USERS:
        user, created = User.objects.get_or_create(email=email)
        user.display_name = name
        user.affiliation = affiliation
        user.sector = sector
        user.country = country
        user.is_staff = organiser
        user.is_superuser = organiser
        user.is_active = True
        if created or not user.check_password(DEMO_PASSWORD):
            user.set_password(DEMO_PASSWORD)
        user.save()
        EmailAddress.objects.update_or_create(
            user=user, email=email, defaults={"verified": True, "primary": True}
        )
        users[key] = user
    return users


class Command(BaseCommand):
    help = "Creates (or refreshes) the demo people and data. Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("--print-logins", action="store_true", help="Print the demo logins.")
        parser.add_argument("--url", default="", help="The address to print with the logins.")

    def handle(self, *args, print_logins=False, url="", **options):
        with transaction.atomic():
            mark = last_queued()
            users = seed_users()
            for seeder in _seeders():
                seeder(users)
            emails_drop_queued_after(mark)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready: {len(users)} people."))
        if print_logins:
            lines = ["", f"Workspace demo logins (password for all: {DEMO_PASSWORD})"]
            for key, email, name, *_rest in DEMO_USERS:
                lines.append(f"  {key:<11} {email:<26} {name}")
            if url:
                lines += ["", f"Open {url} in your browser.", ""]
            self.stdout.write("\n".join(lines))
