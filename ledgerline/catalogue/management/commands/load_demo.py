"""python manage.py load_demo: the demo organisations, users, chorales dataset, models, track and ledger anchor.

`--background` (what `make run` does) creates the users and organisations and queues the rest as a chain of
jobs, then returns within seconds: the web process runs the jobs while it serves, and the dashboard shows them.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import import_string

from ledgerline.catalogue.demo import BACKGROUND_STAGES, CHORALES, demo_background_start

READY = "log in at {url} as label, creator, reviewer or buyer (password ledgerline)"


class Command(BaseCommand):
    help = "Create the demo: one organisation and user per role, the Bach chorales ingested, and what later steps add."

    def add_arguments(self, parser):
        parser.add_argument("--chorales", type=int, default=CHORALES, help="how many of the 371 chorales to ingest")
        parser.add_argument("--quiet", action="store_true", help="no progress bars")
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="where the platform is served (for the message)"
        )
        parser.add_argument(
            "--background",
            action="store_true",
            help="create the users now and leave the rest to jobs the web server runs",
        )

    def handle(self, *args, **options):
        if not 1 <= options["chorales"] <= CHORALES:
            raise CommandError(f"--chorales must be between 1 and {CHORALES}", returncode=2)
        if options["background"]:
            # On the embedded runner this process exits before the jobs would run: the web process sends them.
            job = demo_background_start(chorales=options["chorales"], send=settings.LEDGERLINE_TASK_RUNNER != "thread")
            stages = ", ".join(title for _, title, _ in BACKGROUND_STAGES)
            self.stdout.write(f"demo: users created; queued in the background (job {job.pk}): {stages}")
            self.stdout.write(
                self.style.SUCCESS(
                    f"demo loading: {READY.format(url=options['url'])}; the dashboard shows its progress"
                )
            )
            return
        context: dict = {}
        for dotted in settings.LEDGERLINE_DEMO_STEPS:
            step = import_string(dotted)
            self.stdout.write(f"demo step {dotted}")
            step(stdout=self.stdout, options=options, context=context)
        self.stdout.write(self.style.SUCCESS(f"demo ready: {READY.format(url=options['url'])}"))
