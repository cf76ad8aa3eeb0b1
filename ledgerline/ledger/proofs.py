"""Proof documents for third parties (JSON, hex hashes)."""

from __future__ import annotations

from .models import LedgerEntry, TreeHead
from .services import ledger_tree, tree_head_sign


def tree_head_json(head: TreeHead) -> dict:
    return {
        "tree_size": head.tree_size,
        "root_hash": head.root_hash,
        "timestamp_ms": head.timestamp_ms,
        "signature": head.signature,
        "public_key": head.public_key,
    }


def inclusion_proof_for(entry: LedgerEntry, head: TreeHead | None = None) -> dict:
    """Everything needed to check, with hashlib alone, that `entry` is in the signed tree `head` (default: latest)."""
    head = head or tree_head_sign()
    if head is None or head.tree_size <= entry.index:
        head = tree_head_sign()
    tree = ledger_tree()
    proof = tree.inclusion_proof(entry.index, head.tree_size)
    return {
        "entry": {"index": entry.index, "canonical": entry.canonical, "leaf_hash": entry.leaf_hash},
        "tree_head": tree_head_json(head),
        "inclusion_proof": [node.hex() for node in proof],
    }


def consistency_proof_between(old_size: int, new_size: int) -> dict:
    tree = ledger_tree()
    return {
        "old_size": old_size,
        "new_size": new_size,
        "old_root": tree.root(old_size).hex(),
        "new_root": tree.root(new_size).hex(),
        "consistency_proof": [node.hex() for node in tree.consistency_proof(old_size, new_size)],
    }
