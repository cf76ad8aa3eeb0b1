from django.contrib import admin

from .models import Anchor, LedgerEntry, TreeHead


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger is append-only: the admin shows it and never edits it."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("index", "event", "subject_type", "subject_id", "organisation", "private", "created_at")
    list_filter = ("event", "private")


@admin.register(TreeHead)
class TreeHeadAdmin(ReadOnlyAdmin):
    list_display = ("tree_size", "root_hash", "timestamp_ms", "created_at")


@admin.register(Anchor)
class AnchorAdmin(ReadOnlyAdmin):
    list_display = ("tree_head", "status", "chain_id", "tx_hash", "block_number", "attempts", "anchored_at")
    list_filter = ("status",)
