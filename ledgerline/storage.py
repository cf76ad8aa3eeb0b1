"""Content-addressed blob storage under `LEDGERLINE_DATA_DIR/media/`.

A blob's relative path is derived from its SHA-256, so storing the same bytes twice is a no-op and a path
in the database always names exactly one content. Writes go to a temporary file and are renamed into place,
so a crash never leaves a half-written blob under its final name.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

_SUFFIX_RE = re.compile(r"^(\.[a-z0-9]{1,10}){0,2}$")
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    relpath: str
    size: int
    created: bool = field(default=False, compare=False)  # this call wrote it (it was not stored before)


def media_root() -> Path:
    return Path(settings.MEDIA_ROOT)


class InvalidSuffix(ValueError):
    """A blob suffix that is not one or two plain ASCII extensions (`.mid`, `.tar.gz`)."""


def check_suffix(suffix: str) -> str:
    """`suffix` if it can end a blob's name; raises InvalidSuffix before anything is written."""
    if not _SUFFIX_RE.match(suffix):
        raise InvalidSuffix(f"invalid blob suffix {suffix!r} (one or two extensions of a-z and 0-9)")
    return suffix


def safe_suffix(name: str) -> str:
    """The extension(s) of a user's file name fit for a blob, or "" (a name like `piece.mïd` or `piece.mi d`):
    formats are detected from the content, so the name's suffix is only a hint for people reading the folder."""
    lowered = name.lower()
    for compound in (".tar.gz", ".tar.bz2", ".tar.xz"):
        if lowered.endswith(compound):
            return compound
    dot = lowered.rfind(".")
    suffix = lowered[dot:] if dot > 0 and "/" not in lowered[dot:] else ""
    return suffix if _SUFFIX_RE.match(suffix) else ""


def _relpath(sha256: str, suffix: str) -> str:
    return f"blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}{check_suffix(suffix)}"


def blob_path(relpath: str) -> Path:
    """Absolute path of a stored blob; refuses paths that would leave the media root."""
    root = media_root().resolve()
    path = (root / relpath).resolve()
    if root not in path.parents:
        raise ValueError(f"blob path {relpath!r} is outside the media root")
    return path


def _store_chunks(chunks: Iterable[bytes], *, suffix: str, max_bytes: int | None = None) -> StoredBlob:
    """Write `chunks` to a temporary file, hashing as they come, then rename it to its content's name.

    The suffix is checked before anything is written, and the temporary file is removed on every failure
    (a refused upload, a full disk, a killed request), so nothing is left as `.incoming-*`.
    """
    check_suffix(suffix)
    media_root().mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(dir=media_root(), prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as target:
            for chunk in chunks:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise UploadTooLarge(max_bytes)
                digest.update(chunk)
                target.write(chunk)
        relpath = _relpath(digest.hexdigest(), suffix)
        final = blob_path(relpath)
        final.parent.mkdir(parents=True, exist_ok=True)
        created = not final.exists()
        if created:
            os.replace(tmp, final)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return StoredBlob(sha256=digest.hexdigest(), relpath=relpath, size=size, created=created)


def store_bytes(data: bytes, *, suffix: str) -> StoredBlob:
    sha = hashlib.sha256(data).hexdigest()
    relpath = _relpath(sha, suffix)
    if blob_path(relpath).exists():
        return StoredBlob(sha256=sha, relpath=relpath, size=len(data))
    return _store_chunks([data], suffix=suffix)


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as source:
        while chunk := source.read(_CHUNK):
            yield chunk


def store_file(path: Path, *, suffix: str) -> StoredBlob:
    return _store_chunks(_file_chunks(path), suffix=suffix)


def store_upload(uploaded, *, suffix: str, max_bytes: int) -> StoredBlob:
    """Store a Django UploadedFile chunk by chunk, refusing it past `max_bytes` without keeping any of it."""
    return _store_chunks(uploaded.chunks(), suffix=suffix, max_bytes=max_bytes)


class UploadTooLarge(Exception):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"file is larger than the upload limit of {max_bytes} bytes")
        self.max_bytes = max_bytes


def blob_delete(relpath: str) -> None:
    """Remove a blob that no row names any more (the caller checks that; blobs are shared by content)."""
    blob_path(relpath).unlink(missing_ok=True)


def read_blob(relpath: str) -> bytes:
    return blob_path(relpath).read_bytes()


def copy_blob(relpath: str, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(blob_path(relpath), target)
    return target
