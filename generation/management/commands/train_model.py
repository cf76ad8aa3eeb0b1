"""python manage.py train_model --name NAME --arch lstm|transformer|markov|vae --datasets ID[,ID] [--epochs N]
[--frames] [--json]"""

import json
import sys

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand

from generation.models import ARCHS, TrainedModel
from generation.services import dataset_ids_parse, model_train_start, training_config
from ledgerline.accounts.models import Membership, Role
from ledgerline.jobs.progress import wait_for_job


def _message(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
    return " ".join(exc.messages)


class Command(BaseCommand):
    help = "Train a generation model on licensed datasets (waits for the job, with a progress bar)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--arch", required=True, choices=ARCHS)
        parser.add_argument("--datasets", required=True, help="dataset ids, comma-separated")
        parser.add_argument("--epochs", type=int, default=2)
        parser.add_argument(
            "--size",
            choices=["debug", "default"],
            default="default",
            help="network size; debug trains in seconds on a CPU",
        )
        parser.add_argument(
            "--frames", action="store_true", help="also train the frame model, for four-part harmony (harmony=frames)"
        )
        parser.add_argument("--user", default=None, help="creator username (default: the first creator)")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        def fail(message: str) -> None:
            sys.stderr.write(f"train_model: {message}\n")
            sys.exit(2)

        memberships = Membership.objects.filter(role=Role.CREATOR).select_related("user", "organisation")
        if options["user"]:
            memberships = memberships.filter(user__username=options["user"])
        membership = memberships.order_by("id").first()
        if membership is None:
            fail(
                "no creator account found (create one, or run load_demo)"
                if not options["user"]
                else f"{options['user']!r} is not a creator"
                if get_user_model().objects.filter(username=options["user"]).exists()
                else f"no user {options['user']!r}"
            )
        try:
            model = model_train_start(
                user=membership.user,
                organisation=membership.organisation,
                name=options["name"],
                arch=options["arch"],
                dataset_ids=dataset_ids_parse(options["datasets"]),
                epochs=options["epochs"],
                config=training_config(options["size"], frames=options["frames"]),
            )
        except ValidationError as exc:
            fail(_message(exc))
        except PermissionDenied as exc:
            fail(str(exc))
        job = wait_for_job(model.job_id, json_mode=options["json"])
        model = TrainedModel.objects.get(pk=model.pk)
        out = {
            "model": model.name,
            "id": model.pk,
            "arch": model.arch,
            "status": model.status,
            "job": str(job.pk),
            "checkpoint_sha256": model.checkpoint_sha256,
            "metrics": model.metrics,
            "error": job.error or None,
        }
        if options["json"]:
            self.stdout.write(json.dumps(out))
        else:
            self.stdout.write(f"{model.name}: {model.status} {json.dumps(model.metrics)}")
        if job.status != "succeeded":
            sys.exit(1)
