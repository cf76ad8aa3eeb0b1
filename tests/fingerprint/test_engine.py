"""The signal code alone (no database): each level, the index versioning, and their bad inputs."""

import numpy as np
import pytest

from fingerprint.engine import chroma, identity, melody, transforms
from fingerprint.engine.index import IndexCorrupt, IndexSpec, VersionedIndex
from ledgerline.music.events import SAMPLE_RATE
from ledgerline.music.render import render_midi
from tests.fingerprint.chorales import NAMES, chorale

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"


@pytest.fixture(scope="module")
def rendered():
    return render_midi(chorale(NAMES[1]).to_midi_bytes(), soundfont=SOUNDFONT)


def test_chromaprint_finds_an_excerpt_inside_the_longer_item_at_its_offset(rendered):
    full = identity.raw_fingerprint(rendered, SAMPLE_RATE)
    start_s = 6.0
    excerpt = identity.raw_fingerprint(rendered[int(start_s * SAMPLE_RATE): int(14 * SAMPLE_RATE)], SAMPLE_RATE)
    align = identity.best_alignment(excerpt, full)
    assert align.ber < 0.1
    assert align.match_span_s()[0] == pytest.approx(start_s, abs=0.5)


def test_chromaprint_of_unrelated_audio_is_at_chance(rendered):
    other = render_midi(chorale(NAMES[3]).to_midi_bytes(), soundfont=SOUNDFONT)
    align = identity.best_alignment(identity.raw_fingerprint(other, SAMPLE_RATE),
                                    identity.raw_fingerprint(rendered, SAMPLE_RATE))
    assert align.ber > 0.3 and align.score < 0.4


@pytest.mark.parametrize("audio, message", [
    (np.zeros(SAMPLE_RATE * 10, np.float32), "silent"),
    (0.3 * np.sin(np.arange(SAMPLE_RATE) / SAMPLE_RATE * 2 * np.pi * 440).astype(np.float32), "too short"),
])
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
    quoted = melody.melody_line(transforms.embed_quote(chorale(NAMES[2]), transforms.bars(chorale(NAMES[4]), 2, 4),
                                                        at_bar=3).notes)
    found = melody.local_alignment(quoted, source)
    assert found.matched >= 12 and found.score > 0.8
    unrelated = melody.local_alignment(host, source)
    assert unrelated.matched < found.matched


def _spec(threshold=200_000):
    return IndexSpec("test", 16, "l2", ivf_threshold=threshold)


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
