"""Creators' own tracks: an uploaded score (rendered like a generated piece) or an uploaded recording."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from ledgerline.accounts.models import Role
from ledgerline.accounts.permissions import has_role
from ledgerline.music.audio import CorruptFile, encode_preview, read_audio_bytes, write_flac
from ledgerline.music.detect import SUFFIX, UnsupportedFormat, detect_format
from ledgerline.music.events import SAMPLE_RATE
from ledgerline.music.parse import parse_symbolic
from ledgerline.storage import store_bytes
from rights.services import ledger_append

from .models import Track, TrackSource

MIN_SECONDS = 2.0


def _upload_bytes(uploaded_file) -> bytes:
    if uploaded_file.size > settings.LEDGERLINE_MAX_UPLOAD_BYTES:
        raise ValidationError({"file": f"{uploaded_file.name} is larger than the "
                                       f"{settings.LEDGERLINE_MAX_UPLOAD_BYTES // 2**20} MiB upload limit"})
    data = uploaded_file.read()
    if not data:
        raise ValidationError({"file": f"{uploaded_file.name} is empty"})
    return data


def _from_score(data: bytes, fmt, name: str) -> dict:
    from generation.services import render_track_score

    score = parse_symbolic(data, fmt, name=name)
    if len(score.notes) == 0:
        raise ValidationError({"file": f"{name} holds no notes"})
    blobs = render_track_score(score)
    numerator, denominator = score.time_signature
    return {"midi_path": blobs["midi"].relpath, "events_path": blobs["events"].relpath,
            "audio_path": blobs["mix"].relpath, "preview_path": blobs["preview"].relpath, "stems": blobs["stems"],
            "tempo_bpm": float(score.tempo_bpm), "key": score.key or "", "time_signature": f"{numerator}/{denominator}",
            "bars": max(1, int(-(-score.duration_beats // score.bar_beats))), "duration_s": round(score.duration_s, 3),
            "content_sha256": blobs["midi"].sha256, "provenance": {"mix_sha256": blobs["mix"].sha256}}


def _from_recording(data: bytes, fmt, name: str) -> dict:
    from rights.market.engine.loops import grid_from_audio

    audio = read_audio_bytes(data, suffix=SUFFIX[fmt])
    duration = audio.size / SAMPLE_RATE
    if duration < MIN_SECONDS:
        raise ValidationError({"file": f"{name} is too short ({duration:.1f} s; at least {MIN_SECONDS:.0f} s)"})
    grid = grid_from_audio(audio, SAMPLE_RATE)
    mix = store_bytes(write_flac(audio), suffix=".flac")
    return {"audio_path": mix.relpath, "preview_path": store_bytes(encode_preview(audio), suffix=".ogg").relpath,
            "tempo_bpm": round(float(grid.tempo_bpm), 3) if grid.n_bars else None, "time_signature": "4/4",
            "bars": grid.n_bars or None, "duration_s": round(duration, 3), "content_sha256": mix.sha256,
            "provenance": {"mix_sha256": mix.sha256, "grid": grid.method}}


def track_upload(*, user, organisation, uploaded_file, title: str = "") -> Track:
    """A creator's own piece: a score is parsed and rendered to stems; a recording is kept as the mix (its
    stems are separated when it is split). Either way it is screened before it can be published."""
    if not (user.is_staff or has_role(user, organisation, Role.CREATOR)):
        raise PermissionDenied("Only creators of this organisation may upload tracks.")
    data = _upload_bytes(uploaded_file)
    name = uploaded_file.name or "upload"
    try:
        fmt = detect_format(data)
    except UnsupportedFormat as exc:
        raise ValidationError({"file": f"{name}: {exc}"}) from None
    if fmt.is_archive:
        raise ValidationError({"file": f"{name} is an archive; upload one piece at a time"})
    try:
        fields = _from_score(data, fmt, name) if fmt.is_symbolic else _from_recording(data, fmt, name)
    except (CorruptFile, UnsupportedFormat, ValueError) as exc:
        raise ValidationError({"file": f"{name} could not be read: {exc}"}) from None
    original = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        track = Track.objects.create(organisation=organisation, created_by=user, source=TrackSource.UPLOADED,
                                     title=(title or name)[:300], **fields)
        track.provenance = {**track.provenance, "original_sha256": original, "format": str(fmt), "original_name": name}
        track.save(update_fields=["provenance"])
        ledger_append(event="track.uploaded", subject_type="track", subject_id=track.pk,
                      payload={"original_sha256": original, "format": str(fmt), "content_sha256": track.content_sha256,
                               "by": user.username},
                      organisation=organisation, private=True)
        from fingerprint.services import track_screen_start

        track_screen_start(track=track, user=user)
    return track
