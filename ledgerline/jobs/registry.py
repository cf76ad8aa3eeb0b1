"""Job handlers by kind: one way to run a job.

Each app registers the handler of each of its job kinds in its own `jobs.py`, imported by its `AppConfig.ready`,
so the web process and every worker know all kinds:

    @job_handler(JobKind.SPLIT, queue=JobQueue.CPU)
    def split(job: Job) -> dict | None: ...

One Celery task (`ledgerline.jobs.tasks.job_run`) runs every job: it loads the row and calls the handler of its
kind (`ledgerline.jobs.services.run_job`). A service starts a job by kind (`job_start(kind=...)`) and never
imports a task module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .queues import QUEUES, JobQueue

if TYPE_CHECKING:
    from .models import Job

JobHandler = Callable[["Job"], "dict | None"]
FailureHook = Callable[["Job"], None]


class UnknownJobKind(LookupError):
    pass


@dataclass(frozen=True)
class JobSpec:
    kind: str
    handler: JobHandler
    queue: str
    # Lets the job's subject record the failure (a model marked failed, an upload's draft track), after the job
    # itself is marked failed.
    on_failure: FailureHook | None = None


_specs: dict[str, JobSpec] = {}


def job_handler(
    kind: str, *, queue: str = JobQueue.CPU, on_failure: FailureHook | None = None
) -> Callable[[JobHandler], JobHandler]:
    """Register the decorated function as the handler of `kind`, run on `queue`. A kind has one handler:
    registering another one for it is a mistake (two apps claiming one kind), so it raises."""
    if queue not in QUEUES:
        raise ValueError(f"job kind {kind!r}: unknown queue {queue!r} (queues: {', '.join(QUEUES)})")

    def register(handler: JobHandler) -> JobHandler:
        spec = JobSpec(kind=str(kind), handler=handler, queue=str(queue), on_failure=on_failure)
        known = _specs.get(spec.kind)
        if known is not None and known.handler is not handler:
            raise ValueError(f"job kind {kind!r} already has a handler: {known.handler.__qualname__}")
        _specs[spec.kind] = spec
        return handler

    return register


def job_spec(kind: str) -> JobSpec:
    try:
        return _specs[str(kind)]
    except KeyError:
        raise UnknownJobKind(f"no handler is registered for job kind {kind!r}") from None


def job_specs() -> dict[str, JobSpec]:
    """Every registered kind and its spec (for routing checks and the docs)."""
    return dict(_specs)


def job_unregister(kind: str) -> None:
    """Forget a kind (tests register handlers of their own)."""
    _specs.pop(str(kind), None)
