"""Memorisation: how many generated pieces the near-copy screening flags against the training corpus, with
and without anti-copy decoding (issue 4, "Memorisation").

    .venv/bin/python benchmarks/generation/bench_quality.py --only tokens     # trains lstm.pt under --work
    .venv/bin/python benchmarks/generation/bench_memorisation.py [--pieces 200] [--arch lstm]

1. Corpus: the training part of the split in common.py (the guard and the model saw exactly these pieces).
   Each chorale is rendered with FluidSynth and fingerprinted as the platform does (`features.extract` with
   the score's notes and beat times; `fingerprint.services.features_of`), into the three FAISS indexes.
2. Pieces: seeds 0..N-1, 16 bars at 100 bpm, keys cycling through C G D F Am Em, the platform's sampling
   defaults (temperature 1, top-p 0.95). Each seed is generated twice, without and with the guard
   (`NgramGuard` over the training melodies: note n-grams of `--ngram` intervals, the platform's 10, and its
   beat-line check unless `--no-lines`), so the two conditions differ only by the guard.
   With `--floor`, new tunes by Bach are arranged and screened the same way (`new_tunes`: held-out chorales of
   tunes not in training, and each training chorale against the corpus without its own tune): how often
   melodies in the corpus's style that copy nothing are flagged, the floor of this measure.
3. Screening: the SATB arrangement (the platform's for chorale-trained models) rendered with FluidSynth, its
   features as the platform takes them (`features.score_features`: the part named Soprano is the tune),
   `Screener.screen` with the
   default `Thresholds`; "flagged" means the verdict is "flag".
4. NLL cost of the guard: the mean NLL per sampled token under the trained model at temperature 1, with no
   top-p or guard mask (how likely the model finds what was sampled), guarded vs unguarded; the cost is the
   relative increase. The guard's intervention rate is interventions per melody note sampled.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from common import DEFAULT_WORK, load_split
from corpus_screen import KEYS, build_screener, corpus_features, features_of

from generation.engine import tokens as tok
from generation.engine.anticopy import NgramGuard
from generation.engine.markov import MarkovHarmony, parse_key
from generation.engine.models import get_model, legacy_config
from generation.engine.sample import (
    MOTIF_STRENGTH,
    OUT_OF_KEY_PENALTY,
    PITCH_TEMPERATURE_SCALE,
    KeyBias,
    MotifBias,
    generate_piece,
    sample,
)
from ledgerline.music.events import Score

BARS, TEMPO, TOP_P = 16, 100.0, 0.95
#: The platform's arrangement for a model trained on four-part chorales (`GenerationRequest.arrangement`); the
#: screening reads the tune from the part named Soprano, as the platform's does.
ARRANGEMENT = "satb"


def compose(
    net, markov: MarkovHarmony, guard: NgramGuard | None, seed: int, temperature: float = 1.0
) -> tuple[Score, list[int], int, int]:
    """`generate_piece` with the melody sampled here so that its tokens are kept: (score, tokens, interventions,
    bars redrawn). The melody goes through generate_piece's `melody_tokens` path, so placement and arrangement
    are the platform's own (checked against a plain generate_piece call for seed 0)."""
    budget = BARS * (3 * tok.steps_per_bar((4, 4)) + 1) + 8
    key = KEYS[seed % len(KEYS)]
    result = sample(
        net,
        tok.VOCAB,
        [tok.VOCAB.bos, tok.VOCAB.bar],
        budget,
        temperature,
        0,
        TOP_P,
        seed,
        guard,
        "cpu",
        max_bars=BARS,
        pitch_temperature=PITCH_TEMPERATURE_SCALE * temperature,
        key_bias=KeyBias(key=parse_key(key), penalty=OUT_OF_KEY_PENALTY, follow=True),
        motif_bias=MotifBias(MOTIF_STRENGTH),
    )
    return arranged(markov, result.tokens, seed), result.tokens, result.interventions, result.bar_redraws


def arranged(markov: MarkovHarmony, melody_tokens: list[int], seed: int) -> Score:
    """A melody harmonised, arranged and placed as the platform does a sampled one (the key cycles with the seed)."""
    score, _ = generate_piece(
        None,
        tok.VOCAB,
        markov,
        bars=min(BARS, melody_tokens.count(tok.VOCAB.bar)),
        tempo=TEMPO,
        key=KEYS[seed % len(KEYS)],
        top_p=TOP_P,
        seed=seed,
        melody_tokens=melody_tokens,
        arrangement=ARRANGEMENT,
    )
    return score


