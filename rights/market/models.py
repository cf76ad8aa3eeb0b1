"""Loops and stems for sale: assets cut from published tracks, licence offers, orders, licences, revenue shares."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q


class AssetKind(models.TextChoices):
    STEM = "stem", "Stem (one instrument)"
    MIX = "mix", "Full mix"


class AssetStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Asset(models.Model):
    """One bar-aligned loop of one stem (or of the mix) of a published track: the thing a buyer licenses."""

    track = models.ForeignKey("catalogue.Track", on_delete=models.PROTECT, related_name="assets")
    organisation = models.ForeignKey(
        "accounts.Organisation",
        on_delete=models.PROTECT,
        related_name="assets",
        help_text="The creator's organisation (the seller).",
    )
    kind = models.CharField(max_length=8, choices=AssetKind.choices)
    stem = models.CharField(max_length=100, help_text="Instrument part (melody, bass, ...) or 'mix'.")
    program = models.PositiveSmallIntegerField(null=True, blank=True, help_text="General MIDI program.")
    is_drum = models.BooleanField(default=False)
    start_bar = models.PositiveIntegerField()
    bars = models.PositiveSmallIntegerField()
    key = models.CharField(max_length=32, blank=True, db_index=True)
    tempo_bpm = models.FloatField(db_index=True)
    time_signature = models.CharField(max_length=16, blank=True)
    duration_s = models.FloatField()
    sample_rate = models.PositiveIntegerField(help_text="Of the file sold (previews and analysis: 22,050 Hz mono).")
    channels = models.PositiveSmallIntegerField(default=1, help_text="Of the file sold: 2 for stereo.")
    bit_depth = models.PositiveSmallIntegerField(default=16, help_text="Of the file sold (FLAC).")
    loudness_lufs = models.FloatField(
        null=True, blank=True, help_text="Integrated loudness (EBU R128) of the whole stem after normalisation."
    )
    true_peak_dbtp = models.FloatField(null=True, blank=True, help_text="True peak of the whole stem, dBTP.")
    method = models.CharField(max_length=64, help_text="How the bar grid and the stem were obtained.")
    path = models.CharField(max_length=300, help_text="Full-quality FLAC; only licence holders download it.")
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    preview_path = models.CharField(max_length=300)
    waveform_path = models.CharField(max_length=300)
    chromaprint = models.TextField(blank=True, help_text="Raw Chromaprint sub-fingerprints, comma-separated.")
    status = models.CharField(max_length=16, choices=AssetStatus.choices, default=AssetStatus.AVAILABLE)
    status_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Denormalised from the offers and the track so that a catalogue search is one indexed scan of this table
    # (EXISTS over offers and a join for the title cost ~100 ms at 100,000 assets). Kept by `asset_prices_refresh`.
    price_non_exclusive = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    price_extended = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    price_exclusive = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    from_price = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="The cheapest active offer; empty when nothing is on offer.",
    )
    search_text = models.CharField(max_length=500, blank=True, help_text="Lower-case track title, stem and key.")
    # PostgreSQL: the words of search_text, set by a trigger and GIN-indexed (migration 0004); other databases
    # match search_text instead.
    search_vector = SearchVectorField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["track", "stem", "start_bar", "bars"], name="asset_unique_loop"),
        ]
        indexes = [
            models.Index(fields=["status", "-created_at", "-id"], name="asset_newest"),
            models.Index(fields=["status", "key", "bars"], name="asset_key_bars"),
            models.Index(fields=["status", "tempo_bpm"], name="asset_tempo"),
            models.Index(fields=["track", "stem", "start_bar"], name="asset_loop_family"),
            models.Index(fields=["status", "from_price"], name="asset_from_price"),
            models.Index(fields=["status", "stem", "bars"], name="asset_stem_bars"),
            models.Index(fields=["organisation", "status", "from_price"], name="asset_creator_price"),
        ]

    def __str__(self) -> str:
        return f"{self.track} · {self.stem} · bars {self.start_bar + 1}-{self.start_bar + self.bars}"

    @property
    def end_bar(self) -> int:
        return self.start_bar + self.bars

    @staticmethod
    def search_text_for(*, title: str, stem: str, key: str) -> str:
        return f"{title} {stem} {key}".lower()[:500]

    def withdraw(self, reason: str) -> None:
        self.status = AssetStatus.WITHDRAWN
        self.status_reason = reason[:300]
        self.save(update_fields=["status", "status_reason"])


class LicenceType(models.TextChoices):
    NON_EXCLUSIVE = "non_exclusive", "Non-exclusive"
    EXTENDED = "extended", "Extended / sync"
    EXCLUSIVE = "exclusive", "Exclusive"


class LicenceOffer(models.Model):
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="offers")
    licence_type = models.CharField(max_length=16, choices=LicenceType.choices)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["asset_id", "price"]
        constraints = [
            models.UniqueConstraint(fields=["asset", "licence_type"], name="offer_unique_type"),
            models.CheckConstraint(condition=Q(price__gt=0), name="offer_price_positive"),
        ]
        indexes = [models.Index(fields=["licence_type", "active", "price"], name="offer_type_price")]

    def __str__(self) -> str:
        return f"{self.get_licence_type_display()} {self.price} {self.currency}"


class OrderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PAID = "paid", "Paid"
    FAILED = "failed", "Payment failed (retriable)"
    REFUSED = "refused", "Refused"
    REFUNDED = "refunded", "Refunded (failed after the payment)"


class Order(models.Model):
    """A buyer's attempt to license an asset. Unique per (buyer, idempotency key): a retry finds the same order."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    organisation = models.ForeignKey(
        "accounts.Organisation", null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    idempotency_key = models.CharField(max_length=100)
    offer = models.ForeignKey(LicenceOffer, on_delete=models.PROTECT, related_name="orders")
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="orders")
    licence_type = models.CharField(max_length=16, choices=LicenceType.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=OrderStatus.choices, default=OrderStatus.PENDING)
    error = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    provider = models.CharField(max_length=100, blank=True)
    payment_reference = models.CharField(max_length=200, blank=True)
    refund_reference = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["buyer", "idempotency_key"], name="order_idempotent"),
        ]

    def __str__(self) -> str:
        return f"order {self.pk} ({self.status})"

    def fail(self, error: str, *, status: str = OrderStatus.FAILED) -> None:
        self.status = status
        self.error = error[:500]
        self.save(update_fields=["status", "error"])


class Licence(models.Model):
    """What a paid order grants: the terms, the certificate and the right to download the asset."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="licence")
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="licences")
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="licences")
    licence_type = models.CharField(max_length=16, choices=LicenceType.choices)
    terms = models.JSONField()
    ledger_entry = models.ForeignKey("ledger.LedgerEntry", null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_licence_type_display()} licence of {self.asset}"


class PayeeKind(models.TextChoices):
    CREATOR = "creator", "Creator"
    PLATFORM = "platform", "Platform fee"
    LABEL = "label", "Label (training data)"
    RIGHTS_HOLDER = "rights_holder", "Rights holder (matched work)"


class RevenueShare(models.Model):
    """One payee's exact share of one sale. The shares of an order sum to its amount to the cent."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="shares")
    payee_kind = models.CharField(max_length=16, choices=PayeeKind.choices)
    organisation = models.ForeignKey(
        "accounts.Organisation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="revenue_shares",
        help_text="Empty for the platform fee.",
    )
    dataset = models.ForeignKey("catalogue.Dataset", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["organisation", "created_at"], name="share_statement")]

    def __str__(self) -> str:
        return f"{self.payee_kind} {self.amount} {self.currency}"
