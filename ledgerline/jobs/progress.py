"""Waiting for a job, and for the jobs it caused, from a management command, with one progress bar per stage.

A job that starts follow-up work records itself in the follow-up job's `params["caused_by"]` (an ingest causes
fingerprinting, a generation causes a screening, indexing causes screenings that were incomplete to run again).
`wait_for_chain` follows those links, so a command exits only when everything it set in motion has finished:
on the embedded thread runner a command that exited earlier would kill the follow-up work with the process.
"""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

from .models import Job, JobKind

#: A job's stage name on the console (the job kind otherwise).
STAGES = {
    JobKind.INGEST: "ingesting",
    JobKind.FINGERPRINT: "fingerprinting and indexing",
    JobKind.SCREENING: "screening",
    JobKind.GENERATE: "generating",
    JobKind.TRAIN: "training",
    JobKind.SPLIT: "splitting",
    JobKind.TRACK_UPLOAD: "uploading",
    JobKind.DEMO: "loading the demo",
}


class _LineProgress:
    """Progress for a console that is not a terminal (a log, CI): a line per 10 % or status change, no redraws."""

    def __init__(self, stage: str, stream) -> None:
        self.stage, self.stream, self.last = stage, stream, None

    def update(self, job: Job) -> None:
        state = (job.status, int(job.progress * 10))
        if state != self.last:
            self.last = state
            detail = f" ({job.message[:80]})" if job.message else ""
            self.stream.write(f"{self.stage}: {job.status} {job.progress:.0%}{detail}\n")
            self.stream.flush()

    def close(self) -> None:
        pass


class _BarProgress:
    def __init__(self, stage: str, stream) -> None:
        self.bar = tqdm(
            total=100,
            file=stream,
            leave=True,
            dynamic_ncols=True,
            desc=stage,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} {postfix}",
        )

    def update(self, job: Job) -> None:
        self.bar.n = round(job.progress * 100)
        self.bar.set_postfix_str(f"{job.status} {job.message[:60]}".strip(), refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def wait_for_job(
    job_id, *, stdout=None, json_mode: bool = False, poll_s: float = 0.25, timeout_s: float | None = None
) -> Job:
    """Poll the job row until it finishes. Progress goes to stderr so `--json` output on stdout stays clean."""
    started = time.monotonic()
    job = Job.objects.get(pk=job_id)
    stage = STAGES.get(job.kind, job.kind)
    progress = None if json_mode else (_BarProgress if sys.stderr.isatty() else _LineProgress)(stage, sys.stderr)
    try:
        while True:
            job = Job.objects.get(pk=job_id)
            if progress is not None:
                progress.update(job)
            if job.is_finished:
                return job
            if timeout_s is not None and time.monotonic() - started > timeout_s:
                raise TimeoutError(f"job {job.pk} did not finish within {timeout_s:.0f} s")
            time.sleep(poll_s)
    finally:
        if progress is not None:
            progress.close()


def caused_by(job: Job) -> dict:
    """The params entry that links a follow-up job to the job that caused it."""
    return {"caused_by": str(job.pk)}


def wait_for_chain(
    job_id, *, json_mode: bool = False, timeout_s: float | None = None, run_here: bool = False
) -> list[Job]:
    """Wait for the job, then for every job it caused, transitively; returns them all, in the order finished.

    `run_here`: run each job in this thread first (a job's handler that sets work in motion and must see it
    done: the embedded runner has one thread, busy with that handler). A job another worker claimed is waited for.
    """
    from .services import job_run_here

    finished: list[Job] = []
    pending = [str(job_id)]
    seen: set[str] = set()
    while pending:
        current = pending.pop(0)
        if current in seen:
            continue
        seen.add(current)
        if run_here:
            job_run_here(Job.objects.get(pk=current))
        finished.append(wait_for_job(current, json_mode=json_mode, timeout_s=timeout_s))
        # Follow-ups are created before their cause is marked finished, so they are all visible now.
        pending.extend(
            str(pk)
            for pk in Job.objects.filter(params__caused_by=current).order_by("created_at").values_list("pk", flat=True)
        )
    return finished
