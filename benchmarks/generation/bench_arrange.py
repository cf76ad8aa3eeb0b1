"""Voice-leading errors per 100 chords: our SATB arrangements against the test chorales (issue 17 §3).

Every source is read the same way (`arrange.satb_per_beat`: the four parts' pitches at each beat's start) and
counted by `arrange.voice_leading_errors` over the beats where all four voices sound: parallel fifths,
parallel octaves/unisons (same interval class while both voices move), a voice outside its textbook range
(S C4-G5, A G3-C5, T C3-G4, B E2-C4) and crossings.

Sources:
- `test_chorales`: Bach's own four parts (the split's test chorales with exactly four pitched parts; a few
  have more, instrumental, parts and are left out of this row).
- `satb_test_sopranos`: our SATB harmonisation (Markov harmony fitted on the training chorales, one chord per
  beat, `voice_chords`) of each test chorale's soprano line, in its own key.
- `block_test_sopranos`: the same chords voiced as the band arrangement does (close root-position triad under
  the melody, bass on the root) with the soprano on top: the baseline without voice-leading rules.
- `satb_generated_<source>`: `--pieces` pieces at the platform defaults with `arrangement="satb"` (random-walk
  melody, and the LSTM of bench_quality.py when WORK/lstm.pt exists).

    .venv/bin/python benchmarks/generation/bench_arrange.py --pieces 30
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from common import DEFAULT_WORK, load_split  # noqa: I001  (sets sys.path first)

from generation.engine import tokens as tok
from generation.engine.anticopy import NgramGuard
from generation.engine.arrange import (
    corpus_style,
    fit_soprano_range,
    harmonise_satb,
    melody_per_beat,
    satb_per_beat,
    soprano_line,
    voice_leading_errors,
)
from generation.engine.markov import QUALITIES, MarkovHarmony, score_key
from generation.engine.models import get_model
from generation.engine.sample import generate_piece


def pooled(grids: list[np.ndarray]) -> dict[str, float]:
    """Errors summed over the pieces (each piece's grid counted on its own, so no step spans two pieces)."""
    total: dict[str, float] = {}
    for grid in grids:
        for name, value in voice_leading_errors(grid).items():
            if not name.endswith("_per_100"):
                total[name] = total.get(name, 0) + value
    chords = total.get("chords", 0)
    for name in ("parallel_fifths", "parallel_octaves", "range", "crossing"):
        total[f"{name}_per_100"] = round(100.0 * total.get(name, 0) / chords, 3) if chords else 0.0
    return total


def soprano_of(score) -> np.ndarray:
    notes = score.notes[~score.notes["is_drum"]]
    tracks = sorted(
        {int(t) for t in np.unique(notes["track"])}, key=lambda t: -notes["pitch"][notes["track"] == t].mean()
    )
    return notes[notes["track"] == tracks[0]]


def block_voicing(soprano: list[int], chords) -> np.ndarray:
    """The band arrangement's voicing under the soprano: close root position from G3 up, bass on the root."""
    rows = []
    for pitch, chord in zip(soprano, chords, strict=True):
        root = 55 + (chord.root - 7) % 12
        triad = [root + i for i in QUALITIES[chord.quality]][:3]
        bass = 40 + (chord.root - 4) % 12
        rows.append([pitch, triad[2], triad[1], bass] if len(triad) == 3 else [pitch, triad[-1], triad[0], bass])
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pieces", type=int, default=30)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--out", type=Path, default=None, help="report file (default: WORK/arrange.json)")
    args = parser.parse_args()
    split = load_split(args.work)
    train_scores = [s for _, s in split.train]
    test_scores = [s for _, s in split.test]
    markov = MarkovHarmony().fit(train_scores)
    report: dict = {"test_pieces": len(test_scores), "sources": {}}

    four_part = [s for s in test_scores if corpus_style([s]).four_part_share == 1.0]
    report["four_part_test_pieces"] = len(four_part)
    report["sources"]["test_chorales"] = pooled([satb_per_beat(s) for s in four_part])
    ours, block = [], []
    started = time.perf_counter()
    for index, score in enumerate(test_scores):
        melody = fit_soprano_range(soprano_of(score))  # a few parts lie an octave high (doubling instruments)
        key = score_key(score)
        bars = int(np.ceil(score.duration_beats / score.bar_beats - 1e-9))
        rng = np.random.default_rng(index)
        voices, chords = harmonise_satb(
            melody, markov.harmonise, key=key, rng=rng, bars=bars, time_signature=score.time_signature
        )
        per_beat = melody_per_beat(melody, len(chords), 4.0 / score.time_signature[1])
        sounding = np.array([len(p) > 0 for p in per_beat])
        grid = np.array(voices.voicings, dtype=np.int64)
        grid[~sounding] = -1  # where the melody rests, the beat is not a four-voice chord (as in the chorales)
        ours.append(grid)
        line = [int(p) for p in soprano_line(per_beat) if p is not None]
        blocks = block_voicing(line, chords)
        blocks[~sounding] = -1
        block.append(blocks)
    report["sources"]["satb_test_sopranos"] = pooled(ours) | {
        "seconds_per_piece": round((time.perf_counter() - started) / len(test_scores), 3)
    }
    report["sources"]["block_test_sopranos"] = pooled(block)

    guard = NgramGuard.from_melodies(tok.melody_pitches(tok.encode_melody(s)) for s in train_scores)
    sources: dict = {"random_walk": None}
    path = args.work / "lstm.pt"
    if path.exists():
        state = torch.load(path, map_location="cpu", weights_only=False)
        sources["lstm"] = get_model("lstm", state["config"], tok.VOCAB.size)
        sources["lstm"].load_state_dict(state["state_dict"])
        sources["lstm"].eval()
    for name, net in sources.items():
        grids = []
        for seed in range(args.pieces):
            score, _ = generate_piece(
                net, tok.VOCAB, markov, bars=16, tempo=100, key="C", seed=seed, guard=guard, arrangement="satb"
            )
            grids.append(satb_per_beat(score))
        report["sources"][f"satb_generated_{name}"] = pooled(grids)
    (args.out or args.work / "arrange.json").write_text(json.dumps(report, indent=1))
    for name, figures in report["sources"].items():
        print(name, json.dumps(figures))


if __name__ == "__main__":
    main()
