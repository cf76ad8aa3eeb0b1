"""Demo step: organisations and users for every role, and the Bach chorales dataset, ingested."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from ledgerline.accounts.models import Organisation, Role
from ledgerline.accounts.services import membership_grant, user_create
from ledgerline.jobs.progress import wait_for_chain

from .ingest import dataset_ingest_start
from .models import Dataset, DatasetStatus
from .services import dataset_create, dataset_upload_add

DEMO_PASSWORD = "ledgerline"
ORGANISATIONS = {
    Role.LABEL: ("demo-label", "Demo Label Records"),
    Role.CREATOR: ("demo-studio", "Demo Studio"),
    Role.REVIEWER: ("demo-rights", "Demo Rights Team"),
    Role.BUYER: ("demo-shop", "Demo Shop"),
}
DATASET_NAME = "Bach chorales"
DATASET_TERMS = {
    "licence_name": "Public domain (music21 corpus), curated by Demo Label",
    "training_allowed": True,
    "generation_allowed": True,
    "commercial_use": True,
    "attribution": "J. S. Bach, chorales from the music21 corpus",
    "revenue_share_percent": "10",
    "territory": "worldwide",
}


def _user(username: str, *, staff: bool = False):
    User = get_user_model()
    existing = User.objects.filter(username=username).first()
    return existing or user_create(username=username, password=DEMO_PASSWORD, is_staff=staff)


@transaction.atomic
def _people() -> tuple[dict, dict]:
    organisations, users = {}, {}
    for role, (slug, name) in ORGANISATIONS.items():
        org, _ = Organisation.objects.get_or_create(slug=slug, defaults={"name": name})
        user = _user(role.value)
        membership_grant(user=user, organisation=org, role=role)
        organisations[role.value], users[role.value] = org, user
    # Flags are decided by the matched work's rights holder: the demo reviewer also reviews for the label.
    membership_grant(user=users["reviewer"], organisation=organisations["label"], role=Role.REVIEWER)
    users["admin"] = _user("admin", staff=True)
    return organisations, users


def chorale_paths(count: int) -> list:
    from pathlib import Path

    from music21 import corpus

    paths = []
    for name in list(corpus.chorales.Iterator(returnType="filename"))[:count]:
        found = corpus.getWork(name)
        # A few chorales exist both as Humdrum and MusicXML: take one file, the MusicXML.
        candidates = [Path(str(p)) for p in (found if isinstance(found, list) else [found])]
        paths.append(next((p for p in candidates if p.suffix == ".mxl"), candidates[0]))
    return list(dict.fromkeys(paths))  # the iterator names some chorales twice


def load(*, stdout, options: dict, context: dict) -> None:
    organisations, users = _people()
    context.update(organisations=organisations, users=users)
    label = users["label"]
    dataset = Dataset.objects.filter(organisation=organisations["label"], name=DATASET_NAME).first()
    if dataset is None:
        dataset = dataset_create(organisation=organisations["label"], user=label, name=DATASET_NAME,
                                 terms=DATASET_TERMS, is_public=True,
                                 description="Four-part chorales by J. S. Bach, from music21's bundled corpus.")
    context["dataset"] = dataset
    paths = chorale_paths(int(options.get("chorales") or 371))
    if dataset.status == DatasetStatus.READY and dataset.items.count() >= len(paths):
        stdout.write(f"demo: dataset {dataset.name} already holds {dataset.items.count()} items")
        return
    stdout.write(f"demo: ingesting {len(paths)} Bach chorales into {dataset.name} (rendered with FluidSynth)")
    with transaction.atomic():
        known = set(dataset.uploads.values_list("original_name", flat=True))
        for path in paths:
            if path.name not in known:
                dataset_upload_add(dataset=dataset, user=label, path=path)
    job = dataset_ingest_start(dataset=dataset, user=label)
    # Ingesting causes fingerprinting and indexing: the demo's generated track is screened against the indexed
    # chorales, never against an index that is still behind.
    done, *follow_ups = wait_for_chain(job.pk, json_mode=bool(options.get("quiet")))
    dataset.refresh_from_db()
    indexed = sum(j.result.get("fingerprinted", 0) for j in follow_ups if j.kind == "fingerprint")
    stdout.write(f"demo: ingest {done.status}: {done.result.get('items_ingested', 0)} new items, "
                 f"{dataset.items.count()} in the dataset, {indexed} indexed for screening")
