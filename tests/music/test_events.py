import numpy as np
import pytest

from ledgerline.music.events import NOTE_DTYPE, Score, TrackInfo, make_notes, with_seconds


def _two_track_score() -> Score:
    melody = make_notes([(72, 0, 1), (74, 1, 1), (76, 2, 2)], track=0, program=73)
    bass = make_notes([(48, 0, 4)], track=1, program=32)
    score = Score(
        notes=np.concatenate([melody, bass]),
        tracks=[TrackInfo("Flute", 73), TrackInfo("Bass", 32)],
        tempo_bpm=90,
        tempo_map=[(0.0, 90.0), (2.0, 180.0)],
        time_signature=(3, 4),
        key="C major",
        title="Test",
    )
    return with_seconds(score)


def test_seconds_follow_the_tempo_map():
    score = _two_track_score()
    # 2 beats at 90 bpm = 1.333 s, then 2 beats at 180 bpm = 0.667 s
    assert score.duration_s == pytest.approx(2.0)
    assert score.beats_to_seconds(3.0) == pytest.approx(4 / 3 + 1 / 3)
    assert score.bar_beats == 3.0


def test_midi_round_trip_keeps_notes_tracks_tempo_and_metre():
    score = _two_track_score()
    back = Score.from_midi_bytes(score.to_midi_bytes(), title="Test")
    assert [t.program for t in back.tracks] == [73, 32]
    assert back.time_signature == (3, 4)
    np.testing.assert_allclose(back.tempo_map, [(0.0, 90.0), (2.0, 180.0)], rtol=1e-3)
    np.testing.assert_array_equal(back.notes["pitch"], score.notes["pitch"])
    np.testing.assert_allclose(back.notes["start_s"], score.notes["start_s"], atol=1e-6)


def test_npz_round_trip_is_lossless():
    score = _two_track_score()
    back = Score.from_npz_bytes(score.to_npz_bytes())
    assert back.notes.dtype == NOTE_DTYPE
    np.testing.assert_array_equal(back.notes, score.notes)
    assert back.tracks == score.tracks and back.key == "C major" and back.tempo_map == score.tempo_map


def test_track_score_keeps_one_track():
    bass = _two_track_score().track_score(1)
    assert len(bass.tracks) == 1 and bass.tracks[0].name == "Bass"
    assert set(bass.notes["track"]) == {0} and len(bass.notes) == 1


def test_garbage_is_not_a_midi_file():
    with pytest.raises(ValueError, match="not a readable MIDI file"):
        Score.from_midi_bytes(b"MThd\x00\x00\x00\x06garbage")
