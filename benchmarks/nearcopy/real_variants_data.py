"""The labelled real-variant set: independent settings and transcriptions of the same tunes from music21's corpus.

Written once under `var/bench-real-variants/` (MIDI files in the `calibrate_screening` layout, a manifest with the
labels) and reused by `bench_real_variants.py`:

    <part>/positives/<tune>/a.mid   ingested as corpus
    <part>/positives/<tune>/b.mid   screened: another setting or transcription of the same tune
    <part>/negatives/<piece>.mid    screened against the positives' corpus: other tunes of the same style

Labels (see RESULTS-real-variants.md):
* Bach chorales: settings listed under one hymn tune in Riemenschneider's edition (music21's ChoraleListRKBWV;
  Bach re-harmonised the same tune in several cantatas and passions: keys, passing notes, fermatas and rhythms
  differ), one or two pairs a tune. Settings whose melody and rhythm are identical are duplicates of one file,
  not variants, and are dropped. Settings of one tune differ so much note for note (passing notes, repeated
  notes, upbeats) that an edit distance cannot confirm the title: 0.2-0.9 between known settings of one tune.
* Folk tunes: the same normalised title in two independent collections (Ryan's Mammoth, O'Neill's 1850, Aird's
  Airs, the Nottingham reels, the fife books), kept when their melodies (skyline, repeated notes merged, as
  interval sequences) are within FOLK_SAME in normalised edit distance: generic titles ("The Highland Reel")
  name different tunes.
* Negatives: chorales and folk tunes that share no tune title with a corpus tune and whose melody is further
  than NEGATIVE_APART from every corpus melody (the same tune under another name: Bach's "Befiehl du deine
  Wege" is "O Haupt voll Blut und Wunden").
The split is by tune (a stable hash), so threshold fitting never sees a held-out tune.

Cleaned labels (`clean_labels`): titles name different tunes in both kinds (two melodies under one
Riemenschneider title, generic folk titles), so each positive pair is also checked by a rule that uses neither
the title nor the screener: the two melody parts (the part named Soprano where there is one, else the
skyline), as interval sequences with repeated notes merged, share their incipit (at most INCIPIT_EDITS edits in
the first INCIPIT_STEPS intervals) or are within SAME_TUNE in normalised edit distance over the whole tune (the
distance every negative is further than from every corpus tune). On pairs of different tunes among the
positives' corpus sides the rule passes 1.0 % of chorale pairs (mostly one melody under two titles) and 0.02 %
of folk pairs.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import signal
import warnings
from pathlib import Path

import numba
import numpy as np

from fingerprint.engine import melody as M
from ledgerline.music.events import Score

CHORALE_SAME = 1.0  # no filter: one Riemenschneider title is one melody (a few titles have two)
FOLK_SAME = 0.7  # the same for folk tunes of one title (unrelated melodies are > 0.7 apart: 99.7 % of chorales)
INCIPIT_STEPS, INCIPIT_EDITS = 12, 3  # cleaned labels: the incipit of one tune
SAME_TUNE = 0.4  # cleaned labels: the whole tune (= NEGATIVE_APART: what a negative is further than)
NEGATIVE_APART = 0.4  # a negative is further than this from every corpus melody (unrelated chorales: 0.4-1.0)
PAIRS_PER_CHORALE = 2
PARSE_LIMIT_S = 20  # a few ABC tunes keep music21's parser busy for minutes: they are skipped
NEGATIVES_FIT_SHARE = 0.4  # negatives are no positive's tune: more of them go to the held-out part
FOLK_COLLECTIONS = ("ryansMammoth", "oneills1850", "airdsAirs", "nottingham-dataset", "miscFolk")
TYPE_WORDS = {
    "the",
    "a",
    "of",
    "reel",
    "hornpipe",
    "jig",
    "strathspey",
    "march",
    "polka",
    "waltz",
    "air",
    "set",
    "dance",
    "no",
    "s",
    "or",
    "and",
    "quickstep",
    "slide",
    "fling",
}


@numba.njit(cache=True)
def _edit_distance(a: np.ndarray, b: np.ndarray) -> int:
    previous = np.arange(len(b) + 1)
    for i in range(1, len(a) + 1):
        current = np.empty(len(b) + 1, np.int64)
        current[0] = i
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
        previous = current
    return previous[len(b)]


def contour(score: Score) -> np.ndarray:
    """The melody's intervals with repeated notes merged: the labels' view of a tune. [steps] int64"""
    pitches = M.melody_line(score.notes).pitches
    if len(pitches) == 0:
        return np.zeros(0, np.int64)
    merged = pitches[np.concatenate([[True], np.diff(pitches) != 0])]
    return np.diff(merged).astype(np.int64)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised edit distance between two contours, 0 (equal) .. 1."""
    if len(a) == 0 or len(b) == 0:
        return 1.0
    return float(_edit_distance(a, b)) / max(len(a), len(b))


