"""A licence certificate's PDF rendering, for a person to read. A module of its own so that fpdf (0.14 s at import)
loads only when a PDF is downloaded, not in every process's start (tests/test_startup.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from fpdf import FPDF

from .models import LicenceType
from .plain_terms import terms_in_words


def _latin1(text: str) -> str:
    # The PDF core fonts are Latin-1; anything else is shown as '?' rather than failing the certificate.
    return str(text).replace("\u2013", "-").replace("\u2014", "-").encode("latin-1", "replace").decode("latin-1")


def _date(iso: str) -> str:
    """'2026-11-28T08:31:05+00:00' as '28 November 2026, 08:31 UTC'."""
    moment = datetime.fromisoformat(iso).astimezone(UTC)
    return f"{moment.day} {moment:%B %Y, %H:%M} UTC"


def _format(asset: dict) -> str:
    fmt = asset.get("format") or {}
    if not fmt:
        return "FLAC"
    channels = {1: "mono", 2: "stereo"}.get(fmt["channels"], f"{fmt['channels']} channels")
    text = f"FLAC, {fmt['sample_rate'] / 1000:g} kHz {channels}, {fmt['bit_depth']}-bit"
    if fmt.get("loudness_lufs") is not None:
        text += f", stem loudness {fmt['loudness_lufs']:.1f} LUFS (EBU R128)"
    if fmt.get("true_peak_dbtp") is not None:
        text += f", true peak {fmt['true_peak_dbtp']:.1f} dBTP"
    return text


class _Certificate(FPDF):
    def heading(self, text: str) -> None:
        self.ln(2)
        self.set_font("Helvetica", "B", 12)
        self.cell(0, 8, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    def paragraph(self, text: str, *, size: int = 10) -> None:
        self.set_font("Helvetica", size=size)
        self.multi_cell(0, 5, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    def row(self, label: str, value: str, *, width: int = 42) -> None:
        self.set_font("Helvetica", "B", 10)
        self.cell(width, 6, _latin1(label))
        self.set_font("Helvetica", size=9 if len(value) > 70 else 10)
        self.multi_cell(0, 6, _latin1(value), new_x="LMARGIN", new_y="NEXT")


def certificate_pdf(certificate: dict) -> bytes:
    """The certificate as a licence a person reads: who grants what to whom, on which asset, when, on which
    terms (in words), for how much; then how to check it against the ledger."""
    asset, track, ledger = certificate["asset"], certificate["track"], certificate["ledger"] or {}
    buyer, seller, price = certificate["buyer"], certificate["seller"], certificate["price"]
    licence_name = dict(LicenceType.choices).get(certificate["licence_type"], certificate["licence_type"])
    licensee = buyer["username"] + (
        f" for {buyer.get('organisation_name') or buyer['organisation']}" if buyer.get("organisation") else ""
    )
    bars = f"bars {asset['start_bar'] + 1} to {asset['start_bar'] + asset['bars']}"
    part = asset.get("instrument") or asset["stem"]
    pdf = _Certificate(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(f"{licence_name} licence"), new_x="LMARGIN", new_y="NEXT")
    pdf.paragraph(
        f"{seller['name']} (the licensor) grants {licensee} (the licensee) a {licence_name.lower()} "
        f"licence to the audio loop described below, on the terms below, from {_date(certificate['issued_at'])}. "
        "The sale is recorded in Ledgerline's signed ledger; the last section says how to check it."
    )
    pdf.heading("Parties")
    pdf.row("Licensor", seller["name"])
    pdf.row("Licensee", licensee)
    pdf.row("Platform", "Ledgerline (sells the licence for the licensor and records it in its ledger)")
    pdf.heading("Asset")
    pdf.row("Track", f"{track['title']} (track {track['id']})")
    pdf.row("Loop", f"{part} ({asset['stem']}), {bars}, {asset['bars']} bar{'s' if asset['bars'] != 1 else ''}")
    pdf.row("Key and tempo", f"{asset['key'] or 'not stated'}, {float(asset['tempo_bpm']):.1f} bpm")
    pdf.row("Length", f"{float(asset['duration_s']):.2f} seconds")
    pdf.row("File", _format(asset))
    pdf.row("File SHA-256", asset["sha256"])
    pdf.heading("Licence")
    pdf.row("Licence", f"{licence_name} (licence {certificate['licence']})")
    pdf.row("Date", _date(certificate["issued_at"]))
    pdf.row("Price paid", f"{price['amount']} {price['currency']}")
    pdf.heading("Terms")
    for clause in terms_in_words(certificate["terms"]):
        pdf.row(clause.title, clause.text)
    pdf.heading("Checking this certificate")
    entry, head = ledger.get("entry", {}), ledger.get("tree_head", {})
    if entry:
        pdf.paragraph(
            f"The sale is entry {entry.get('index')} of the ledger, leaf hash {entry.get('leaf_hash')}, "
            f"included in the signed tree head of size {head.get('tree_size')} with root hash "
            f"{head.get('root_hash')}. Run `python3 tools/verify_proof.py certificate.json` on this "
            "licence's JSON certificate to check the inclusion proof below with hashlib alone.",
            size=9,
        )
    else:
        pdf.paragraph("This licence has no ledger entry.", size=9)
    pdf.set_font("Courier", size=7)
    for node in ledger.get("inclusion_proof", []):
        pdf.cell(0, 4, node, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.paragraph("Signed by the platform (Ed25519, base64): " + certificate["signature"]["value"], size=8)
    return bytes(pdf.output())
