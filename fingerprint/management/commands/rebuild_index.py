"""python manage.py rebuild_index: fingerprint what has no features yet, then rebuild every index."""

import json

from django.core.management.base import BaseCommand
from tqdm import tqdm

from fingerprint import services
from ledgerline.catalogue.models import CorpusItem


class Command(BaseCommand):
    help = "Rebuild the FAISS indexes (audio, chroma, symbolic) from the database."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--refingerprint", action="store_true", help="recompute every item's features first")

    def handle(self, *args, **options):
        items = CorpusItem.objects.all() if options["refingerprint"] else CorpusItem.objects.filter(fingerprint__isnull=True)
        failed = []
        for item in tqdm(list(items), desc="fingerprint", unit="item", disable=not items.exists()):
            try:
                services.corpus_item_fingerprint(item)
            except (OSError, ValueError) as exc:
                failed.append(f"{item.pk}: {exc}")
        bar = tqdm(total=1.0, desc="index", bar_format="{l_bar}{bar}| {postfix}")

        def progress(fraction, message):
            bar.n = fraction
            bar.set_postfix_str(message)

        summary = services.index_rebuild(progress=progress)
        bar.close()
        if options["json"]:
            self.stdout.write(json.dumps({"indexes": summary, "failed": failed}))
        else:
            for level, info in summary.items():
                self.stdout.write(f"{level}: {info['vectors']} vectors, {info['version']}")
            for line in failed:
                self.stdout.write(f"failed: {line}")
