"""The signal code alone (no database): each level, the index versioning, and their bad inputs."""

from dataclasses import replace

import faiss
import numpy as np
import pytest

from fingerprint.engine import chroma, identity, melody, screen, transforms
from fingerprint.engine.features import Features
from fingerprint.engine.index import IndexCorrupt, IndexSpec, VersionedIndex
from ledgerline.music.events import SAMPLE_RATE, make_notes, with_seconds
from ledgerline.music.render import render_midi
from tests.fingerprint.chorales import NAMES, UNRELATED, chorale
from tests.fingerprint.variants import ornamented

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"


@pytest.fixture(scope="module")
def rendered():
    return render_midi(chorale(NAMES[1]).to_midi_bytes(), soundfont=SOUNDFONT)


def test_chromaprint_finds_an_excerpt_inside_the_longer_item_at_its_offset(rendered):
    full = identity.raw_fingerprint(rendered, SAMPLE_RATE)
    start_s = 6.0
    excerpt = identity.raw_fingerprint(rendered[int(start_s * SAMPLE_RATE) : int(14 * SAMPLE_RATE)], SAMPLE_RATE)
    align = identity.best_alignment(excerpt, full)
    assert align.ber < 0.1
    assert align.match_span_s()[0] == pytest.approx(start_s, abs=0.5)


def test_chromaprint_of_unrelated_audio_is_at_chance(rendered):
    other = render_midi(chorale(NAMES[3]).to_midi_bytes(), soundfont=SOUNDFONT)
    align = identity.best_alignment(
        identity.raw_fingerprint(other, SAMPLE_RATE), identity.raw_fingerprint(rendered, SAMPLE_RATE)
    )
    assert align.ber > 0.3 and align.score < 0.4


@pytest.mark.parametrize(
    "audio, message",
    [
        (np.zeros(SAMPLE_RATE * 10, np.float32), "silent"),
        (0.3 * np.sin(np.arange(SAMPLE_RATE) / SAMPLE_RATE * 2 * np.pi * 440).astype(np.float32), "too short"),
    ],
)
def test_silence_and_too_short_audio_are_refused_with_a_message(audio, message):
    with pytest.raises(identity.TooShort, match=message):
        identity.raw_fingerprint(audio, SAMPLE_RATE)


def test_chroma_rotation_recovers_the_transposition():
    rng = np.random.default_rng(0)
    bc = chroma.BeatChroma(rng.random((12, 24)).astype(np.float32), np.arange(25) * 0.5)
    moved = chroma.BeatChroma(np.roll(bc.chroma, 3, axis=0), bc.beat_times)  # 3 semitones up
    originals, _ = chroma.windows(bc)
    queries, _first, transpose = chroma.rotated_windows(moved)
    best = np.argmax(queries @ originals[0])
    assert transpose[best] == 3 and float(queries[best] @ originals[0]) == pytest.approx(1.0, abs=1e-5)
    assert chroma.signed_semitones(11) == -1 and chroma.signed_semitones(6) == 6


def test_melody_windows_are_invariant_to_transposition_and_tempo():
    score = chorale(NAMES[0])
    disguised = transforms.change_tempo(transforms.transpose(score, -4), 1.25)
    a, _ = melody.windows(melody.melody_line(score.notes))
    b, _ = melody.windows(melody.melody_line(disguised.notes))
    assert len(a) > 20 and np.allclose(a, b)


def test_local_alignment_finds_a_quote_and_its_position():
    host = melody.melody_line(chorale(NAMES[2]).notes)
    source = melody.melody_line(chorale(NAMES[4]).notes)
    quoted = melody.melody_line(
        transforms.embed_quote(chorale(NAMES[2]), transforms.bars(chorale(NAMES[4]), 2, 4), at_bar=3).notes
    )
    found = melody.local_alignment(quoted, source)
    assert found.matched >= 12 and found.score > 0.8
    unrelated = melody.local_alignment(host, source)
    assert unrelated.matched < found.matched


def _spec(threshold=200_000):  # the tests' small indexes stay Flat unless a test lowers this
    return IndexSpec("test", 16, "l2", ivf_threshold=threshold, gpu_flat_limit=0)


