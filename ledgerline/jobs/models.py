from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED)


class JobKind(models.TextChoices):
    """What a job does; each kind has one handler (`ledgerline.jobs.registry`). The values are stored in rows and
    shown by the API and commands, so they never change."""

    INGEST = "ingest", "Ingest a dataset"
    TRACK_UPLOAD = "track_upload", "Analyse an uploaded track"
    DEMO = "demo", "Load a demo stage"
    FINGERPRINT = "fingerprint", "Fingerprint and index"
    SCREENING = "screening", "Screen for near-copies"
    TRAIN = "train", "Train a model"
    GENERATE = "generate", "Generate a track"
    MODEL_STATS = "model_stats", "Summarise a model's samples against its corpus"
    SPLIT = "split", "Split a track into loops and stems"
    SELFTEST = "selftest", "Worker self-test"


class JobSubject(models.TextChoices):
    """The kind of row a job works on (`Job.subject_type`); the names are those of the ledger's subjects."""

    DATASET = "dataset", "Dataset"
    MODEL = "model", "Trained model"
    TRACK = "track", "Track"
    SCREENING = "screening", "Screening"


def _lease() -> timedelta:
    return timedelta(seconds=settings.LEDGERLINE_JOB_LEASE_S)


class Job(models.Model):
    """One long piece of work (ingest, train, generate, screen, split, anchor) as the API and pages see it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=32, choices=JobKind.choices, db_index=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0)
    message = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    organisation = models.ForeignKey(
        "accounts.Organisation", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Until then the job belongs to its worker (running; renewed while it runs) or to its queued message; a job
    # whose lease expired is taken over by a redelivery or sent again by the stale-job sweep.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    task = models.CharField(max_length=200, blank=True, help_text="Name of the Celery task that runs the job.")
    queue = models.CharField(max_length=32, blank=True)
    # The row the job works on (the track a split job cuts, the dataset an ingest reads), so "the split job of a
    # track" is one indexed lookup; empty for jobs about many rows (fingerprinting) or none (demo, self-test).
    subject_type = models.CharField(max_length=32, choices=JobSubject.choices, blank=True)
    subject_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["subject_type", "subject_id"], name="jobs_job_subject")]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    def claim(self, worker: str) -> bool:
        """Take the job for this worker. A conditional UPDATE, so exactly one claimant wins.

        A job may be claimed when queued, or when running with an expired lease: its worker was killed and the
        broker redelivered the message (acks_late), or the stale-job sweep sent it again. A finished job is never
        claimed again.
        """
        now = timezone.now()
        expired = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
        claimable = Q(status=JobStatus.QUEUED) | (Q(status=JobStatus.RUNNING) & expired)
        updated = Job.objects.filter(claimable, pk=self.pk).update(
            status=JobStatus.RUNNING,
            started_at=now,
            heartbeat_at=now,
            lease_expires_at=now + _lease(),
            worker=worker[:200],
            attempts=models.F("attempts") + 1,
        )
        if updated:
            self.refresh_from_db()
        return bool(updated)

    def renew_lease(self) -> bool:
        """Extend this worker's lease by one lease period; False when the job is no longer running as this
        worker's (finished, or taken over after the lease expired). Writes the row only, never this instance:
        the lease keeper calls it from its own thread."""
        now = timezone.now()
        return bool(
            Job.objects.filter(pk=self.pk, status=JobStatus.RUNNING, worker=self.worker).update(
                heartbeat_at=now, lease_expires_at=now + _lease()
            )
        )

    def lease_remaining_s(self) -> float:
        if self.lease_expires_at is None:
            return 0.0
        return max((self.lease_expires_at - timezone.now()).total_seconds(), 0.0)

    def set_progress(self, fraction: float, message: str = "") -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        now = timezone.now()
        Job.objects.filter(pk=self.pk).update(progress=fraction, message=message[:500], heartbeat_at=now)
        self.progress, self.message, self.heartbeat_at = fraction, message[:500], now

    def succeed(self, result: dict | None = None) -> None:
        self.status = JobStatus.SUCCEEDED
        self.progress = 1.0
        self.result = result or {}
        self.finished_at = timezone.now()
        self.error = ""
        self.save(update_fields=["status", "progress", "result", "finished_at", "error"])

    def fail(self, error: str, result: dict | None = None) -> None:
        self.status = JobStatus.FAILED
        self.error = error
        if result is not None:
            self.result = result
        self.finished_at = timezone.now()
        self.save(update_fields=["status", "error", "result", "finished_at"])
