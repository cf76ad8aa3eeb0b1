"""Recordings get the symbolic level: their melody line is transcribed with Basic Pitch (`engine.transcribe`).

`features_of` analyses every piece without a score (an uploaded recording, an audio query) through
`recording_features`. An audio corpus item goes through `corpus_item_transcribe`, which also keeps the whole
polyphonic transcription as the item's notes (`CorpusItem.transcription_path`, `notes_source` "transcribed").
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


def corpus_item_transcribe(item: CorpusItem) -> Features:
    """Features of an audio corpus item (no score), transcribing its recording once: the melody line feeds the
    symbolic level and all notes are kept as the item's notes. A failed transcription keeps no notes (and
    forgets earlier ones) and is one of the features' `problems`."""
    audio = read_audio_bytes(read_blob(item.audio_path), suffix=Path(item.audio_path).suffix)
    features, notes = transcribe_mod.recording_transcription(audio, SAMPLE_RATE, query=False, threads=THREADS)
    item.transcription_path = store_bytes(_score_of(notes).to_npz_bytes(), suffix=".npz").relpath if notes else ""
    CorpusItem.objects.filter(pk=item.pk).update(transcription_path=item.transcription_path)
    return features


def transcribed_notes(item: CorpusItem) -> np.ndarray | None:
    """The item's kept transcription, NOTE_DTYPE rows (None when its notes are a score or not transcribed)."""
    if item.events_path or not item.transcription_path:
        return None
    return Score.from_npz_bytes(read_blob(item.transcription_path)).notes


@dataclass(frozen=True)
class PianoRollNotes:
    """What the evidence piano roll needs besides the two melody lines: where each side's notes come from
    (NotesSource values) and, for a transcribed corpus item, all its kept notes."""

    query_source: str
    match_source: str
    match_notes: np.ndarray | None  # NOTE_DTYPE rows


def piano_roll_notes(*, query_has_score: bool, key: int) -> PianoRollNotes:
    """For a screening's query (scored or a recording) against the indexed item `key`."""
    index_key = IndexKey(key)
    match_source, match_notes = NotesSource.TRANSCRIBED, None
    if index_key.is_corpus_item:
        item = CorpusItem.objects.filter(pk=index_key.subject_id).first()
        if item is not None:
            match_source = item.notes_source or NotesSource.TRANSCRIBED
            match_notes = transcribed_notes(item)
    elif Track.objects.filter(pk=index_key.subject_id).exclude(events_path="").exists():
        match_source = NotesSource.SCORE
    query_source = NotesSource.SCORE if query_has_score else NotesSource.TRANSCRIBED
    return PianoRollNotes(query_source, match_source, match_notes)
