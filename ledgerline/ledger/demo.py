"""Demo step: sign the tree head and anchor it on the chain, so `ledger verify` has an anchor to check."""

from .services import ledger_anchor


def load(*, stdout, options: dict, context: dict) -> None:
    anchor = ledger_anchor()
    if anchor is None:
        stdout.write("demo: the ledger is empty, nothing to anchor")
        return
    where = f"tx {anchor.tx_hash} in block {anchor.block_number}" if anchor.tx_hash else anchor.error
    stdout.write(f"demo: anchored tree size {anchor.tree_head.tree_size} ({anchor.status}: {where})")
