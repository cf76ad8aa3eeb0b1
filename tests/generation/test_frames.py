"""The JSB-style piano-roll frame model used by benchmarks/generation."""

import numpy as np
import pytest
import torch

from generation.engine.frames import (
    LOWEST_PITCH,
    LOWEST_VOICE,
    PITCHES,
    FrameConfig,
    FrameHarmoniser,
    FrameLSTM,
    KeyMADE,
    _KeySampler,
    count_parallels,
    frame_nll,
    frames_from_score,
    harmonise,
    independent_bernoulli_nll,
    melody_frames,
    train_frames,
    voices_to_chords,
)
from generation.engine.markov import Chord, parse_key
from generation.engine.stats import in_key_mask
from ledgerline.music.events import NOTE_DTYPE, Score, TrackInfo


@pytest.fixture(autouse=True)
def one_torch_thread():
    # With the 2 cores busy, two OpenMP threads spin-wait: the training test took 12 s instead of 1 s.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


def test_made_output_for_a_key_does_not_depend_on_that_key_or_higher_ones():
    torch.manual_seed(0)
    made = KeyMADE(context_dim=8, hidden=40)
    torch.nn.init.normal_(made.direct.weight)  # zero at start; make the direct path count in the check
    context = torch.randn(3, 8)
    keys = (torch.rand(3, PITCHES) < 0.5).float()
    logits = made(context, keys)
    for k in (0, 1, 30, 87):
        perturbed = keys.clone()
        perturbed[:, k:] = 1 - perturbed[:, k:]
        changed = made(context, perturbed)
        assert torch.allclose(changed[:, : k + 1], logits[:, : k + 1])
        if k < 87:
            assert not torch.allclose(changed[:, k + 1 :], logits[:, k + 1 :])  # the higher keys do see it


def test_made_frame_model_scores_a_frame_from_earlier_frames_and_its_own_lower_keys_only():
    torch.manual_seed(0)
    model = FrameLSTM(FrameConfig(hidden=16, layers=2, dropout=0.0, made_hidden=24)).eval()
    roll = np.zeros((6, PITCHES), dtype=np.uint8)
    roll[:, [39, 43, 46]] = 1
    targets = torch.from_numpy(roll).float()[None]  # [1, 6, 88]
    inputs = torch.cat([torch.zeros(1, 1, PITCHES), targets[:, :-1]], dim=1)
    logits = model(inputs, targets)  # [1, 6, 88]
    later = targets.clone()
    later[0, 3, 50:] = 1 - later[0, 3, 50:]  # frame 3, keys 50 and up
    later[0, 4:] = 1 - later[0, 4:]  # frames 4 and 5
    changed = model(torch.cat([torch.zeros(1, 1, PITCHES), later[:, :-1]], dim=1), later)
    assert torch.allclose(changed[0, :3], logits[0, :3])
    assert torch.allclose(changed[0, 3, :51], logits[0, 3, :51])
    assert not torch.allclose(changed[0, 3, 51:], logits[0, 3, 51:])


def test_made_frame_model_trains_and_needs_the_frames_it_predicts():
    torch.manual_seed(0)
    model = FrameLSTM(FrameConfig(hidden=16, layers=1, dropout=0.0, made_hidden=24))
    roll = np.zeros((12, PITCHES), dtype=np.uint8)
    roll[:, [39, 43, 46]] = 1  # the same C major triad throughout: the upper keys follow from the lowest
    before = frame_nll(model, [roll])
    train_frames(model, [roll], epochs=20, lr=1e-2)
    assert frame_nll(model, [roll]) < before / 2
    with pytest.raises(ValueError, match="needs next_frames"):
        model(torch.zeros(1, 2, PITCHES))


def test_independent_bernoulli_baseline_counts_88_keys_per_frame():
    roll = np.zeros((200, PITCHES), dtype=np.uint8)
    roll[:, 39] = 1  # one key always on: the baseline is nearly certain of every key
    assert independent_bernoulli_nll([roll], [roll]) < 0.5


def _made_model(seed: int = 0) -> FrameLSTM:
    torch.manual_seed(seed)
    model = FrameLSTM(FrameConfig(hidden=24, layers=1, dropout=0.0, made_hidden=24))
    torch.nn.init.normal_(model.head.direct.weight, std=0.3)  # zero at start; make the key-to-key path count
    return model.eval()


def test_key_by_key_sampling_uses_the_same_logits_as_the_full_made_pass():
    model = _made_model()
    sampler = _KeySampler(model.head)
    context = torch.randn(5, 24)
    keys, _, logits = sampler.draw(context, torch.rand(5, PITCHES), temperature=1.0, top=72 - LOWEST_PITCH, need=3)
    torch.testing.assert_close(logits, model.head(context, keys), atol=1e-4, rtol=1e-4)


