"""Rendering a score to stored audio: the one module of `ledgerline.music` that touches Django (settings and
blob storage); the others take arrays and bytes and return the same."""

from __future__ import annotations

from django.conf import settings

from ledgerline.storage import store_bytes

from .audio import encode_preview, write_flac
from .events import Score
from .render import mix, render_stems


def render_track_score(score: Score) -> dict:
    """MIDI, per-track FLAC stems, the FLAC mix and an OGG preview, stored content-addressed."""
    stems, total = mix(render_stems(score, soundfont=settings.LEDGERLINE_SOUNDFONT))
    return {
        "midi": store_bytes(score.to_midi_bytes(), suffix=".mid"),
        "events": store_bytes(score.to_npz_bytes(), suffix=".npz"),
        "mix": store_bytes(write_flac(total), suffix=".flac"),
        "preview": store_bytes(encode_preview(total), suffix=".ogg"),
        "stems": [
            {**info, "path": store_bytes(write_flac(stem), suffix=".flac").relpath}
            for info, stem in zip(score.instruments(), stems, strict=True)
        ],
    }
