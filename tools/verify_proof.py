#!/usr/bin/env python3
"""Check a Ledgerline inclusion proof with hashlib alone: python3 verify_proof.py proof.json

proof.json is the output of `manage.py ledger proof ENTRY_ID` or GET /api/ledger/entries/ID/proof/, or a
licence certificate (GET /api/market/licences/ID/certificate.json/), whose "ledger" part is such a proof.
Prints OK and exits 0 when the entry's text hashes into the signed root (RFC 9162 section 2.1.3.2).
"""

import hashlib
import json
import sys

doc = json.load(open(sys.argv[1]))
doc = doc.get("ledger") or doc  # a licence certificate carries the proof of its sale under "ledger"
entry, head = doc["entry"], doc["tree_head"]
index, size = entry["index"], head["tree_size"]
node = hashlib.sha256(b"\x00" + entry["canonical"].encode("utf-8")).digest()  # the leaf
fn, sn = index, size - 1
for sibling in (bytes.fromhex(h) for h in doc["inclusion_proof"]):
    if sn == 0:
        sys.exit("FAIL: proof is longer than the tree is deep")
    if fn % 2 == 1 or fn == sn:
        node = hashlib.sha256(b"\x01" + sibling + node).digest()
        while fn % 2 == 0 and fn != 0:
            fn, sn = fn >> 1, sn >> 1
    else:
        node = hashlib.sha256(b"\x01" + node + sibling).digest()
    fn, sn = fn >> 1, sn >> 1
if sn != 0 or node.hex() != head["root_hash"]:
    sys.exit("FAIL: entry is not in the tree with root " + head["root_hash"])
print(f"OK: entry {index} is in the log of {size} entries with root {head['root_hash']}")
