"""Licence certificates: a signed JSON document with the ledger inclusion proof, and its PDF rendering.

The JSON is self-contained: with the ledger entry's canonical text, the inclusion proof and the signed tree
head, a third party checks with hashlib alone (`python3 tools/verify_proof.py certificate.json`) that the sale
is in the log; the Ed25519 signature over the certificate's canonical JSON ties the rest of it to the platform.
"""

from __future__ import annotations

import base64

from django.conf import settings
from fpdf import FPDF

from rights.ledger.canonical import canonical_json
from rights.ledger.signing import load_or_create_key, public_key_pem
from rights.proofs import inclusion_proof_for

from .models import Licence

FORMAT = "ledgerline-licence-certificate/1"


def certificate_json(licence: Licence) -> dict:
    asset, order = licence.asset, licence.order
    track = asset.track
    body = {
        "format": FORMAT,
        "licence": str(licence.pk),
        "licence_type": licence.licence_type,
        "terms": licence.terms,
        "issued_at": licence.created_at.isoformat(),
        "buyer": {"username": licence.buyer.username,
                  "organisation": order.organisation.slug if order.organisation else None},
        "seller": {"organisation": asset.organisation.slug, "name": asset.organisation.name},
        "price": {"amount": str(order.amount), "currency": order.currency},
        "asset": {"id": asset.pk, "sha256": asset.sha256, "kind": asset.kind, "stem": asset.stem,
                  "start_bar": asset.start_bar, "bars": asset.bars, "key": asset.key,
                  "tempo_bpm": str(asset.tempo_bpm), "duration_s": str(asset.duration_s)},
        "track": {"id": track.pk, "title": track.title, "content_sha256": track.content_sha256,
                  "mix_sha256": (track.provenance or {}).get("mix_sha256", "")},
        "ledger": inclusion_proof_for(licence.ledger_entry) if licence.ledger_entry_id else None,
    }
    key = load_or_create_key(settings.LEDGERLINE_SIGNING_KEY_PATH)
    signature = key.sign(canonical_json(body).encode())
    return {**body, "signature": {"algorithm": "Ed25519", "over": "canonical JSON of every other field",
                                  "value": base64.b64encode(signature).decode(), "public_key": public_key_pem(key)}}


def _latin1(text: str) -> str:
    # The PDF core fonts are Latin-1; anything else is shown as '?' rather than failing the certificate.
    return str(text).encode("latin-1", "replace").decode("latin-1")


def certificate_pdf(certificate: dict) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, "Ledgerline licence certificate", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    asset, track, ledger = certificate["asset"], certificate["track"], certificate["ledger"] or {}
    rows = [
        ("Licence", certificate["licence"]),
        ("Type", certificate["licence_type"].replace("_", "-")),
        ("Issued", certificate["issued_at"]),
        ("Buyer", f"{certificate['buyer']['username']} ({certificate['buyer']['organisation'] or '-'})"),
        ("Seller", certificate["seller"]["name"]),
        ("Price", f"{certificate['price']['amount']} {certificate['price']['currency']}"),
        ("Track", f"{track['title']} (#{track['id']})"),
        ("Asset", f"{asset['stem']} {asset['kind']}, bars {asset['start_bar'] + 1}-{asset['start_bar'] + asset['bars']}, "
                  f"{asset['key']} {asset['tempo_bpm']} bpm, {asset['duration_s']} s"),
        ("Asset SHA-256", asset["sha256"]),
        ("Ledger entry", str(ledger.get("entry", {}).get("index", "-"))),
        ("Leaf hash", ledger.get("entry", {}).get("leaf_hash", "-")),
        ("Tree head", f"size {ledger.get('tree_head', {}).get('tree_size', '-')}, "
                      f"root {ledger.get('tree_head', {}).get('root_hash', '-')}"),
    ]
    for label, value in rows:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(35, 6, _latin1(label))
        pdf.set_font("Helvetica", size=9 if len(str(value)) > 60 else 10)
        pdf.multi_cell(0, 6, _latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 8, "Terms", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    for name, value in sorted(certificate["terms"].items()):
        pdf.multi_cell(0, 5, _latin1(f"{name.replace('_', ' ')}: {value}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 8, "Inclusion proof (audit path, hex)", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Courier", size=7)
    for node in ledger.get("inclusion_proof", []):
        pdf.cell(0, 4, node, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Helvetica", size=8)
    pdf.multi_cell(0, 4, _latin1("Signature (Ed25519, base64): " + certificate["signature"]["value"]),
                   new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
