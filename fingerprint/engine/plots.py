"""Evidence a person can look at: aligned chromagrams, the chroma-DTW path, a piano-roll overlay."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from . import chroma as chroma_mod  # noqa: E402
from .features import Features  # noqa: E402

PITCH_CLASSES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
KINDS = ("chroma", "dtw", "pianoroll")


def _render(fig: Figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _beat_range(chroma: chroma_mod.BeatChroma, start_s: float, end_s: float) -> tuple[int, int]:
    times = chroma.beat_times
    a = int(np.searchsorted(times, start_s, side="right") - 1)
    b = int(np.searchsorted(times, end_s, side="left"))
    return max(a, 0), min(max(b, a + 1), chroma.beats)


def chromagrams(query: Features, match: Features, m: Mapping[str, Any], fmt: str = "png") -> bytes:
    """Query (rotated by the transposition found) above the match, over the matched beats."""
    fig, axes = plt.subplots(2, 1, figsize=(8, 4.5), sharex=False)
    for ax, features, (start, end), label in (
        (axes[0], query, (m["query_start"], m["query_end"]), f"query, moved {-m['transpose']:+d} semitones"),
        (axes[1], match, (m["match_start"], m["match_end"]), f"match: {m.get('title') or ''}"),
    ):
        if features.chroma is None:
            ax.text(0.5, 0.5, "no audio features", ha="center")
            continue
        a, b = _beat_range(features.chroma, start, end)
        data = features.chroma.chroma[:, a:b]
        if features is query:
            data = np.roll(data, -m["transpose"] % 12, axis=0)
        ax.imshow(data, aspect="auto", origin="lower", cmap="magma", extent=(a, b, -0.5, 11.5))
        ax.set_yticks(range(12), PITCH_CLASSES, fontsize=6)
        ax.set_title(f"{label} ({start:.1f}-{end:.1f} s)", fontsize=9)
        ax.set_xlabel("beat", fontsize=8)
    fig.tight_layout()
    return _render(fig, fmt)


def dtw_path(query: Features, match: Features, m: Mapping[str, Any], fmt: str = "png") -> bytes:
    """The chroma-DTW cost matrix over the matched passage and its optimal path (seed §5.3)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    if query.chroma is None or match.chroma is None:
        ax.text(0.5, 0.5, "no audio features", ha="center")
        return _render(fig, fmt)
    qa, qb = _beat_range(query.chroma, m["query_start"], m["query_end"])
    ma, mb = _beat_range(match.chroma, m["match_start"], m["match_end"])
    q = np.roll(query.chroma.chroma[:, qa:qb], -m["transpose"] % 12, axis=0)
    r = match.chroma.chroma[:, ma:mb]
    result = chroma_mod.dtw_similarity(q, r)
    qc = q - q.mean(axis=1, keepdims=True)
    rc = r - r.mean(axis=1, keepdims=True)
    qn = qc / np.maximum(np.linalg.norm(qc, axis=0, keepdims=True), 1e-9)
    rn = rc / np.maximum(np.linalg.norm(rc, axis=0, keepdims=True), 1e-9)
    ax.imshow(1 - qn.T @ rn, origin="lower", cmap="viridis", aspect="auto")
    if len(result.path):
        ax.plot(result.path[:, 1], result.path[:, 0], color="white", linewidth=1.5)
    ax.set_xlabel(f"match beat (from {ma})", fontsize=8)
    ax.set_ylabel(f"query beat (from {qa})", fontsize=8)
    ax.set_title(f"chroma-DTW similarity {result.similarity:.2f}", fontsize=9)
    return _render(fig, fmt)


TRANSCRIBED = "transcribed"  # a side whose notes Basic Pitch estimated from its recording


def piano_roll(
    query: Features,
    match: Features,
    m: Mapping[str, Any],
    fmt: str = "png",
    *,
    sources: Mapping[str, str] | None = None,
    query_notes: np.ndarray | None = None,
    match_notes: np.ndarray | None = None,
) -> bytes:
    """Melody of the matched passage: the match in grey, the query moved back by the transposition in red,
    both on the match's time axis (tempo ratio applied).

    sources: "query"/"match" -> "score" or "transcribed"; a transcribed side is labelled so, since its notes
    are an estimate. query_notes, match_notes: all notes (NOTE_DTYPE) of a transcribed side, outlined behind
    its melody in the same place.
    """
    sources = sources or {}
    fig, ax = plt.subplots(figsize=(8, 3.5))
    if query.melody is None or match.melody is None:
        ax.text(0.5, 0.5, "no notes for one of the pieces", ha="center")
        return _render(fig, fmt)
    ratio = m.get("tempo_ratio") or 1.0
    for notes, (start, end), color, shift, scale, side in (
        (match_notes, (m["match_start"], m["match_end"]), "0.6", 0, 1.0, "match"),
        (query_notes, (m["query_start"], m["query_end"]), "tab:red", -m["transpose"], ratio, "query"),
    ):
        if notes is None or not len(notes):
            continue
        inside = notes[(notes["start_s"] >= start - 1e-6) & (notes["start_s"] < end - 1e-6)]
        for row in inside:
            ax.barh(
                int(row["pitch"]) + shift,
                row["duration_s"] * scale,
                left=(row["start_s"] - start) * scale,
                height=0.8,
                fill=False,
                edgecolor=color,
                linewidth=0.6,
            )
        ax.plot([], [], color=color, linewidth=1, label=f"{side}: all transcribed notes")
    for mel, (start, end), color, shift, scale, side in (
        (match.melody, (m["match_start"], m["match_end"]), "0.5", 0, 1.0, "match"),
        (query.melody, (m["query_start"], m["query_end"]), "tab:red", -m["transpose"], ratio, "query"),
    ):
        inside = (mel.onsets_s >= start - 1e-6) & (mel.onsets_s < end - 1e-6)
        onsets = (mel.onsets_s[inside] - start) * scale
        durations = np.append(np.diff(mel.onsets_s[inside]), 0.3) * scale
        for onset, duration, pitch in zip(onsets, durations, mel.pitches[inside] + shift, strict=True):
            ax.barh(pitch, duration * 0.95, left=onset, height=0.8, color=color, alpha=0.7)
        label = f"{side} (transcribed: an estimate)" if sources.get(side) == TRANSCRIBED else side
        ax.plot([], [], color=color, linewidth=6, label=label)
    ax.set_xlabel("seconds into the matched passage (match's tempo)", fontsize=8)
    ax.set_ylabel("MIDI pitch", fontsize=8)
    ax.legend(fontsize=8)
    return _render(fig, fmt)


RENDERERS = {"chroma": chromagrams, "dtw": dtw_path, "pianoroll": piano_roll}
