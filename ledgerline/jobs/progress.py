"""Waiting for a job from a management command, with a progress bar."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

from .models import Job


def wait_for_job(job_id, *, stdout=None, json_mode: bool = False, poll_s: float = 0.25, timeout_s: float | None = None) -> Job:
    """Poll the job row until it finishes. The bar goes to stderr so `--json` output on stdout stays clean."""
    started = time.monotonic()
    bar = None if json_mode else tqdm(total=100, unit="%", file=sys.stderr, leave=True, dynamic_ncols=True)
    try:
        while True:
            job = Job.objects.get(pk=job_id)
            if bar is not None:
                bar.n = round(job.progress * 100)
                bar.set_description(f"{job.kind} {job.status}")
                bar.set_postfix_str(job.message[:60])
                bar.refresh()
            if job.is_finished:
                return job
            if timeout_s is not None and time.monotonic() - started > timeout_s:
                raise TimeoutError(f"job {job.pk} did not finish within {timeout_s:.0f} s")
            time.sleep(poll_s)
    finally:
        if bar is not None:
            bar.close()
