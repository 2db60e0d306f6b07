from django.core.management.base import BaseCommand

from core.tasks import sweep_ensure


class Command(BaseCommand):
    help = (
        "Starts the worker's periodic chain (reminders, digests, the outbox's "
        "sweep) unless it is running; safe to run at every start."
    )

    def handle(self, *args, **options):
        sweep_ensure()
