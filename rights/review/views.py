"""Rights reviewer pages: the similarity-flag queue and the side-by-side review of one flag.

A reviewer sees the flags on their organisations' works (and those on their own organisations' pieces, which
they may not decide); staff see every flag (`fingerprint.selectors.flags_decidable_q`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, Count, IntegerField, Value, When
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from fingerprint.models import FlagStatus, SimilarityFlag
from fingerprint.selectors import flag_may_decide, flags_visible_to, is_reviewer
from fingerprint.transcription import notes_sources
from ledgerline.accounts.permissions import organisations_for
from ledgerline.music.detect import AUDIO, SUFFIX, UnsupportedFormat, detect_format
from ledgerline.storage import blob_path
from tracks.lifecycle import Decision

from . import services
from .policy import flag_decisions

PLOT_KINDS = (("chroma", "Aligned chromagrams"), ("dtw", "DTW path"), ("pianoroll", "Piano roll overlay"))
AUDIO_TYPES = {".ogg": "audio/ogg", ".flac": "audio/flac", ".wav": "audio/wav", ".mp3": "audio/mpeg"}
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


class FlagDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=(), widget=forms.RadioSelect)
    # Not required here so that the service's own message ("give a reason ...") is the one shown.
    reason = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3, "cols": 60, "required": True})
    )

    def __init__(self, *args, decisions: tuple[Decision, ...], **kwargs):
        """Only the `decisions` that apply to the flag are offered (`policy.flag_decisions`)."""
        super().__init__(*args, **kwargs)
        self.fields["decision"].choices = [(d.value, d.label) for d in decisions]


@login_required
@require_GET
def flag_queue(request):
    """Open flags first, highest score first; `?status=` narrows to one status."""
    if not is_reviewer(request.user):
        raise PermissionDenied("Only rights reviewers may see the review queue.")
    status = request.GET.get("status", "")
    if status and status not in FlagStatus.values:
        status = ""
    flags = (
        flags_visible_to(request.user)
        .annotate(
            open_first=Case(When(status=FlagStatus.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField()),
        )
        .order_by("open_first", "-score", "id")
    )
    counts = dict(flags_visible_to(request.user).order_by().values_list("status").annotate(n=Count("id")))
    filters = [{"value": "", "label": "All", "count": sum(counts.values())}]
    filters += [{"value": value, "label": label, "count": counts.get(value, 0)} for value, label in FlagStatus.choices]
    if status:
        flags = flags.filter(status=status)
    return render(request, "review/flag_queue.html", {"flags": flags[:500], "status": status, "filters": filters})


@dataclass
class Evidence:
    """One aligned match of a flag, as the review page shows it."""

    match: dict
    result_index: int | None  # position in the screening's result["matches"]: the plot URLs name it
    plots: list[tuple[str, str, str]]  # (caption, PNG shown in the page, SVG opened full size)


def _plot_kinds(flag: SimilarityFlag, match: dict) -> list[tuple[str, str]]:
    """PLOT_KINDS, the piano roll's caption saying which side's notes were transcribed from a recording."""
    sources = notes_sources(screening=flag.screening, key=match["key"]) if "key" in match else {}
    transcribed = [side for side in ("query", "match") if sources.get(side) == "transcribed"]
    if not transcribed:
        return list(PLOT_KINDS)
    note = f" ({' and '.join(transcribed)} notes transcribed from the recording: an estimate)"
    return [(kind, label + note if kind == "pianoroll" else label) for kind, label in PLOT_KINDS]


def _evidence_of(flag: SimilarityFlag) -> list[Evidence]:
    result_matches = (flag.screening.result or {}).get("matches", [])
    evidence = []
    for match in (flag.evidence or {}).get("matches", []):
        index = result_matches.index(match) if match in result_matches else None
        plots = (
            []
            if index is None or not flag.screening.features_path
            else [
                (
                    label,
                    *(
                        reverse(
                            "screening-plot-file",
                            kwargs={"pk": flag.screening_id, "match": index, "kind": kind, "fmt": fmt},
                        )
                        for fmt in ("png", "svg")
                    ),
                )
                for kind, label in _plot_kinds(flag, match)
            ]
        )
        evidence.append(Evidence(match=match, result_index=index, plots=plots))
    return evidence


@login_required
def flag_detail(request, pk: int):
    """Both pieces side by side with the aligned ranges, plots and licence terms, and the decision form."""
    flag = get_object_or_404(flags_visible_to(request.user), pk=pk)
    decisions = flag_decisions(flag)
    form = FlagDecisionForm(request.POST or None, decisions=decisions)
    status = 200
    if request.method == "POST":
        if request.POST.get("decision") in Decision.values and request.POST["decision"] not in decisions:
            # An inapplicable decision is refused, not shown as a form to correct (the service says the same).
            if not flag_may_decide(request.user, flag):
                raise PermissionDenied(
                    "Only a reviewer of the rights holder whose work was matched, or platform "
                    "staff, may decide this flag."
                )
            status = 400
            form = FlagDecisionForm({"reason": request.POST.get("reason", "")}, decisions=decisions)
            form.is_valid()
            form.errors.pop("decision", None)  # the message below says why, not "select a valid choice"
            form.add_error(
                None,
                "A licence can be required only when the match is a corpus item: a published "
                "track has no dataset licence. Clear or block the flag instead.",
            )
        elif form.is_valid():
            try:
                flag = services.flag_decide(
                    flag=flag,
                    user=request.user,
                    decision=form.cleaned_data["decision"],
                    reason=form.cleaned_data["reason"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                track = flag.track
                if track is not None:
                    track.refresh_from_db()
                note = f" Track “{track.title}” is now {track.get_status_display().lower()}." if track else ""
                messages.success(request, f"Flag {flag.pk}: {flag.get_status_display().lower()}.{note}")
                return redirect("review:queue")
    dataset = flag.corpus_item.dataset if flag.corpus_item else None
    context = {
        "flag": flag,
        "form": form,
        "can_decide": flag.status == FlagStatus.OPEN and flag_may_decide(request.user, flag),
        "evidence": _evidence_of(flag),
        "query_audio": _audio_url(flag, "query"),
        "match_audio": _audio_url(flag, "match"),
        "dataset": dataset,
        "terms": dataset.terms() if dataset else None,
    }
    return render(request, "review/flag_detail.html", context, status=status)


@login_required
@require_POST
def flag_appeal_view(request, pk: int):
    """The flagged track's creator answers the flag from the track's page (`services.flag_appeal` checks who)."""
    flag = get_object_or_404(flags_visible_to(request.user), pk=pk)
    try:
        flag = services.flag_appeal(flag=flag, user=request.user, note=request.POST.get("note", ""))
    except ValidationError as exc:
        from tracks.views import track_detail  # the page the form is on, with the message

        messages.error(request, f"Flag {flag.pk}: {' '.join(exc.messages)}")
        response = track_detail(request, flag.track_id)
        response.status_code = 400
        return response
    messages.success(request, f"Your appeal on flag {flag.pk} was sent to the reviewer.")
    return redirect("tracks:detail", pk=flag.track_id)


# --- audio --------------------------------------------------------------------------------------------
def _sniffed_audio(relpath: str) -> bool:
    """An uploaded screening is stored without a suffix: only its bytes say whether a browser can play it."""
    try:
        with blob_path(relpath).open("rb") as handle:
            return detect_format(handle.read(65536)) in AUDIO
    except (OSError, UnsupportedFormat, ValueError):
        return False


def _audio_of(flag: SimilarityFlag, side: str) -> tuple[str, int] | None:
    """(blob relpath, id of the organisation that owns it) of one side of a flag, or None without audio."""
    if side == "query":
        track = flag.track
        if track is not None and (track.preview_path or track.audio_path):
            return track.preview_path or track.audio_path, track.organisation_id
        if track is None and flag.screening.source_path and _sniffed_audio(flag.screening.source_path):
            return flag.screening.source_path, flag.screening.organisation_id
        return None
    if flag.corpus_item is not None and flag.corpus_item.audio_path:
        return flag.corpus_item.audio_path, flag.corpus_item.dataset.organisation_id
    matched = flag.matched_track
    if matched is not None and (matched.preview_path or matched.audio_path):
        return matched.preview_path or matched.audio_path, matched.organisation_id
    return None


def _audio_url(flag: SimilarityFlag, side: str) -> str | None:
    return reverse("review:flag-audio", kwargs={"pk": flag.pk, "side": side}) if _audio_of(flag, side) else None


def _content_type(relpath: str) -> str:
    path = blob_path(relpath)
    if path.suffix in AUDIO_TYPES:
        return AUDIO_TYPES[path.suffix]
    with path.open("rb") as handle:
        return AUDIO_TYPES.get(SUFFIX[detect_format(handle.read(65536))], "application/octet-stream")


@login_required
@require_GET
def flag_audio(request, pk: int, side: str):
    """Stream one side's audio to those who may decide the flag and to members of the organisation that owns
    the recording."""
    flag = get_object_or_404(flags_visible_to(request.user), pk=pk)
    audio = _audio_of(flag, side)
    if audio is None:
        raise Http404("no audio for this side of the flag")
    relpath, owner_id = audio
    if not (flag_may_decide(request.user, flag) or organisations_for(request.user).filter(pk=owner_id).exists()):
        raise PermissionDenied("Only the flag's reviewers and the owning organisation may hear this recording.")
    return blob_response(request, relpath, content_type=_content_type(relpath))


def blob_response(request, relpath: str, *, content_type: str) -> HttpResponse:
    """A stored blob, honouring a single byte range: browsers seek within an <audio> only when ranges work."""
    path = blob_path(relpath)
    if not path.is_file():
        raise Http404("the recording is missing from storage")
    size = path.stat().st_size
    requested = _RANGE_RE.match(request.headers.get("Range", ""))
    if requested and (requested[1] or requested[2]):
        if requested[1]:
            start = int(requested[1])
            end = min(int(requested[2]), size - 1) if requested[2] else size - 1
        else:  # "bytes=-N": the last N bytes
            start, end = max(size - int(requested[2]), 0), size - 1
        if start > end:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        with path.open("rb") as handle:
            handle.seek(start)
            response = HttpResponse(handle.read(end - start + 1), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    else:
        response = FileResponse(path.open("rb"), content_type=content_type)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    return response
