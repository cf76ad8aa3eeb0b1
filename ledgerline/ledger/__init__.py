"""The provenance ledger every app appends to: entries, signed tree heads, anchors, proofs and verification.

`engine/` is the pure part (no Django): canonical JSON, the RFC 6962 Merkle tree, signing, the chain.
"""
