"""Near-copy benchmark: recall per disguise and false flags, per level, fused, and Chromaprint alone.

    .venv/bin/python benchmarks/nearcopy/bench_nearcopy.py [--corpus 80] [--positives 20] [--negatives 60]
        [--ivf-threshold 1000] [--audio-only]

Corpus: the first --corpus Bach chorales of music21's corpus (rendered with FluidSynth, GM soundfont).
Positives: disguised copies of --positives corpus pieces (each disguise below). Negatives: other chorales that
set none of the corpus's hymn tunes (same style; `corpus_and_unseen`) and random tonal music. Runs the engine directly (no database).
A recording (an audio query, and with --audio-only every corpus item and query: rendered, scores dropped) is
analysed as the platform analyses one: its symbolic level is its transcribed melody line (Basic Pitch).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ledgerline.settings")
os.environ.setdefault("LIBROSA_CACHE_DIR", tempfile.mkdtemp(prefix="librosa-cache-"))  # as the platform's settings do
warnings.filterwarnings("ignore")

from fingerprint.engine import features as F  # noqa: E402
from fingerprint.engine import melody as M  # noqa: E402
from fingerprint.engine import screen as S  # noqa: E402
from fingerprint.engine import transcribe as TR  # noqa: E402
from fingerprint.engine import transforms as T  # noqa: E402
from fingerprint.engine.index import VersionedIndex  # noqa: E402
from ledgerline.music.events import NOTE_DTYPE, SAMPLE_RATE, Score, TrackInfo, with_seconds  # noqa: E402
from ledgerline.music.render import render_midi  # noqa: E402

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"


def chorales(count: int) -> list[Score]:
    return [score for _name, score in _distinct_chorales(count)]


def _distinct_chorales(count: int | None):
    """(corpus name, score) of music21's Bach chorales in its order, the first of each melody only."""
    from music21 import corpus

    from ledgerline.music.parse import score_from_music21

    found, seen = 0, set()
    for name in corpus.chorales.Iterator(returnType="filename"):
        if count is not None and found >= count:
            return
        try:
            score = score_from_music21(corpus.parse(name))
        except Exception:
            continue
        melody = tuple(M.melody_line(score.notes).pitches[:12].tolist())
        if melody in seen:  # Bach set some hymn tunes more than once: those are real near-copies, not negatives
            continue
        seen.add(melody)
        found += 1
        yield name.replace("bach/", ""), score


def corpus_and_unseen(count: int, unseen: int) -> tuple[list[Score], list[Score]]:
    """The first `count` chorales, and `unseen` later ones that set none of their hymn tunes: no Riemenschneider
    title of a corpus chorale, and a melody further than the real-variant benchmark's NEGATIVE_APART from every
    corpus melody (one tune under two titles). Another setting of a corpus tune is a real variant, which the
    melody level is meant to find (RESULTS-real-variants.md), so it is not a false flag here."""
    from real_variants_data import chorale_tunes, contour, far_from

    tune_of = chorale_tunes()
    corpus: list[Score] = []
    titles, shapes = set(), []
    others: list[Score] = []
    for name, score in _distinct_chorales(None):
        if len(corpus) < count:
            corpus.append(score)
            titles.add(tune_of.get(name, name))
            shapes.append(contour(score))
        elif tune_of.get(name) not in titles and far_from(contour(score), shapes):
            others.append(score)
            if len(others) >= unseen:
                break
    return corpus, others


def random_piece(seed: int) -> Score:
    rng = np.random.default_rng(seed)
    scale = np.array([0, 2, 4, 5, 7, 9, 11]) + 60 + int(rng.integers(0, 12))
    rows, beat = [], 0.0
    while beat < 64:
        duration = float(rng.choice([0.5, 1, 1, 2]))
        rows.append((int(rng.choice(scale)), 90, 0, False, 0, beat, duration, 0, 0))
        rows.append((int(rng.choice(scale)) - 12, 70, 0, False, 0, beat, duration, 0, 0))
        beat += duration
    return with_seconds(
        Score(np.array(rows, dtype=NOTE_DTYPE), [TrackInfo("Piano", 0)], tempo_bpm=float(rng.integers(70, 140)))
    )


TRANSCRIBED = {"cpu_s": 0.0, "audio_s": 0.0}


def _timed_transcribe(audio: np.ndarray, sr: int, **options) -> list[TR.Note]:
    started = time.process_time()
    try:
        return _transcribe(audio, sr, **options)
    finally:
        TRANSCRIBED["cpu_s"] += time.process_time() - started
        TRANSCRIBED["audio_s"] += len(audio) / sr


_transcribe, TR.transcribe = TR.transcribe, _timed_transcribe  # recording_features calls it: time it there


def features(score: Score, *, query: bool, audio_fn=None, recording: bool = False) -> tuple[F.Features, float]:
    """Features and their CPU seconds; `recording` (or an audio transform) drops the score, as for an upload."""
    audio = render_midi(score.to_midi_bytes(), soundfont=SOUNDFONT)
    if audio_fn is not None:
        audio = audio_fn(audio)
    started = time.process_time()
    if recording or audio_fn is not None:
        result = TR.recording_features(audio, SAMPLE_RATE, query=query)
        return result, time.process_time() - started
    beats = score.beats_to_seconds(np.arange(0, int(np.ceil(score.duration_beats)) + 1))
    result = F.extract(
        audio,
        SAMPLE_RATE,
        notes=score.notes,
        score_beat_times=None if query else beats,
        bar_beats=score.bar_beats,
        query=query,
        tuning=0.0,
    )  # as the platform: rendered at A440
    return result, time.process_time() - started


