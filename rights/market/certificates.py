"""Licence certificates: a signed JSON document with the ledger inclusion proof (its PDF rendering is in
`certificate_pdf`, imported by the download that asks for it: fpdf costs 0.14 s at start).

The JSON is self-contained: with the ledger entry's canonical text, the inclusion proof and the signed tree
head, a third party checks with hashlib alone (`python3 tools/verify_proof.py certificate.json`) that the sale
is in the log; the Ed25519 signature over the certificate's canonical JSON ties the rest of it to the platform.
"""

from __future__ import annotations

import base64

from django.conf import settings

from ledgerline.ledger.engine.canonical import canonical_json
from ledgerline.ledger.engine.signing import load_or_create_key, public_key_pem
from ledgerline.ledger.proofs import inclusion_proof_for

from .models import Licence
from .vocabulary import instrument_name

FORMAT = "ledgerline-licence-certificate/1"


def certificate_json(licence: Licence) -> dict:
    asset, order = licence.asset, licence.order
    track = asset.track
    body = {
        "format": FORMAT,
        "licence": str(licence.pk),
        "licence_type": licence.licence_type,
        "terms": licence.terms,
        "issued_at": licence.created_at.replace(microsecond=0).isoformat(),
        "buyer": {
            "username": licence.buyer.username,
            "organisation": order.organisation.slug if order.organisation else None,
            "organisation_name": order.organisation.name if order.organisation else None,
        },
        "seller": {"organisation": asset.organisation.slug, "name": asset.organisation.name},
        "price": {"amount": str(order.amount), "currency": order.currency},
        "asset": {
            "id": asset.pk,
            "sha256": asset.sha256,
            "kind": asset.kind,
            "stem": asset.stem,
            "start_bar": asset.start_bar,
            "bars": asset.bars,
            "key": asset.key,
            "tempo_bpm": str(asset.tempo_bpm),
            "duration_s": str(asset.duration_s),
            "instrument": instrument_name(program=asset.program, is_drum=asset.is_drum, stem=asset.stem),
            "format": {
                "container": "FLAC",
                "sample_rate": asset.sample_rate,
                "channels": asset.channels,
                "bit_depth": asset.bit_depth,
                "loudness_lufs": asset.loudness_lufs,
                "true_peak_dbtp": asset.true_peak_dbtp,
            },
        },
        "track": {
            "id": track.pk,
            "title": track.title,
            "content_sha256": track.content_sha256,
            "mix_sha256": (track.provenance or {}).get("mix_sha256", ""),
        },
        "ledger": inclusion_proof_for(licence.ledger_entry) if licence.ledger_entry_id else None,
    }
    key = load_or_create_key(settings.LEDGERLINE_SIGNING_KEY_PATH)
    signature = key.sign(canonical_json(body).encode())
    return {
        **body,
        "signature": {
            "algorithm": "Ed25519",
            "over": "canonical JSON of every other field",
            "value": base64.b64encode(signature).decode(),
            "public_key": public_key_pem(key),
        },
    }
