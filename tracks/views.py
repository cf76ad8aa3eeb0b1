"""Creator pages for tracks: the list, the detail with screening and provenance, publishing and the preview.

The detail page follows the track's jobs (generation or upload, screening, splitting) as they run: it polls
`live/`, a fragment of the same sections, and swaps in the sections that changed, so the status, the player,
the verdict and the loops appear without a reload.
"""

from __future__ import annotations

import mimetypes

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, render

from fingerprint.models import Verdict
from fingerprint.selectors import flags_visible_to, tracks_readable_by
from generation.services import track_corpus_comparison
from ledgerline.accounts.models import Role
from ledgerline.accounts.permissions import has_role
from ledgerline.catalogue.models import Track, TrackSource, TrackStatus
from ledgerline.catalogue.selectors import tracks_visible_to
from ledgerline.jobs.models import Job, JobKind, JobStatus
from ledgerline.storage import blob_path

from .lifecycle import Event, may_transition
from .selectors import split_job_of, track_jobs, track_may_appeal

TRACKS_PER_PAGE = 50


def _error_text(exc: ValidationError) -> str:
    """A service's ValidationError as one sentence for a notice (field names dropped: they mean nothing here)."""
    return "; ".join(exc.messages)


def _provenance_summary(track: Track) -> dict:
    """Model, datasets and seed, from the generation record or, for older tracks, from the track's model row."""
    provenance = track.provenance or {}
    datasets = [d.get("name", d.get("id")) for d in provenance.get("datasets", [])]
    if not datasets and track.model_id is not None:
        datasets = [d.name for d in track.model.datasets.all()]
    return {
        "model": provenance.get("model") or (track.model.name if track.model_id else ""),
        "arch": provenance.get("arch") or (track.model.arch if track.model_id else ""),
        "datasets": datasets,
        "seed": provenance.get("seed", track.generation_params.get("seed")),
        "checkpoint_sha256": provenance.get("checkpoint_sha256", ""),
        "midi_sha256": provenance.get("midi_sha256", track.content_sha256),
        "mix_sha256": provenance.get("mix_sha256", ""),
    }


@login_required
def track_list(request):
    tracks = tracks_visible_to(request.user).select_related("organisation", "model").order_by("-created_at", "-id")
    page = Paginator(tracks, TRACKS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "tracks/track_list.html", {"page_obj": page, "tracks": page.object_list})


def _step(name: str, state: str, detail: str = "", job: Job | None = None) -> dict:
    """One stage of the track's way to the market; `state` is done, running, waiting, failed or stopped."""
    return {"name": name, "state": state, "detail": detail, "job": job}


def _job_state(job: Job | None) -> str:
    if job is None:
        return "waiting"
    return {JobStatus.SUCCEEDED: "done", JobStatus.FAILED: "failed"}.get(job.status, "running")


SCREENING_WORDS = {
    Verdict.CLEAR: "Screened clear: no near-copy of the training corpus or of a published track.",
    Verdict.FLAG: "Flagged: a possible near-copy, awaiting a rights reviewer's decision.",
    Verdict.INCOMPLETE: "Screening incomplete: part of the corpus is not indexed yet. The track stays in screening "
    "and is screened again when the indexes catch up.",
}
REVIEWED_WORDS = {
    TrackStatus.CLEARED: "A reviewer cleared the flag.",
    TrackStatus.LICENSED: "A reviewer cleared it under the dataset's licence.",
    TrackStatus.BLOCKED: "A reviewer blocked it.",
}