def far_from(shape: np.ndarray, corpus_shapes: list[np.ndarray]) -> bool:
    """Whether a melody's contour is further than NEGATIVE_APART from every corpus melody's: a negative."""
    return all(distance(shape, other) > NEGATIVE_APART for other in corpus_shapes)


def _part(tune: str, *, fit_share: float = 0.5) -> str:
    return "fit" if int(hashlib.sha256(tune.encode()).hexdigest(), 16) % 1000 < 1000 * fit_share else "held-out"


def _norm_title(title: str) -> str:
    words = re.sub(r"[^a-z ]", " ", title.lower()).split()
    return " ".join(w for w in words if w not in TYPE_WORDS)


def _cached(cache: Path, name: str, make, *args) -> Score | None:
    """A parsed score from the on-disk cache (music21's parsing is the slow part), else made and stored."""
    path = cache / f"{_slug(name)}-{hashlib.sha256(name.encode()).hexdigest()[:8]}.npz"
    if path.exists():
        return Score.from_npz_bytes(path.read_bytes()) if path.stat().st_size else None
    score = make(*args)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_bytes(score.to_npz_bytes() if score is not None else b"")
    os.replace(partial, path)
    return score


def _chorales(cache: Path) -> dict[str, Score]:
    from music21 import corpus

    from ledgerline.music.parse import score_from_music21

    def parse(name: str) -> Score | None:
        try:
            return score_from_music21(corpus.parse(name))
        except Exception:  # a few corpus files do not convert; they are simply not used
            return None

    scores = {}
    for name in corpus.chorales.Iterator(returnType="filename"):
        score = _cached(cache, name, parse, name)
        if score is not None:
            scores[name.replace("bach/", "")] = score
    return scores


def chorale_tunes() -> dict[str, str]:
    """Corpus name ("bwv244.54") -> the hymn tune it sets (Riemenschneider's title, as music21 lists it)."""
    from music21.corpus.chorales import ChoraleListRKBWV

    return {f"bwv{bwv}": entry["title"] for bwv, entry in ChoraleListRKBWV().byBWV.items()}


def _folk_texts() -> list[tuple[str, str, str]]:
    """(collection, title, ABC text) of every tune in the folk collections."""
    from music21 import corpus

    root = Path(corpus.__file__).parent
    tunes = []
    for collection in FOLK_COLLECTIONS:
        for path in sorted((root / collection).glob("*.abc")):
            text = path.read_text(encoding="latin-1")
            for chunk in re.split(r"(?m)^(?=X:)", text):
                title = re.search(r"(?m)^T:(.*)$", chunk)
                if chunk.startswith("X:") and title and re.search(r"(?m)^K:", chunk):
                    tunes.append((collection, title.group(1).strip(), chunk))
    return tunes


def _negative_titles(by_title: dict[str, list[tuple[str, str, str]]]) -> list[str]:
    """Folk titles found in one collection only (a title in two is a candidate pair), in a fixed order."""
    return [key for key in sorted(by_title) if len({entry[0] for entry in by_title[key]}) == 1]


