"""Generated melodies measured against the test chorales (issue 17 §2): the engine's `generation.engine.stats`.

The reference is the test chorales' soprano lines through the tokeniser (`corpus_melody_stats`, as the platform
stores it for a model's held-out pieces). For each source, `--pieces` pieces at the platform defaults (16 bars,
key C, temperature 1 with the pitches at PITCH_TEMPERATURE_SCALE of it, top-p 0.95, anti-copy guard on) are
summarised against it: per measure the mean, the median and the share of samples inside the corpus's 5-95 % range (one-sided for in-key ratio and longest rest).
Sources: `markov_random_walk` (no network) and every `lstm`/`transformer` checkpoint bench_quality.py left under
--work (ARCH.pt). The test chorales themselves are summarised too (by construction about 90 % inside per measure).

    .venv/bin/python benchmarks/generation/bench_corpus_stats.py --pieces 50
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from common import DEFAULT_WORK, load_split  # noqa: I001  (sets sys.path first)

from generation.engine import tokens as tok
from generation.engine.anticopy import NgramGuard
from generation.engine.markov import MarkovHarmony
from generation.engine.models import get_model, legacy_config
from generation.engine.sample import PITCH_TEMPERATURE_SCALE, generate_piece
from generation.engine.stats import corpus_melody_stats, corpus_reference, melody_stats, summarise

GOALS = (
    "in-key ratio >= 0.95; range and intervals inside the corpus's 5-95 %; no rest > 2 bars unless the corpus has them"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pieces", type=int, default=50)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--out", type=Path, default=None, help="report file (default: WORK/corpus_stats.json)")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument(
        "--pitch-temperature-scale",
        type=float,
        default=PITCH_TEMPERATURE_SCALE,
        help="pitches drawn at temperature x this (1: as every other token; the platform default: %(default)s)",
    )
    args = parser.parse_args()
    split = load_split(args.work)
    train_scores = [s for _, s in split.train]
    test_stats = [corpus_melody_stats(s) for _, s in split.test]
    reference = corpus_reference(test_stats)
    report: dict = {
        "goals": GOALS,
        "reference": reference,
        "sources": {},
        "sampling": vars(args) | {"work": str(args.work), "out": str(args.out)},
    }
    report["sources"]["test_chorales"] = summarise(test_stats, reference)
    markov = MarkovHarmony().fit(train_scores)
    guard = NgramGuard.from_melodies(tok.melody_pitches(tok.encode_melody(s)) for s in train_scores)
    sources: dict = {"markov_random_walk": None}
    for arch in ("lstm", "transformer"):
        path = args.work / f"{arch}.pt"
        if path.exists():
            state = torch.load(path, map_location="cpu", weights_only=False)
            sources[arch] = get_model(arch, legacy_config(arch, state["config"]), tok.VOCAB.size)
            sources[arch].load_state_dict(state["state_dict"])
            sources[arch].eval()
    for name, net in sources.items():
        started, samples = time.perf_counter(), []
        for seed in range(args.pieces):
            score, stats = generate_piece(
                net,
                tok.VOCAB,
                markov,
                bars=16,
                tempo=100,
                key="C",
                temperature=args.temperature,
                top_p=args.top_p,
                pitch_temperature_scale=args.pitch_temperature_scale,
                seed=seed,
                guard=guard,
            )
            samples.append(
                melody_stats(score.notes[score.notes["track"] == 0], key=stats["key"], bar_beats=score.bar_beats)
            )
        report["sources"][name] = summarise(samples, reference) | {
            "seconds_per_piece": round((time.perf_counter() - started) / args.pieces, 3)
        }
    (args.out or args.work / "corpus_stats.json").write_text(json.dumps(report, indent=1))
    for name, summary in report["sources"].items():
        print(
            name,
            json.dumps(
                {k: {"mean": v["mean"], "inside": v["inside_share"]} for k, v in summary["statistics"].items()}
                | {
                    "pooled_interval_distance": summary["pooled_interval_distance"],
                    "all_inside_share": summary["all_inside_share"],
                }
            ),
        )
    print("reference", json.dumps(reference["percentiles"]))


if __name__ == "__main__":
    main()