def test_index_versions_swap_atomically_and_incremental_adds_replace_an_item(tmp_path):
    index = VersionedIndex(tmp_path, _spec())
    rng = np.random.default_rng(1)
    a, b = rng.random((10, 16)), rng.random((5, 16))
    assert index.rebuild(a, np.stack([np.full(10, 2), np.arange(10)], 1)) == "v000001"
    assert index.add(b, np.stack([np.full(5, 4), np.arange(5)], 1)) == "v000002"
    assert (tmp_path / "test" / "CURRENT").read_text() == "v000002"
    hits = index.search(b[:1], k=1)
    assert hits.keys[0, 0] == 4 and hits.positions[0, 0] == 0
    # Re-adding key 2 with new vectors: the old ones become tombstones and are never returned.
    index.add(b[:2] + 10, np.stack([np.full(2, 2), np.arange(2)], 1))
    hits = index.search(a[:1], k=3)
    assert not np.any((hits.keys[0] == 2) & (hits.scores[0] > -1.0))  # a[0] itself is gone
    reader = VersionedIndex(tmp_path, _spec())  # another process sees the latest version
    assert reader.current_version() == "v000003" and len(reader) == 17
    assert not (tmp_path / "test" / "v000001").exists()  # old versions are pruned


def test_a_damaged_or_missing_index_file_is_reported_not_served(tmp_path):
    index = VersionedIndex(tmp_path, _spec())
    index.rebuild(np.ones((3, 16)), np.stack([np.arange(3) * 2, np.zeros(3)], 1))
    version_dir = tmp_path / "test" / "v000001"
    (version_dir / "keys.npy").write_bytes(b"garbage")
    with pytest.raises(IndexCorrupt, match="manifest"):
        VersionedIndex(tmp_path, _spec()).search(np.ones((1, 16)), k=1)
    (version_dir / "index.faiss").unlink()
    with pytest.raises(IndexCorrupt):
        VersionedIndex(tmp_path, _spec()).search(np.ones((1, 16)), k=1)


def test_large_indexes_are_trained_ivf_pq_with_good_recall(tmp_path):
    rng = np.random.default_rng(2)
    data = rng.normal(size=(5000, 16)).astype(np.float32)
    index = VersionedIndex(tmp_path, _spec(threshold=2000))
    index.rebuild(data, np.stack([np.arange(5000) * 2, np.zeros(5000)], 1))
    manifest = (tmp_path / "test" / "v000001" / "manifest.json").read_text()
    assert '"kind": "ivfpq"' in manifest
    hits = index.search(data[:100] + 0.01, k=10)
    recall = np.mean([2 * i in hits.keys[i] for i in range(100)])
    assert recall >= 0.9
    # The PQ candidates are re-scored with finer codes: the distances compared with thresholds are not PQ's.
    exact = np.sum((data[:100] + 0.01 - data[:100]) ** 2, axis=1)
    found = [np.flatnonzero(hits.keys[i] == 2 * i) for i in range(100)]
    errors = [abs(-hits.scores[i, f[0]] - exact[i]) for i, f in enumerate(found) if len(f)]
    assert max(errors) < 0.05, max(errors)
    loaded = index.reader()[1]
    assert isinstance(loaded, faiss.IndexRefine) and loaded.k_factor == 2
    assert type(faiss.downcast_index(loaded.base_index)).__name__ == "IndexIVFPQFastScan"  # 4-bit fast-scan lists
    assert faiss.extract_index_ivf(loaded).nprobe == 16
    # Incremental adds go into the trained index and are found.
    extra = rng.normal(size=(50, 16)).astype(np.float32)
    index.add(extra, np.stack([np.full(50, 20_001), np.arange(50)], 1))
    hits = index.search(extra + 0.01, k=10)
    assert np.mean([(hits.keys[i] == 20_001).any() and i in hits.positions[i] for i in range(50)]) >= 0.9
    assert len(index) == 5050


def _within(hits, row: int, bits: int) -> set[tuple[int, int]]:
    return {(k, p) for k, p, s in zip(hits.keys[row], hits.positions[row], hits.scores[row], strict=True) if s >= -bits}


