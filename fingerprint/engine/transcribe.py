"""Audio to notes with Spotify's Basic Pitch (ONNX model, in-process), and the melody line of a transcription.

Recordings have no score, so without this the symbolic level (`melody`) sees nothing of them. Basic Pitch
(Apache-2.0, Bittner et al., ICASSP 2022) is a small polyphonic note transcriber whose ONNX model ships inside
the `basic-pitch` wheel; it runs here with onnxruntime (the package's TensorFlow dependency is not installed).

1. `posteriorgrams`: the audio at 22,050 Hz is cut into the model's 2-second windows (overlap 30 frames, as
   Basic Pitch's own `run_inference`), all windows go through one session run per batch, and the outputs are
   unwrapped to note/onset activations [frames, 88] at 86 frames/s.
2. `transcribe`: Basic Pitch's own note decoding (`output_to_notes_polyphonic`) turns activations into notes.
3. `melody_notes`: the highest voice, as `melody.melody_line` takes it from a score, made robust to what a
   transcriber gets wrong (chord notes a frame apart, short spurious notes, split and repeated notes).
4. `recording_transcription`: a recording's features, its symbolic level from the transcribed melody line, and
   the whole transcription (kept as an audio corpus item's notes).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import threading
import warnings
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ledgerline.music.events import NOTE_DTYPE

from .features import Features, extract

if TYPE_CHECKING:
    import onnxruntime

MODEL_SAMPLE_RATE = 22050  # Basic Pitch's AUDIO_SAMPLE_RATE
FFT_HOP = 256
WINDOW_SAMPLES = MODEL_SAMPLE_RATE * 2 - FFT_HOP  # AUDIO_N_SAMPLES: the model's fixed input length
OVERLAP_FRAMES = 30
OVERLAP_SAMPLES = OVERLAP_FRAMES * FFT_HOP
HOP_SAMPLES = WINDOW_SAMPLES - OVERLAP_SAMPLES
FRAMES_PER_S = MODEL_SAMPLE_RATE // FFT_HOP  # ANNOTATIONS_FPS = 86
BATCH_WINDOWS = 16  # windows per session run: bounds memory (16 x 2 s) with no loss of speed
SILENCE_PEAK = 1e-4  # below this peak amplitude (-80 dBFS) there is nothing to transcribe

# Basic Pitch's defaults (its `predict`) are onset 0.5, frame 0.3, minimum note 127.7 ms (11 frames); shorter
# notes kept more of the top voice of rendered chorales (74 % of soprano notes against 69 %).
ONSET_THRESHOLD = 0.5
FRAME_THRESHOLD = 0.3
MIN_NOTE_FRAMES = 7

# Melody line of a transcription.
CHORD_SPREAD_S = 0.05  # onsets closer than this are one chord (the transcriber's onsets jitter by 1-3 frames)
MELODY_MIN_DURATION_S = 0.1  # shorter notes are attacks and glitches, not melody


class TranscriptionError(ValueError):
    """The audio cannot be transcribed (empty, not finite, silent, or no notes found); the message says why."""


class Note(NamedTuple):
    onset_s: float
    offset_s: float
    pitch: int  # MIDI
    velocity: int  # 1..127, from Basic Pitch's mean frame activation


def model_path() -> Path:
    """The ONNX model inside the installed `basic-pitch` package (found without importing the package)."""
    spec = importlib.util.find_spec("basic_pitch")
    if spec is None or not spec.submodule_search_locations:
        raise TranscriptionError("basic-pitch is not installed (scripts/setup.sh installs it)")
    path = Path(next(iter(spec.submodule_search_locations))) / "saved_models" / "icassp_2022" / "nmp.onnx"
    if not path.is_file():
        raise TranscriptionError(f"Basic Pitch's ONNX model is missing: {path}")
    return path


_session_lock = threading.Lock()


@functools.cache
def _session(threads: int) -> onnxruntime.InferenceSession:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # the model's unused initialisers are reported as warnings otherwise
    return ort.InferenceSession(str(model_path()), sess_options=options, providers=["CPUExecutionProvider"])


def session(threads: int = 1) -> onnxruntime.InferenceSession:
    """The cached onnxruntime session (loaded once per thread count; sessions are safe to share for `run`)."""
    with _session_lock:
        return _session(threads)


@functools.cache
def _note_creation() -> ModuleType:
    """Basic Pitch's note decoding. Its package __init__ logs a warning for every backend it does not find, and
    resampy warns that pkg_resources is deprecated: neither concerns us."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
            from basic_pitch import note_creation
    finally:
        root.setLevel(level)
    module: ModuleType = note_creation  # basic_pitch is untyped
    return module


