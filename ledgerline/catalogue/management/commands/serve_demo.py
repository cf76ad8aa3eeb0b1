"""python manage.py serve_demo [ADDR:PORT]: what `make run` does after the installs, in one process.

Migrate, collect the static files, create the demo's users and queue the rest of the demo
(`load_demo --background`), then serve at once (no autoreloader); the demo's jobs start in this process once
it answers. One process, not four: on a busy two-core machine each start of Django (with PyTorch and SciPy
behind the URLs) costs tens of seconds.
"""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from ledgerline.catalogue.demo import demo_send_when_serving


class Command(BaseCommand):
    help = "Migrate, collect static files, queue the demo in the background and serve (the embedded defaults)."
    requires_system_checks = []  # runserver checks once, below

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--chorales", type=int, default=371, help="how many of the 371 chorales the demo ingests")

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=1)
        call_command("collectstatic", interactive=False, verbosity=0)
        address = options["addrport"] if ":" in options["addrport"] else f"127.0.0.1:{options['addrport']}"
        call_command("load_demo", background=True, chorales=options["chorales"], url=f"http://{address}")
        if settings.LEDGERLINE_TASK_RUNNER == "thread":  # this process runs the demo's jobs, once it serves
            demo_send_when_serving(f"http://{address}/healthz")
        call_command("runserver", options["addrport"], use_reloader=False)
