"""Quality of the generation models on a fixed split of music21's Bach chorales (issue 4, "Quality").

    .venv/bin/python benchmarks/generation/bench_quality.py [--epochs 100] [--frame-epochs 40] [--pieces 30]

Split: see common.py (80/10/10 of the sorted chorale files, numpy seed 0). Every model picks its epoch on the
valid part (early stopping: token models patience 5; the frame model patience 8 after at least 40 epochs, halving
its learning rate after 4 epochs without gain) and is scored once on the test part.

1. Melody tokens (`tokens.encode_melody`: the soprano as BAR/POSITION/PITCH/DURATION tokens): held-out NLL
   in nats per token (`train.evaluate_nll`: every token after BOS is a target, windows of 256) for the LSTM,
   the Transformer and a second-order Markov chain over the same tokens (the baseline; interpolated add-k
   smoothing as in `markov.py`, k = 0.1, V = 184).
2. Chords: the Markov harmony's (`MarkovHarmony`, §4.3, k = 0.1 as the platform fits it) NLL per chord on
   the test chorales, a unigram over the 48 labels, and a sweep of the smoothing constant k.
3. Frames (the JSB metric): `frames.FrameLSTM` on quarter-note piano rolls; nats per frame, sum of 88 BCEs.
   `--frame-made N` gives it the autoregressive MADE output over the keys (N hidden units; 0, the default,
   keeps the independent sigmoids). The best figure so far, 5.14 nats per frame (RESULTS.md): `--only frames
   --frame-epochs 300 --frame-hidden 256 --frame-made 256 --frame-batch 8 --frame-transpose 2`.
4. Generated pieces (`--pieces` per model, platform defaults: 16 bars, temperature 1, top-p 0.95, anti-copy
   guard on): key-relative pitch-class histogram distance to the test chorales' soprano lines (total
   variation, 0..1) and in-key ratio (share of melody notes whose pitch class is in the estimated key's
   scale; for minor keys natural minor plus the raised 6th and 7th).

Saves the trained LSTM/Transformer checkpoints (`--work`/ARCH.pt, overwritten by each run that trains ARCH)
and the Markov harmony under --work for the other benchmarks. Prints a JSON report (also written to --out).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from common import DEFAULT_WORK, load_split  # noqa: I001  (sets sys.path first)

from generation.engine import frames as fr
from generation.engine import tokens as tok
from generation.engine.anticopy import NgramGuard
from generation.engine.markov import ALL_LABELS, MarkovHarmony, estimate_key, extract_chords, score_key
from generation.engine.models import count_parameters, get_model, legacy_config
from generation.engine.sample import generate_piece
from generation.engine.stats import in_key_mask
from generation.engine.train import evaluate_nll, train

TOKEN_CONFIGS = {
    "lstm": {"dim": 128, "layers": 2, "dropout": 0.3, "max_len": 256},
    "transformer": {"dim": 128, "layers": 2, "heads": 4, "dropout": 0.2, "max_len": 256},
}


def train_token_model(arch: str, train_seqs, valid_seqs, test_seqs, *, epochs: int, lr: float, work: Path) -> dict:
    """Train epoch by epoch (resuming `train` from its checkpoint), keep the epoch with the best valid NLL."""
    torch.manual_seed(0)
    net = get_model(arch, TOKEN_CONFIGS[arch], tok.VOCAB.size)
    checkpoint = work / f"{arch}.train.pt"
    checkpoint.unlink(missing_ok=True)
    best, best_epoch, best_state, curve, seconds, tokens_per_s = math.inf, 0, None, [], 0.0, []
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        result = train(
            net,
            train_seqs,
            epochs=epoch,
            batch_size=32,
            lr=lr,
            seq_len=256,
            seed=0,
            checkpoint_path=checkpoint,
            checkpoint_every=0,
        )
        seconds += time.perf_counter() - started
        tokens_per_s.append(result.tokens_per_s)
        curve.append(round(evaluate_nll(net, valid_seqs), 4))
        if curve[-1] < best:
            best, best_epoch = curve[-1], epoch
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        elif epoch - best_epoch >= 5:
            break
    assert best_state is not None
    net.load_state_dict(best_state)
    net.eval()
    torch.save({"arch": arch, "config": net.config.to_dict(), "state_dict": net.state_dict()}, work / f"{arch}.pt")
    checkpoint.unlink(missing_ok=True)
    return {
        "net": net,
        "parameters": count_parameters(net),
        "config": TOKEN_CONFIGS[arch],
        "lr": lr,
        "epochs_run": len(curve),
        "best_epoch": best_epoch,
        "valid_nll_curve": curve,
        "train_seconds": round(seconds, 1),
        "train_tokens_per_s": round(float(np.median(tokens_per_s)), 1),
        "valid_nll_per_token": round(best, 4),
        "test_nll_per_token": round(evaluate_nll(net, test_seqs), 4),
    }


def token_trigram_nll(train_seqs, test_seqs, k: float = 0.1) -> float:
    """Second-order Markov chain over melody tokens with the interpolated add-k smoothing of markov.py."""
    size = tok.VOCAB.size
    uni, bi, tri = Counter(), Counter(), Counter()
    bi_ctx, tri_ctx = Counter(), Counter()
    for seq in train_seqs:
        for i in range(1, len(seq)):
            a, b, c = (seq[i - 2] if i >= 2 else -1), seq[i - 1], seq[i]
            uni[c] += 1
            bi[(b, c)] += 1
            bi_ctx[b] += 1
            tri[(a, b, c)] += 1
            tri_ctx[(a, b)] += 1
    total_uni, kv = sum(uni.values()), k * size
    nll, count = 0.0, 0
    for seq in test_seqs:
        for i in range(1, len(seq)):
            a, b, c = (seq[i - 2] if i >= 2 else -1), seq[i - 1], seq[i]
            p1 = (uni[c] + k) / (total_uni + kv)
            p2 = (bi[(b, c)] + kv * p1) / (bi_ctx[b] + kv) if bi_ctx[b] else p1
            p3 = (tri[(a, b, c)] + kv * p2) / (tri_ctx[(a, b)] + kv) if tri_ctx[(a, b)] else p2
            nll -= math.log(p3)
            count += 1
    return nll / count


def chord_nll(markov: MarkovHarmony, test_scores) -> tuple[float, float]:
    """(Markov harmony NLL per chord, unigram-over-48-labels NLL per chord) on the test chorales."""
    total, unigram_total, count = 0.0, 0.0, 0
    for score in test_scores:
        key = score_key(score)
        chords = extract_chords(score)
        if not chords:
            continue
        total -= markov.log_prob(chords, key=key)
        uni = markov.unigram[key.mode] or markov.unigram["major"]
        n = sum(uni.values())
        for chord in chords:
            label = chord.relative(key)
            unigram_total -= math.log((uni.get(label, 0) + markov.k) / (n + markov.k * len(ALL_LABELS)))
        count += len(chords)
    return total / count, unigram_total / count


def melody_stats(melodies: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """Key-relative pitch-class histogram [12] (notes counted once each) and in-key ratio of NOTE arrays."""
    histogram, in_key, notes = np.zeros(12), 0, 0
    for melody in melodies:
        if len(melody) == 0:
            continue
        key = estimate_key(melody["pitch"], melody["duration"])
        relative, in_scale = in_key_mask(melody["pitch"], key)
        histogram += np.bincount(relative, minlength=12)
        in_key += int(in_scale.sum())
        notes += len(melody)
    return histogram / max(histogram.sum(), 1), in_key / max(notes, 1)


def soprano(score) -> np.ndarray:
    decoded = tok.decode(tok.encode_melody(score))
    return decoded.notes[decoded.notes["track"] == 0]


def generated_melodies(net, markov, guard, pieces: int) -> tuple[list[np.ndarray], float]:
    melodies, started = [], time.perf_counter()
    for seed in range(pieces):
        score, _ = generate_piece(
            net, tok.VOCAB, markov, bars=16, tempo=100, key="C", temperature=1.0, top_p=0.95, seed=seed, guard=guard
        )
        melodies.append(score.notes[score.notes["track"] == 0])
    return melodies, (time.perf_counter() - started) / pieces


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--lr", type=float, default=3e-3, help="AdamW learning rate of the token models")
    parser.add_argument("--archs", default="lstm,transformer", help="token models to train")
    parser.add_argument("--frame-epochs", type=int, default=40)
    parser.add_argument("--frame-hidden", type=int, default=128)
    parser.add_argument("--frame-transpose", type=int, default=0)
    parser.add_argument("--frame-made", type=int, default=0, help="MADE output hidden units (0: independent keys)")
    parser.add_argument("--frame-dropout", type=float, default=0.3)
    parser.add_argument("--frame-lr", type=float, default=2e-3)
    parser.add_argument("--frame-weight-decay", type=float, default=0.0)
    parser.add_argument("--frame-batch", type=int, default=16)
    parser.add_argument("--pieces", type=int, default=30)
    parser.add_argument("--only", default="", help="comma list of: tokens,frames,generated (default all)")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--out", type=Path, default=None, help="report file (default: WORK/quality.json)")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(","))) or {"tokens", "frames", "generated"}
    args.work.mkdir(parents=True, exist_ok=True)
    split = load_split(args.work)
    train_scores = [s for _, s in split.train]
    valid_scores = [s for _, s in split.valid]
    test_scores = [s for _, s in split.test]
    report: dict = {
        "split": {
            "train": len(train_scores),
            "valid": len(valid_scores),
            "test": len(test_scores),
            "test_names": [n for n, _ in split.test],
        },
        "torch_threads": torch.get_num_threads(),
    }
    seqs = {
        name: [tok.encode_melody(s) for s in scores]
        for name, scores in (("train", train_scores), ("valid", valid_scores), ("test", test_scores))
    }
    report["tokens"] = {name: sum(len(s) - 1 for s in v) for name, v in seqs.items()}

    markov = MarkovHarmony().fit(train_scores)
    (args.work / "markov.json").write_text(markov.to_json())
    markov_chord, unigram_chord = chord_nll(markov, test_scores)
    report["markov_harmony"] = {
        "k": markov.k,
        "test_nll_per_chord": round(markov_chord, 4),
        "unigram_test_nll_per_chord": round(unigram_chord, 4),
        "k_sweep": {},
    }
    for k in (0.01, 0.5, 1.0, 3.0):  # the smoothing constant, for the record: the platform uses k = 0.1
        other = MarkovHarmony(k=k).fit(train_scores)
        report["markov_harmony"]["k_sweep"][str(k)] = {
            "valid_nll_per_chord": round(chord_nll(other, valid_scores)[0], 4),
            "test_nll_per_chord": round(chord_nll(other, test_scores)[0], 4),
        }
    report["token_trigram_baseline"] = {"test_nll_per_token": round(token_trigram_nll(seqs["train"], seqs["test"]), 4)}
    print(json.dumps(report["markov_harmony"] | report["token_trigram_baseline"]), flush=True)

    nets = {}
    if "tokens" in only:
        for arch in args.archs.split(","):
            result = train_token_model(
                arch, seqs["train"], seqs["valid"], seqs["test"], epochs=args.epochs, lr=args.lr, work=args.work
            )
            nets[arch] = result.pop("net")
            report[arch] = result
            print(arch, json.dumps(result), flush=True)

    if "frames" in only:
        rolls = {
            name: [fr.frames_from_score(s) for s in scores]
            for name, scores in (("train", train_scores), ("valid", valid_scores), ("test", test_scores))
        }
        torch.manual_seed(0)
        config = fr.FrameConfig(
            hidden=args.frame_hidden, layers=2, dropout=args.frame_dropout, made_hidden=args.frame_made
        )
        model = fr.FrameLSTM(config)
        result = fr.train_frames(
            model,
            rolls["train"],
            epochs=args.frame_epochs,
            batch_size=args.frame_batch,
            lr=args.frame_lr,
            weight_decay=args.frame_weight_decay,
            transpose=args.frame_transpose,
            valid=rolls["valid"],
            patience=8,
            on_epoch=lambda epoch, nll: print(f"frames epoch {epoch}: valid {nll:.4f}", file=sys.stderr, flush=True),
        )
        report["frames"] = {
            "frames": {k: int(sum(len(r) for r in v)) for k, v in rolls.items()},
            "config": {
                "hidden": args.frame_hidden,
                "layers": 2,
                "dropout": args.frame_dropout,
                "made_hidden": args.frame_made,
                "transpose": args.frame_transpose,
                "lr": args.frame_lr,
                "weight_decay": args.frame_weight_decay,
                "batch_pieces": args.frame_batch,
                "lr_halves_after_epochs_without_gain": 4,
                "patience": 8,
                "min_epochs": 40,
            },
            "parameters": count_parameters(model),
            "epochs_run": len(result.valid_nll),
            "best_epoch": result.best_epoch,
            "train_seconds": round(result.seconds, 1),
            "train_frames_per_s": round(result.frames_per_s, 1),
            "valid_nll_per_frame": round(min(result.valid_nll), 4),
            "valid_nll_curve": [round(v, 3) for v in result.valid_nll],
            "test_nll_per_frame": round(fr.frame_nll(model, rolls["test"]), 4),
            "independent_bernoulli_test_nll_per_frame": round(
                fr.independent_bernoulli_nll(rolls["train"], rolls["test"]), 4
            ),
        }
        print("frames", json.dumps(report["frames"]), flush=True)

    if "generated" in only:
        for arch in ("lstm", "transformer"):
            if arch not in nets and (args.work / f"{arch}.pt").exists():
                state = torch.load(args.work / f"{arch}.pt", map_location="cpu", weights_only=False)
                nets[arch] = get_model(arch, legacy_config(arch, state["config"]), tok.VOCAB.size)
                nets[arch].load_state_dict(state["state_dict"])
                nets[arch].eval()
        guard = NgramGuard.from_melodies(tok.melody_pitches(s) for s in seqs["train"])
        corpus_hist, corpus_in_key = melody_stats([soprano(s) for s in test_scores])
        report["generated"] = {"corpus_test_soprano": {"in_key_ratio": round(corpus_in_key, 4)}}
        sources = {**{arch: net for arch, net in nets.items()}, "markov_random_walk": None}
        for name, net in sources.items():
            melodies, seconds = generated_melodies(net, markov, guard, args.pieces)
            hist, in_key = melody_stats(melodies)
            report["generated"][name] = {
                "pieces": args.pieces,
                "in_key_ratio": round(in_key, 4),
                "pc_histogram_tv_distance": round(0.5 * float(np.abs(hist - corpus_hist).sum()), 4),
                "seconds_per_piece_compose": round(seconds, 3),
            }
            print(name, json.dumps(report["generated"][name]), flush=True)
    (args.out or args.work / "quality.json").write_text(json.dumps(report, indent=1))
    print(
        json.dumps(
            {k: v for k, v in report.items() if k != "split"}
            | {"split": {k: v for k, v in report["split"].items() if k != "test_names"}},
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
