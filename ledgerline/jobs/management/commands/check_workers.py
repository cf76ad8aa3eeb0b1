import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from ledgerline.jobs.models import JobKind
from ledgerline.jobs.progress import wait_for_job
from ledgerline.jobs.queues import QUEUES
from ledgerline.jobs.services import job_create, job_enqueue


class Command(BaseCommand):
    help = "Send a self-test job to each queue and wait until a worker has run it."

    def add_arguments(self, parser):
        parser.add_argument("--queue", action="append", choices=QUEUES, help="queue(s) to test (default: all)")
        parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait per queue")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        results = {}
        for queue in options["queue"] or QUEUES:
            with transaction.atomic():
                job = job_create(kind=JobKind.SELFTEST, params={"queue": queue, "seconds": 0})
                job_enqueue(job=job, queue=queue)
            try:
                done = wait_for_job(job.pk, json_mode=options["json"], timeout_s=options["timeout"])
            except TimeoutError:
                raise CommandError(f"no worker answered on queue {queue!r} within {options['timeout']:.0f} s") from None
            results[queue] = {"status": done.status, "worker": done.result.get("worker", "")}
        if options["json"]:
            self.stdout.write(json.dumps(results))
        else:
            for queue, result in results.items():
                self.stdout.write(f"{queue}: {result['status']} on {result['worker']}")
