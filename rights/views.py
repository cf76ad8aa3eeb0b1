"""Provenance pages: the ledger's signed head and anchors, and a track's chain of custody."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from ledgerline.catalogue.selectors import tracks_visible_to

from .models import Anchor, LedgerEntry, TreeHead
from .selectors import provenance_entries, visible_entry_ids

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


@dataclass
class ShownEntry:
    """A ledger entry as a page shows it: outsiders get only the index, the leaf hash and that it is private."""

    entry: LedgerEntry
    visible: bool
    stage: str
    details: list[tuple[str, str]]
    terms: dict | None
    proof_url: str | None


def _dataset_terms(entry: LedgerEntry) -> dict | None:
    """A dataset's licence terms (shown as a table); other entries' terms stay in the payload."""
    terms = entry.payload.get("terms")
    return terms if entry.subject_type == "dataset" and isinstance(terms, dict) else None


def _details(entry: LedgerEntry, terms: dict | None) -> list[tuple[str, str]]:
    return [(key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
            for key, value in entry.payload.items() if not (key == "terms" and terms is not None)]


def shown_entries(user, entries: list[LedgerEntry]) -> list[ShownEntry]:
    """Redact exactly as the ledger API does: what `user` may not read shows only its hash."""
    visible = visible_entry_ids(user, entries)
    shown = []
    for entry in entries:
        can_see = entry.pk in visible
        terms = _dataset_terms(entry) if can_see else None
        shown.append(ShownEntry(
            entry=entry, visible=can_see, stage=stage_of(entry.event) if can_see else "Private entry",
            details=_details(entry, terms) if can_see else [], terms=terms,
            proof_url=reverse("ledger-entry-proof", kwargs={"index": entry.index}) if can_see else None))
    return shown


@login_required
@require_GET
def track_provenance(request, pk: int):
    track = get_object_or_404(tracks_visible_to(request.user).select_related("organisation", "model"), pk=pk)
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
    latest = shown_entries(request.user, list(LedgerEntry.objects.select_related("organisation").order_by("-index")[:20]))
    context = {"head": head, "size": size, "unsigned": size - head.tree_size if head else size, "anchors": anchors,
               "latest": latest, "verify_command": VERIFY_COMMAND}
    return render(request, "rights/ledger.html", context)