def track_steps(track: Track, jobs: list[Job], screening) -> list[dict]:
    """Generation (or upload) → rendering → screening → publishing → splitting, each in words."""
    by_kind: dict[str, Job] = {}
    for job in jobs:
        by_kind[job.kind] = job  # the latest of each kind
    made = by_kind.get(JobKind.GENERATE) or by_kind.get(JobKind.TRACK_UPLOAD)
    made_name = "Upload" if track.source == TrackSource.UPLOADED else "Generation"
    made_state = "done" if made is None and track.content_sha256 else _job_state(made)
    steps = [_step(made_name, made_state, (made.error or made.message) if made else "", made)]

    has_audio = bool(track.preview_path or track.audio_path)
    render_state = (
        "done"
        if has_audio
        else "failed"
        if made_state == "failed"
        else "running"
        if made_state == "running"
        else "waiting"
    )
    steps.append(_step("Rendering", render_state, "The mix and its preview are ready." if has_audio else ""))

    screening_job = screening.job if screening is not None else None
    if screening is None:
        steps.append(_step("Screening", "waiting", "Not screened yet."))
    elif screening.verdict in SCREENING_WORDS:
        state = {Verdict.CLEAR: "done", Verdict.FLAG: "stopped", Verdict.INCOMPLETE: "running"}[screening.verdict]
        detail = SCREENING_WORDS[screening.verdict]
        if track.status in REVIEWED_WORDS:
            state = "failed" if track.status == TrackStatus.BLOCKED else "done"
            detail += " " + REVIEWED_WORDS[track.status]
        steps.append(_step("Screening", state, detail))
    else:
        state = _job_state(screening_job)
        detail = (screening_job.error or screening_job.message) if screening_job else ""
        steps.append(_step("Screening", "running" if state == "waiting" else state, detail or "Queued.", screening_job))

    if track.status == TrackStatus.PUBLISHED:
        steps.append(
            _step(
                "Publishing",
                "done",
                f"Published {track.published_at:%Y-%m-%d %H:%M} UTC." if track.published_at else "Published.",
            )
        )
    elif may_transition(track, Event.PUBLISHED):
        steps.append(_step("Publishing", "waiting", "Ready to publish."))
    else:
        steps.append(_step("Publishing", "waiting", "Publishable once screened clear or cleared by a reviewer."))

    split = by_kind.get(JobKind.SPLIT)
    steps.append(_step("Loops and stems", _job_state(split), (split.error or split.message) if split else "", split))
    return steps


def _poll_interval_ms(track: Track, jobs: list[Job]) -> int:
    """How soon the page asks again: 0 when nothing can change by itself any more."""
    if any(not job.is_finished for job in jobs):
        return 1500
    if track.status == TrackStatus.SCREENING:  # an incomplete screening waits for the index sweep
        return 10_000
    return 0


def _track_context(request, track: Track) -> dict:
    is_creator = has_role(request.user, track.organisation, Role.CREATOR)
    screening = track.screenings.select_related("job").order_by("-created_at", "-id").first()
    jobs = track_jobs(track)
    split_job = split_job_of(track)
    loops_by_stem = list(track.assets.values("stem").annotate(count=Count("id")).order_by("stem"))
    flags = flags_visible_to(request.user).filter(track=track).select_related("corpus_item__dataset")
    return {
        "track": track,
        "is_creator": is_creator,
        "can_publish": is_creator and may_transition(track, Event.PUBLISHED),
        "provenance": _provenance_summary(track),
        "screening": screening,
        "flags": flags.order_by("-score", "id"),
        "can_appeal": track_may_appeal(request.user, track),
        "split_job": split_job,
        "loops_by_stem": loops_by_stem,
        "loop_count": sum(row["count"] for row in loops_by_stem),
        "steps": track_steps(track, jobs, screening),
        "poll_ms": _poll_interval_ms(track, jobs),
        "corpus_comparison": track_corpus_comparison(track),
    }


@login_required
def track_detail(request, pk: int):
    track = get_object_or_404(tracks_readable_by(request.user).select_related("organisation", "model"), pk=pk)
    return render(request, "tracks/track_detail.html", _track_context(request, track))


@login_required
def track_live(request, pk: int):
    """The detail page's sections alone, for its poller."""
    track = get_object_or_404(tracks_readable_by(request.user).select_related("organisation", "model"), pk=pk)
    response = render(request, "tracks/_track_live.html", _track_context(request, track))
    response["Cache-Control"] = "no-store"
    return response


@login_required
def track_preview(request, pk: int):
    """The mix's preview, streamed only to users who may read the track's page."""
    track = get_object_or_404(tracks_readable_by(request.user), pk=pk)
    if not track.preview_path:
        raise Http404("This track has no preview yet.")
    path = blob_path(track.preview_path)
    if not path.exists():
        raise Http404("The preview file is missing.")
    content_type = "audio/ogg" if path.suffix == ".ogg" else mimetypes.guess_type(path.name)[0] or "audio/ogg"
    return FileResponse(open(path, "rb"), content_type=content_type)
