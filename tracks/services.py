"""Creators' own tracks: an uploaded score (rendered like a generated piece) or an uploaded recording.

The request checks only what is cheap: the format from the content, and the duration from an audio file's
header or a MIDI file's last note (symusic reads a MIDI file in milliseconds). It keeps the file, and the
`track_upload` job on the cpu queue does the costly part (music21 parsing, FluidSynth rendering, decoding,
beat tracking, the preview) and then starts screening. A 40 KB FLAC can hold ten minutes of audio: decoding
and beat-tracking it in the web process took 40 s and 780 MB.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from ledgerline.accounts.models import Role
from ledgerline.accounts.permissions import require_role
from ledgerline.catalogue.models import Track, TrackSource
from ledgerline.jobs.models import Job, JobKind, JobSubject
from ledgerline.jobs.services import JobError, job_create, job_enqueue
from ledgerline.ledger.services import ledger_append
from ledgerline.music.audio import CorruptFile, DurationError, encode_preview, read_audio_bytes, write_flac
from ledgerline.music.detect import SUFFIX, Format, UnsupportedFormat, detect_format
from ledgerline.music.duration import check_duration
from ledgerline.music.events import SAMPLE_RATE
from ledgerline.music.grid import grid_from_audio
from ledgerline.music.parse import parse_symbolic
from ledgerline.music.render import RenderError
from ledgerline.rendering import render_track_score
from ledgerline.storage import read_blob, store_bytes

MIN_SECONDS = 2.0


def _upload_bytes(uploaded_file) -> bytes:
    if uploaded_file.size > settings.LEDGERLINE_MAX_UPLOAD_BYTES:
        raise ValidationError(
            {
                "file": f"{uploaded_file.name} is larger than the "
                f"{settings.LEDGERLINE_MAX_UPLOAD_BYTES // 2**20} MiB upload limit"
            }
        )
    data = uploaded_file.read()
    if not data:
        raise ValidationError({"file": f"{uploaded_file.name} is empty"})
    return data


def _from_score(data: bytes, fmt: Format, name: str) -> dict:
    score = parse_symbolic(data, fmt, name=name)
    check_duration(data, fmt, settings.LEDGERLINE_MAX_DURATION_S, score=score)  # before FluidSynth renders it
    blobs = render_track_score(score)
    numerator, denominator = score.time_signature
    return {
        "midi_path": blobs["midi"].relpath,
        "events_path": blobs["events"].relpath,
        "audio_path": blobs["mix"].relpath,
        "preview_path": blobs["preview"].relpath,
        "stems": blobs["stems"],
        "tempo_bpm": float(score.tempo_bpm),
        "key": score.key or "",
        "time_signature": f"{numerator}/{denominator}",
        "bars": max(1, int(-(-score.duration_beats // score.bar_beats))),
        "duration_s": round(score.duration_s, 3),
        "content_sha256": blobs["midi"].sha256,
        "provenance": {"mix_sha256": blobs["mix"].sha256},
    }


def _from_recording(data: bytes, fmt: Format, name: str) -> dict:
    audio = read_audio_bytes(data, suffix=SUFFIX[fmt], max_s=settings.LEDGERLINE_MAX_DURATION_S)
    duration = audio.size / SAMPLE_RATE
    if duration < MIN_SECONDS:
        raise DurationError(f"the recording lasts {duration:.1f} s, too short (at least {MIN_SECONDS:.0f} s)")
    grid = grid_from_audio(audio, SAMPLE_RATE)
    mix = store_bytes(write_flac(audio), suffix=".flac")
    return {
        "audio_path": mix.relpath,
        "preview_path": store_bytes(encode_preview(audio), suffix=".ogg").relpath,
        "tempo_bpm": round(float(grid.tempo_bpm), 3) if grid.n_bars else None,
        "time_signature": "4/4",
        "bars": grid.n_bars or None,
        "duration_s": round(duration, 3),
        "content_sha256": mix.sha256,
        "provenance": {"mix_sha256": mix.sha256, "grid": grid.method},
    }


def _check_cheaply(data: bytes, fmt: Format, name: str) -> None:
    """Refuse in the request what an audio header or a MIDI file's notes already tell (ValidationError)."""
    try:
        if fmt.is_audio:
            check_duration(data, fmt, settings.LEDGERLINE_MAX_DURATION_S, min_s=MIN_SECONDS)
        elif fmt == Format.MIDI:
            check_duration(data, fmt, settings.LEDGERLINE_MAX_DURATION_S)
    except DurationError as exc:
        raise ValidationError({"file": f"{name}: {exc}"}) from None
    except (CorruptFile, UnsupportedFormat) as exc:
        raise ValidationError({"file": f"{name} could not be read: {exc}"}) from None


