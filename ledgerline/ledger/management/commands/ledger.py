"""python manage.py ledger verify [--json] | ledger proof ENTRY_ID | ledger anchor | ledger head"""

import json
import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ledgerline.ledger.models import LedgerEntry
from ledgerline.ledger.proofs import inclusion_proof_for
from ledgerline.ledger.services import LedgerIntegrityError, ledger_anchor, ledger_verify, tree_head_sign


class Command(BaseCommand):
    help = "Verify the provenance ledger, print inclusion proofs, sign and anchor tree heads."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser(
            "verify",
            help="recompute every leaf, check it against the signed tree heads, and the "
            "anchors; an entry outside every signed head fails",
        )
        verify.add_argument("--json", action="store_true", dest="as_json")
        verify.add_argument("--no-chain", action="store_true", help="skip checking anchors on the chain")
        proof = sub.add_parser("proof", help="inclusion proof of one entry in the latest signed tree head")
        proof.add_argument("entry_id", type=int, help="the entry's index in the log")
        sub.add_parser("anchor", help="anchor the latest signed tree head on the chain now")
        sub.add_parser(
            "head", help="print the latest signed tree head (signing one over entries older than heads per append)"
        )

    def handle(self, *args, action: str, **options):
        try:
            return self._handle(action, options)
        except LedgerIntegrityError as exc:  # rows and signed heads disagree: nothing is signed
            raise CommandError(str(exc), returncode=1) from None

    def _handle(self, action: str, options: dict):
        if action == "verify":
            return self._verify(options["as_json"], not options["no_chain"])
        if action == "proof":
            try:
                entry = LedgerEntry.objects.get(index=options["entry_id"])
            except LedgerEntry.DoesNotExist:
                raise CommandError(f"no ledger entry {options['entry_id']}", returncode=2) from None
            self.stdout.write(json.dumps(inclusion_proof_for(entry), indent=2))
            return None
        if action == "head":
            head = tree_head_sign()
            if head is None:
                raise CommandError("the ledger is empty", returncode=2)
            self.stdout.write(
                json.dumps(
                    {
                        "tree_size": head.tree_size,
                        "root_hash": head.root_hash,
                        "timestamp_ms": head.timestamp_ms,
                        "signature": head.signature,
                    }
                )
            )
            return None
        anchor = ledger_anchor()
        if anchor is None:
            raise CommandError("the ledger is empty", returncode=2)
        self.stdout.write(f"tree size {anchor.tree_head.tree_size}: {anchor.status} {anchor.tx_hash or anchor.error}")
        return None

    def _verify(self, as_json: bool, check_chain: bool):
        bar = None if as_json else tqdm(total=100, unit="%", file=sys.stderr, desc="verify")

        def progress(fraction: float) -> None:
            if bar is not None:
                bar.n = round(fraction * 100)
                bar.refresh()

        report = ledger_verify(check_chain=check_chain, progress=progress)
        if bar is not None:
            bar.n = 100
            bar.close()
        if as_json:
            self.stdout.write(json.dumps(report.as_json(), indent=2))
        else:
            self.stdout.write(
                f"entries: {report.entries}, signed tree heads: {report.tree_heads}, "
                f"anchors verified on chain: {report.anchors_verified}, pending: {report.anchors_pending}"
            )
            for item in report.anchors_unverifiable:
                self.stdout.write(f"anchor of tree size {item['tree_size']} could NOT be checked: {item['reason']}")
            for problem in report.problems:
                self.stdout.write(f"FAIL {problem}")
        if not report.ok:
            first = report.first_bad_entry
            raise CommandError(
                "ledger verification failed" + (f": first bad entry {first}" if first is not None else ""), returncode=1
            )
        if report.anchors_unverifiable:
            raise CommandError(f"{len(report.anchors_unverifiable)} anchor(s) could not be checked", returncode=3)
        if not as_json:
            self.stdout.write("ledger OK")
        return None
