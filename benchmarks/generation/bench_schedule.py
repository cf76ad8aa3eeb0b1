"""LSTM against Transformer on the chorale melodies, with the same time budget (issue 16 §2).

    .venv/bin/python benchmarks/generation/bench_schedule.py --arch lstm --steps 600
    .venv/bin/python benchmarks/generation/bench_schedule.py --arch transformer --schedule cosine --warmup 60 \\
        --lr 1e-3 --weight-decay 0.1 --steps 600

Split and tokens as bench_quality.py (common.py; `tokens.encode_melody`, windows of 256). One run trains one
model with `train.train` until the valid NLL has not improved for `--patience` evaluations (one every `--every`
steps), `--steps` optimiser steps (rounded up to whole epochs: the cosine schedule's horizon) or `--budget`
seconds have passed, keeps the best evaluated weights and scores the test chorales once: NLL in nats per melody
token (windows of `--seq-len`, and of 256). On a shared machine the step budget is the fair one: the same batches for every model, whatever the
load; seconds and tokens/s are reported as measured.
The device is LEDGERLINE_DEVICE's rule (cuda when torch sees one) unless `--device` is given. Prints one JSON
line (appended to `--out` when given).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import torch
from common import DEFAULT_WORK, load_split  # noqa: I001  (sets sys.path first)

from generation.engine import tokens as tok
from generation.engine.markov import MarkovHarmony
from generation.engine.models import count_parameters, get_model
from generation.engine.sample import generate_piece
from generation.engine.train import EarlyStopping, evaluate_nll, make_windows, train


def generation_latency(net: torch.nn.Module, markov: MarkovHarmony, runs: int, device: str) -> dict[str, float]:
    """Median seconds for a 16-bar piece (melody sampled, Markov harmony, arrangement; no rendering) on the
    training device and on the CPU, after one warm-up piece each."""
    timings = {}
    for where in dict.fromkeys([device, "cpu"]):
        net.to(where)
        seconds = []
        for seed in range(runs + 1):
            started = time.perf_counter()
            generate_piece(net, tok.VOCAB, markov, bars=16, tempo=100.0, key="C", seed=seed, device=where)
            seconds.append(time.perf_counter() - started)
        timings[where] = round(statistics.median(seconds[1:]), 4)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=["lstm", "transformer"], required=True)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--schedule", choices=["constant", "cosine", "inverse_sqrt"], default="constant")
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--min-lr-ratio", type=float, default=0.05)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--steps", type=int, default=600, help="optimiser steps, rounded up to whole epochs")
    parser.add_argument("--budget", type=float, default=1800.0, help="seconds of training, evaluations included")
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--patience", type=int, default=6)
    parser.add_argument("--transpose", type=int, default=0, help="random transposition of training windows, semitones")
    parser.add_argument("--positions", choices=["absolute", "relative"], default="absolute")
    parser.add_argument("--save", type=Path, default=None, help="save the trained model (state dict and config)")
    parser.add_argument("--latency", type=int, default=0, help="time N 16-bar generations on the device (and CPU)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")

    split = load_split(args.work)
    train_seqs, valid_seqs, test_seqs = (
        [tok.encode_melody(score) for _, score in part] for part in (split.train, split.valid, split.test)
    )
    config = {"dim": args.dim, "layers": args.layers, "heads": args.heads, "dropout": args.dropout, "max_len": 512}
    if args.arch == "lstm":
        config["heads"] = 1
    else:
        config["positions"] = args.positions
    steps_per_epoch = math.ceil(len(make_windows(train_seqs, args.seq_len)) / args.batch)
    epochs = math.ceil(args.steps / steps_per_epoch)
    torch.manual_seed(0)
    net = get_model(args.arch, config, tok.VOCAB.size)
    started = time.perf_counter()
    result = train(
        net,
        train_seqs,
        epochs=epochs,
        batch_size=args.batch,
        lr=args.lr,
        seq_len=args.seq_len,
        device=device,
        seed=0,
        weight_decay=args.weight_decay,
        warmup_steps=args.warmup,
        schedule=args.schedule,
        min_lr_ratio=args.min_lr_ratio,
        transpose=args.transpose,
        checkpoint_every=0,
        early_stopping=EarlyStopping(
            held_out=valid_seqs, every=args.every, patience=args.patience, budget_s=args.budget
        ),
    )
    seconds = time.perf_counter() - started
    report = {
        "arch": args.arch,
        "config": config,
        "parameters": count_parameters(net),
        "recipe": {
            k: getattr(args, k)
            for k in ("lr", "schedule", "warmup", "min_lr_ratio", "weight_decay", "batch", "seq_len", "transpose")
        }
        | {"epochs": epochs, "steps_per_epoch": steps_per_epoch},
        "device": device,
        "device_name": torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu",
        "torch_threads": torch.get_num_threads(),
        "budget_s": args.budget,
        "train_seconds": round(seconds, 1),
        "steps": result.steps,
        "stopped": result.stopped or "epochs",
        "train_tokens_per_s": round(result.tokens_per_s, 1),
        "valid_nll_curve": [round(x, 4) for x in result.held_out_nll],
        "valid_nll_per_token": round(min(result.held_out_nll), 4),
        # At the training window length (a Transformer's absolute positions past it were never trained), and at
        # the 256 of bench_quality.py.
        "test_nll_per_token": round(evaluate_nll(net, test_seqs, args.seq_len, device), 4),
        "test_nll_per_token_256": round(evaluate_nll(net, test_seqs, 256, device), 4),
    }
    if args.latency:
        report["latency_16_bars_s"] = generation_latency(
            net, MarkovHarmony().fit(score for _, score in split.train), args.latency, device
        )
    if args.save is not None:
        torch.save({"arch": args.arch, "config": net.config.to_dict(), "state_dict": net.state_dict()}, args.save)
        report["saved"] = str(args.save)
    line = json.dumps(report)
    print(line)
    if args.out is not None:
        with args.out.open("a") as handle:
            handle.write(line + "\n")


if __name__ == "__main__":
    main()