def _checked_audio(audio: np.ndarray, sr: int) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1 if audio.shape[1] <= 8 else 0)
    if audio.ndim != 1 or audio.size == 0:
        raise TranscriptionError("no audio to transcribe")
    if sr <= 0:
        raise TranscriptionError(f"invalid sample rate {sr}")
    if not np.all(np.isfinite(audio)):
        raise TranscriptionError("the audio holds non-finite samples")
    if float(np.max(np.abs(audio))) < SILENCE_PEAK:
        raise TranscriptionError("the audio is silent")
    if sr != MODEL_SAMPLE_RATE:
        import librosa

        audio = librosa.resample(audio, orig_sr=sr, target_sr=MODEL_SAMPLE_RATE).astype(np.float32)
    return audio


def posteriorgrams(audio: np.ndarray, sr: int, *, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Note and onset activations, each [frames, 88] float32 in 0..1 (column 0 is MIDI 21, A0)."""
    audio = _checked_audio(audio, sr)
    length = len(audio)
    padded = np.concatenate([np.zeros(OVERLAP_SAMPLES // 2, np.float32), audio])
    starts = range(0, len(padded), HOP_SAMPLES)
    windows = np.zeros((len(starts), WINDOW_SAMPLES, 1), np.float32)
    for row, start in enumerate(starts):
        chunk = padded[start : start + WINDOW_SAMPLES]
        windows[row, : len(chunk), 0] = chunk
    run = session(threads)
    notes, onsets = [], []
    for first in range(0, len(windows), BATCH_WINDOWS):
        note, onset = run.run(
            ["StatefulPartitionedCall:1", "StatefulPartitionedCall:2"],
            {"serving_default_input_2:0": windows[first : first + BATCH_WINDOWS]},
        )
        notes.append(note)
        onsets.append(onset)
    frames = int(np.floor(length * FRAMES_PER_S / MODEL_SAMPLE_RATE))
    half = OVERLAP_FRAMES // 2

    def unwrap(parts: list[np.ndarray]) -> np.ndarray:
        joined = np.concatenate(parts)[:, half:-half, :]  # [windows, frames per window, 88]
        return joined.reshape(-1, joined.shape[2])[:frames]

    return unwrap(notes), unwrap(onsets)


def transcribe(audio: np.ndarray, sr: int, *, threads: int = 1) -> list[Note]:
    """Polyphonic notes of mono audio [samples] at `sr`, sorted by onset then pitch.

    Raises TranscriptionError for empty, non-finite or silent audio, and when no note is found.
    """
    return decode_notes(*posteriorgrams(audio, sr, threads=threads))


def decode_notes(
    frames: np.ndarray,
    onsets: np.ndarray,
    *,
    onset_threshold: float = ONSET_THRESHOLD,
    frame_threshold: float = FRAME_THRESHOLD,
    min_note_frames: int = MIN_NOTE_FRAMES,
) -> list[Note]:
    """Notes from note and onset activations [frames, 88], with Basic Pitch's own decoding."""
    if len(frames) <= min_note_frames:
        raise TranscriptionError("the audio is too short to transcribe")
    decode = _note_creation()
    events = decode.output_to_notes_polyphonic(
        frames.copy(),
        onsets.copy(),
        onset_thresh=onset_threshold,
        frame_thresh=frame_threshold,
        min_note_len=min_note_frames,
        infer_onsets=True,
        max_freq=None,
        min_freq=None,
        melodia_trick=True,
    )
    if not events:
        raise TranscriptionError("no notes were found in the audio")
    times = decode.model_frames_to_time(len(frames))
    notes = [
        Note(
            float(times[start]),
            float(times[min(end, len(times) - 1)]),
            int(pitch),
            int(np.clip(round(float(amplitude) * 127), 1, 127)),
        )
        for start, end, pitch, amplitude in events
    ]
    return sorted(notes, key=lambda n: (n.onset_s, n.pitch))


def melody_notes(
    notes: list[Note], *, chord_spread_s: float = CHORD_SPREAD_S, min_duration_s: float = MELODY_MIN_DURATION_S
) -> list[Note]:
    """The highest voice of a transcription (skyline): one note per onset cluster, sorted by onset.

    1. Notes shorter than `min_duration_s` are dropped: attack transients and glitches.
    2. Onsets within `chord_spread_s` of a cluster's first note form one cluster (the transcriber places the
       notes of one chord a frame or two apart); the cluster's highest note is its candidate.
    3. A candidate is skipped while a higher note of an earlier cluster still sounds: it is an inner voice
       moving under a held melody note (or a spurious onset inside it).
    4. A candidate of the same pitch as the previous melody note extends it: a re-attack (bowing) and a
       repeated note are one melody step, since transcription finds only some of either.
    """
    kept = sorted((n for n in notes if n.offset_s - n.onset_s >= min_duration_s), key=lambda n: n.onset_s)
    clusters: list[list[Note]] = []
    for note in kept:
        if clusters and note.onset_s - clusters[-1][0].onset_s <= chord_spread_s:
            clusters[-1].append(note)
        else:
            clusters.append([note])
    melody: list[Note] = []
    sounding: list[Note] = []  # notes of earlier clusters
    for cluster in clusters:
        top = max(cluster, key=lambda n: n.pitch)
        start = cluster[0].onset_s
        sounding = [n for n in sounding if n.offset_s > start + chord_spread_s]
        if not any(n.pitch > top.pitch for n in sounding):
            if melody and melody[-1].pitch == top.pitch:
                melody[-1] = melody[-1]._replace(offset_s=max(melody[-1].offset_s, top.offset_s))
            else:
                melody.append(top)
        sounding += cluster
    return melody


def note_array(notes: list[Note], *, tempo_bpm: float = 120.0) -> np.ndarray:
    """NOTE_DTYPE rows of transcribed notes (one piano track); beats at `tempo_bpm` (the symbolic level's
    intervals and duration ratios do not depend on it)."""
    rows = np.zeros(len(notes), dtype=NOTE_DTYPE)
    if notes:
        onset = np.array([n.onset_s for n in notes])
        duration = np.array([max(n.offset_s - n.onset_s, 1e-3) for n in notes])
        rows["pitch"] = [n.pitch for n in notes]
        rows["velocity"] = [n.velocity for n in notes]
        rows["start_s"], rows["duration_s"] = onset, duration
        rows["start"], rows["duration"] = onset * tempo_bpm / 60.0, duration * tempo_bpm / 60.0
    return rows


def recording_transcription(
    audio: np.ndarray, sr: int, *, query: bool, threads: int = 1
) -> tuple[Features, list[Note]]:
    """Features of a recording (no score) and all its transcribed notes (empty when transcription failed).

    Beats are tracked, tuning estimated, and the symbolic level is the transcribed melody line. When
    transcription fails, the other levels stand and `problems` says why."""
    try:
        notes = transcribe(audio, sr, threads=threads)
    except TranscriptionError as exc:
        features = extract(audio, sr, query=query)
        features.problems = [p for p in features.problems if not p.startswith("symbolic:")]
        features.problems.append(f"symbolic: the recording could not be transcribed ({exc})")
        return features, []
    return extract(audio, sr, notes=note_array(melody_notes(notes)), query=query), notes


def recording_features(audio: np.ndarray, sr: int, *, query: bool, threads: int = 1) -> Features:
    """Features of a recording (no score), its symbolic level from the transcribed melody line."""
    return recording_transcription(audio, sr, query=query, threads=threads)[0]
