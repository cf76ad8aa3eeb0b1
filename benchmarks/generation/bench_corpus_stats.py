"""Generated melodies measured against held-out chorales (issue 17 §2): the engine's `generation.engine.stats`.

The reference is the `--split` chorales' soprano lines through the tokeniser (`corpus_melody_stats`, as the
platform stores it for a model's held-out pieces): `test` for the figures we report, `valid` for choosing the
sampling settings (the out-of-key penalty was chosen there, then measured once on test). For each source,
`--pieces` pieces at the platform defaults (16 bars, key C, temperature 1 with the pitches at
PITCH_TEMPERATURE_SCALE of it, the out-of-key penalty OUT_OF_KEY_PENALTY and the contour pull MOTIF_STRENGTH,
top-p 0.95, anti-copy guard on) are
summarised against it: per measure the mean, the median and the share of samples inside the corpus's 5-95 % range
(one-sided for in-key ratio and longest rest).
Sources: `markov_random_walk` (no network) and every `lstm`/`transformer` checkpoint bench_quality.py left under
--work (ARCH.pt). The held-out chorales themselves are summarised too (by construction about 90 % inside per
measure). `--penalties` and `--pitch-scales` take comma-separated lists: every network source is sampled at each
combination, and so `--motif-strengths` and `--rhythm-strengths` (the Markov walk has no pitch distribution to weigh, so once).

    .venv/bin/python benchmarks/generation/bench_corpus_stats.py --pieces 50
    .venv/bin/python benchmarks/generation/bench_corpus_stats.py --pieces 50 --split valid --sources lstm \
        --penalties 1,0.5,0.3,0.2,0.1 --pitch-scales 0.7,0.85,1
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import torch
from common import DEFAULT_WORK, load_split  # noqa: I001  (sets sys.path first)

from generation.engine import tokens as tok
from generation.engine.anticopy import NgramGuard
from generation.engine.markov import MarkovHarmony
from generation.engine.models import get_model, legacy_config
from generation.engine.sample import (
    MOTIF_STRENGTH,
    OUT_OF_KEY_PENALTY,
    PITCH_TEMPERATURE_SCALE,
    RHYTHM_STRENGTH,
    generate_piece,
)
from generation.engine.stats import corpus_melody_stats, corpus_reference, melody_stats, summarise

GOALS = (
    "in-key ratio >= 0.95; range and intervals inside the corpus's 5-95 %; no rest > 2 bars unless the corpus has them"
)


def _floats(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pieces", type=int, default=50)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--out", type=Path, default=None, help="report file (default: WORK/corpus_stats[-SPLIT].json)")
    parser.add_argument("--split", choices=("test", "valid"), default="test", help="the held-out reference")
    parser.add_argument("--sources", default="markov_random_walk,lstm,transformer", help="comma-separated")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=0.95)
    # Comma-separated lists: every network source is sampled at each combination.
    for flag, default, meaning in (
        ("--pitch-scales", PITCH_TEMPERATURE_SCALE, "pitches drawn at temperature x each (1: as every other token)"),
        ("--penalties", OUT_OF_KEY_PENALTY, "out-of-key penalties (probability factors; 1: none)"),
        ("--motif-strengths", MOTIF_STRENGTH, "contour-repetition pulls (probability factors; 1: none)"),
        ("--rhythm-strengths", RHYTHM_STRENGTH, "rhythm-repetition pulls (probability factors; 1: none)"),
    ):
        parser.add_argument(flag, type=_floats, default=[default], help=f"{meaning}; the platform: %(default)s")
    parser.add_argument(
        "--fixed-key", action="store_true", help="weigh pitches in the request's key, not the key being written"
    )
    args = parser.parse_args()
    wanted = {name for name in args.sources.split(",") if name}
    split = load_split(args.work)
    train_scores = [s for _, s in split.train]
    held_stats = [corpus_melody_stats(s) for _, s in getattr(split, args.split)]
    reference = corpus_reference(held_stats)
    report: dict = {
        "goals": GOALS,
        "reference": reference,
        "sources": {},
        "sampling": vars(args) | {"work": str(args.work), "out": str(args.out)},
    }
    report["sources"][f"{args.split}_chorales"] = summarise(held_stats, reference)
    markov = MarkovHarmony().fit(train_scores)
    guard = NgramGuard.from_melodies(tok.melody_pitches(tok.encode_melody(s)) for s in train_scores)
    sources: dict = {"markov_random_walk": None} if "markov_random_walk" in wanted else {}
    for arch in ("lstm", "transformer"):
        path = args.work / f"{arch}.pt"
        if arch in wanted and path.exists():
            state = torch.load(path, map_location="cpu", weights_only=False)
            sources[arch] = get_model(arch, legacy_config(arch, state["config"]), tok.VOCAB.size)
            sources[arch].load_state_dict(state["state_dict"])
            sources[arch].eval()
    for name, net in sources.items():
        settings = [(1.0, 1.0, 1.0, 1.0)]
        if net is not None:
            settings = list(
                itertools.product(args.penalties, args.pitch_scales, args.motif_strengths, args.rhythm_strengths)
            )
        for penalty, scale, motif, rhythm in settings:
            label = name
            if net is not None:
                label += f" penalty={penalty:g} pitch_scale={scale:g} motif={motif:g} rhythm={rhythm:g}"
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
                    pitch_temperature_scale=scale,
                    out_of_key_penalty=penalty,
                    motif_strength=motif,
                    rhythm_strength=rhythm,
                    follow_key=not args.fixed_key,
                    seed=seed,
                    guard=guard,
                )
                melody = score.notes[score.notes["track"] == 0]
                samples.append(melody_stats(melody, key=stats["key"], bar_beats=score.bar_beats))
            report["sources"][label] = summarise(samples, reference) | {
                "seconds_per_piece": round((time.perf_counter() - started) / args.pieces, 3)
            }
            _print(label, report["sources"][label])
    out = args.out or args.work / ("corpus_stats.json" if args.split == "test" else f"corpus_stats-{args.split}.json")
    out.write_text(json.dumps(report, indent=1))
    _print(f"{args.split}_chorales", report["sources"][f"{args.split}_chorales"])
    print("reference", json.dumps(reference["percentiles"]))


def _print(label: str, summary: dict) -> None:
    shown = {k: {"mean": v["mean"], "inside": v["inside_share"]} for k, v in summary["statistics"].items()}
    extra = {
        k: summary[k] for k in ("pooled_interval_distance", "all_inside_share", "seconds_per_piece") if k in summary
    }
    print(label, json.dumps(shown | extra), flush=True)


if __name__ == "__main__":
    main()
