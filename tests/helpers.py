"""Small helpers shared by tests that cross processes."""

from __future__ import annotations

import time

from ledgerline.jobs.models import Job


def wait_until_finished(job_id, *, seconds: float = 90) -> Job:
    """Poll a job row that another process (a real worker) runs, until it finishes or the time is up."""
    deadline = time.monotonic() + seconds
    while not Job.objects.get(pk=job_id).is_finished and time.monotonic() < deadline:
        time.sleep(0.3)
    return Job.objects.get(pk=job_id)


def media_files(settings) -> list[str]:
    """Every file under the media root (blobs and any `.incoming-*` left by a write), relative to it."""
    root = settings.MEDIA_ROOT
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []
