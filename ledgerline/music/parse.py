"""Symbolic files to `Score`: MIDI with symusic; MusicXML, ABC and Humdrum through music21 and its MIDI writer."""

from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .audio import CorruptFile
from .detect import SUFFIX, Format
from .events import Score

if TYPE_CHECKING:
    import music21

# Krumhansl-Kessler key profiles (major, minor), tonic first.
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
PITCH_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]


def estimate_key(score: Score) -> str | None:
    """Krumhansl-Schmuckler key estimate from duration-weighted pitch classes (drums ignored)."""
    notes = score.notes[~score.notes["is_drum"]]
    if len(notes) == 0:
        return None
    histogram = np.bincount(notes["pitch"] % 12, weights=notes["duration"], minlength=12)
    best, best_r = None, -2.0
    for tonic in range(12):
        for profile, mode in ((_MAJOR, "major"), (_MINOR, "minor")):
            r = float(np.corrcoef(histogram, np.roll(profile, tonic))[0, 1])
            if r > best_r:
                best, best_r = f"{PITCH_NAMES[tonic]} {mode}", r
    return best


def _music21_score(data: bytes, fmt: Format) -> music21.stream.Score | music21.stream.Part:
    import music21

    with tempfile.TemporaryDirectory(prefix="ledgerline-parse-") as tmp:
        path = Path(tmp) / f"piece{SUFFIX[fmt]}"
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                parsed = music21.converter.parse(str(path), format=_MUSIC21_FORMAT[fmt])
            except Exception as exc:  # music21 raises many types for bad input
                raise CorruptFile(f"cannot parse {fmt.value}: {str(exc)[:200]}") from exc
    if isinstance(parsed, music21.stream.Opus):
        if not parsed.scores:
            raise CorruptFile(f"{fmt.value} file holds no tune")
        parsed = parsed.scores[0]
    return parsed


_MUSIC21_FORMAT = {Format.MUSICXML: "musicxml", Format.MXL: "musicxml", Format.ABC: "abc", Format.HUMDRUM: "humdrum"}


def score_from_music21(parsed: music21.stream.Score | music21.stream.Part) -> Score:
    """A music21 stream to `Score` through MIDI (one code path for every symbolic format)."""
    import music21

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            midi_file = music21.midi.translate.streamToMidiFile(parsed)
            midi = midi_file.writestr()
        except Exception as exc:
            raise CorruptFile(f"cannot convert the score to MIDI: {str(exc)[:200]}") from exc
    metadata = parsed.metadata
    title = (metadata.title or metadata.movementName) if metadata else None
    composer = metadata.composer if metadata else None
    score = Score.from_midi_bytes(midi, title=title, composer=composer)
    # music21 writes a 120 bpm tempo event when the score marks no tempo: that is a default, not the piece's.
    score.tempo_marked = bool(list(parsed.recurse().getElementsByClass(music21.tempo.TempoIndication)))
    # music21 does not write the key signature's mode reliably; use its own analysis of the written key.
    keys = list(parsed.recurse().getElementsByClass(music21.key.Key))
    if keys:
        score.key = f"{keys[0].tonic.name.replace('-', 'b')} {keys[0].mode}"
    time_signatures = list(parsed.recurse().getElementsByClass(music21.meter.TimeSignature))
    if time_signatures:
        score.time_signature = (time_signatures[0].numerator, time_signatures[0].denominator)
    if len(score.tracks) and all(t.name.startswith("Track ") for t in score.tracks):
        names = [p.partName for p in parsed.parts] if hasattr(parsed, "parts") else []
        if len(names) == len(score.tracks):
            score.tracks = [
                type(t)(name or t.name, t.program, t.is_drum) for t, name in zip(score.tracks, names, strict=True)
            ]
    return score


def midi_title(data: bytes) -> str | None:
    """A MIDI file's own title: the name of its first track when that is a conductor track (or a type 0 file's).

    That is where sequencers and notation programs write the song's name (the "sequence name" of SMF type 1).
    """
    import mido

    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
    except Exception:  # symusic read it; mido is only asked for a name
        return None
    if not midi.tracks:
        return None
    first = midi.tracks[0]
    if midi.type != 0 and any(message.type == "note_on" for message in first):
        return None  # a first track that plays names its instrument, not the piece
    for message in first:
        if message.type == "track_name" and message.name.strip():
            name: str = message.name  # mido is untyped
            return name.strip()[:300]
    return None


def parse_symbolic(data: bytes, fmt: Format, *, name: str = "") -> Score:
    """Parse a symbolic file. Raises CorruptFile with a user-facing reason for damaged or empty files."""
    if fmt == Format.MIDI:
        try:
            score = Score.from_midi_bytes(data, title=midi_title(data) or (Path(name).stem if name else None))
        except ValueError as exc:
            raise CorruptFile(f"corrupt or truncated MIDI file: {exc}") from exc
    elif fmt in _MUSIC21_FORMAT:
        score = score_from_music21(_music21_score(data, fmt))
    else:
        raise CorruptFile(f"{fmt.value} is not a symbolic format")
    if len(score.notes) == 0:
        raise CorruptFile("the file contains no notes")
    if not score.key:
        score.key = estimate_key(score)
    return score
