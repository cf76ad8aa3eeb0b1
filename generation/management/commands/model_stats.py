"""python manage.py model_stats --model NAME [--samples 50] [--bars 16] [--key C] [--json]

Composes N melodies with the model (seeds 0..N-1, nothing rendered or stored) and summarises them against the
held-out pieces of its training data: per measure the mean, the median, the share inside the corpus's 5-95 %.
"""

import json
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand

from generation.management.commands.train_model import _message
from generation.models import TrainedModel
from generation.services import MAX_MODEL_STATS_SAMPLES, MODEL_STATS_SAMPLES, model_melody_summary


class Command(BaseCommand):
    help = "Summarise N generated melodies of a model against its held-out corpus (5-95 % ranges)."

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True)
        parser.add_argument("--samples", type=int, default=MODEL_STATS_SAMPLES)
        parser.add_argument("--bars", type=int, default=16)
        parser.add_argument("--key", default="C")
        parser.add_argument("--temperature", type=float, default=1.0)
        parser.add_argument("--top-p", type=float, default=0.95)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        def fail(message: str) -> None:
            sys.stderr.write(f"model_stats: {message}\n")
            sys.exit(2)

        model = TrainedModel.objects.filter(name=options["model"]).first()
        if model is None:
            fail(f"unknown model {options['model']!r}")
        if not 1 <= options["samples"] <= MAX_MODEL_STATS_SAMPLES:
            fail(f"--samples must be in 1..{MAX_MODEL_STATS_SAMPLES}, got {options['samples']}")
        params = {
            "bars": options["bars"],
            "key": options["key"],
            "temperature": options["temperature"],
            "top_p": options["top_p"],
        }
        try:
            result = model_melody_summary(model=model, samples=options["samples"], params=params)
        except ValidationError as exc:
            fail(_message(exc))
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        summary = result["summary"]
        self.stdout.write(
            f"{model.name} ({model.arch}): {summary['samples']} samples against "
            f"{summary['reference_pieces']} held-out pieces"
        )
        if not summary["statistics"]:
            self.stdout.write("  no held-out pieces to compare with")
            return
        self.stdout.write(f"  {'measure':<42} {'mean':>8} {'median':>8} {'p5':>8} {'p95':>8} {'inside':>7}")
        for row in summary["statistics"].values():
            self.stdout.write(
                f"  {row['label']:<42} {row['mean']:>8.3f} {row['median']:>8.3f} {row['p5']:>8.3f} "
                f"{row['p95']:>8.3f} {row['inside_share']:>7.0%}"
            )
        self.stdout.write(
            f"  pooled interval histogram distance {summary['pooled_interval_distance']:.3f}; "
            f"all measures inside in {summary['all_inside_share']:.0%} of samples"
        )