def new_tunes(split) -> list[tuple[str, list[int], set[int]]]:
    """Melodies by Bach that the screening must treat as new: (name, melody tokens of at most BARS bars, training
    keys the piece is screened without). Pieces in 4/4 of at least 8 bars, whose tunes are
    - held out (valid, test) and none of the training chorales' tunes: screened against the whole corpus;
    - in training: screened against the corpus without the chorales of the same tune, itself included
      (leave one tune out).
    "Same tune" is the real-variant benchmark's cleaned-label rule (`same_tune`), which looks at neither titles
    nor the screener."""
    from benchmarks.nearcopy.real_variants_data import same_tune

    def first_bars(score: Score) -> list[int] | None:
        tokens = tok.encode_melody(score)
        bars = [i for i, t in enumerate(tokens) if t == tok.VOCAB.bar]
        if score.time_signature != (4, 4) or len(bars) < 8:
            return None
        return tokens[: bars[BARS]] + [tok.VOCAB.eos] if len(bars) > BARS else tokens

    pieces = []
    for name, score in split.valid + split.test:
        tokens = first_bars(score)
        if tokens is not None and not any(same_tune(score, other) for _, other in split.train):
            pieces.append((name, tokens, set()))
    for name, score in split.train:
        tokens = first_bars(score)
        if tokens is not None:
            pieces.append((name, tokens, {k for k, (_, other) in enumerate(split.train) if same_tune(score, other)}))
    return pieces


def flag_of(verdict, split) -> dict:
    """The flag's best match: the training chorale, level and score, and at the melody level the equal beats."""
    best = verdict.matches[0]
    return {
        "item": split.train[best.key][0],
        "level": best.level,
        "score": round(best.score, 3),
        **({"matched_beats": best.evidence.get("matched_beats")} if best.level == "melody" else {}),
    }


def floor_row(split, screener, markov: MarkovHarmony) -> dict:
    """How often new tunes by Bach (`new_tunes`), arranged and screened as the samples are, are flagged: the floor
    of this measure, what a model that wrote new chorale tunes as Bach did would score."""
    pieces = new_tunes(split)
    flags = []
    for seed, (name, melody_tokens, without) in enumerate(pieces):
        screener.allowed = lambda key, without=without: key not in without
        verdict = screener.screen(features_of(arranged(markov, melody_tokens, seed), query=True))
        if verdict.verdict == "flag":
            flags.append({"piece": name, **flag_of(verdict, split)})
        if (seed + 1) % 50 == 0:
            print("floor", seed + 1, len(flags), flush=True)
    screener.allowed = lambda key: True
    held_out = sum(1 for _, _, without in pieces if not without)
    return {
        "pieces": len(pieces),
        "held_out_pieces": held_out,
        "leave_tune_out_pieces": len(pieces) - held_out,
        "flagged": len(flags),
        "flagged_share": round(len(flags) / max(len(pieces), 1), 4),
        "by_level": {level: sum(f["level"] == level for f in flags) for level in sorted({f["level"] for f in flags})},
        "flags": flags,
    }


