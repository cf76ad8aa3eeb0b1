"""Pure ledger code (no Django): canonical JSON, RFC 6962 Merkle tree and proofs, signed tree heads."""
