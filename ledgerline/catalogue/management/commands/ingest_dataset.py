"""python manage.py ingest_dataset PATH --org SLUG --name NAME [--terms terms.json] [--json]"""

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ledgerline.accounts.models import Organisation
from ledgerline.accounts.services import system_user
from ledgerline.catalogue.ingest import dataset_ingest_start
from ledgerline.catalogue.models import Dataset
from ledgerline.catalogue.services import dataset_create, dataset_update, dataset_upload_add
from ledgerline.jobs.models import JobKind
from ledgerline.jobs.progress import wait_for_chain


def bad_input(message: str) -> CommandError:
    return CommandError(message, returncode=2)


class Command(BaseCommand):
    help = "Ingest a folder, archive or file of music into a dataset of an organisation, and wait for the job."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--org", required=True, help="organisation slug (the label)")
        parser.add_argument("--name", required=True, help="dataset name (created if new, extended if it exists)")
        parser.add_argument("--terms", type=Path, help="licence terms as a JSON file")
        parser.add_argument("--public", action="store_true", help="list the dataset publicly")
        parser.add_argument("--user", help="act as this user (default: the system account)")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print a JSON summary")

    def handle(self, *args, path: Path, org: str, name: str, terms, public: bool, user, as_json: bool, **options):
        if not path.exists():
            raise bad_input(f"{path}: no such file or folder")
        organisation = Organisation.objects.filter(slug=org).first()
        if organisation is None:
            raise bad_input(f"unknown organisation {org!r}")
        terms_data = self._read_terms(terms)
        actor = self._actor(user)

        try:
            dataset = Dataset.objects.filter(organisation=organisation, name=name).first()
            if dataset is None:
                dataset = dataset_create(
                    organisation=organisation, user=actor, name=name, terms=terms_data, is_public=public
                )
            elif terms_data:
                dataset_update(dataset=dataset, user=actor, terms=terms_data)
        except ValidationError as exc:
            raise bad_input("; ".join(exc.messages)) from None

        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        refused = []
        for file in files:
            try:
                dataset_upload_add(dataset=dataset, user=actor, path=file)
            except ValidationError as exc:
                refused.append(
                    {
                        "name": str(file.relative_to(path) if path.is_dir() else file.name),
                        "reason": "; ".join(exc.messages),
                    }
                )
        job = dataset_ingest_start(dataset=dataset, user=actor)
        # The ingest causes fingerprinting and indexing: the command returns when the new items can be screened.
        done, *follow_ups = wait_for_chain(job.pk, json_mode=as_json)
        summary = {**done.result, "job": str(done.pk), "status": done.status}
        indexing = [j for j in follow_ups if j.kind == JobKind.FINGERPRINT]
        summary["indexing"] = {
            "jobs": [str(j.pk) for j in indexing],
            "status": "failed" if any(j.status == "failed" for j in indexing) else "succeeded",
            "fingerprinted": sum(j.result.get("fingerprinted", 0) for j in indexing),
            "failed": [line for j in indexing for line in j.result.get("failed", [])]
            + [j.error for j in indexing if j.error],
        }
        summary.setdefault("dataset", dataset.pk)
        summary["items_rejected"] = refused + summary.get("items_rejected", [])
        summary["items_rejected_total"] = len(refused) + summary.get("items_rejected_total", 0)
        if done.error:
            summary["error"] = done.error
        if as_json:
            self.stdout.write(json.dumps(summary, indent=2))
        else:
            self.stdout.write(
                f"dataset {dataset.pk} ({dataset.name}): {summary.get('items_ingested', 0)} ingested, "
                f"{summary.get('items_duplicate', 0)} duplicates, {summary['items_rejected_total']} rejected; "
                f"{summary['indexing']['fingerprinted']} indexed for screening"
            )
            for line in summary["indexing"]["failed"]:
                self.stdout.write(f"  not indexed: {line}")
            for rejection in summary["items_rejected"]:
                self.stdout.write(f"  rejected {rejection['name']}: {rejection['reason']}")
        if done.status != "succeeded":
            raise CommandError(f"ingest failed: {done.error}")
        if summary["indexing"]["status"] != "succeeded":
            raise CommandError(f"indexing failed: {'; '.join(summary['indexing']['failed'])[:500]}")

    def _read_terms(self, terms: Path | None) -> dict:
        if terms is None:
            return {}
        try:
            data = json.loads(terms.read_text())
        except FileNotFoundError:
            raise bad_input(f"{terms}: no such terms file") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad_input(f"{terms}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise bad_input(f"{terms}: licence terms must be a JSON object")
        return data

    def _actor(self, username: str | None):
        if username is None:
            return system_user()
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise bad_input(f"unknown user {username!r}")
        return user