def test_large_chromaprint_indexes_use_multi_hash_exact_within_two_bits(tmp_path):
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, size=(20_000, 4), dtype=np.uint8)
    keys = np.stack([np.arange(20_000) // 100 * 2, np.arange(20_000) % 100], 1)
    hashed = VersionedIndex(tmp_path, IndexSpec("audio", 32, "hamming", ivf_threshold=10_000))
    flat = VersionedIndex(tmp_path, IndexSpec("audio-flat", 32, "hamming"))
    hashed.rebuild(codes, keys)
    flat.rebuild(codes, keys)
    assert '"kind": "multihash"' in (tmp_path / "audio" / "v000001" / "manifest.json").read_text()
    picks = rng.integers(0, 20_000, size=300)
    queries = codes[picks].copy()
    for row, flips in enumerate(rng.integers(0, 3, size=300)):  # 0, 1 or 2 bits flipped
        for bit in rng.choice(32, size=flips, replace=False):
            queries[row, bit // 8] ^= np.uint8(1 << (bit % 8))
    got, want = hashed.search(queries, k=8), flat.search(queries, k=8)
    for row, pick in enumerate(picks):
        assert keys[pick, 0] in got.keys[row]
        assert _within(got, row, 2) == _within(want, row, 2)  # every code within 2 bits, as Flat finds them
    # Incremental adds go into the hash tables too.
    hashed.add(codes[:10] ^ np.uint8(0xFF), np.stack([np.full(10, 99_999), np.arange(10)], 1))
    assert (hashed.search(codes[:10] ^ np.uint8(0xFF), k=1).keys[:, 0] == 99_999).all()


@pytest.mark.parametrize(
    "spec",
    [
        IndexSpec("grow", 16, "l2", ivf_threshold=2000, gpu_flat_limit=0),
        IndexSpec("grow", 32, "hamming", ivf_threshold=2000),
    ],
    ids=["vectors", "codes"],
)
def test_an_index_grown_past_the_threshold_by_adds_becomes_approximate_and_keeps_every_live_item(tmp_path, spec):
    rng = np.random.default_rng(4)

    def make(n):
        return (
            rng.integers(0, 256, size=(n, 4), dtype=np.uint8)
            if spec.binary
            else rng.normal(size=(n, 16)).astype(np.float32)
        )

    first, second = make(1500), make(1000)
    index = VersionedIndex(tmp_path, spec)
    index.rebuild(first, np.stack([np.arange(1500) // 10 * 2, np.arange(1500) % 10], 1))
    assert '"kind": "flat"' in (tmp_path / "grow" / "v000001" / "manifest.json").read_text()
    # Key 0's vectors are replaced by this add: they must not come back after the conversion.
    index.add(
        second,
        np.stack([np.concatenate([[0] * 10, 10_000 + np.arange(990) // 10 * 2]), np.arange(1000) % 10], 1),
        replace_keys={0},
    )
    manifest = (tmp_path / "grow" / "v000002" / "manifest.json").read_text()
    assert ('"kind": "multihash"' if spec.binary else '"kind": "ivfpq"') in manifest
    assert len(index) == 1500 - 10 + 1000
    hits = index.search(np.concatenate([first[10:60], second[:50]]), k=5)
    assert (hits.keys[:50, 0] == np.arange(10, 60) // 10 * 2).mean() >= 0.9  # old items, still there
    new_keys = np.concatenate([[0] * 10, 10_000 + np.arange(40) // 10 * 2])
    assert (hits.keys[50:, 0] == new_keys).mean() >= 0.9  # the added items, key 0 now meaning its new vectors
    gone = index.search(first[:10], k=5)  # key 0's old vectors were dropped, not carried into the new index
    assert not ((gone.keys == 0) & (gone.scores > -1e-6)).any()


# --- beat lines: real variants ---------------------------------------------------------------------------
def _melody_only(score) -> Features:
    return Features(duration_s=score.duration_s, melody=melody.melody_line(score.notes))


def _melody_screener(tmp_path, names, thresholds=None) -> screen.Screener:
    items = {2 * i: _melody_only(chorale(name)) for i, name in enumerate(names)}
    return screen.screener_of(items, tmp_path, thresholds=thresholds)


def test_the_skyline_leaves_out_an_inner_voice_moving_under_a_held_melody_note():
    soprano = make_notes([(72, 0.0, 2.0), (74, 2.0, 1.0), (76, 3.0, 1.0)])
    alto = make_notes([(65, 0.0, 1.0), (67, 1.0, 1.0), (69, 2.0, 1.0), (70, 3.5, 0.5)], track=1)
    notes = np.concatenate([soprano, alto])
    line = melody.melody_line(notes[np.lexsort((notes["pitch"], notes["start"]))])
    assert line.pitches.tolist() == [72, 74, 76] and line.iois.tolist() == [2.0, 1.0, 1.0]
    rest = make_notes([(72, 0.0, 1.0), (74, 2.0, 1.0)])  # under a soprano rest the alto is the top voice
    line = melody.melody_line(np.concatenate([rest, make_notes([(67, 1.0, 1.0)], track=1)]))
    assert line.pitches.tolist() == [72, 67, 74]


def test_a_descant_above_the_part_named_as_the_tune_is_not_the_melody():
    descant = make_notes([(84, 0.0, 0.5), (83, 0.5, 0.5), (81, 1.0, 1.0), (79, 2.0, 2.0)])
    soprano = make_notes([(72, 0.0, 2.0), (74, 2.0, 1.0), (76, 3.0, 1.0)], track=1)
    alto = make_notes([(65, 0.0, 2.0), (67, 2.0, 2.0)], track=2)
    notes = np.concatenate([descant, soprano, alto])
    notes = notes[np.lexsort((notes["pitch"], notes["start"]))]
    assert melody.melody_line(notes).pitches.tolist() == [84, 83, 81, 79]  # no names: the skyline
    named = melody.melody_line(notes, ["Recorders", "Soprano", "Alto"])
    assert named.pitches.tolist() == [72, 74, 76]
    assert melody.melody_line(notes, ["Flute", "Violin", "Viola"]).pitches.tolist() == [84, 83, 81, 79]


def test_the_beat_line_keeps_the_notes_on_the_beat_when_passing_notes_are_added():
    score = chorale(NAMES[1])
    plain, grid = melody.beat_line(melody.melody_line(score.notes))
    varied, _ = melody.beat_line(melody.melody_line(ornamented(score).notes))
    assert len(melody.melody_line(ornamented(score).notes)) > len(melody.melody_line(score.notes)) + 5
    assert np.array_equal(plain, varied) and np.allclose(np.diff(grid), 1.0)
    halved, _ = melody.beat_line(melody.melody_line(transforms.change_tempo(score, 1.0).notes), step=1.0)
    assert np.array_equal(halved, plain)


def test_beat_windows_ignore_the_key_and_never_come_near_note_windows():
    mel = melody.melody_line(chorale(NAMES[0]).notes)
    up = melody.melody_line(transforms.transpose(chorale(NAMES[0]), 5).notes)
    a, positions = melody.beat_windows(melody.beat_line(mel)[0])
    b, _ = melody.beat_windows(melody.beat_line(up)[0])
    assert len(a) > 10 and np.allclose(a, b) and positions.min() >= melody.BEAT_POSITION
    notes, _ = melody.windows(mel)
    gaps = ((a[:, None, :] - notes[None, :, :]) ** 2).sum(-1)
    assert gaps.min() >= 90


def test_an_ornamented_variant_in_another_key_is_found_by_its_beat_line_not_its_note_windows(tmp_path):
    screener = _melody_screener(tmp_path, NAMES)
    variant = transforms.transpose(ornamented(chorale(NAMES[1]), every=1), 3)
    verdict = screener.screen(_melody_only(variant))
    beats = [m for m in verdict.matches if m.level == "melody" and m.key == 2]
    assert beats and beats[0].passed and beats[0].transpose == 3
    assert beats[0].evidence["matched_beats"] >= screen.Thresholds().melody_min_beats
    assert not any(m.passed for m in verdict.considered if m.level == "symbolic")
    assert screener.screen(_melody_only(chorale(UNRELATED))).verdict == "clear"


def test_a_variant_notated_in_doubled_note_values_is_found_on_the_half_note_grid(tmp_path):
    screener = _melody_screener(tmp_path, NAMES)
    score = chorale(NAMES[3])
    doubled = score.notes.copy()
    doubled["start"] *= 2
    doubled["duration"] *= 2
    verdict = screener.screen(_melody_only(with_seconds(replace(score, notes=doubled))))
    beats = [m for m in verdict.matches if m.level == "melody" and m.key == 6]
    assert beats and beats[0].passed and beats[0].evidence["grid"][0] == 2.0


def test_deployed_thresholds_are_read_from_the_data_folder_and_a_damaged_file_is_ignored(tmp_path):
    assert screen.deployed_thresholds(tmp_path) == {}
    (tmp_path / screen.THRESHOLDS_FILE).write_text('{"thresholds": {"melody_score": 0.7}, "calibration": {}}')
    assert screen.Thresholds.from_dict(screen.deployed_thresholds(tmp_path)).melody_score == 0.7
    (tmp_path / screen.THRESHOLDS_FILE).write_text('{"thresholds": ')
    assert screen.deployed_thresholds(tmp_path) == {}
