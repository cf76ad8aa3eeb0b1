"""Recordings get the symbolic level: their melody line is transcribed with Basic Pitch (`engine.transcribe`).

`features_of` analyses every piece without a score (an uploaded recording, an audio query) through
`recording_features`. A corpus item's or a track's stored recording goes through `recording_transcribe`, which also
keeps the whole polyphonic transcription as its notes (`transcription_path`, `notes_source` "transcribed").
Its `events_path` stays for real scores only: generation trains on it and screening takes its beats and tuning
from it. `transcribed_notes` reads the kept notes back for the evidence piano roll.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ledgerline.catalogue.models import CorpusItem, NotesSource, Track
from ledgerline.music.audio import read_audio_bytes
from ledgerline.music.events import SAMPLE_RATE, Score, TrackInfo
from ledgerline.storage import read_blob, store_bytes

from .engine import transcribe as transcribe_mod
from .engine.features import Features
from .index_key import IndexKey
from .models import Screening

TranscriptionError = transcribe_mod.TranscriptionError
TRANSCRIBED_TRACK = "Transcribed (Basic Pitch)"
THREADS = 1  # one onnxruntime thread per task: the cpu workers already run one task per core


def recording_features(*, audio: np.ndarray, query: bool) -> Features:
    """Features of mono audio at SAMPLE_RATE without a score; a failed transcription is one of `problems`."""
    return transcribe_mod.recording_features(audio, SAMPLE_RATE, query=query, threads=THREADS)


def _score_of(notes: list[transcribe_mod.Note]) -> Score:
    """Transcribed notes as a one-track Score (seconds as heard; beats at 120 bpm, since a recording has no
    score tempo)."""
    return Score(notes=transcribe_mod.note_array(notes), tracks=[TrackInfo(TRANSCRIBED_TRACK, 0)], tempo_bpm=120.0)


def transcribed_score(*, audio: np.ndarray) -> Score:
    """All transcribed notes of mono audio at SAMPLE_RATE as a one-track Score. Raises TranscriptionError."""
    return _score_of(transcribe_mod.transcribe(audio, SAMPLE_RATE, threads=THREADS))


def recording_transcribe(subject: CorpusItem | Track, *, query: bool) -> Features:
    """Features of a corpus item's or a track's recording (no score), transcribing it once: the melody line
    feeds the symbolic level and all notes are kept as its notes (`transcription_path`). A failed
    transcription keeps no notes (and forgets earlier ones) and is one of the features' `problems`."""
    audio = read_audio_bytes(read_blob(subject.audio_path), suffix=Path(subject.audio_path).suffix)
    features, notes = transcribe_mod.recording_transcription(audio, SAMPLE_RATE, query=query, threads=THREADS)
    subject.transcription_path = store_bytes(_score_of(notes).to_npz_bytes(), suffix=".npz").relpath if notes else ""
    type(subject).objects.filter(pk=subject.pk).update(transcription_path=subject.transcription_path)
    return features


def transcribed_notes(subject: CorpusItem | Track | None) -> np.ndarray | None:
    """The kept transcription, NOTE_DTYPE rows (None when the notes are a score or not transcribed)."""
    if subject is None or subject.events_path or not subject.transcription_path:
        return None
    return Score.from_npz_bytes(read_blob(subject.transcription_path)).notes


@dataclass(frozen=True)
class PianoRollNotes:
    """What the evidence piano roll needs besides the two melody lines: where each side's notes come from
    (NotesSource values) and, for a transcribed recording, all its kept notes (NOTE_DTYPE rows)."""

    query_source: str
    match_source: str
    query_notes: np.ndarray | None
    match_notes: np.ndarray | None


def _subject_of(key: int) -> CorpusItem | Track | None:
    index_key = IndexKey(key)
    model = Track if index_key.is_track else CorpusItem
    return model.objects.filter(pk=index_key.subject_id).first()


def notes_sources(*, screening: Screening, key: int) -> dict[str, str]:
    """NotesSource of a screening's query ("query") and of the indexed item `key` ("match")."""
    match = _subject_of(key)
    return {
        "query": NotesSource.SCORE if screening.events_path else NotesSource.TRANSCRIBED,
        "match": (match.notes_source if match is not None else "") or NotesSource.TRANSCRIBED,
    }


def piano_roll_notes(*, screening: Screening, key: int) -> PianoRollNotes:
    """For a screening's query (a score, an uploaded recording, or a track) against the indexed item `key`.
    An uploaded recording's melody is transcribed but its other notes are not kept: a query is not stored."""
    sources = notes_sources(screening=screening, key=key)
    return PianoRollNotes(
        query_source=sources["query"],
        match_source=sources["match"],
        query_notes=transcribed_notes(screening.track) if sources["query"] == NotesSource.TRANSCRIBED else None,
        match_notes=transcribed_notes(_subject_of(key)),
    )
