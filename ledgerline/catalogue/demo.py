"""Demo step: organisations and users for every role, and the Bach chorales dataset, ingested; and the demo
loaded in the background, as a chain of jobs the web process runs while it serves."""

from __future__ import annotations

import sys
import threading
import time
import urllib.request

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from ledgerline.accounts.models import Organisation, Role
from ledgerline.accounts.services import membership_grant, user_create
from ledgerline.jobs.models import Job, JobKind, JobStatus
from ledgerline.jobs.progress import caused_by, wait_for_chain
from ledgerline.jobs.services import JobError, job_start, jobs_requeue_stale

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


def demo_people_and_dataset() -> dict:
    """The synchronous, fast part of the demo: organisations, users and the (empty) chorales dataset."""
    organisations, users = _people()
    dataset = Dataset.objects.filter(organisation=organisations["label"], name=DATASET_NAME).first()
    if dataset is None:
        dataset = dataset_create(
            organisation=organisations["label"],
            user=users["label"],
            name=DATASET_NAME,
            terms=DATASET_TERMS,
            is_public=True,
            description="Four-part chorales by J. S. Bach, from music21's bundled corpus.",
        )
    return {"organisations": organisations, "users": users, "dataset": dataset}


def chorales_ingest(
    *, stdout, context: dict, count: int, json_mode: bool = False, run_here: bool = False, paths: list | None = None
) -> None:
    """Ingest the first `count` chorales (or `paths`) and wait for their fingerprinting and indexing (the demo's
    generated track is screened against the indexed chorales, never against an index that is still behind)."""
    dataset, label = context["dataset"], context["users"]["label"]
    paths = chorale_paths(count) if paths is None else paths
    if dataset.status == DatasetStatus.READY and dataset.items.count() >= len(paths):
        stdout.write(f"demo: dataset {dataset.name} already holds {dataset.items.count()} items")
        return
    known = set(dataset.uploads.values_list("original_name", flat=True))
    new = [path for path in paths if path.name not in known]
    stdout.write(
        f"demo: ingesting {len(new)} more Bach chorales into {dataset.name}, {len(paths)} in all "
        f"(rendered with FluidSynth)"
    )
    with transaction.atomic():
        for path in new:
            dataset_upload_add(dataset=dataset, user=label, path=path)
    job = dataset_ingest_start(dataset=dataset, user=label)
    done, *follow_ups = wait_for_chain(job.pk, json_mode=json_mode, run_here=run_here)
    dataset.refresh_from_db()
    indexed = sum(j.result.get("fingerprinted", 0) for j in follow_ups if j.kind == JobKind.FINGERPRINT)
    stdout.write(
        f"demo: ingest {done.status}: {done.result.get('items_ingested', 0)} new items, "
        f"{dataset.items.count()} in the dataset, {indexed} indexed for screening"
    )


def load(*, stdout, options: dict, context: dict) -> None:
    context.update(demo_people_and_dataset())
    chorales_ingest(
        stdout=stdout,
        context=context,
        count=int(options.get("chorales") or CHORALES),
        json_mode=bool(options.get("quiet")),
    )


# --- The demo in the background (`load_demo --background`, what `make run` does) ----------------------------
# The web process serves at once; these stages run one after the other as "demo" jobs, each caused by the one
# before (so `wait_for_chain` on the first follows the whole demo). Each stage runs the jobs it starts in its own
# thread (the embedded runner has one), and each is idempotent: a stage resumed after a restart skips what exists.

CHORALES = 371
FIRST_CHORALES = 8  # enough for a Markov model and a screened demo track within minutes on two cores
CHORALE_BATCH = 40  # chorales per "chorales" stage job (about two minutes on two busy cores)
#: (name, what the dashboard says, the function `stage(*, stdout, options, context)`)
BACKGROUND_STAGES = [
    (
        "first-chorales",
        f"ingest and index the first {FIRST_CHORALES} chorales",
        "ledgerline.catalogue.demo.stage_first_chorales",
    ),
    ("markov", "train the Markov model", "generation.demo.stage_markov"),
    ("track", "generate and screen the demo track", "generation.demo.stage_track"),
    ("chorales", "ingest and index the other chorales, in batches", "ledgerline.catalogue.demo.stage_chorales"),
    ("lstm", "train the LSTM until its held-out loss stops improving", "generation.demo.stage_lstm"),
    ("lstm-track", "generate and screen the LSTM's demo track", "generation.demo.stage_lstm_track"),
    ("anchor", "anchor the ledger", "ledgerline.ledger.demo.load"),
]


