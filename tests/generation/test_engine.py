"""The generation engine without Django: tokens, models, training, sampling, Markov harmony, anti-copy guard."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from generation.engine.anticopy import NgramGuard
from generation.engine.markov import ALL_LABELS, Chord, MarkovHarmony, arrange, extract_chords, parse_key
from generation.engine.models import DEBUG_CONFIGS, ModelConfig, get_model, legacy_config
from generation.engine.sample import filter_logits, generate_piece, sample
from generation.engine.tokens import VOCAB, decode, encode, encode_melody, interval_sequence, melody_pitches
from generation.engine.train import evaluate_nll, train
from ledgerline.music.events import Score, TrackInfo, make_notes

CHORALES = ("bach/bwv66.6", "bach/bwv269", "bach/bwv347", "bach/bwv153.1")


def _small_score() -> Score:
    melody = make_notes([(72, 0, 1), (74, 1, 1), (76, 2, 2), (77, 4, 0.5), (79, 4.5, 3.5)], track=0)
    harmony = make_notes([(60, 0, 4), (64, 0, 4), (67, 0, 4), (65, 4, 4)], track=1, program=48)
    bass = make_notes([(36, 0, 2), (43, 2, 2), (41, 4, 4)], track=2, program=33)
    drums = make_notes([(36, 0, 0.25), (42, 0.5, 0.25), (38, 1, 0.25)], track=3, is_drum=True)
    tracks = [TrackInfo("Lead", 0), TrackInfo("Pad", 48), TrackInfo("Bass", 33), TrackInfo("Kit", 0, True)]
    return Score(notes=np.concatenate([melody, harmony, bass, drums]), tracks=tracks, tempo_bpm=100.0)


def _note_set(score: Score) -> set[tuple[int, int, float, float, bool]]:
    n = score.notes
    return {
        (int(p), int(t), float(s), float(d), bool(dr))
        for p, t, s, d, dr in zip(n["pitch"], n["track"], n["start"], n["duration"], n["is_drum"], strict=True)
    }


@pytest.fixture(scope="module")
def chorales() -> list[Score]:
    corpus = pytest.importorskip("music21.corpus")
    from ledgerline.music.parse import score_from_music21

    return [score_from_music21(corpus.parse(name)) for name in CHORALES]


# --- tokens --------------------------------------------------------------------------------------------
def test_vocab_strings_round_trip() -> None:
    ids = list(range(VOCAB.size))
    assert VOCAB.from_strings(VOCAB.to_strings(ids)) == ids
    assert VOCAB.to_str(VOCAB.pitch(60)) == "PITCH_60"
    assert VOCAB.from_str("DURATION_32") == VOCAB.size - 1
    with pytest.raises(ValueError):
        VOCAB.from_str("PITCH_200")


def test_multitrack_round_trip_on_small_score() -> None:
    score = _small_score()
    tokens = encode(score)
    assert tokens[0] == VOCAB.bos and tokens[-1] == VOCAB.eos
    decoded = decode(tokens, 100.0, {"melody": 0, "harmony": 48, "bass": 33, "drums": 0})
    assert [t.is_drum for t in decoded.tracks] == [False, False, False, True]
    # The small score sits on the grid with tracks already in role order, so the notes come back exactly.
    assert _note_set(decoded) == _note_set(score)
    assert encode(decoded) == tokens
    assert decoded.notes["start_s"][1] >= 0 and decoded.to_midi_bytes()[:4] == b"MThd"


def test_melody_is_top_voice() -> None:
    score = _small_score()
    tokens = encode_melody(score)
    assert melody_pitches(tokens) == [72, 74, 76, 77, 79]
    assert VOCAB.track_offset not in tokens
    assert list(interval_sequence([72, 74, 76, 77, 79])) == [2, 2, 1, 2]
    assert list(interval_sequence([60, 62])) == list(interval_sequence([65, 67]))


def test_round_trip_on_chorale(chorales: list[Score]) -> None:
    chorale = chorales[0]
    tokens = encode(chorale)
    decoded = decode(tokens, chorale.tempo_bpm, None, time_signature=chorale.time_signature)
    assert encode(decoded) == tokens
    # Every onset/pitch survives; only alto-tenor unisons (same role, onset and pitch) are merged into one note.
    original = {(int(p), float(t)) for p, t in zip(chorale.notes["pitch"], chorale.notes["start"], strict=True)}
    assert {(int(p), float(t)) for p, t in zip(decoded.notes["pitch"], decoded.notes["start"], strict=True)} == original
    assert len(chorale.notes) - 2 <= len(decoded.notes) <= len(chorale.notes)
    melody = encode_melody(chorale)
    soprano = chorale.notes[chorale.notes["track"] == 0]["pitch"].tolist()
    assert melody_pitches(melody) == soprano


# --- models --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["lstm", "transformer"])
def test_model_forward_shapes(name: str) -> None:
    torch.manual_seed(0)
    model = get_model(name, DEBUG_CONFIGS[name].to_dict(), VOCAB.size)
    logits = model(torch.randint(0, VOCAB.size, (3, 17)))
    assert logits.shape == (3, 17, VOCAB.size)
    assert ModelConfig.from_dict(model.config.to_dict()) == model.config


def test_transformer_is_causal() -> None:
    torch.manual_seed(0)
    model = get_model("transformer", {"size": "debug"}, VOCAB.size).eval()
    tokens = torch.randint(0, VOCAB.size, (1, 12))
    changed = tokens.clone()
    changed[0, 8:] = (changed[0, 8:] + 1) % VOCAB.size
    with torch.no_grad():
        assert torch.allclose(model(tokens)[0, :8], model(changed)[0, :8], atol=1e-5)


def test_unknown_model_raises() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        get_model("gru", {}, VOCAB.size)


# --- training ------------------------------------------------------------------------------------------
def _toy_sequence() -> list[int]:
    pitches = [60, 64, 67, 72, 71, 67, 65, 62, 60, 59, 62, 67, 65, 64, 62, 60]
    tokens = [VOCAB.bos, VOCAB.bar]
    for index, pitch in enumerate(pitches):
        if index and index % 4 == 0:
            tokens.append(VOCAB.bar)
        tokens += [VOCAB.position((index % 4) * 4), VOCAB.pitch(pitch), VOCAB.duration(4)]
    return [*tokens, VOCAB.eos]


def test_training_reduces_loss() -> None:
    model = get_model("lstm", {"size": "debug"}, VOCAB.size)
    sequences = [_toy_sequence()] * 4
    before = evaluate_nll(model, sequences, seq_len=32)
    seen: list[int] = []
    result = train(
        model,
        sequences,
        epochs=15,
        batch_size=4,
        lr=1e-2,
        seq_len=32,
        seed=0,
        on_step=lambda step, total, loss: seen.append(step),
    )
    after = evaluate_nll(model, sequences, seq_len=32)
    assert after < before * 0.7
    assert result.losses[-1] < result.losses[0]
    assert seen == list(range(1, result.steps + 1)) and result.tokens_per_s > 0


def test_resume_continues_step_count(tmp_path: Path) -> None:
    sequences = [_toy_sequence()] * 8  # 54 tokens -> 2 windows each -> 16 windows -> 4 steps per epoch
    path = tmp_path / "ckpt.pt"
    torch.manual_seed(5)
    first = train(
        get_model("lstm", {"size": "debug"}, VOCAB.size),
        sequences,
        epochs=1,
        batch_size=4,
        seq_len=32,
        seed=1,
        checkpoint_path=path,
        checkpoint_every=1,
    )
    assert first.steps == 4 and path.exists()
    # Same data, one more epoch: the run resumes at step 4 and only does the remaining steps.
    second = train(
        get_model("lstm", {"size": "debug"}, VOCAB.size),
        sequences,
        epochs=2,
        batch_size=4,
        seq_len=32,
        seed=1,
        checkpoint_path=path,
    )
    assert second.resumed_from == 4 and second.steps == 8 and len(second.losses) == 4
    assert torch.load(path, weights_only=False)["step"] == 8
    assert not path.with_name(path.name + ".tmp").exists()

    # Resuming gives the same weights as one uninterrupted run.
    torch.manual_seed(5)
    straight = get_model("lstm", {"size": "debug"}, VOCAB.size)
    train(straight, sequences, epochs=2, batch_size=4, seq_len=32, seed=1)
    resumed = get_model("lstm", {"size": "debug"}, VOCAB.size)
    resumed.load_state_dict(torch.load(path, weights_only=False)["model"])
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


# --- sampling ------------------------------------------------------------------------------------------
def test_sampling_is_seeded() -> None:
    torch.manual_seed(0)
    model = get_model("transformer", {"size": "debug"}, VOCAB.size)
    a = sample(model, VOCAB, [VOCAB.bos], 40, 1.0, 0, 1.0, seed=7).tokens
    b = sample(model, VOCAB, [VOCAB.bos], 40, 1.0, 0, 1.0, seed=7).tokens
    c = sample(model, VOCAB, [VOCAB.bos], 40, 1.0, 0, 1.0, seed=8).tokens
    assert a == b
    assert a != c


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("arch", ["lstm", "transformer"])
def test_sampling_on_the_gpu_draws_the_cpu_tokens(arch: str) -> None:
    # The generator and the draw stay on the CPU; the model runs in float32 on either device.
    torch.manual_seed(0)
    model = get_model(arch, {"size": "debug"}, VOCAB.size)
    on_cpu = sample(model, VOCAB, [VOCAB.bos], 60, 1.0, 0, 0.95, seed=7, device="cpu").tokens
    on_gpu = sample(model, VOCAB, [VOCAB.bos], 60, 1.0, 0, 0.95, seed=7, device="cuda").tokens
    assert on_cpu == on_gpu


@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p", "message"),
    [
        (0.0, 0, 1.0, "temperature"),
        (-1.0, 0, 1.0, "temperature"),
        (1.0, -1, 1.0, "top_k"),
        (1.0, 0, 0.0, "top_p"),
        (1.0, 0, 1.5, "top_p"),
    ],
)
def test_bad_sampling_parameters(temperature: float, top_k: int, top_p: float, message: str) -> None:
    model = get_model("lstm", {"size": "debug"}, VOCAB.size)
    with pytest.raises(ValueError, match=message):
        sample(model, VOCAB, [VOCAB.bos], 5, temperature, top_k, top_p, seed=0)


def test_top_k_and_top_p_filter() -> None:
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    assert torch.isfinite(filter_logits(logits, 2, 1.0)).tolist() == [True, True, False, False]
    assert torch.isfinite(filter_logits(logits, 0, 0.7)).tolist() == [True, True, False, False]
    assert torch.isfinite(filter_logits(logits, 0, 0.1)).tolist() == [True, False, False, False]


def _melody_tokens(pitches: list[int]) -> list[int]:
    tokens = [VOCAB.bos]
    for index, pitch in enumerate(pitches):
        if index % 4 == 0:
            tokens.append(VOCAB.bar)
        tokens += [VOCAB.position((index % 4) * 4), VOCAB.pitch(pitch), VOCAB.duration(4)]
    return [*tokens, VOCAB.eos]


def test_guard_blocks_memorised_ngrams() -> None:
    pitches = [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60, 67]
    training = _melody_tokens(pitches)
    torch.manual_seed(0)
    model = get_model("lstm", {"size": "debug", "dim": 64}, VOCAB.size)
    train(model, [training] * 8, epochs=40, batch_size=8, lr=2e-2, seq_len=len(training), seed=0)

    guard = NgramGuard.from_melodies([pitches], n=6)
    assert guard.would_copy([60, 62, 64, 65, 67, 69], 71)
    assert guard.would_copy([50, 52, 54, 55, 57, 59], 61)  # transposed copy
    assert not guard.would_copy([60, 62, 64, 65, 67, 69], 70)
    assert NgramGuard.from_bytes(guard.to_bytes()).hashes == guard.hashes

    prompt = training[:2]
    free = sample(model, VOCAB, prompt, len(training), 1.0, 1, 1.0, seed=0)
    assert guard.copied_ngrams(melody_pitches(free.tokens)) > 0  # the model did memorise the tune

    guarded = sample(model, VOCAB, prompt, len(training), 1.0, 1, 1.0, seed=0, guard=guard)
    assert guarded.interventions > 0
    assert guard.copied_ngrams(melody_pitches(guarded.tokens)) == 0


# --- Markov harmony ------------------------------------------------------------------------------------
def test_markov_on_chorales(chorales: list[Score]) -> None:
    model = MarkovHarmony(k=0.1).fit(chorales)
    for context in ([], ["0:maj"], ["0:maj", "7:maj"], ["11:dim", "3:7"]):
        for mode in ("major", "minor"):
            assert math.isclose(model.distribution(context, mode).sum(), 1.0, rel_tol=1e-9)

    chorale = chorales[0]
    key = parse_key(chorale.key)
    seen = extract_chords(chorale)[:8]
    rng = np.random.default_rng(0)
    random = [
        Chord(int(r), str(q))
        for r, q in zip(rng.integers(0, 12, 8), rng.choice(["maj", "min", "dim", "7"], 8), strict=True)
    ]
    assert model.log_prob(seen, key) > model.log_prob(random, key)

    restored = MarkovHarmony.from_json(model.to_json())
    assert restored.log_prob(seen, key) == pytest.approx(model.log_prob(seen, key))
    proposal = model.propose(8, np.random.default_rng(1), "G")
    assert len(proposal) == 8 and all(c.relative(parse_key("G")) in ALL_LABELS for c in proposal)


def test_harmonise_follows_melody() -> None:
    model = MarkovHarmony(
        k=0.1
    )  # light smoothing: 16 training chords are a toy corpus (the default k=1 suits real ones)
    model.add_sequence(["0:maj", "5:maj", "7:maj", "0:maj"] * 4, "major")
    chords = model.harmonise([[60, 64, 67], [65, 69, 72], [67, 71, 74], [72, 76]], np.random.default_rng(0), "C")
    assert [c.name for c in chords] == ["C", "F", "G", "C"]


def test_arrange_four_tracks() -> None:
    melody = make_notes([(72, 0, 2), (76, 2, 2), (79, 4, 8)])
    chords = [Chord(0, "maj"), Chord(7, "7")]
    score = arrange(melody, chords, 2, 120.0, "C", {"melody": 73}, np.random.default_rng(0))
    assert len(score.tracks) == 4 and score.tracks[3].is_drum
    assert math.ceil(score.duration_beats / score.bar_beats) == 2
    drums = score.notes[score.notes["track"] == 3]
    assert set(drums["pitch"].tolist()) == {36, 38, 42} and drums["is_drum"].all()
    bass = score.notes[score.notes["track"] == 2]["pitch"]
    assert bass.min() >= 36 and bass.max() < 60
    assert score.notes[score.notes["track"] == 0]["program"].tolist() == [73, 73, 73]


# --- whole pieces --------------------------------------------------------------------------------------
@pytest.mark.parametrize("use_model", [False, True])
@pytest.mark.parametrize(("bars", "key"), [(4, "C"), (7, "F#m"), (1, "Bb")])
def test_generate_piece(use_model: bool, bars: int, key: str) -> None:
    markov = MarkovHarmony()
    markov.add_sequence(["0:maj", "5:maj", "7:7", "0:maj"] * 3, "major")
    torch.manual_seed(0)
    model = get_model("lstm", {"size": "debug"}, VOCAB.size) if use_model else None
    programs = {"melody": 0, "harmony": 48, "bass": 33, "drums": 0}
    score, stats = generate_piece(
        model,
        VOCAB,
        markov,
        bars=bars,
        tempo=96,
        key=key,
        programs=programs,
        temperature=1.0,
        top_k=0,
        top_p=0.95,
        seed=3,
        guard=None,
    )
    assert len(score.tracks) == 4
    assert math.ceil(score.duration_beats / score.bar_beats - 1e-9) == bars
    assert score.duration_beats <= bars * score.bar_beats + 1e-9
    assert all(np.any(score.notes["track"] == t) for t in range(4))
    assert len(stats["chords"]) == bars
    again, _ = generate_piece(
        model,
        VOCAB,
        markov,
        bars=bars,
        tempo=96,
        key=key,
        programs=programs,
        temperature=1.0,
        top_k=0,
        top_p=0.95,
        seed=3,
        guard=None,
    )
    assert again.to_midi_bytes() == score.to_midi_bytes()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"key": "H"}, "'H'"),
        ({"key": "Cmaj7"}, "Cmaj7"),
        ({"bars": 0}, "bars"),
        ({"bars": 257}, "bars"),
        ({"tempo": 10}, "tempo"),
        ({"programs": {"melody": 128}}, "program"),
    ],
)
def test_generate_piece_validation(kwargs: dict, message: str) -> None:
    args = {
        "bars": 4,
        "tempo": 120,
        "key": "C",
        "programs": None,
        "temperature": 1.0,
        "top_k": 0,
        "top_p": 1.0,
        "seed": 0,
        "guard": None,
    } | kwargs
    with pytest.raises(ValueError, match=message):
        generate_piece(None, VOCAB, MarkovHarmony(), **args)


def test_key_names() -> None:
    assert parse_key("C#m").tonic == 1 and parse_key("C#m").mode == "minor"
    assert parse_key("Bb").tonic == 10 and parse_key("Bb").mode == "major"
    assert parse_key("F# minor").name == "F#m"


def test_a_transformer_checkpoint_from_before_the_embedding_fix_keeps_its_sqrt_dim_scale() -> None:
    torch.manual_seed(0)
    old = get_model("transformer", {"size": "debug", "scale_embedding": True, "positions": "absolute"}, VOCAB.size)
    stored = {k: v for k, v in old.config.to_dict().items() if k not in ("scale_embedding", "positions")}
    loaded = get_model("transformer", legacy_config("transformer", stored), VOCAB.size)
    loaded.load_state_dict(old.state_dict())
    tokens = torch.tensor([[VOCAB.bos, VOCAB.bar, VOCAB.pitch(60), VOCAB.duration(4)]])
    assert torch.allclose(old.eval()(tokens), loaded.eval()(tokens))
    assert get_model("transformer", {"size": "debug"}, VOCAB.size).config.scale_embedding is False
    assert legacy_config("lstm", {"dim": 8}) == {"dim": 8}
