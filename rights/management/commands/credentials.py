"""python manage.py credentials FILE [--json]: read a file's Content Credentials and say what the file is.

Exit 0: a manifest signed by this platform's CA, intact, whose ledger proof verifies. Exit 1: anything else
(invalid, untrusted, no manifest: then the fingerprint index names what the file most likely is). Exit 2: the
file cannot be read.
"""

import json
from pathlib import Path

import c2pa
from django.core.management.base import BaseCommand, CommandError

from fingerprint.services import BadQuery
from rights.credentials import NoCredentials, credentials_describe, credentials_identify, credentials_read


class Command(BaseCommand):
    help = "Validate a file's Content Credentials (C2PA) against the platform CA and its ledger proof."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args, file: Path, as_json: bool, **options):
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror or exc}", returncode=2) from None
        try:
            report = credentials_read(data)
        except NoCredentials:
            return self._identify(data, file.name, as_json)
        except c2pa.C2paError as exc:
            raise CommandError(f"{file}: its Content Credentials cannot be read: {exc}", returncode=1) from None
        if as_json:
            self.stdout.write(json.dumps(report.as_json(), indent=2, default=str))
        else:
            signer = report.manifest.get("signature_info", {})
            self.stdout.write(
                f"{file}: Content Credentials {report.state}, signed by "
                f"{signer.get('common_name', '?')} ({signer.get('issuer', '?')})"
            )
            for line in credentials_describe(report):
                self.stdout.write("  " + line)
        if report.failures:
            codes = ", ".join(f["code"] for f in report.failures)
            raise CommandError(f"{file}: the Content Credentials do not hold: {codes}", returncode=1)
        if not report.trusted:
            reason = report.ledger_problem or "signed by a certificate this platform does not trust"
            raise CommandError(f"{file}: {reason}", returncode=1)
        return None

    def _identify(self, data: bytes, name: str, as_json: bool):
        try:
            found = credentials_identify(data, name=name)
        except BadQuery as exc:
            raise CommandError(
                f"{name}: no Content Credentials, and it cannot be fingerprinted: {exc}", returncode=1
            ) from None
        best = found["best"]
        if as_json:
            self.stdout.write(json.dumps({"state": "missing", "trusted": False, "fingerprint": found}, indent=2))
        elif best:
            what = (
                f"track #{best['track']}"
                if best["track"]
                else f"corpus item #{best['corpus_item']} of {best['dataset']!r}"
            )
            self.stdout.write(
                f"{name}: no Content Credentials; by its fingerprint it is most likely {best['title']!r} "
                f"({what}), score {best['score']:.3f} ({best['level']})"
            )
        raise CommandError(
            f"{name}: no Content Credentials" + ("" if best else ", and no match in the fingerprint index"),
            returncode=1,
        )