def stage_first_chorales(*, stdout, options: dict, context: dict) -> None:
    count = min(FIRST_CHORALES, int(options.get("chorales") or CHORALES))
    chorales_ingest(stdout=stdout, context=context, count=count, json_mode=True, run_here=True)


def stage_chorales(*, stdout, options: dict, context: dict) -> bool:
    """The next `CHORALE_BATCH` chorales; True (run this stage again) while some are left. Batches, not one long
    job: the embedded runner has one thread, and a user's job queued meanwhile runs between two batches."""
    everything = chorale_paths(int(options.get("chorales") or CHORALES))
    known = set(context["dataset"].uploads.values_list("original_name", flat=True))
    batch = [path for path in everything if path.name not in known][:CHORALE_BATCH]
    chorales_ingest(
        stdout=stdout,
        context=context,
        count=len(known) + len(batch),
        paths=[path for path in everything if path.name in known] + batch,
        json_mode=True,
        run_here=True,
    )
    return bool(batch) and len(known) + len(batch) < len(everything)


class _JobLog:
    """A stage's `stdout`: its lines go to the web process's console (where `make run` was typed), one line
    each, and become the stage job's message."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def write(self, line: str) -> None:
        sys.stdout.write(line.rstrip("\n") + "\n")
        sys.stdout.flush()
        self.job.set_progress(self.job.progress, line.removeprefix("demo: "))


def _stage_job(*, index: int, options: dict, user, cause: Job | None, send: bool = True) -> Job:
    params = {
        "stage": BACKGROUND_STAGES[index][0],
        "chorales": options["chorales"],
        **(caused_by(cause) if cause else {}),
    }
    return job_start(kind=JobKind.DEMO, user=user, params=params, send=send)


def demo_background_start(*, chorales: int = CHORALES, send: bool = True) -> Job:
    """Create the demo's people and dataset now, and queue its first stage; returns that stage's job.

    `send=False` (a command that exits at once on the embedded runner) leaves the job to the web process's sweep.
    """
    context = demo_people_and_dataset()
    with transaction.atomic():
        return _stage_job(
            index=0, options={"chorales": chorales}, user=context["users"]["admin"], cause=None, send=send
        )


def demo_send_when_serving(url: str, *, timeout_s: float = 300.0) -> threading.Thread:
    """Send the demo's queued stage (and any other job queued before now) once `url` answers: the first page is
    served before the demo's imports and rendering compete with it for the CPU (`serve_demo`)."""
    queued_before = timezone.now()

    def send() -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url, timeout=30).close()
                break
            except OSError:
                time.sleep(0.5)
        try:
            jobs_requeue_stale(queued_before=queued_before)
        finally:
            connection.close()

    thread = threading.Thread(target=send, daemon=True, name="ledgerline-demo-start")
    thread.start()
    return thread


def demo_stage_handler(job: Job) -> dict:
    """Run one stage of the demo, then queue the next, or the same again when it says so (caused by this one)."""
    names = [name for name, _, _ in BACKGROUND_STAGES]
    if job.params.get("stage") not in names:
        raise JobError(f"unknown demo stage {job.params.get('stage')!r}; the stages are {', '.join(names)}")
    index = names.index(job.params["stage"])
    log = _JobLog(job)
    log.write(f"demo: stage {index + 1}/{len(names)}: {BACKGROUND_STAGES[index][1]}")
    context = demo_people_and_dataset()
    options = {"chorales": int(job.params.get("chorales") or CHORALES), "quiet": True}
    again = import_string(BACKGROUND_STAGES[index][2])(stdout=log, options=options, context=context)
    if again or index + 1 < len(BACKGROUND_STAGES):
        _stage_job(index=index if again else index + 1, options=options, user=job.created_by, cause=job)
    return {"stage": names[index], "message": job.message}


def demo_progress() -> list[dict]:
    """The demo's stages as the dashboard shows them: each with its job (None before it is queued) and, while it
    runs, the job it is waiting for (ingest, fingerprinting, training, ...)."""
    stage_jobs = {j.params.get("stage"): j for j in Job.objects.filter(kind=JobKind.DEMO).order_by("created_at")}
    if not stage_jobs:
        return []
    rows = []
    for name, title, _ in BACKGROUND_STAGES:
        job = stage_jobs.get(name)
        current = None
        if job is not None and job.status == JobStatus.RUNNING and job.started_at is not None:
            current = (
                Job.objects.exclude(kind=JobKind.DEMO)
                .filter(created_at__gte=job.started_at)
                .order_by("-created_at")
                .first()
            )
        rows.append({"name": name, "title": title, "job": job, "current": current})
    return rows
