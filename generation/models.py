from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.functional import cached_property

from .engine.baseline import readiness


class ModelStatus(models.TextChoices):
    UNTRAINED = "untrained", "Not trained yet"
    TRAINING = "training", "Training"
    # "ready" predates readiness to publish: a trained model may still not be ready (TrainedModel.not_ready).
    READY = "ready", "Trained"
    FAILED = "failed", "Training failed"


ARCHS = ("lstm", "transformer", "markov", "vae")


class TrainedModel(models.Model):
    """A generation model a creator trains on licensed datasets."""

    name = models.SlugField(max_length=100, unique=True)
    arch = models.CharField(max_length=32)
    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.PROTECT, related_name="models")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    config = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=ModelStatus.choices, default=ModelStatus.UNTRAINED)
    checkpoint_path = models.CharField(max_length=300, blank=True)
    checkpoint_sha256 = models.CharField(max_length=64, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    datasets = models.ManyToManyField("catalogue.Dataset", related_name="models", blank=True)
    training_items = models.JSONField(default=list, blank=True, help_text="[{corpus_item, dataset, sha256}]")
    markov_path = models.CharField(max_length=300, blank=True)
    guard_path = models.CharField(max_length=300, blank=True)
    frames_path = models.CharField(
        max_length=300, blank=True, help_text="the frame model (four-part harmony), when trained with frames"
    )
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    trained_at = models.DateTimeField(null=True, blank=True)
    provenance = models.JSONField(
        default=dict,
        blank=True,
        help_text="{licence_terms: {taken_at, ledger_index, datasets: [{id, name, organisation, terms}]}}: the "
        "training datasets' licence terms when training started; its tracks' sales are split by them.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @cached_property
    def not_ready(self) -> str | None:
        """Why this model's tracks may not be published, or None when they may (see `readiness`)."""
        return readiness(self.arch, self.metrics)

    def status_label(self) -> str:
        """Its status in the pages' words: a trained model says whether its tracks may be published."""
        if self.status != ModelStatus.READY:
            return self.get_status_display()
        return "Trained · not ready to publish" if self.not_ready else "Trained · ready to publish"

    def licence_terms(self) -> dict[int, dict]:
        """The licence terms each training dataset had when this model was trained, by dataset id (empty for a
        model trained before terms were snapshotted and not backfilled)."""
        snapshot = (self.provenance or {}).get("licence_terms") or {}
        return {int(entry["id"]): entry["terms"] for entry in snapshot.get("datasets", [])}