def test_each_candidate_keeps_the_melody_on_top_with_three_keys_below():
    model = _made_model()
    keys, log_weight, _ = _KeySampler(model.head).draw(
        torch.randn(8, 24), torch.rand(8, PITCHES), temperature=1.0, top=70 - LOWEST_PITCH, need=3
    )
    for row in keys:
        on = np.nonzero(row.numpy())[0] + LOWEST_PITCH
        assert on.max() == 70 and len(on) == 4 and on.min() >= LOWEST_VOICE
    assert torch.all(log_weight < 0)  # the forced keys have probability < 1


def test_harmonising_is_deterministic_for_a_seed_and_keeps_the_melody_as_soprano():
    model = _made_model()
    melody = [67, 67, 69, None, 71, 72, 71, 69]
    first = harmonise(model, melody, seed=3)
    again = harmonise(model, melody, seed=3)
    other = harmonise(model, melody, seed=4)
    assert first.voices.shape == (8, 4)
    np.testing.assert_array_equal(first.voices, again.voices)
    assert not np.array_equal(first.voices, other.voices)
    sounding = [i for i, p in enumerate(melody) if p is not None]
    assert first.voices[sounding, 0].tolist() == [p for p in melody if p is not None]
    assert np.all(np.diff(first.voices, axis=1) < 0)  # four distinct voices, high to low
    assert first.parallels == sum(count_parallels(a, b) for a, b in zip(first.voices, first.voices[1:], strict=False))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_harmonising_on_the_gpu_gives_the_cpu_voices():
    melody = [67, 67, 69, None, 71, 72, 71, 69]
    cpu = harmonise(_made_model(), melody, seed=3, device="cpu")
    gpu = harmonise(_made_model(), melody, seed=3, device="cuda")
    np.testing.assert_array_equal(cpu.voices, gpu.voices)


def test_parallel_fifths_and_octaves_are_counted_only_when_both_voices_move_together():
    assert count_parallels(np.array([67, 60]), np.array([69, 62])) == 1  # fifth to fifth, both up
    assert count_parallels(np.array([72, 60]), np.array([74, 62])) == 1  # octave to octave
    assert count_parallels(np.array([67, 60]), np.array([67, 60])) == 0  # repeated chord: no motion
    assert count_parallels(np.array([67, 60]), np.array([74, 67])) == 1
    assert count_parallels(np.array([67, 60]), np.array([69, 65])) == 0  # fifth to third


def test_melody_frames_sample_the_sounding_pitch_at_each_beat():
    notes = np.array(
        [(60, 90, 0, False, 0, 0.0, 1.5, 0.0, 0.0), (62, 90, 0, False, 0, 1.5, 0.5, 0.0, 0.0)], dtype=NOTE_DTYPE
    )
    assert melody_frames(notes, 3) == [60, 60, None]


def test_training_and_scoring_run_on_the_given_device():
    rolls = [np.eye(PITCHES, dtype=np.uint8)[[40, 44, 47, 52] * 3]] * 2
    model = _made_model()
    result = train_frames(model, rolls, epochs=2, batch_size=2, device="cpu")
    assert result.steps == 2
    assert frame_nll(model, rolls, device="cpu") > 0


def test_frame_harmoniser_names_one_chord_per_beat_from_its_four_voices():
    model = _made_model()
    per_beat = [[67], [67, 69], [], [71], [96]]  # a rest, and a pitch above the keys it writes (moved down)
    harmoniser = FrameHarmoniser(model)
    chords = harmoniser(per_beat, np.random.default_rng(5), parse_key("G"))
    assert len(chords) == 5 and all(isinstance(c, Chord) for c in chords)
    voices = harmoniser.harmony.voices
    assert voices[:, 0].tolist()[:2] == [67, 67] and voices[4, 0] == 84
    assert chords == voices_to_chords(voices)
    again = FrameHarmoniser(model)(per_beat, np.random.default_rng(5), parse_key("G"))
    assert again == chords


def test_voices_are_named_by_their_pitch_classes_with_the_bass_as_root_hint():
    assert [c.name for c in voices_to_chords(np.array([[72, 67, 64, 48], [74, 67, 62, 55]]))] == ["C", "G"]


def test_the_key_penalty_pulls_the_lower_voices_into_the_key():
    model = _made_model()
    melody = [67, 69, 71, 72, 74, 72, 71, 69, 67, 66, 67, 67]
    key = parse_key("G")

    def outside(voices: np.ndarray) -> int:
        return int(np.sum(~in_key_mask(voices[:, 1:].ravel(), key)[1]))

    free = sum(outside(harmonise(model, melody, seed=s).voices) for s in range(3))
    keyed = sum(outside(harmonise(model, melody, seed=s, key=key, out_of_key_penalty=0.01).voices) for s in range(3))
    assert keyed < free
