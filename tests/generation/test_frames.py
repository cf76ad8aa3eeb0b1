"""The JSB-style piano-roll frame model used by benchmarks/generation."""

import numpy as np
import torch

from generation.engine.frames import (
    LOWEST_PITCH,
    PITCHES,
    FrameConfig,
    FrameLSTM,
    frame_nll,
    frames_from_score,
    independent_bernoulli_nll,
    train_frames,
)
from ledgerline.music.events import NOTE_DTYPE, Score, TrackInfo


def _score(rows: list[tuple[int, float, float]], *, drum: tuple[int, float, float] | None = None) -> Score:
    notes = [(pitch, 90, 0, False, 0, start, duration, 0.0, 0.0) for pitch, start, duration in rows]
    tracks = [TrackInfo("Piano", 0)]
    if drum is not None:
        notes.append((drum[0], 90, 0, True, 1, drum[1], drum[2], 0.0, 0.0))
        tracks.append(TrackInfo("Drums", 0, True))
    return Score(np.array(notes, dtype=NOTE_DTYPE), tracks)


def test_frames_from_score_samples_sounding_keys_at_each_quarter_note():
    # C4 for two beats, E4 on beat 1 for one beat, an eighth-note G4 between beats 2 and 3, A0 and C8 on beat 3.
    score = _score(
        [(60, 0.0, 2.0), (64, 1.0, 1.0), (67, 2.5, 0.5), (21, 3.0, 1.0), (108, 3.0, 1.0)], drum=(36, 0.0, 1.0)
    )
    roll = frames_from_score(score)
    assert roll.shape == (4, PITCHES)
    on = [sorted((np.nonzero(frame)[0] + LOWEST_PITCH).tolist()) for frame in roll]
    assert on == [[60], [60, 64], [], [21, 108]]  # the drum and the off-beat eighth are not sampled


def test_frames_from_score_drops_pitches_outside_the_piano():
    roll = frames_from_score(_score([(20, 0.0, 1.0), (109, 0.0, 1.0), (60, 0.0, 1.0)]))
    assert roll.sum() == 1 and roll[0, 60 - LOWEST_PITCH] == 1


def test_a_few_training_steps_lower_the_nll():
    # A repeating four-chord pattern, so that the next frame is predictable from the previous ones.
    chords = [[60, 64, 67], [65, 69, 72], [67, 71, 74], [60, 64, 67]]
    rolls = []
    for _ in range(6):
        roll = np.zeros((16, PITCHES), dtype=np.uint8)
        for t in range(16):
            roll[t, np.array(chords[t % 4]) - LOWEST_PITCH] = 1
        rolls.append(roll)
    torch.manual_seed(0)
    model = FrameLSTM(FrameConfig(hidden=32, layers=1, dropout=0.0))
    before = frame_nll(model, rolls)
    result = train_frames(model, rolls, epochs=30, batch_size=6, lr=1e-2)
    after = frame_nll(model, rolls)
    assert result.steps == 30
    assert after < before / 2


def test_independent_bernoulli_baseline_counts_88_keys_per_frame():
    roll = np.zeros((200, PITCHES), dtype=np.uint8)
    roll[:, 39] = 1  # one key always on: the baseline is nearly certain of every key
    assert independent_bernoulli_nll([roll], [roll]) < 0.5
