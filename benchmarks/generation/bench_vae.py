"""The melody VAE (issue 16 §1): reconstruction, KL and interpolation smoothness on the chorale split.

    .venv/bin/python benchmarks/generation/bench_vae.py --bars 2  [--budget-s 240] [--epochs 40]
    .venv/bin/python benchmarks/generation/bench_vae.py --bars 16 [--budget-s 240] [--epochs 40]

1. Data: the split of common.py. Melody tokens (`tokens.encode_melody`), cut into windows of `--bars` bars
   starting at every bar (hop 1) for train, valid and test; windows over the config's max_len are skipped (counted).
2. Model: `get_model("vae", ...)`. 2 bars: a flat decoder; 16 bars: the per-bar conductor. Trained with
   `train_vae` (KL annealing, free bits) and early stopping on the valid windows, within `--budget-s` seconds.
3. Reconstruction on the test windows (z = mu): per-step token accuracy teacher-forced, sampled (temperature 1,
   seed 0, the decoder's own tokens fed back) and greedy, NLL per token, KL per window.
4. Interpolation: `--pairs` pairs of test windows from different chorales, 11 points t = 0, 0.1, ..., 1 on the
   slerp path, each decoded greedily and with seeded sampling. Smoothness: the note-level change between adjacent
   points, 1 - |A & B| / |A | B| over the (onset in 16ths, pitch) sets of their melody notes (0: identical, 1:
   nothing shared). In-key ratio: the share of a point's notes in the key estimated from both endpoints' notes.
   Beside it, the same measures for the naive data-space path (the first t*bars bars of A, then the rest of B).
5. With `--memorisation N`: N prior samples (seed i: z from the prior, decoded at temperature 1 with seed i,
   100 bpm, keys cycling C G D F Am Em), harmonised and arranged by `generate_piece` as the platform does, rendered
   and screened (corpus_screen.py: the platform's features, Flat indexes, `Screener`, default thresholds) against the
   training chorales; unguarded and with the VAE's guard (`decode_guarded`, n = 10 intervals, as the platform).
   `--memorisation-only --symbolic-only` loads the saved model and counts only the samples whose melodies hold a
   training 10-interval run (no rendering; minutes, not the hour the audio features of the corpus take here).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from common import DEFAULT_WORK, load_split

from generation.engine import tokens as tok
from generation.engine import vae as V
from generation.engine.anticopy import NgramGuard
from generation.engine.markov import MarkovHarmony, estimate_key
from generation.engine.models import get_model
from generation.engine.sample import generate_piece
from generation.engine.stats import scale_pitch_classes
from generation.engine.train import EarlyStopping

SIZES = {
    2: {"bars": 2, "max_len": 64, "embed": 64, "encoder_dim": 128, "decoder_dim": 128, "latent": 32, "layers": 1,
        "conductor": False, "dropout": 0.1, "beta": 0.5, "anneal_steps": 400, "free_nats": 8.0},
    16: {"bars": 16, "max_len": 320, "embed": 48, "encoder_dim": 96, "decoder_dim": 128, "latent": 32, "layers": 1,
         "conductor": True, "conductor_dim": 64, "dropout": 0.1, "beta": 0.2, "anneal_steps": 150, "free_nats": 32.0},
}  # fmt: skip


def windows_of(part, bars: int) -> list[list[int]]:
    return V.melody_windows([tok.encode_melody(score) for _, score in part], bars, hop=1)


def note_set(window: list[int]) -> set[tuple[int, int]]:
    notes = tok.decode([tok.VOCAB.bos, *window, tok.VOCAB.eos]).notes
    return {(int(round(s * tok.STEPS_PER_BEAT)), int(p)) for s, p in zip(notes["start"], notes["pitch"], strict=True)}


def change(a: set, b: set) -> float:
    union = a | b
    return 1.0 - len(a & b) / len(union) if union else 0.0


def in_key(window: list[int], scale: set[int]) -> tuple[int, int]:
    pitches = tok.melody_pitches(window)
    return sum(p % 12 in scale for p in pitches), len(pitches)


def path_measures(paths: list[list[list[int]]], keys: list[set[int]]) -> dict:
    changes, ends, inside, total = [], [], 0, 0
    for path, scale in zip(paths, keys, strict=True):
        sets = [note_set(w) for w in path]
        changes += [change(a, b) for a, b in zip(sets, sets[1:], strict=False)]
        ends.append(change(sets[0], sets[-1]))
        for window in path:
            k, n = in_key(window, scale)
            inside, total = inside + k, total + n
    return {
        "mean_change_adjacent": round(float(np.mean(changes)), 4),
        "max_change_adjacent": round(float(np.max(changes)), 4),
        "change_first_to_last": round(float(np.mean(ends)), 4),
        "in_key_ratio": round(inside / max(total, 1), 4),
    }


def memorisation(model: V.MelodyVAE, split, args) -> dict:
    from corpus_screen import KEYS, build_screener, corpus_features, features_of

    started = time.perf_counter()
    feats = corpus_features(split.train, args.work)
    screener = build_screener(feats, args.work / "index-vae")
    markov = MarkovHarmony().fit([score for _, score in split.train])
    guard = NgramGuard.from_melodies((tok.melody_pitches(tok.encode_melody(s)) for _, s in split.train), n=10)
    prepared = time.perf_counter() - started
    rows = {"unguarded": [], "guarded": []}
    redraws, screen_s = 0, 0.0
    for seed in range(args.memorisation):
        z = V.sample_prior(model, 1, seed)
        verdicts = {}
        for condition, use in (("unguarded", None), ("guarded", guard)):
            tokens, used = V.decode_guarded(model, z, use, seed=seed, temperature=1.0)
            if condition == "guarded" and used == 0:
                verdicts[condition] = verdicts["unguarded"]  # the same piece
                continue
            redraws += used
            score, _ = generate_piece(
                None, tok.VOCAB, markov, bars=args.bars, tempo=100.0, key=KEYS[seed % len(KEYS)], seed=seed,
                melody_tokens=[tok.VOCAB.bos, *tokens, tok.VOCAB.eos],
            )  # fmt: skip
            t0 = time.perf_counter()
            verdict = screener.screen(features_of(score, query=True))
            screen_s += time.perf_counter() - t0
            verdicts[condition] = (
                {"seed": seed, "item": split.train[verdict.matches[0].key][0], "level": verdict.matches[0].level}
                if verdict.verdict == "flag"
                else None
            )
        for condition, flag in verdicts.items():
            if flag is not None:
                rows[condition].append(flag)
        if (seed + 1) % 20 == 0:
            print("memorisation", seed + 1, {k: len(v) for k, v in rows.items()}, flush=True)
    return {
        "samples": args.memorisation,
        "flagged_unguarded": len(rows["unguarded"]),
        "flagged_guarded": len(rows["guarded"]),
        "flags": rows,
        "guard_redraws": redraws,
        "prepare_seconds": round(prepared, 1),
        "screen_seconds_per_piece": round(screen_s / max(args.memorisation, 1), 2),
    }


def copied_ngrams(model: V.MelodyVAE, split, samples: int, n: int = 10) -> dict:
    """The symbolic part of the memorisation check, without rendering: how many of `samples` prior samples hold at
    least one run of n melody intervals found in the training melodies, unguarded and with `decode_guarded`."""
    guard = NgramGuard.from_melodies((tok.melody_pitches(tok.encode_melody(s)) for _, s in split.train), n=n)
    counts = {"unguarded": 0, "guarded": 0}
    notes, redraws = 0, 0
    for seed in range(samples):
        z = V.sample_prior(model, 1, seed)
        for condition, use in (("unguarded", None), ("guarded", guard)):
            tokens, used = V.decode_guarded(model, z, use, seed=seed, temperature=1.0)
            pitches = tok.melody_pitches(tokens)
            counts[condition] += guard.copied_ngrams(pitches) > 0
            if use is None:
                notes += len(pitches)
            redraws += used
    return {
        "samples": samples,
        "ngram_intervals": n,
        "with_training_ngram_unguarded": counts["unguarded"],
        "with_training_ngram_guarded": counts["guarded"],
        "melody_notes_per_sample": round(notes / max(samples, 1), 1),
        "guard_redraws": redraws,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, choices=sorted(SIZES), default=2)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--budget-s", type=float, default=240.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--eval-every", type=int, default=50, help="steps between held-out evaluations")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--device", default="cpu", help="where to train and evaluate (cpu, cuda)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a field of the size's config, e.g. --set latent=128 --set decoder_dim=512",
    )  # fmt: skip
    parser.add_argument("--tag", default="", help="suffix of the report and model file names")
    parser.add_argument("--memorisation", type=int, default=0, help="prior samples to screen (0: skip)")
    parser.add_argument("--memorisation-only", action="store_true", help="load vae-<bars>bar.pt, screen, stop")
    parser.add_argument("--symbolic-only", action="store_true", help="with --memorisation-only: n-grams, no audio")
    args = parser.parse_args()
    split = load_split(args.work)
    if args.memorisation_only:
        state = torch.load(args.work / f"vae-{args.bars}bar.pt", map_location="cpu", weights_only=False)
        trained = get_model("vae", state["config"], tok.VOCAB.size)
        assert isinstance(trained, V.MelodyVAE)
        trained.load_state_dict(state["state_dict"])
        if args.symbolic_only:
            result = copied_ngrams(trained.eval(), split, args.memorisation)
        else:
            result = memorisation(trained.eval(), split, args)
        (args.work / f"vae-{args.bars}bar-memorisation{'-symbolic' if args.symbolic_only else ''}.json").write_text(
            json.dumps(result, indent=1)
        )
        print(json.dumps(result, indent=1))
        return
    config = dict(SIZES[args.bars])
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in config:
            parser.error(f"--set {item}: no field {key!r} in the {args.bars}-bar config")
        config[key] = type(config[key])(value) if not isinstance(config[key], bool) else value == "true"
    name = f"vae-{args.bars}bar{args.tag}"
    train_w, valid_w, test_w = (windows_of(part, args.bars) for part in (split.train, split.valid, split.test))
    max_len = config["max_len"]
    skipped = {name: sum(len(w) > max_len for w in ws) for name, ws in (("train", train_w), ("test", test_w))}
    model = get_model("vae", config, tok.VOCAB.size)
    assert isinstance(model, V.MelodyVAE)
    early = EarlyStopping(held_out=valid_w, every=args.eval_every, patience=4, budget_s=args.budget_s)

    def on_step(step: int, total: int, loss: float) -> None:
        if step % 25 == 0:
            print(f"step {step}/{total} loss {loss:.2f}", flush=True)

    started = time.perf_counter()
    result = V.train_vae(
        model, train_w, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=0, on_step=on_step,
        early_stopping=early, device=args.device,
    )  # fmt: skip
    train_s = time.perf_counter() - started
    print(f"trained {result.steps} steps in {train_s:.0f} s ({result.stopped or 'epochs'})", flush=True)
    started = time.perf_counter()
    metrics = V.evaluate_vae(model, test_w, seed=0, device=args.device)
    model.to("cpu")  # the interpolation below decodes on the CPU, as the platform's sampler does
    eval_s = time.perf_counter() - started

    # Interpolation between test windows of different chorales: window i of piece p with window i of piece p+1.
    by_piece = [windows_of([pair], args.bars) for pair in split.test]
    by_piece = [[w for w in ws if len(w) <= max_len] for ws in by_piece]
    by_piece = [ws for ws in by_piece if ws]
    pairs = [(by_piece[i][0], by_piece[i + 1][-1]) for i in range(min(args.pairs, len(by_piece) - 1))]
    ts = [round(0.1 * i, 1) for i in range(11)]
    latent = {"greedy": [], "sampled": []}
    data_space, keys = [], []
    for a, b in pairs:
        pitches = np.array(tok.melody_pitches(a) + tok.melody_pitches(b))
        keys.append(scale_pitch_classes(estimate_key(pitches)))
        za, zb = V.encode(model, [a, b])
        zs = torch.stack([V.slerp(za, zb, t) for t in ts])
        latent["greedy"].append(V.decode(model, zs, temperature=0.0))
        latent["sampled"].append(V.decode(model, zs, temperature=1.0, seed=0))
        bars_a, bars_b = V.melody_bars(a), V.melody_bars(b)
        data_space.append(
            [
                [x for bar in bars_a[: round(t * args.bars)] + bars_b[round(t * args.bars) :] for x in bar]
                for t in reversed(ts)
            ]
        )
    endpoints = [path[0] == a and path[-1] == b for path, (a, b) in zip(latent["greedy"], pairs, strict=True)]
    report = {
        "bars": args.bars,
        "config": model.config.to_dict(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "windows": {"train": len(train_w), "valid": len(valid_w), "test": len(test_w), "over_max_len": skipped},
        "train": {
            "steps": result.steps,
            "seconds": round(train_s, 1),
            "stopped": result.stopped or "epochs",
            "windows_per_s": round(result.windows_per_s, 1),
            "held_out_loss": [round(x, 3) for x in result.held_out_loss],
            "threads": torch.get_num_threads(),
            "device": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu",
        },
        "test": {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.to_dict().items()},
        "eval_seconds": round(eval_s, 1),
        "interpolation": {
            "pairs": len(pairs),
            "points": len(ts),
            "endpoints_reconstructed_exactly_greedy": sum(endpoints),
            "latent_greedy": path_measures(latent["greedy"], keys),
            "latent_sampled": path_measures(latent["sampled"], keys),
            "data_space_bar_crossfade": path_measures(data_space, keys),
        },
    }
    torch.save({"arch": "vae", "config": model.config.to_dict(), "state_dict": model.state_dict()},
               args.work / f"{name}.pt")  # fmt: skip
    if args.memorisation:
        report["memorisation"] = memorisation(model, split, args)
    out = args.work / f"{name}.json"
    out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