@torch.no_grad()
def sequence_nll(net, tokens: list[int]) -> tuple[float, int]:
    """Summed NLL (nats) of tokens[1:] given their prefixes under `net`, and the token count."""
    seq = torch.tensor([tokens], dtype=torch.long)
    logits = net(seq[:, :-1]).float()
    loss = torch.nn.functional.cross_entropy(logits[0], seq[0, 1:], reduction="sum")
    return float(loss), len(tokens) - 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pieces", type=int, default=200)
    parser.add_argument("--arch", default="lstm")
    parser.add_argument("--ngram", type=int, default=6)
    parser.add_argument("--temperature", type=float, default=1.0, help="the request's temperature (platform: 1)")
    parser.add_argument("--only", choices=["unguarded", "guarded", "floor"], default=None, help="run one condition")
    parser.add_argument("--no-lines", action="store_true", help="the guard without its beat-line check")
    parser.add_argument("--line-score", type=float, default=None, help="the beat-line check's similarity")
    parser.add_argument("--line-beats", type=int, default=None, help="the beat-line check's equal beats")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also screen new tunes by Bach (held out, or leave one tune out), arranged as the samples are",
    )
    parser.add_argument("--prepare-only", action="store_true", help="cache the corpus features and stop")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    args = parser.parse_args()
    split = load_split(args.work)
    started = time.perf_counter()
    feats = corpus_features(split.train, args.work)
    corpus_seconds = time.perf_counter() - started
    print(f"corpus features for {len(feats)} chorales in {corpus_seconds:.0f} s", flush=True)
    if args.prepare_only:
        return
    screener = build_screener(feats, args.work / "index")
    markov = MarkovHarmony.from_json((args.work / "markov.json").read_text())
    rows: dict[str, dict] = {}
    if args.floor or args.only == "floor":
        rows["floor"] = floor_row(split, screener, markov)
        print("floor", json.dumps({k: v for k, v in rows["floor"].items() if k != "flags"}), flush=True)
    if args.only == "floor":
        (args.work / "memorisation-floor.json").write_text(json.dumps(rows["floor"], indent=1))
        return

    state = torch.load(args.work / f"{args.arch}.pt", map_location="cpu", weights_only=False)
    net = get_model(args.arch, legacy_config(args.arch, state["config"]), tok.VOCAB.size)
    net.load_state_dict(state["state_dict"])
    net.eval()
    guard = NgramGuard.from_scores((s for _, s in split.train), n=args.ngram, lines=not args.no_lines)
    guard.line_score = args.line_score or guard.line_score
    guard.line_beats = args.line_beats or guard.line_beats

    check, _ = generate_piece(
        net,
        tok.VOCAB,
        markov,
        bars=BARS,
        tempo=TEMPO,
        key=KEYS[0],
        top_p=TOP_P,
        seed=0,
        guard=guard,
        temperature=args.temperature,
        arrangement=ARRANGEMENT,
    )
    mine, *_ = compose(net, markov, guard, 0, args.temperature)
    assert np.array_equal(check.notes, mine.notes), "compose() drifted from generate_piece()"

    conditions = [(name, g) for name, g in (("unguarded", None), ("guarded", guard)) if args.only in (None, name)]
    for condition, use_guard in conditions:
        flagged, nll, tokens, interventions, melody_notes, copied, redrawn = [], 0.0, 0, 0, 0, 0, 0
        timing = {"compose": 0.0, "screen": 0.0}
        for seed in range(args.pieces):
            t0 = time.perf_counter()
            score, sampled, count, bars_redrawn = compose(net, markov, use_guard, seed, args.temperature)
            t1 = time.perf_counter()
            verdict = screener.screen(features_of(score, query=True))
            timing["compose"] += t1 - t0
            timing["screen"] += time.perf_counter() - t1
            if verdict.verdict == "flag":
                flagged.append({"seed": seed, **flag_of(verdict, split)})
            redrawn += bars_redrawn
            total, n = sequence_nll(net, sampled)
            nll, tokens, interventions = nll + total, tokens + n, interventions + count
            pitches = tok.melody_pitches(sampled)
            melody_notes += len(pitches)
            copied += guard.copied_ngrams(pitches)  # training 6-grams in the tune, whatever the condition
            if (seed + 1) % 25 == 0:
                print(condition, seed + 1, len(flagged), flush=True)
        rows[condition] = {
            "pieces": args.pieces,
            "flagged": len(flagged),
            "flagged_share": round(len(flagged) / args.pieces, 4),
            "flags": flagged,
            "nll_per_token": round(nll / tokens, 4),
            "tokens": tokens,
            "melody_notes": melody_notes,
            "interventions": interventions,
            "interventions_per_melody_note": round(interventions / max(melody_notes, 1), 4),
            "bars_redrawn": redrawn,
            "training_ngrams_in_melodies_per_note": round(copied / max(melody_notes, 1), 4),
            "seconds_per_piece": {k: round(v / args.pieces, 3) for k, v in timing.items()},
        }
        print(condition, json.dumps({k: v for k, v in rows[condition].items() if k != "flags"}), flush=True)
    report = {
        "arch": args.arch,
        "temperature": args.temperature,
        "guard_lines": len(guard.lines),
        "line_check": None if args.no_lines else {"score": guard.line_score, "beats": guard.line_beats},
        "corpus": len(feats),
        "guard_ngrams": len(guard),
        "ngram": args.ngram,
        "corpus_feature_seconds": round(corpus_seconds, 1),
        **rows,
    }
    if len(rows) == 2:
        report["guard_nll_increase"] = round(
            rows["guarded"]["nll_per_token"] / rows["unguarded"]["nll_per_token"] - 1, 4
        )
    lines = "-nolines" if args.no_lines else f"-lines{guard.line_score:g}x{guard.line_beats}"
    only = ("-" + args.only if args.only else "") + (f"-t{args.temperature:g}" if args.temperature != 1.0 else "")
    (args.work / f"memorisation-{args.arch}-n{args.ngram}{lines}-{args.pieces}{only}.json").write_text(
        json.dumps(report, indent=1)
    )
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
