"""Canonical JSON for ledger entries (RFC 8785 style: sorted keys, no insignificant whitespace, UTF-8)."""

from __future__ import annotations

import json
from decimal import Decimal


def canonical_json(value: object) -> str:
    """Serialise `value` canonically. Money must be Decimal or str (a Decimal becomes its string)."""

    def default(obj: object) -> str:
        if isinstance(obj, Decimal):
            return str(obj)
        raise TypeError(f"{type(obj).__name__} is not allowed in a ledger entry")

    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=default
    )