def _abc_score(text: str) -> Score | None:
    import music21

    from ledgerline.music.parse import score_from_music21

    def give_up(signum, frame):
        raise TimeoutError("music21 took too long over this tune")

    previous = signal.signal(signal.SIGVTALRM, give_up)
    signal.setitimer(signal.ITIMER_VIRTUAL, PARSE_LIMIT_S)  # CPU seconds: the same tunes give up on a busy machine
    try:
        parsed = music21.converter.parse(text, format="abc")
        if isinstance(parsed, music21.stream.Opus):
            parsed = parsed.scores[0]
        score = score_from_music21(parsed)
    except Exception:  # damaged tunes in the collections are skipped, and tunes music21 cannot parse in time
        return None
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)
    return score if len(M.melody_line(score.notes)) >= 24 else None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def build(root: Path, *, folk_negatives: int = 380, seed: int = 0) -> dict:
    """Write the set under `root` (once) and return its manifest."""
    manifest_path = root / "manifest.json"
    if manifest_path.exists():
        return json.loads(manifest_path.read_text())
    print("building the labelled set (parsed scores are cached under", root / "scores", ")", flush=True)
    warnings.filterwarnings("ignore")
    positives: list[dict] = []
    negatives: list[dict] = []
    files: dict[str, Score] = {}

    # --- chorales: the settings of one hymn tune ------------------------------------------------------
    cache = root / "scores"
    chorales = _chorales(cache)
    names = sorted(chorales)
    shapes = {name: contour(chorales[name]) for name in names}
    tune_of = chorale_tunes()
    groups = collections.defaultdict(list)
    for name in names:
        if name in tune_of:
            groups[tune_of[name]].append(name)
    duplicates = set()
    corpus_shapes, corpus_titles = [], set()
    for title, members in sorted(groups.items()):
        distinct: list[str] = []
        for name in members:
            if any(_same_notes(chorales[name], chorales[kept]) for kept in distinct):
                duplicates.add(name)
            else:
                distinct.append(name)
        if len(distinct) >= 2:
            corpus_titles.add(title)
        for pair in range(min(len(distinct) // 2, PAIRS_PER_CHORALE)):
            a, b = distinct[2 * pair], distinct[2 * pair + 1]
            tune = f"chorale-{_slug(title)}-{pair + 1}"
            gap = distance(shapes[a], shapes[b])
            if gap > CHORALE_SAME:  # one title, two melodies: not a variant pair
                continue
            positives.append(
                {
                    "tune": tune,
                    "part": _part(_slug(title)),
                    "kind": "chorale",
                    "a": a,
                    "b": b,
                    "title": title,
                    "distance": round(gap, 3),
                }
            )
            files[f"{tune}/a"], files[f"{tune}/b"] = chorales[a], chorales[b]
            corpus_shapes.append(shapes[a])
    singles = [name for name in names if tune_of.get(name) not in corpus_titles]

    # --- folk: same title in two collections ------------------------------------------------------------
    by_title: dict[str, list[tuple[str, str, str]]] = collections.defaultdict(list)
    for collection, title, text in _folk_texts():
        key = _norm_title(title)
        if key:
            by_title[key].append((collection, title, text))
    for key in sorted(by_title):
        entries = by_title[key]
        first = entries[0]
        other = next((e for e in entries[1:] if e[0] != first[0]), None)
        if other is None:
            continue
        a = _cached(cache, f"{first[0]}/{first[1]}", _abc_score, first[2])
        b = _cached(cache, f"{other[0]}/{other[1]}", _abc_score, other[2])
        if a is None or b is None:
            continue
        gap = distance(contour(a), contour(b))
        if gap > FOLK_SAME:
            continue
        tune = f"folk-{_slug(key)}"
        positives.append(
            {
                "tune": tune,
                "part": _part(tune),
                "kind": "folk",
                "a": f"{first[0]}: {first[1]}",
                "b": f"{other[0]}: {other[1]}",
                "distance": round(gap, 3),
            }
        )
        files[f"{tune}/a"], files[f"{tune}/b"] = a, b
        corpus_shapes.append(contour(a))

    # --- negatives: other tunes of the same styles, far from every corpus tune -------------------------
    def far(shape: np.ndarray) -> bool:
        return far_from(shape, corpus_shapes)

    for name in singles:
        if far(shapes[name]):
            negatives.append({"name": f"chorale-{_slug(name)}", "kind": "chorale", "source": name})
            files[negatives[-1]["name"]] = chorales[name]
    rng = np.random.default_rng(seed)
    pool = _negative_titles(by_title)
    taken = 0
    for index in rng.permutation(len(pool)):
        if taken >= folk_negatives:
            break
        collection, title, text = by_title[pool[index]][0]
        score = _cached(cache, f"{collection}/{title}", _abc_score, text)
        if score is None or not far(contour(score)):
            continue
        name = f"folk-{_slug(pool[index])}"
        negatives.append({"name": name, "kind": "folk", "source": f"{collection}: {title}"})
        files[name] = score
        taken += 1
    for entry in negatives:
        entry["part"] = _part(entry["name"], fit_share=NEGATIVES_FIT_SHARE)

    for entry in positives:
        folder = root / entry["part"] / "positives" / entry["tune"]
        folder.mkdir(parents=True, exist_ok=True)
        for side in ("a", "b"):
            (folder / f"{side}.mid").write_bytes(files[f"{entry['tune']}/{side}"].to_midi_bytes())
    for entry in negatives:
        folder = root / entry["part"] / "negatives"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{entry['name']}.mid").write_bytes(files[entry["name"]].to_midi_bytes())
    manifest = {
        "positives": positives,
        "negatives": negatives,
        "duplicates_dropped": sorted(duplicates),
        "labels": {"chorale_same": CHORALE_SAME, "folk_same": FOLK_SAME, "negative_apart": NEGATIVE_APART},
    }
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


def _same_notes(a: Score, b: Score) -> bool:
    ma, mb = M.melody_line(a.notes), M.melody_line(b.notes)
    return (
        len(ma) == len(mb)
        and np.array_equal(np.diff(ma.pitches), np.diff(mb.pitches))
        and np.allclose(ma.iois, mb.iois)
    )


def part_contour(score: Score) -> np.ndarray:
    """The labels' view of the tune's own part: the skyline of the tracks named Soprano (the chorales' melody;
    instruments above it are descants), else of all tracks, as intervals with repeated notes merged. [steps]"""
    soprano = [i for i, track in enumerate(score.tracks) if "sopran" in track.name.lower()]
    notes = score.notes[np.isin(score.notes["track"], soprano)] if soprano else score.notes
    pitches = M.melody_line(notes).pitches
    merged = pitches[np.concatenate([[True], np.diff(pitches) != 0])] if len(pitches) else pitches
    return np.diff(merged).astype(np.int64)


def same_tune(a: Score, b: Score) -> bool:
    """The cleaned-label rule (module docstring): same incipit, or close over the whole tune."""
    ca, cb = part_contour(a), part_contour(b)
    head_a, head_b = ca[:INCIPIT_STEPS], cb[:INCIPIT_STEPS]
    same_incipit = min(len(head_a), len(head_b)) == INCIPIT_STEPS and _edit_distance(head_a, head_b) <= INCIPIT_EDITS
    return bool(same_incipit or distance(ca, cb) <= SAME_TUNE)


def clean_labels(root: Path) -> dict[str, bool]:
    """Tune -> whether its pair passes `same_tune`, read from the written MIDI files (cached in root)."""
    from ledgerline.music.detect import detect_format
    from ledgerline.music.parse import parse_symbolic

    path = root / "labels-clean.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    manifest = json.loads((root / "manifest.json").read_text())
    labels = {}
    for entry in manifest["positives"]:
        folder = root / entry["part"] / "positives" / entry["tune"]
        scores = []
        for side in ("a", "b"):
            data = (folder / f"{side}.mid").read_bytes()
            scores.append(parse_symbolic(data, detect_format(data), name=f"{side}.mid"))
        labels[entry["tune"]] = same_tune(*scores)
    path.write_text(json.dumps(labels, indent=1, sort_keys=True))
    return labels
