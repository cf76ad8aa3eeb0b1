"""python manage.py load_demo: the demo organisations, users, chorales dataset, models, track and ledger anchor."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.module_loading import import_string


class Command(BaseCommand):
    help = "Create the demo: one organisation and user per role, the Bach chorales ingested, and what later steps add."

    def add_arguments(self, parser):
        parser.add_argument("--chorales", type=int, default=371, help="how many of the 371 chorales to ingest")
        parser.add_argument("--quiet", action="store_true", help="no progress bars")

    def handle(self, *args, **options):
        if not 1 <= options["chorales"] <= 371:
            from django.core.management.base import CommandError

            raise CommandError("--chorales must be between 1 and 371", returncode=2)
        context: dict = {}
        for dotted in settings.LEDGERLINE_DEMO_STEPS:
            step = import_string(dotted)
            self.stdout.write(f"demo step {dotted}")
            step(stdout=self.stdout, options=options, context=context)
        self.stdout.write(self.style.SUCCESS(
            "demo ready: log in at http://127.0.0.1:8000 as label, creator, reviewer or buyer (password ledgerline)"
        ))