def disguises(corpus: list[Score], others: list[Score]):
    """name -> (score transform, audio transform or None)"""
    rng = np.random.default_rng(0)
    return {
        "transpose ±1..6": lambda s: (
            T.transpose(s, int(rng.choice([-6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6]))),
            None,
        ),
        "tempo ±5..25 %": lambda s: (T.change_tempo(s, float(rng.choice([0.75, 0.85, 0.95, 1.05, 1.15, 1.25]))), None),
        "re-instrumented": lambda s: (
            T.reinstrument(s, [int(p) for p in rng.choice([40, 42, 56, 71, 73, 19, 24], 4)]),
            None,
        ),
        "all three": lambda s: (
            T.reinstrument(
                T.change_tempo(T.transpose(s, int(rng.integers(-6, 7))), float(rng.uniform(0.8, 1.2))), [41, 43, 68, 70]
            ),
            None,
        ),
        "4-8 bar quote": lambda s: (
            T.embed_quote(others[int(rng.integers(len(others)))], T.bars(s, 1, int(rng.integers(4, 9))), at_bar=2),
            None,
        ),
        "noise 20 dB (audio)": lambda s: (s, lambda a: T.add_noise(a, snr_db=20)),
        "MP3 96k (audio)": lambda s: (s, lambda a: T.mp3_round_trip(a, SAMPLE_RATE)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=int, default=80)
    parser.add_argument("--positives", type=int, default=20)
    parser.add_argument("--negatives", type=int, default=60)
    parser.add_argument("--json", default="")
    parser.add_argument(
        "--audio-only",
        action="store_true",
        help="corpus and queries are recordings: rendered audio without their scores",
    )
    parser.add_argument(
        "--ivf-threshold",
        type=int,
        default=S.level_spec("chroma").ivf_threshold,
        help="vectors from which an index is IVF-PQ (binary: multi-hash); low values force them",
    )
    args = parser.parse_args()

    corpus, others = corpus_and_unseen(args.corpus, args.negatives)
    print(f"corpus {len(corpus)} chorales, {len(others)} unseen chorales", file=sys.stderr)
    feats, cpu, audio_seconds = {}, 0.0, 0.0
    for key, score in enumerate(corpus):
        feats[key * 2], spent = features(score, query=False, recording=args.audio_only)
        cpu += spent
        audio_seconds += feats[key * 2].duration_s
    root = Path(tempfile.mkdtemp())
    indexes = {level: VersionedIndex(root, S.level_spec(level, ivf_threshold=args.ivf_threshold)) for level in S.LEVELS}
    started = time.process_time()
    for level, index in indexes.items():
        index.rebuild(*S.level_vectors(feats, level))
    cpu += time.process_time() - started
    ingest_x = audio_seconds / cpu

    configs = {
        "chromaprint only": ("audio",),
        "chroma only": ("chroma",),
        "symbolic only": ("symbolic",),
        "fused": S.LEVELS,
    }
    thresholds = S.Thresholds()
    screeners = {
        name: S.Screener(
            audio=indexes["audio"],
            chroma=indexes["chroma"],
            symbolic=indexes["symbolic"],
            load=feats.get,
            thresholds=thresholds,
            levels=levels,
        )
        for name, levels in configs.items()
    }
    table: dict[str, dict[str, float]] = {}
    latencies: list[float] = []
    for name, make in disguises(corpus, others).items():
        hits = {config: 0 for config in configs}
        for index in range(args.positives):
            source = (index * 7) % len(corpus)
            score, audio_fn = make(corpus[source])
            query, _ = features(score, query=True, audio_fn=audio_fn, recording=args.audio_only)
            for config, screener in screeners.items():
                t0 = time.perf_counter()
                verdict = screener.screen(query)
                if config == "fused":
                    latencies.append(time.perf_counter() - t0)
                hits[config] += any(m.key == source * 2 for m in verdict.matches)
        table[name] = {config: hits[config] / args.positives for config in configs}
        print(name, table[name], file=sys.stderr)
    false = {config: 0 for config in configs}
    negatives = others + [random_piece(seed) for seed in range(args.negatives // 2)]
    for score in negatives:
        query, _ = features(score, query=True, recording=args.audio_only)
        for config, screener in screeners.items():
            false[config] += screener.screen(query).verdict == "flag"
    table["false flags (negatives)"] = {config: false[config] / len(negatives) for config in configs}
    report = {
        "corpus": len(corpus),
        "positives_per_disguise": args.positives,
        "negatives": len(negatives),
        "ingest_x_realtime_per_core": round(ingest_x, 1),
        "transcription_x_realtime_per_core": (
            round(TRANSCRIBED["audio_s"] / TRANSCRIBED["cpu_s"], 1) if TRANSCRIBED["cpu_s"] else None
        ),
        "screen_latency_ms_p50": round(1000 * float(np.percentile(latencies, 50)), 1),
        "screen_latency_ms_p95": round(1000 * float(np.percentile(latencies, 95)), 1),
        "table": table,
    }
    print("| disguise | " + " | ".join(configs) + " |")
    print("|---|" + "---|" * len(configs))
    for name, row in table.items():
        print(f"| {name} | " + " | ".join(f"{row[c]:.2f}" for c in configs) + " |")
    print(json.dumps({k: v for k, v in report.items() if k != "table"}))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
