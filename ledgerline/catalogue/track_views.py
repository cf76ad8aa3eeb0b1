"""Creator pages for tracks: the list, the detail with screening and provenance, publishing and the preview."""

from __future__ import annotations

import mimetypes

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from ledgerline.accounts.models import Role
from ledgerline.accounts.permissions import has_role
from ledgerline.jobs.models import JobStatus
from ledgerline.storage import blob_path
from rights.market.selectors import split_job_of
from rights.market.services import track_publish

from .models import Track
from .selectors import tracks_visible_to

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
    return render(request, "catalogue/track_list.html", {"page_obj": page, "tracks": page.object_list})


@login_required
def track_detail(request, pk: int):
    track = get_object_or_404(tracks_visible_to(request.user).select_related("organisation", "model"), pk=pk)
    is_creator = request.user.is_staff or has_role(request.user, track.organisation, Role.CREATOR)
    screening = track.screenings.order_by("-created_at", "-id").first()
    split_job = split_job_of(track)
    loops_by_stem = list(track.assets.values("stem").annotate(count=Count("id")).order_by("stem"))
    context = {
        "track": track,
        "is_creator": is_creator,
        "can_publish": is_creator and track.is_publishable,
        "provenance": _provenance_summary(track),
        "screening": screening,
        "flags": track.flags.order_by("-score", "id"),
        "split_job": split_job,
        "loops_by_stem": loops_by_stem,
        "loop_count": sum(row["count"] for row in loops_by_stem),
    }
    return render(request, "catalogue/track_detail.html", context)


@login_required
@require_POST
def track_publish_view(request, pk: int):
    """Publish; the service checks the role (403) and the status (its message is shown on the track's page)."""
    track = get_object_or_404(tracks_visible_to(request.user), pk=pk)
    try:
        track = track_publish(user=request.user, track=track)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        job = split_job_of(track)
        if job is not None and job.status == JobStatus.FAILED:
            messages.error(request, f"Published, but cutting the loops failed: {job.error}")
        else:
            messages.success(request, f"{track.title} is published; its loops and stems are being cut.")
    return redirect("tracks:detail", pk=track.pk)


@login_required
def track_preview(request, pk: int):
    """The mix's preview, streamed only to users who may see the track."""
    track = get_object_or_404(tracks_visible_to(request.user), pk=pk)
    if not track.preview_path:
        raise Http404("This track has no preview yet.")
    path = blob_path(track.preview_path)
    if not path.exists():
        raise Http404("The preview file is missing.")
    content_type = "audio/ogg" if path.suffix == ".ogg" else mimetypes.guess_type(path.name)[0] or "audio/ogg"
    return FileResponse(open(path, "rb"), content_type=content_type)
