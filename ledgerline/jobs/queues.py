"""The Celery queues jobs run on. Plain Python (no Django), so that the settings can build Celery's queues from it.

Each job kind names its queue when its handler is registered (`ledgerline.jobs.registry.job_handler`); the
workers of `docker/compose.yml` consume them: `cpu,ledger` on CPU machines, `gpu` on the GPU machine.
"""

from __future__ import annotations

from enum import StrEnum


class JobQueue(StrEnum):
    CPU = "cpu"  # ingest, fingerprinting, screening, rendering, splitting
    GPU = "gpu"  # training and generation
    LEDGER = "ledger"  # anchoring and the stale-job sweep: short, and never behind a long job


QUEUES: tuple[str, ...] = tuple(queue.value for queue in JobQueue)
