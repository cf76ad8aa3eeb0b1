from __future__ import annotations

from django.db import models

# The tables keep the names they had in the `rights` app, where the ledger began: moving the models to this app
# changed only Django's state (migrations ledger 0001, rights 0004), so existing logs keep every row.


class LedgerEntry(models.Model):
    """One append-only entry of the provenance log. `leaf_hash` is the RFC 6962 leaf hash of `canonical`."""

    index = models.BigIntegerField(unique=True)
    event = models.CharField(max_length=64, db_index=True)
    subject_type = models.CharField(max_length=64)
    subject_id = models.CharField(max_length=64)
    organisation = models.ForeignKey(
        "accounts.Organisation", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_entries"
    )
    private = models.BooleanField(default=False)
    payload = models.JSONField(default=dict)
    canonical = models.TextField()
    leaf_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "rights_ledgerentry"
        ordering = ["index"]
        indexes = [models.Index(fields=["subject_type", "subject_id"])]

    def __str__(self) -> str:
        return f"#{self.index} {self.event} {self.subject_type}:{self.subject_id}"


class TreeHead(models.Model):
    """A signed tree head: the log's size and root at a moment, signed with the log's Ed25519 key.

    Every append transaction signs one, in the same transaction as its entries, so no committed entry is ever
    outside a signed head. `frontier` and `leaves` are not signed but are committed to by the signed root:
    `frontier` (the right edge of the tree at this size) lets the next appender compute its root without reading
    the log, and `leaves` (the leaf hashes this head added to the previous one) lets `ledger verify` name the
    entry that was rewritten together with its stored hash. Both are null on heads signed before they existed.
    """

    tree_size = models.BigIntegerField(unique=True)
    root_hash = models.CharField(max_length=64)
    timestamp_ms = models.BigIntegerField()
    signature = models.CharField(max_length=100, help_text="base64 Ed25519 signature")
    public_key = models.TextField(help_text="PEM of the key that signed it")
    frontier = models.BinaryField(
        null=True, help_text="32-byte roots of the tree's complete right-edge subtrees, largest first"
    )
    leaves = models.BinaryField(
        null=True, help_text="32-byte leaf hashes of the entries this head added to the previous one"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "rights_treehead"
        ordering = ["tree_size"]

    def __str__(self) -> str:
        return f"STH size={self.tree_size} root={self.root_hash[:12]}…"


class AnchorStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ANCHORED = "anchored", "Anchored"
    FAILED = "failed", "Failed, will retry"


class Anchor(models.Model):
    """A tree head published on a chain: the receipt that lets anyone check it there."""

    tree_head = models.OneToOneField(TreeHead, on_delete=models.PROTECT, related_name="anchor")
    status = models.CharField(max_length=16, choices=AnchorStatus.choices, default=AnchorStatus.PENDING)
    chain_id = models.BigIntegerField(null=True, blank=True)
    contract = models.CharField(max_length=42, blank=True)
    tx_hash = models.CharField(max_length=66, blank=True)
    block_number = models.BigIntegerField(null=True, blank=True)
    provider = models.CharField(max_length=200, blank=True, help_text="'dev' or the JSON-RPC URI")
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    anchored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "rights_anchor"
        ordering = ["tree_head__tree_size"]

    def __str__(self) -> str:
        return f"anchor of {self.tree_head} ({self.status})"