def track_upload(*, user, organisation, uploaded_file, title: str = "") -> Track:
    """A creator's own piece: a score is parsed and rendered to stems; a recording is kept as the mix (its
    stems are separated when it is split). Either way it is screened before it can be published.

    Returns the track as a draft; its `track_upload` job (id in `track.provenance["job"]`) fills it in.
    """
    require_role(user, organisation, Role.CREATOR, message="Only creators of this organisation may upload tracks.")
    data = _upload_bytes(uploaded_file)
    name = uploaded_file.name or "upload"
    try:
        fmt = detect_format(data)
    except UnsupportedFormat as exc:
        raise ValidationError({"file": f"{name}: {exc}"}) from None
    if fmt.is_archive:
        raise ValidationError({"file": f"{name} is an archive; upload one piece at a time"})
    _check_cheaply(data, fmt, name)
    original = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        source = store_bytes(data, suffix=SUFFIX[fmt])
        track = Track.objects.create(
            organisation=organisation, created_by=user, source=TrackSource.UPLOADED, title=(title or name)[:300]
        )
        job = job_create(
            kind=JobKind.TRACK_UPLOAD,
            organisation=organisation,
            user=user,
            params={"track": track.pk, "source_path": source.relpath, "format": fmt.value},
            subject_type=JobSubject.TRACK,
            subject_id=track.pk,
        )
        track.provenance = {"job": str(job.pk), "original_sha256": original, "format": str(fmt), "original_name": name}
        track.save(update_fields=["provenance"])
        job_enqueue(job=job)
    return track


def track_upload_handler(job: Job) -> dict:
    """Job handler: render or decode an uploaded piece, record it in the ledger and start its screening."""
    try:
        track = Track.objects.get(pk=job.params["track"])
    except Track.DoesNotExist:
        raise JobError("the track was deleted before its upload was analysed") from None
    fmt = Format(job.params["format"])
    name = track.provenance.get("original_name", "upload")
    job.set_progress(0.1, "rendering the score" if fmt.is_symbolic else "decoding the recording")
    try:
        data = read_blob(job.params["source_path"])
        fields = _from_score(data, fmt, name) if fmt.is_symbolic else _from_recording(data, fmt, name)
    except DurationError as exc:
        raise JobError(f"{name}: {exc}") from None
    except (CorruptFile, UnsupportedFormat, RenderError, ValueError) as exc:
        raise JobError(f"{name} could not be read: {exc}") from None
    provenance = {**track.provenance, **fields.pop("provenance")}
    with transaction.atomic():
        Track.objects.filter(pk=track.pk).update(**fields, provenance=provenance)
        track.refresh_from_db()
        ledger_append(
            event="track.uploaded",
            subject_type="track",
            subject_id=track.pk,
            payload={
                "original_sha256": provenance["original_sha256"],
                "format": provenance["format"],
                "content_sha256": track.content_sha256,
                "by": job.created_by.username if job.created_by else "",
            },
            organisation=track.organisation,
            private=True,
        )
    from fingerprint.services import track_screen_start

    screening = track_screen_start(track=track, user=job.created_by)
    return {"track": track.pk, "screening": screening.pk}


def track_upload_failed(job: Job) -> None:
    """The upload's job failed: the draft track says why on its page (it cannot be screened or published)."""
    Track.objects.filter(pk=job.params["track"]).update(status_reason=(job.error or "")[:500])
