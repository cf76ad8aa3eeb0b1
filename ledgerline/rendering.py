"""A score rendered to stored files: `ledgerline.music` renders (no Django: arrays and bytes in and out), this
stores the results with the platform's soundfont and blob storage. Generated and uploaded scores alike."""

from __future__ import annotations

from django.conf import settings

from ledgerline.music.audio import encode_preview, write_flac
from ledgerline.music.events import Score
from ledgerline.music.render import mix, render_stems
from ledgerline.storage import store_bytes


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
