"""Cutting a published track into loops and stems for sale (the `split` job on the cpu queue)."""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction

from fingerprint.engine.identity import TooShort as FingerprintTooShort
from fingerprint.engine.identity import raw_fingerprint
from ledgerline.catalogue.models import Track, TrackStatus
from ledgerline.jobs.models import Job, JobKind, JobSubject
from ledgerline.jobs.services import JobError, job_start
from ledgerline.ledger.services import ledger_append
from ledgerline.music.audio import encode_preview, read_audio_bytes
from ledgerline.music.events import SAMPLE_RATE, Score
from ledgerline.music.grid import BarGrid, grid_from_audio, grid_from_score
from ledgerline.music.render import SALE_SAMPLE_RATE, render_stems
from ledgerline.storage import read_blob, store_bytes

from ..engine import loops as loops_engine
from ..engine import sale_audio
from ..models import Asset, AssetKind
from .offers import offers_create

PREVIEW_SECONDS = 12.0  # previews stream without purchase: short and low bitrate


def split_start(*, track: Track, user=None) -> Job:
    return job_start(
        kind=JobKind.SPLIT,
        organisation=track.organisation,
        user=user,
        params={"track": track.pk},
        subject_type=JobSubject.TRACK,
        subject_id=track.pk,
    )


@dataclass
class _Source:
    stem: str
    kind: str
    program: int | None
    is_drum: bool
    audio: np.ndarray  # the analysis audio, mono [samples] at SAMPLE_RATE: previews, waveforms, fingerprints
    sale: np.ndarray  # what is sold: [samples, 2] at SALE_SAMPLE_RATE, as rendered (normalised when cut)


def _sources(track: Track) -> tuple[list[_Source], BarGrid, str]:
    """The audio to cut and its bar grid: exact from the score, or beat-tracked and separated for audio-only.

    A track with a score is rendered again for sale (44.1 kHz stereo) from the same score, stem by stem, the
    mix being their sum; audio-only material has no better source than its analysis audio, which is resampled
    and sold as dual mono.
    """
    mix = read_audio_bytes(read_blob(track.audio_path), suffix=".flac")
    if track.events_path:
        score = Score.from_npz_bytes(read_blob(track.events_path))
        grid = grid_from_score(score, bars=track.bars or None)
        rendered = render_stems(
            score, soundfont=settings.LEDGERLINE_SOUNDFONT, sample_rate=SALE_SAMPLE_RATE, channels=2
        )
        sources = [
            _Source(
                stem["name"].lower()[:100],
                AssetKind.STEM,
                stem.get("program"),
                bool(stem.get("is_drum")),
                read_audio_bytes(read_blob(stem["path"]), suffix=".flac"),
                sale,
            )
            for stem, sale in zip(track.stems, rendered, strict=True)
        ]
        sale_mix = np.sum(rendered, axis=0) if rendered else np.zeros((0, 2), dtype=np.float32)
        method = "score-grid+rendered-stems"
    else:
        grid = grid_from_audio(mix, SAMPLE_RATE)
        separation = settings.LEDGERLINE_SEPARATION_METHOD
        separated = loops_engine.separate(mix, SAMPLE_RATE, method=separation)
        sources = [
            _Source(name, AssetKind.STEM, None, name == "percussive", audio, _upsampled(audio))
            for name, audio in separated.items()
        ]
        sale_mix = _upsampled(mix)
        method = f"beat-tracking+{separation}"
    return [*sources, _Source("mix", AssetKind.MIX, None, False, mix, sale_mix)], grid, method


def _upsampled(audio: np.ndarray) -> np.ndarray:
    """Analysis audio [samples] as [samples, 2] at SALE_SAMPLE_RATE (dual mono: there is no more to it)."""
    import soxr

    resampled = soxr.resample(np.asarray(audio, dtype=np.float32), SAMPLE_RATE, SALE_SAMPLE_RATE)
    return np.repeat(resampled.astype(np.float32)[:, None], 2, axis=1)


def _chromaprint(audio: np.ndarray) -> str:
    try:
        return ",".join(str(v) for v in raw_fingerprint(audio, SAMPLE_RATE))
    except FingerprintTooShort:
        return ""  # a one-bar loop may be too short for Chromaprint; the asset's hash still identifies it


def _asset_from_loop(
    track: Track, source: _Source, loop, sale_loop, level: sale_audio.Normalised, grid, method: str
) -> Asset:
    flac = store_bytes(sale_audio.sale_flac(sale_loop.audio, SALE_SAMPLE_RATE), suffix=".flac")
    preview_audio = loop.audio[: int(PREVIEW_SECONDS * SAMPLE_RATE)]
    return Asset(
        track=track,
        organisation=track.organisation,
        kind=source.kind,
        stem=source.stem,
        program=source.program,
        is_drum=source.is_drum,
        start_bar=loop.start_bar,
        bars=loop.bars,
        key=track.key,
        tempo_bpm=round(float(grid.tempo_bpm), 3),
        time_signature=track.time_signature or "4/4",
        duration_s=round(sale_loop.duration_s, 4),
        sample_rate=SALE_SAMPLE_RATE,
        channels=sale_loop.audio.shape[1],
        bit_depth=sale_audio.SALE_BIT_DEPTH,
        loudness_lufs=_finite(level.loudness_lufs),
        true_peak_dbtp=_finite(level.true_peak_dbtp),
        method=method,
        path=flac.relpath,
        sha256=flac.sha256,
        size=flac.size,
        preview_path=store_bytes(encode_preview(preview_audio, quality=0.0), suffix=".ogg").relpath,
        waveform_path=store_bytes(loops_engine.waveform_png(loop.audio, SAMPLE_RATE), suffix=".png").relpath,
        chromaprint=_chromaprint(loop.audio),
        search_text=Asset.search_text_for(title=track.title, stem=source.stem, key=track.key),
    )


