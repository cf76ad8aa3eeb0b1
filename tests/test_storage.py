"""Content-addressed blobs: a refused write leaves nothing behind, not even a temporary file."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ledgerline.storage import InvalidSuffix, UploadTooLarge, safe_suffix, store_bytes, store_file, store_upload
from tests.helpers import media_files


@pytest.mark.parametrize("suffix", [".mïd", ".mi d", ".MID", "mid", ".a.b.c"])
def test_a_suffix_that_is_not_plain_ascii_is_refused_before_anything_is_written(settings, tmp_path, suffix):
    source = tmp_path / "piece"
    source.write_bytes(b"MThd" + b"\x00" * 100)
    with pytest.raises(InvalidSuffix, match="invalid blob suffix"):
        store_bytes(b"data", suffix=suffix)
    with pytest.raises(InvalidSuffix):
        store_file(source, suffix=suffix)
    with pytest.raises(InvalidSuffix):
        store_upload(SimpleUploadedFile("piece", b"data"), suffix=suffix, max_bytes=100)
    assert media_files(settings) == []


def test_an_upload_over_the_limit_leaves_no_temporary_file(settings):
    with pytest.raises(UploadTooLarge):
        store_upload(SimpleUploadedFile("big.wav", b"\x00" * 5000), suffix=".wav", max_bytes=1000)
    assert media_files(settings) == []


def test_storing_is_idempotent_and_says_whether_it_wrote(settings):
    first = store_bytes(b"same bytes", suffix=".mid")
    again = store_bytes(b"same bytes", suffix=".mid")
    assert first == again and first.created and not again.created
    assert media_files(settings) == [first.relpath]


@pytest.mark.parametrize(
    ("name", "suffix"),
    [
        ("piece.mid", ".mid"),
        ("Piece.MID", ".mid"),
        ("set.tar.gz", ".tar.gz"),
        ("piece.mïd", ""),
        ("piece.mi d", ""),
        ("piece", ""),
        (".hidden", ""),
        ("piece.verylongextension", ""),
    ],
)
def test_a_file_name_gives_a_safe_suffix_or_none(name, suffix):
    assert safe_suffix(name) == suffix
