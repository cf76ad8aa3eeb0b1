"""The generation app's jobs: training (with the model marked failed when it fails) and generation, on the GPU
queue. Registered at app start (`GenerationConfig.ready`)."""

from __future__ import annotations

from ledgerline.jobs.models import Job, JobKind
from ledgerline.jobs.queues import JobQueue
from ledgerline.jobs.registry import job_handler

from .services import generate_handler, model_failed, model_stats_handler, train_handler


@job_handler(JobKind.TRAIN, queue=JobQueue.GPU, on_failure=model_failed)
def train(job: Job) -> dict:
    return train_handler(job)


@job_handler(JobKind.GENERATE, queue=JobQueue.GPU)
def generate(job: Job) -> dict:
    return generate_handler(job)


@job_handler(JobKind.MODEL_STATS, queue=JobQueue.GPU)
def model_stats(job: Job) -> dict:
    return model_stats_handler(job)
