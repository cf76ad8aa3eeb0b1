"""python manage.py rebuild_index [--missing] [--refingerprint] [--json]

Default: fingerprint what has no features yet, then rebuild every index from the database.
`--missing`: index only what is missing from the live indexes (as the periodic sweep does, but now and in this
process), then screen again the tracks whose screening was incomplete.
"""

import json

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from fingerprint import indexing
from fingerprint.coverage import corpus_items_missing, published_tracks_missing
from fingerprint.models import Fingerprint
from fingerprint.sweep import indexes_lost, tracks_rescreen_incomplete
from ledgerline.catalogue.models import CorpusItem


class Command(BaseCommand):
    help = "Rebuild the FAISS indexes (audio, chroma, symbolic) from the database, or index what is missing."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--refingerprint", action="store_true", help="recompute every item's features first")
        parser.add_argument(
            "--missing",
            action="store_true",
            help="only fingerprint and index the items that are not in the live indexes",
        )

    def handle(self, *args, **options):
        if options["missing"] and options["refingerprint"]:
            raise CommandError("--missing and --refingerprint exclude each other", returncode=2)
        if options["missing"]:
            return self._missing(as_json=options["json"])
        items = (
            CorpusItem.objects.all()
            if options["refingerprint"]
            else CorpusItem.objects.filter(fingerprint__isnull=True)
        )
        failed = []
        for item in tqdm(list(items), desc="fingerprint", unit="item", disable=not items.exists()):
            try:
                indexing.corpus_item_fingerprint(item)
            except (OSError, ValueError) as exc:
                failed.append(f"{item.pk}: {exc}")
        bar = tqdm(total=1.0, desc="index", bar_format="{l_bar}{bar}| {postfix}")

        def progress(fraction, message):
            bar.n = fraction
            bar.set_postfix_str(message)

        summary = indexing.index_rebuild(progress=progress)
        bar.close()
        if options["json"]:
            self.stdout.write(json.dumps({"indexes": summary, "failed": failed}))
        else:
            for level, info in summary.items():
                self.stdout.write(f"{level}: {info['vectors']} vectors, {info['version']}")
            for line in failed:
                self.stdout.write(f"failed: {line}")

    def _missing(self, *, as_json: bool) -> None:
        if indexes_lost():
            Fingerprint.objects.filter(indexed=True).update(indexed=False)
        item_ids = list(corpus_items_missing().values_list("pk", flat=True))
        track_ids = list(published_tracks_missing().values_list("pk", flat=True))
        bar = tqdm(
            total=100,
            desc="fingerprinting and indexing",
            disable=as_json or not (item_ids or track_ids),
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} {postfix}",
        )

        def progress(fraction, message):
            bar.n = round(fraction * 100)
            bar.set_postfix_str(message)

        result = indexing.subjects_fingerprint_and_index(item_ids=item_ids, track_ids=track_ids, progress=progress)
        bar.close()
        result["rescreened"] = tracks_rescreen_incomplete()
        result |= {"corpus_items": len(item_ids), "tracks": len(track_ids)}
        if as_json:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(
                f"indexed {result['fingerprinted']} of {len(item_ids)} corpus items and "
                f"{len(track_ids)} tracks; {len(result['failed'])} failed; "
                f"{result['rescreened']} tracks screened again"
            )
            for line in result["failed"]:
                self.stdout.write(f"failed: {line}")
