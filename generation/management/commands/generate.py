"""python manage.py generate --model NAME --bars 16 --tempo 100 --key C --seed 1 --out DIR [--json]
    [--temperature T] [--arrangement satb|band] [--drums | --no-drums] [--harmony markov|frames]
    [--prompt FILE | --prompt-track ID] [--from-track ID --from-bar N]

Writes the MIDI, the stems and the mix into DIR, prints ids and paths, waits for the job (and the screening).
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand
from django.http import Http404

from generation.management.commands.train_model import _message
from generation.models import TrainedModel
from generation.services import generation_start
from ledgerline.catalogue.models import Track
from ledgerline.jobs.models import Job, JobKind
from ledgerline.jobs.progress import wait_for_chain
from ledgerline.storage import blob_path


class Command(BaseCommand):
    help = "Generate a four-track piece with a trained model, render it, screen it, and write the files to --out."

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True)
        parser.add_argument("--bars", type=int, default=None, help="default 16, or the regenerated track's")
        parser.add_argument("--tempo", type=float, default=100)
        parser.add_argument("--key", default=None, help="default C, or the prompt's key")
        parser.add_argument("--seed", type=int, default=None, help="default 1; the track's seed + 1 with --from-track")
        parser.add_argument(
            "--temperature", type=float, default=1.0, help="creativity: < 1 safer and more in key, > 1 wilder"
        )
        parser.add_argument("--arrangement", default=None, help="satb or band (default: from the training data)")
        parser.add_argument(
            "--drums", action=argparse.BooleanOptionalAction, default=None, help="band only; default: as the corpus"
        )
        parser.add_argument(
            "--harmony", default=None, help="markov (default) or frames (a model trained with --frames; satb)"
        )
        parser.add_argument("--prompt", default=None, metavar="FILE", help="continue this MIDI/MusicXML melody")
        parser.add_argument("--prompt-track", type=int, default=None, help="continue one of the creator's tracks")
        parser.add_argument("--from-track", type=int, default=None, help="regenerate this track ...")
        parser.add_argument("--from-bar", type=int, default=None, help="... from this bar (counted from 1)")
        parser.add_argument("--top-k", type=int, default=0)
        parser.add_argument("--top-p", type=float, default=0.95)
        parser.add_argument(
            "--program",
            action="append",
            default=[],
            metavar="PART=PROGRAM",
            help="GM program for a part (melody, harmony, bass, drums), e.g. melody=73",
        )
        parser.add_argument("--no-anti-copy", action="store_true")
        parser.add_argument("--out", required=True)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        def fail(message: str) -> None:
            sys.stderr.write(f"generate: {message}\n")
            sys.exit(2)

        model = TrainedModel.objects.filter(name=options["model"]).first()
        if model is None:
            fail(f"unknown model {options['model']!r}")
        programs = {}
        for item in options["program"]:
            part, _, value = item.partition("=")
            if not value.isdigit():
                fail(f"--program takes PART=PROGRAM (0-127), not {item!r}")
            programs[part] = int(value)
        user = model.created_by
        if user is None:
            fail(f"model {model.name!r} has no creator to generate as")
        params = {
            "bars": options["bars"],
            "tempo": options["tempo"],
            "key": options["key"],
            "seed": options["seed"],
            "temperature": options["temperature"],
            "top_k": options["top_k"],
            "top_p": options["top_p"],
            "programs": programs,
            "anti_copy": not options["no_anti_copy"],
            "arrangement": options["arrangement"],
            "drums": options["drums"],
            "harmony": options["harmony"],
            "prompt_track": options["prompt_track"],
            "from_track": options["from_track"],
            "from_bar": options["from_bar"],
        }
        if params["seed"] is None and options["from_track"] is None:
            params["seed"] = 1
        try:
            if options["prompt"]:
                with open(options["prompt"], "rb") as prompt:
                    track = generation_start(user=user, model=model, params={**params, "prompt_file": prompt})
            else:
                track = generation_start(user=user, model=model, params=params)
        except OSError as exc:
            fail(f"cannot read the prompt: {exc}")
        except ValidationError as exc:
            fail(_message(exc))
        except (PermissionDenied, Http404) as exc:
            fail(str(exc))
        # Generation causes rendering and screening: wait for the whole chain, one progress bar per stage.
        job, *caused = wait_for_chain(track.provenance["job"], json_mode=options["json"])
        if job.status != "succeeded":
            sys.stderr.write(f"generate: {job.error}\n")
            sys.exit(1)
        # The screening is the fingerprint app's; its job, caused by the generation, names it and its verdict.
        screened = next((j for j in reversed(caused) if j.kind == JobKind.SCREENING), None)
        track = Track.objects.get(pk=track.pk)
        out = Path(options["out"])
        out.mkdir(parents=True, exist_ok=True)
        files = {
            "midi": str(shutil.copyfile(blob_path(track.midi_path), out / "piece.mid")),
            "mix": str(shutil.copyfile(blob_path(track.audio_path), out / "mix.flac")),
            "preview": str(shutil.copyfile(blob_path(track.preview_path), out / "mix.ogg")),
            "stems": [
                str(shutil.copyfile(blob_path(s["path"]), out / f"stem-{i}-{s['name'].lower().replace(' ', '-')}.flac"))
                for i, s in enumerate(track.stems)
            ],
        }
        result = {
            "track": track.pk,
            "job": str(job.pk),
            "status": track.status,
            "screening": screened.params.get("screening") if screened else None,
            "verdict": screened.result.get("verdict", "") if screened else None,
            "midi_sha256": track.provenance.get("midi_sha256"),
            "files": files,
            "interventions": Job.objects.get(pk=job.pk).result.get("interventions", 0),
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(f"track {track.pk}: {track.status} (screening: {result['verdict']})")
            self.stdout.write(f"  midi {files['midi']}\n  mix  {files['mix']}")
            for stem in files["stems"]:
                self.stdout.write(f"  stem {stem}")
