"""Signal code for near-copy screening: no Django imports here.

Three levels of evidence (see docs/ARCHITECTURE.md):
  audio     Chromaprint sub-fingerprints, bit-error rate over the best alignment (`identity`)
  chroma    beat-synchronous CENS chroma windows, key-invariant by rotation, in FAISS (`chroma`)
  symbolic  transposition/tempo-invariant melody windows (intervals, duration ratios) in FAISS, verified
            by local alignment (`melody`)
`index` keeps versioned FAISS indexes on disk; `screen` fuses the levels into a verdict.
"""
