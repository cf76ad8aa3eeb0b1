"""Provenance pages: the ledger's signed head and anchors, and a track's chain of custody."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from fingerprint.selectors import tracks_readable_by
from ledgerline.ledger.models import Anchor, LedgerEntry, TreeHead
from ledgerline.ledger.selectors import visible_entry_ids

from .credentials import credentials_summary
from .selectors import provenance_entries

VERIFY_COMMAND = "python manage.py ledger verify"

# The stage of the chain of custody each event belongs to, newest stage first.
STAGES = {
    "licence": "Sale and licence",
    "revenue": "Sale and licence",
    "track.published": "Publication",
    "track.split": "Stems and loops",
    "flag": "Review decision",
    "screening": "Screening",
    "track.generated": "Generation",
    "model": "Model training",
    "dataset": "Dataset and licence terms",
}


def stage_of(event: str) -> str:
    for prefix, stage in STAGES.items():
        if event == prefix or event.startswith(prefix + "."):
            return stage
    return event


# What happened, in words: the entry's event as a sentence's verb phrase.
EVENT_WORDS = {
    "dataset.created": "Dataset created",
    "dataset.terms_set": "Licence terms set",
    "corpus_item.ingested": "Corpus item ingested",
    "model.terms_snapshot": "Training terms recorded for the model",
    "model.trained": "Model trained",
    "track.generated": "Track generated",
    "track.uploaded": "Track uploaded",
    "screening.completed": "Screened",
    "screening.calibrated": "Screening thresholds calibrated",
    "flag.decided": "Similarity flag decided",
    "track.published": "Track published",
    "track.split": "Cut into loops and stems",
    "licence.purchased": "Licence purchased",
    "revenue.split": "Revenue shared",
    "order.refunded": "Order refunded",
}
# Payload keys naming another row, and the page that shows it.
LINKED = {"track": "tracks:detail", "dataset": "datasets:detail", "similarity_flag": "review:flag"}


@dataclass
class Detail:
    """One payload field in words; `raw` (long JSON, hashes) goes behind a toggle, `url` links what it names."""

    key: str
    text: str
    raw: str = ""
    url: str | None = None


@dataclass
class ShownEntry:
    """A ledger entry as a page shows it: outsiders get only the index, the leaf hash and that it is private."""

    entry: LedgerEntry
    visible: bool
    stage: str
    details: list[Detail]
    terms: dict | None
    proof_url: str | None
    summary: str = ""
    subject_url: str | None = None


def _dataset_terms(entry: LedgerEntry) -> dict | None:
    """A dataset's licence terms (shown as a table); other entries' terms stay in the payload."""
    terms = entry.payload.get("terms")
    return terms if entry.subject_type == "dataset" and isinstance(terms, dict) else None


def _link(kind: str, pk) -> str | None:
    try:
        return reverse(LINKED[kind], kwargs={"pk": int(pk)}) if kind in LINKED and pk is not None else None
    except (TypeError, ValueError):
        return None


def _is_hash(value) -> bool:
    return isinstance(value, str) and len(value) >= 40 and all(c in "0123456789abcdef" for c in value)


def _detail(key: str, value) -> Detail:
    label = key.replace("_", " ")
    if isinstance(value, list):
        noun = "hash" if value and all(_is_hash(v) for v in value) else "item"
        text = f"{len(value)} {noun}{'es' if noun == 'hash' else 's'}" if len(value) != 1 else f"1 {noun}"
        return Detail(label, text, raw=json.dumps(value, ensure_ascii=False, indent=1))
    if isinstance(value, dict):
        return Detail(
            label,
            ", ".join(f"{k}: {v}" for k, v in value.items() if not isinstance(v, list | dict))
            or f"{len(value)} fields",
            raw=json.dumps(value, ensure_ascii=False, indent=1),
        )
    if _is_hash(value):
        return Detail(label, f"{value[:12]}…", raw=value)
    return Detail(label, "—" if value in (None, "") else str(value), url=_link(key, value))


def _details(entry: LedgerEntry, terms: dict | None) -> list[Detail]:
    return [_detail(key, value) for key, value in entry.payload.items() if not (key == "terms" and terms is not None)]


def _summary(entry: LedgerEntry) -> str:
    words = EVENT_WORDS.get(entry.event, entry.event.replace(".", " ").replace("_", " ").capitalize())
    payload = entry.payload
    if payload.get("verdict"):
        words += f": {payload['verdict']}"
    elif payload.get("decision"):
        words += f": {str(payload['decision']).replace('_', ' ')}"
    if isinstance(payload.get("assets"), list):
        words += f" ({len(payload['assets'])} assets)"
    if payload.get("by"):
        words += f" by {payload['by']}"
    return words


def shown_entries(user, entries: list[LedgerEntry]) -> list[ShownEntry]:
    """Redact exactly as the ledger API does: what `user` may not read shows only its hash."""
    visible = visible_entry_ids(user, entries)
    shown = []
    for entry in entries:
        can_see = entry.pk in visible
        terms = _dataset_terms(entry) if can_see else None
        shown.append(
            ShownEntry(
                entry=entry,
                visible=can_see,
                stage=stage_of(entry.event) if can_see else "Private entry",
                details=_details(entry, terms) if can_see else [],
                terms=terms,
                proof_url=reverse("ledger-entry-proof", kwargs={"index": entry.index}) if can_see else None,
                summary=_summary(entry) if can_see else "",
                subject_url=_link(entry.subject_type, entry.subject_id) if can_see else None,
            )
        )
    return shown


@login_required
@require_GET
def track_provenance(request, pk: int):
    track = get_object_or_404(tracks_readable_by(request.user).select_related("organisation", "model"), pk=pk)
    entries = shown_entries(request.user, provenance_entries(track, user=request.user))
    head = TreeHead.objects.order_by("-tree_size").first()
    context = {"track": track, "entries": entries, "head": head, "verify_command": VERIFY_COMMAND}
    return render(request, "rights/track_provenance.html", context)


@login_required
@require_GET
def ledger_overview(request):
    """The latest signed tree head and the anchors; reading the page signs nothing."""
    head = TreeHead.objects.order_by("-tree_size").first()
    size = LedgerEntry.objects.count()
    anchors = Anchor.objects.select_related("tree_head").order_by("-tree_head__tree_size")[:20]
    latest = shown_entries(
        request.user, list(LedgerEntry.objects.select_related("organisation").order_by("-index")[:20])
    )
    context = {
        "head": head,
        "size": size,
        "unsigned": size - head.tree_size if head else size,
        "anchors": anchors,
        "latest": latest,
        "verify_command": VERIFY_COMMAND,
    }
    return render(request, "rights/ledger.html", context)


@login_required
@require_GET
def ledger_entry(request, index: int):
    """One entry, redacted as the ledger API redacts it ("Ledger entry #368" links here)."""
    entry = LedgerEntry.objects.select_related("organisation").filter(index=index).first()
    if entry is None:
        raise Http404(f"The ledger has no entry #{index}.")
    shown = shown_entries(request.user, [entry])[0]
    return render(request, "rights/entry_page.html", {"s": shown, "verify_command": VERIFY_COMMAND})


@require_http_methods(["GET", "POST"])
def credentials_check(request):
    """Anyone drops a file and reads what its Content Credentials say, in words (as `manage.py credentials`)."""
    context: dict = {"max_mb": settings.LEDGERLINE_MAX_UPLOAD_BYTES // (1024 * 1024)}
    status = 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            context["error"], status = "Choose a file to check.", 400
        elif upload.size > settings.LEDGERLINE_MAX_UPLOAD_BYTES:
            context["error"], status = f"The file is larger than {context['max_mb']} MB.", 400
        else:
            context["name"] = upload.name
            context["result"] = credentials_summary(user=request.user, data=upload.read(), name=upload.name)
            if context["result"].get("error"):
                context["error"], status = context["result"]["error"], 400
    return render(request, "rights/credentials.html", context, status=status)
