"""Speed (issue 4, "Speed"): generate + render a 30 s four-track piece, and training throughput on CPU.

    .venv/bin/python benchmarks/generation/bench_speed.py [--repeats 5] [--arch lstm]

1. Piece: 12 bars of 4/4 at 96 bpm = 30.0 s, four tracks (melody from the trained model under --work, with
   the anti-copy guard; Markov harmony; bass; drums). Timed stages, as `generation.services` runs them
   without the database and blob store: compose (`generate_piece`), render (`render_stems` + `mix` with
   FluidSynth, one process per track), encode (MIDI bytes, FLAC mix and stems, OGG preview). Seeds 0..R-1;
   the median is reported. Models are loaded once, before timing (the platform keeps them in an LRU cache).
2. Training: `train.train` on the first 320 training sequences (10 steps of batch 32, windows of 256 tokens)
   for the benchmark configs of bench_quality and the platform's default sizes; tokens/s counts target
   tokens, padding excluded. One untimed warm-up step first.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from bench_quality import TOKEN_CONFIGS
from common import DEFAULT_WORK, SOUNDFONT, load_split

from generation.engine import tokens as tok
from generation.engine.anticopy import NgramGuard
from generation.engine.markov import MarkovHarmony
from generation.engine.models import DEFAULT_CONFIGS, count_parameters, get_model, legacy_config
from generation.engine.sample import generate_piece
from generation.engine.train import train
from ledgerline.music.audio import encode_preview, write_flac
from ledgerline.music.render import mix, render_stems


def piece_timings(net, markov, guard, seed: int) -> dict[str, float]:
    t0 = time.perf_counter()
    score, _ = generate_piece(net, tok.VOCAB, markov, bars=12, tempo=96, key="C", top_p=0.95, seed=seed, guard=guard)
    t1 = time.perf_counter()
    stems, total = mix(render_stems(score, soundfont=SOUNDFONT))
    t2 = time.perf_counter()
    score.to_midi_bytes()
    write_flac(total)
    for stem in stems:
        write_flac(stem)
    encode_preview(total)
    t3 = time.perf_counter()
    return {"compose": t1 - t0, "render": t2 - t1, "encode": t3 - t2, "total": t3 - t0, "audio_s": score.duration_s}


def throughput(name: str, config, sequences) -> dict:
    torch.manual_seed(0)
    net = get_model(name, config, tok.VOCAB.size)
    train(net, sequences[:32], epochs=1, batch_size=32, seq_len=256)  # warm-up: allocator, threads
    result = train(net, sequences[:320], epochs=1, batch_size=32, seq_len=256, lr=3e-3)
    return {"parameters": count_parameters(net), "steps": result.steps, "tokens_per_s": round(result.tokens_per_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--arch", default="lstm")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    args = parser.parse_args()
    split = load_split(args.work)
    sequences = [tok.encode_melody(s) for _, s in split.train]
    state = torch.load(args.work / f"{args.arch}.pt", map_location="cpu", weights_only=False)
    net = get_model(args.arch, legacy_config(args.arch, state["config"]), tok.VOCAB.size)
    net.load_state_dict(state["state_dict"])
    net.eval()
    markov = MarkovHarmony.from_json((args.work / "markov.json").read_text())
    guard = NgramGuard.from_melodies(tok.melody_pitches(s) for s in sequences)
    piece_timings(net, markov, guard, 1000)  # warm-up: FluidSynth's soundfont into the page cache
    runs = [piece_timings(net, markov, guard, seed) for seed in range(args.repeats)]
    report: dict = {
        "threads": torch.get_num_threads(),
        "arch": args.arch,
        "piece": {key: round(float(np.median([r[key] for r in runs])), 3) for key in runs[0]},
    }
    report["piece"]["total_max"] = round(max(r["total"] for r in runs), 3)
    print(json.dumps(report), flush=True)
    report["training"] = {}
    for name in ("lstm", "transformer"):
        for label, config in (("bench", TOKEN_CONFIGS[name]), ("platform_default", DEFAULT_CONFIGS[name])):
            report["training"][f"{name}_{label}"] = throughput(name, config, sequences)
            print(name, label, json.dumps(report["training"][f"{name}_{label}"]), flush=True)
    (args.work / "speed.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
