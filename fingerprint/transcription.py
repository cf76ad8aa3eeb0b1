"""Recordings get the symbolic level: their melody line is transcribed with Basic Pitch (`engine.transcribe`).

`features_of` analyses every piece without a score (an audio corpus item, an uploaded recording, an audio
query) through `recording_features`. `transcribed_score` gives the whole polyphonic transcription as a Score,
for keeping beside an item once the catalogue has a place for it (its `events_path` holds real scores only:
generation trains on it and screening takes its beats and tuning from it).
"""

from __future__ import annotations

import numpy as np

from ledgerline.music.events import SAMPLE_RATE, Score, TrackInfo

from .engine import transcribe as transcribe_mod
from .engine.features import Features

TranscriptionError = transcribe_mod.TranscriptionError
TRANSCRIBED_TRACK = "Transcribed (Basic Pitch)"
THREADS = 1  # one onnxruntime thread per task: the cpu workers already run one task per core


def recording_features(*, audio: np.ndarray, query: bool) -> Features:
    """Features of mono audio at SAMPLE_RATE without a score; a failed transcription is one of `problems`."""
    return transcribe_mod.recording_features(audio, SAMPLE_RATE, query=query, threads=THREADS)


def transcribed_score(*, audio: np.ndarray) -> Score:
    """All transcribed notes of mono audio at SAMPLE_RATE as a one-track Score (seconds as heard; beats at
    120 bpm, since a recording has no score tempo). Raises TranscriptionError."""
    notes = transcribe_mod.note_array(transcribe_mod.transcribe(audio, SAMPLE_RATE, threads=THREADS))
    return Score(notes=notes, tracks=[TrackInfo(TRANSCRIBED_TRACK, 0)], tempo_bpm=120.0)
