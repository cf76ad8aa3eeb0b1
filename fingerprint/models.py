from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from .index_key import IndexKey

#: Fingerprints a screening could not have searched: not in the live indexes yet, or failed (a rebuild may mark a
#: failed one indexed: it still holds no vectors).
UNSEARCHED = models.Q(indexed=False) | ~models.Q(error="")


class Fingerprint(models.Model):
    """Screening features of one corpus item or one published track (stored as an npz blob)."""

    corpus_item = models.OneToOneField(
        "catalogue.CorpusItem", null=True, blank=True, on_delete=models.CASCADE, related_name="fingerprint"
    )
    track = models.OneToOneField(
        "catalogue.Track", null=True, blank=True, on_delete=models.CASCADE, related_name="fingerprint"
    )
    features_path = models.CharField(max_length=300, blank=True)
    duration_s = models.FloatField(default=0.0)
    sub_fingerprints = models.PositiveIntegerField(default=0)
    chroma_windows = models.PositiveIntegerField(default=0)
    melody_windows = models.PositiveIntegerField(default=0)
    problems = models.JSONField(default=list, blank=True)
    indexed = models.BooleanField(default=False)
    #: Why the features could not be computed (a corrupt blob, a transcription failure). A failed item is left out
    #: of the indexes and of the sweep's retries, and every screening names it among its problems.
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(corpus_item__isnull=False, track__isnull=True)
                | models.Q(corpus_item__isnull=True, track__isnull=False),
                name="fingerprint_of_one_thing",
            )
        ]
        # Each screening reads the fingerprints it could not search (fingerprint.coverage); this index holds only
        # those, so the read costs what is missing or failed, not the size of the corpus.
        indexes = [models.Index(fields=["indexed"], condition=UNSEARCHED, name="fingerprint_unsearched")]

    def __str__(self) -> str:
        return f"fingerprint of {self.corpus_item or self.track}"

    @property
    def key(self) -> IndexKey:
        return IndexKey.of(corpus_item_id=self.corpus_item_id, track_id=self.track_id)


class Against(models.TextChoices):
    ALL = "all", "Training corpus and published tracks"
    CORPUS = "corpus", "Training corpus"
    PUBLISHED = "published", "Published tracks"


class Verdict(models.TextChoices):
    PENDING = "", "Pending"
    CLEAR = "clear", "Clear"
    FLAG = "flag", "Flag"
    #: Some of what the screening had to search was not indexed yet: never a "clear".
    INCOMPLETE = "incomplete", "Incomplete"


class Screening(models.Model):
    """One screened piece: an uploaded file or a generated track."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.PROTECT, related_name="screenings")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    track = models.ForeignKey(
        "catalogue.Track", null=True, blank=True, on_delete=models.CASCADE, related_name="screenings"
    )
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    original_name = models.CharField(max_length=500, blank=True)
    source_path = models.CharField(max_length=300, blank=True)
    features_path = models.CharField(max_length=300, blank=True)
    events_path = models.CharField(max_length=300, blank=True)
    against = models.CharField(max_length=16, choices=Against.choices, default=Against.ALL)
    verdict = models.CharField(max_length=16, choices=Verdict.choices, default=Verdict.PENDING, blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"screening {self.pk} ({self.verdict or 'pending'})"


class FlagStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLEARED = "cleared", "Cleared"
    BLOCKED = "blocked", "Blocked"
    LICENCE_REQUIRED = "licence_required", "Licence required"


class SimilarityFlag(models.Model):
    """A `flag` verdict's match, waiting for the rights team."""

    screening = models.ForeignKey(Screening, on_delete=models.CASCADE, related_name="flags")
    track = models.ForeignKey("catalogue.Track", null=True, blank=True, on_delete=models.CASCADE, related_name="flags")
    corpus_item = models.ForeignKey(
        "catalogue.CorpusItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="flags"
    )
    matched_track = models.ForeignKey(
        "catalogue.Track", null=True, blank=True, on_delete=models.SET_NULL, related_name="flags_against"
    )
    level = models.CharField(max_length=16)
    score = models.FloatField()
    evidence = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=FlagStatus.choices, default=FlagStatus.OPEN, db_index=True)
    reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    appeal = models.TextField(blank=True)  # the flagged track's creator's answer (one, while the flag is open)
    appealed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    appealed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["status", "-score", "id"]

    def __str__(self) -> str:
        return f"flag {self.pk} ({self.level} {self.score:.2f}, {self.status})"

    def decide(self, *, status: FlagStatus, reason: str, user) -> None:
        """Record a reviewer's decision (`tracks.lifecycle.Decision.flag_status`) on this open flag."""
        if self.status != FlagStatus.OPEN:
            raise ValueError(f"flag {self.pk} was already decided ({self.get_status_display().lower()})")
        if status == FlagStatus.OPEN:
            raise ValueError("a decision cannot reopen a flag")
        self.status = status
        self.reason = reason
        self.decided_by = user
        self.decided_at = timezone.now()
        self.save(update_fields=["status", "reason", "decided_by", "decided_at"])
