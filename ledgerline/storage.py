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
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

_SUFFIX_RE = re.compile(r"^(\.[a-z0-9]{1,10}){0,2}$")
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    relpath: str
    size: int


def media_root() -> Path:
    return Path(settings.MEDIA_ROOT)


def _relpath(sha256: str, suffix: str) -> str:
    if not _SUFFIX_RE.match(suffix):
        raise ValueError(f"invalid blob suffix {suffix!r}")
    return f"blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}{suffix}"


def blob_path(relpath: str) -> Path:
    """Absolute path of a stored blob; refuses paths that would leave the media root."""
    root = media_root().resolve()
    path = (root / relpath).resolve()
    if root not in path.parents:
        raise ValueError(f"blob path {relpath!r} is outside the media root")
    return path


def _place(tmp_path: Path, relpath: str) -> None:
    final = blob_path(relpath)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        tmp_path.unlink(missing_ok=True)
        return
    os.replace(tmp_path, final)


def store_bytes(data: bytes, *, suffix: str) -> StoredBlob:
    sha = hashlib.sha256(data).hexdigest()
    relpath = _relpath(sha, suffix)
    if not blob_path(relpath).exists():
        media_root().mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=media_root(), prefix=".incoming-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        _place(Path(tmp), relpath)
    return StoredBlob(sha256=sha, relpath=relpath, size=len(data))


def store_file(path: Path, *, suffix: str) -> StoredBlob:
    media_root().mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(dir=media_root(), prefix=".incoming-")
    with open(path, "rb") as source, os.fdopen(fd, "wb") as target:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            target.write(chunk)
    sha = digest.hexdigest()
    relpath = _relpath(sha, suffix)
    _place(Path(tmp), relpath)
    return StoredBlob(sha256=sha, relpath=relpath, size=size)


def store_upload(uploaded, *, suffix: str, max_bytes: int) -> StoredBlob:
    """Store a Django UploadedFile chunk by chunk, refusing it past `max_bytes` without keeping any of it."""
    media_root().mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(dir=media_root(), prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as target:
            for chunk in uploaded.chunks():
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLarge(max_bytes)
                digest.update(chunk)
                target.write(chunk)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    sha = digest.hexdigest()
    relpath = _relpath(sha, suffix)
    _place(Path(tmp), relpath)
    return StoredBlob(sha256=sha, relpath=relpath, size=size)


class UploadTooLarge(Exception):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"file is larger than the upload limit of {max_bytes} bytes")
        self.max_bytes = max_bytes


def read_blob(relpath: str) -> bytes:
    return blob_path(relpath).read_bytes()


def copy_blob(relpath: str, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(blob_path(relpath), target)
    return target
