"""python manage.py screen PATH [--json] [--against all|corpus|published]  (exact interface)

Exit 0 when screening ran over the whole scope (verdict clear or flag), 3 when the verdict is "incomplete"
(part of the scope is not indexed yet: nothing may be called clear), 2 on bad input.
"""

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand

from fingerprint.models import Against
from fingerprint.screening import BadQuery, screen_bytes


class Command(BaseCommand):
    help = "Screen a MIDI/MusicXML/ABC/Humdrum/audio file against the training corpus and published tracks."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--against", choices=Against.values, default=Against.ALL)

    def handle(self, *args, **options):
        path = Path(options["path"])
        try:
            if not path.is_file():
                raise BadQuery(f"{path}: no such file")
            screened, _query = screen_bytes(path.read_bytes(), name=path.name, against=options["against"])
        except BadQuery as exc:
            sys.stderr.write(f"screen: {path}: {exc}\n")
            sys.exit(2)
        result = screened.as_json()
        if options["json"]:
            keys = (
                "corpus_item",
                "title",
                "dataset",
                "level",
                "score",
                "query_start",
                "query_end",
                "match_start",
                "match_end",
                "transpose",
                "tempo_ratio",
            )
            out = {
                "verdict": result["verdict"],
                "matches": [
                    {k: m[k] for k in keys}
                    | {"track": m["track"], "query_bars": m["query_bars"], "match_bars": m["match_bars"]}
                    for m in result["matches"]
                ],
                "coverage": result["coverage"],
                "problems": result["problems"],
            }
            self.stdout.write(json.dumps(out))
            self._exit(result)
            return
        self.stdout.write(f"{path.name}: {result['verdict'].upper()}")
        for m in result["matches"]:
            what = f"corpus item {m['corpus_item']}" if m["corpus_item"] else f"track {m['track']}"
            self.stdout.write(
                f"  {m['level']:<8} {m['score']:.2f}  {what} {m['title']!r} ({m['dataset'] or 'published'})  "
                f"query {m['query_start']:.1f}-{m['query_end']:.1f} s ~ match {m['match_start']:.1f}-{m['match_end']:.1f} s  "
                f"transpose {m['transpose']:+d}, tempo x{m['tempo_ratio']:.2f}"
            )
        for problem in result["problems"]:
            self.stdout.write(f"  note: {problem}")
        self._exit(result)

    def _exit(self, result: dict) -> None:
        if result["verdict"] == "incomplete":
            self.stdout.flush()
            sys.exit(3)