def _finite(value: float) -> float | None:
    return round(value, 2) if np.isfinite(value) else None


def _loops_for_sale(source: _Source, grid) -> tuple[list[tuple], sale_audio.Normalised]:
    """(analysis loop, sale loop) pairs of `source` cut on `grid`, and the source's sale audio normalised; loops
    that are mostly silence are not sold.

    Both are cut on the same bar lines, each at its own rate; a loop is kept when the normalised sale audio
    sounds for at least a third of its time (`sale_audio.is_mostly_silent`) and the analysis audio is not silent."""
    level = sale_audio.loudness_normalise(source.sale, SALE_SAMPLE_RATE)
    analysis = {(loop.start_bar, loop.bars): loop for loop in loops_engine.cut_loops(source.audio, SAMPLE_RATE, grid)}
    pairs = []
    for sale_loop in loops_engine.cut_loops(level.audio, SALE_SAMPLE_RATE, grid):
        loop = analysis.get((sale_loop.start_bar, sale_loop.bars))
        if loop is not None and not sale_audio.is_mostly_silent(sale_loop.audio, SALE_SAMPLE_RATE):
            pairs.append((loop, sale_loop))
    return pairs, level


def _store_assets(track: Track, source: _Source, assets: list[Asset]) -> None:
    """Write a source's new assets and give those without offers the default ones (a redelivery adds none)."""
    with transaction.atomic():
        Asset.objects.bulk_create(assets, ignore_conflicts=True)
        offers_create(assets=list(Asset.objects.filter(track=track, stem=source.stem, offers__isnull=True)))


def split_handler(job: Job) -> dict:
    """Cut a published track into 1/2/4/8-bar loops per stem and for the mix; idempotent under redelivery.

    1. Bar grid: exact from the score's tempo map and time signature, or beat tracking for audio-only tracks.
    2. Each source (stem, mix) is cut at sample-accurate bar lines, twice: the analysis audio (22.05 kHz mono)
       and the audio for sale (44.1 kHz stereo, loudness-normalised per stem); loops that are mostly silence
       are skipped; each loop is made seamless at its wrap by the engine.
    3. Each loop is stored (24-bit stereo FLAC; preview, waveform and Chromaprint from the analysis audio) as
       an asset with the default offers; loops a previous delivery already stored are skipped.
    4. One ledger entry records the loops' hashes. (The track was indexed for screening when it was published:
       `tracks.lifecycle`, so a failed split leaves it screened against.)
    """
    try:
        track = Track.objects.get(pk=job.params["track"])
    except Track.DoesNotExist:
        raise JobError("the track was deleted before splitting") from None
    if track.status != TrackStatus.PUBLISHED:
        raise JobError(f"only published tracks are split; this one is {track.get_status_display().lower()}")
    job.set_progress(0.02, "reading the stems")
    sources, grid, method = _sources(track)
    if grid.n_bars < 1 or track.duration_s < float(grid.bar_lines_s[1] - grid.bar_lines_s[0]) - 1e-3:
        raise JobError(f"the track is shorter than one bar ({track.duration_s:.2f} s)")
    done = set(Asset.objects.filter(track=track).values_list("stem", "start_bar", "bars"))
    track.organisation  # noqa: B018 (loaded here: the threads below must not query the database)

    def cut(source: _Source) -> tuple[list[Asset], int]:
        """A source's new assets, their files stored: numpy, libFLAC, libvorbis and Chromaprint release the GIL,
        so the sources are cut and encoded in parallel; the rows are written by the job's own thread."""
        loops, level = _loops_for_sale(source, grid)
        return [
            _asset_from_loop(track, source, loop, sale_loop, level, grid, method)
            for loop, sale_loop in loops
            if (source.stem, loop.start_bar, loop.bars) not in done
        ], len(loops)

    created = 0
    with ThreadPoolExecutor(max_workers=max(1, min(len(sources), os.cpu_count() or 1))) as pool:
        results = pool.map(cut, sources)
        for number, source in enumerate(sources):
            try:
                assets, n_loops = next(results)
            except loops_engine.TooShort as exc:
                raise JobError(str(exc)) from None
            _store_assets(track, source, assets)
            created += len(assets)
            job.set_progress(0.05 + 0.85 * (number + 1) / len(sources), f"{source.stem}: {n_loops} loops")
    assets = list(
        Asset.objects.filter(track=track)
        .order_by("stem", "bars", "start_bar")
        .values("id", "stem", "start_bar", "bars", "sha256")
    )
    with transaction.atomic():
        ledger_append(
            event="track.split",
            subject_type="track",
            subject_id=track.pk,
            payload={
                "method": method,
                "bar_seconds": str(round(float(np.diff(grid.bar_lines_s).mean()), 6)),
                "assets": [[a["id"], a["stem"], a["start_bar"], a["bars"], a["sha256"]] for a in assets],
            },
            organisation=track.organisation,
        )
    return {
        "track": track.pk,
        "assets": len(assets),
        "created": created,
        "method": method,
        "by_stem": dict(Counter(a["stem"] for a in assets)),
    }
