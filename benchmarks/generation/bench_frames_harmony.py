"""Four-part harmony from the frame model (issue 16 §3): frame NLL, then voice-leading statistics of its
harmonisations of the test chorales' sopranos against the chorales themselves.

    .venv/bin/python benchmarks/generation/bench_frames_harmony.py --hidden 128 --made 128 --epochs 40
    .venv/bin/python benchmarks/generation/bench_frames_harmony.py --load /tmp/ledgerline-bench-generation/frames.pt

1. Train `frames.FrameLSTM` (MADE output) on the train chorales' quarter-note rolls with `train_frames` (valid
   for early stopping, ±`--transpose` semitones of augmentation), on `--device` (default: cuda when torch sees
   one); NLL in nats per frame on the test chorales. `--load` skips training and reads a saved model.
2. For every test chorale: its soprano per frame (the highest key sounding at each beat), harmonised by
   `frames.harmonise` (seed = the chorale's index) with the parallel-motion penalty `--penalty` (1 = the pure
   model) and without.
3. On the generated voices and on the chorales' own frames with four distinct keys: parallel fifths/octaves
   per 100 frame-to-frame steps (`frames.count_parallels`, both frames with four voices), the in-key ratio of
   all voice notes (pitch class in the chorale's key as `markov.score_key` reads it; minor: natural minor plus
   the raised 6th and 7th), and voices out of `frames.VOICE_RANGES`.
4. Through the platform's SATB arrangement (`arrange.harmonise_satb`, as bench_arrange.py reads the test
   sopranos): one chord per beat from `frames.FrameHarmoniser` against `MarkovHarmony.harmonise`, voiced by
   `arrange.voice_chords`; counted by `arrange.voice_leading_errors` per 100 chords (beats where the melody
   sounds), beside the frame model's own voices on the same beats and the chorales' parts; with the in-key
   ratio of all four voices.
Prints a JSON report (also written to `--out`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from bench_arrange import pooled, soprano_of
from common import DEFAULT_WORK, load_split  # noqa: I001  (sets sys.path first)

from generation.engine import frames as fr
from generation.engine.arrange import fit_soprano_range, harmonise_satb, melody_per_beat, satb_per_beat
from generation.engine.markov import MarkovHarmony, score_key
from generation.engine.stats import in_key_mask


def four_voices(roll: np.ndarray) -> np.ndarray:
    """[frames, 4] of the top four sounding keys (high to low) of each frame; -1 rows where fewer sound."""
    out = np.full((len(roll), 4), -1, dtype=np.int64)
    for i, frame in enumerate(roll):
        keys = np.nonzero(frame)[0][::-1] + fr.LOWEST_PITCH
        if len(keys) >= 4:
            out[i] = keys[:4]
    return out


def voice_stats(pieces: list[tuple[np.ndarray, object]]) -> dict:
    """pieces: (voices [frames, 4] with -1 rows, key). Parallels per 100 steps, in-key ratio, out of range."""
    steps = parallels = notes = in_key = frames = out_of_range = 0
    for voices, key in pieces:
        full = np.all(voices >= 0, axis=1)
        frames += int(full.sum())
        for a, b in zip(range(len(voices) - 1), range(1, len(voices)), strict=True):
            if full[a] and full[b]:
                steps += 1
                parallels += fr.count_parallels(voices[a], voices[b])
        pitches = voices[full].ravel()
        notes += len(pitches)
        in_key += int(in_key_mask(pitches, key)[1].sum())
        for column, (lo, hi) in zip((1, 2, 3), fr.VOICE_RANGES.values(), strict=True):
            out_of_range += int(np.sum((voices[full, column] < lo) | (voices[full, column] > hi)))
    return {
        "frames": frames,
        "steps": steps,
        "parallels_per_100_steps": round(100.0 * parallels / max(steps, 1), 2),
        "in_key_ratio": round(in_key / max(notes, 1), 4),
        "out_of_range_per_100_frames": round(100.0 * out_of_range / max(frames, 1), 2),
    }


def in_key_of(grids: list[np.ndarray], keys: list) -> float:
    hits = total = 0
    for grid, key in zip(grids, keys, strict=True):
        pitches = grid[np.all(grid >= 0, axis=1)].ravel()
        hits += int(in_key_mask(pitches, key)[1].sum())
        total += len(pitches)
    return round(hits / max(total, 1), 4)


def satb_comparison(model: fr.FrameLSTM, split, device: str, temperature: float, key_penalty: float) -> dict:
    """Section 4 of the docstring: per-beat voice leading of each harmoniser through `harmonise_satb`."""
    markov = MarkovHarmony().fit([s for _, s in split.train])
    keys = [score_key(score) for _, score in split.test]
    grids: dict[str, list[np.ndarray]] = {"test_chorales": [], "markov_satb": [], "frames_satb": [], "frames_own": []}
    for index, (_, score) in enumerate(split.test):
        grids["test_chorales"].append(satb_per_beat(score))
        melody = fit_soprano_range(soprano_of(score))
        bars = int(np.ceil(score.duration_beats / score.bar_beats - 1e-9))
        beat_len = 4.0 / score.time_signature[1]
        harmoniser = fr.FrameHarmoniser(model, temperature=temperature, out_of_key_penalty=key_penalty, device=device)
        for name, chooser in (("markov_satb", markov.harmonise), ("frames_satb", harmoniser)):
            voices, chords = harmonise_satb(
                melody,
                chooser,
                key=keys[index],
                rng=np.random.default_rng(index),
                bars=bars,
                time_signature=score.time_signature,
            )
            sounding = np.array([len(p) > 0 for p in melody_per_beat(melody, len(chords), beat_len)])
            grid = np.array(voices.voicings, dtype=np.int64)
            grid[~sounding] = -1
            grids[name].append(grid)
        assert harmoniser.harmony is not None
        own = harmoniser.harmony.voices.copy()
        own[~sounding] = -1
        grids["frames_own"].append(own)
    return {name: pooled(g) | {"in_key_ratio": in_key_of(g, keys)} for name, g in grids.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--made", type=int, default=128)
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--min-epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--transpose", type=int, default=2)
    parser.add_argument("--penalty", type=float, default=0.05, help="weight factor per parallel fifth/octave")
    parser.add_argument("--candidates", type=int, default=32)
    parser.add_argument("--key-penalty", type=float, default=1.0, help="weight factor per lower voice out of key")
    parser.add_argument("--temperature", type=float, default=1.0, help="of the key logits while harmonising")
    parser.add_argument("--device", default=None)
    parser.add_argument("--budget-s", type=float, default=None, help="no epoch starts after this many seconds")
    parser.add_argument("--load", type=Path, default=None, help="a saved model: skip training")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")

    split = load_split(args.work)
    rolls = {name: [fr.frames_from_score(s) for _, s in part] for name, part in vars(split).items()}
    report: dict = {"device": device, "torch_threads": torch.get_num_threads()}
    if args.load is not None:
        state = torch.load(args.load, map_location="cpu", weights_only=False)
        model = fr.FrameLSTM(fr.FrameConfig(**state["config"]))
        model.load_state_dict(state["state_dict"])
        report["model"] = {"loaded": str(args.load), **state.get("report", {})}
    else:
        config = fr.FrameConfig(hidden=args.hidden, layers=args.layers, dropout=args.dropout, made_hidden=args.made)
        torch.manual_seed(0)
        model = fr.FrameLSTM(config)
        result = fr.train_frames(
            model,
            rolls["train"],
            epochs=args.epochs,
            batch_size=args.batch,
            lr=args.lr,
            transpose=args.transpose,
            valid=rolls["valid"],
            patience=args.patience,
            min_epochs=args.min_epochs,
            device=device,
            budget_s=args.budget_s,
        )
        report["model"] = {
            "device_name": torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu",
            "config": vars(config),
            "parameters": sum(p.numel() for p in model.parameters()),
            "epochs_run": len(result.valid_nll),
            "best_epoch": result.best_epoch,
            "train_seconds": round(result.seconds, 1),
            "train_frames_per_s": round(result.frames_per_s, 1),
            "valid_nll_per_frame": round(min(result.valid_nll), 3),
            "test_nll_per_frame": round(fr.frame_nll(model, rolls["test"], device=device), 3),
        }
        model.cpu()
        torch.save(
            {"config": vars(config), "state_dict": model.state_dict(), "report": report["model"]},
            args.work / "frames.pt",
        )

    keys = [score_key(score) for _, score in split.test]
    chorales = [(four_voices(roll), key) for roll, key in zip(rolls["test"], keys, strict=True)]
    report["test_chorales"] = voice_stats(chorales)
    sopranos = [
        [int(np.nonzero(frame)[0].max()) + fr.LOWEST_PITCH if frame.any() else None for frame in roll]
        for roll in rolls["test"]
    ]
    for penalty in sorted({args.penalty, 1.0}):
        started = time.perf_counter()
        generated = []
        for index, (melody, key) in enumerate(zip(sopranos, keys, strict=True)):
            melody = [fr._into_voice_range(p) if p is not None else None for p in melody]
            harmony = fr.harmonise(
                model,
                melody,
                seed=index,
                parallel_penalty=penalty,
                candidates=args.candidates,
                temperature=args.temperature,
                key=key,
                out_of_key_penalty=args.key_penalty,
                device=device,
            )
            generated.append((harmony.voices, key))
        seconds = time.perf_counter() - started
        frames = sum(len(m) for m in sopranos)
        report[f"frame_model_penalty_{penalty:g}"] = voice_stats(generated) | {
            "seconds": round(seconds, 1),
            "ms_per_frame": round(1000 * seconds / max(frames, 1), 2),
        }
    report["temperature"], report["key_penalty"] = args.temperature, args.key_penalty
    report["satb_per_beat"] = satb_comparison(model, split, device, args.temperature, args.key_penalty)
    text = json.dumps(report, indent=2)
    print(text)
    (args.out or args.work / "frames_harmony.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
