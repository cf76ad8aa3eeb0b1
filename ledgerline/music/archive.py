"""Safe reading of ZIP and TAR archives.

Nothing is trusted from the archive's own directory: member names are checked for traversal, links and
devices are refused, and sizes are counted while decompressing, so a zip bomb stops at the limit instead of
filling the disk. Members are read into memory one at a time (each is bounded by the limits).
"""

from __future__ import annotations

import io
import posixpath
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from .detect import Format

_CHUNK = 1 << 16


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = 10_000
    max_total_bytes: int = 2 * 1024**3
    max_ratio: int = 200  # uncompressed / compressed, per member


@dataclass
class Rejection:
    name: str
    reason: str


@dataclass
class ArchiveReport:
    rejections: list[Rejection] = field(default_factory=list)
    members_read: int = 0
    bytes_read: int = 0


class ArchiveError(ValueError):
    """The archive as a whole is refused (limits passed, unreadable)."""


def _unsafe_name(name: str) -> str | None:
    if not name or "\x00" in name:
        return "empty or NUL in member name"
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        return "absolute path in archive"
    if ".." in posixpath.normpath(normalised).split("/") or ".." in normalised.split("/"):
        return "path traversal ('..') in archive member name"
    return None


def _skip(name: str) -> bool:
    base = posixpath.basename(name)
    return name.startswith("__MACOSX/") or base.startswith(".") or base == ""


def iter_archive(data: bytes, fmt: Format, limits: ArchiveLimits, report: ArchiveReport) -> Iterator[tuple[str, bytes]]:
    """Yield (member name, bytes) for each safe regular file; record refused members in `report`.

    Raises ArchiveError when the archive as a whole breaks a limit (member count, total size, ratio) or
    cannot be read; nothing yielded before that should be kept by a caller that wants all-or-nothing.
    """
    if fmt == Format.ZIP:
        yield from _iter_zip(data, limits, report)
    elif fmt == Format.TAR:
        yield from _iter_tar(data, limits, report)
    else:
        raise ArchiveError(f"{fmt.value} is not an archive")


def _count(report: ArchiveReport, limits: ArchiveLimits) -> None:
    report.members_read += 1
    if report.members_read > limits.max_members:
        raise ArchiveError(f"archive has more than {limits.max_members} members")


def _read_bounded(stream: IO[bytes], name: str, compressed: int, limits: ArchiveLimits, report: ArchiveReport) -> bytes:
    out = io.BytesIO()
    member_bytes = 0
    while chunk := stream.read(_CHUNK):
        member_bytes += len(chunk)
        report.bytes_read += len(chunk)
        if report.bytes_read > limits.max_total_bytes:
            raise ArchiveError(f"archive unpacks to more than {limits.max_total_bytes} bytes (zip bomb?)")
        if compressed > 0 and member_bytes > 1_000_000 and member_bytes / compressed > limits.max_ratio:
            raise ArchiveError(f"{name}: compression ratio above {limits.max_ratio}:1 (zip bomb?)")
        out.write(chunk)
    return out.getvalue()


def _iter_zip(data: bytes, limits: ArchiveLimits, report: ArchiveReport) -> Iterator[tuple[str, bytes]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"not a readable ZIP archive: {exc}") from exc
    with archive:
        # The central directory says how many members there are: refuse before reading any of them.
        if len(archive.infolist()) > limits.max_members:
            raise ArchiveError(
                f"archive has {len(archive.infolist())} members, more than the limit of {limits.max_members}"
            )
        for info in archive.infolist():
            _count(report, limits)
            if info.is_dir() or _skip(info.filename):
                continue
            problem = _unsafe_name(info.filename)
            if problem:
                report.rejections.append(Rejection(info.filename, problem))
                continue
            mode = info.external_attr >> 16
            if mode and (mode & 0o170000) == 0o120000:
                report.rejections.append(Rejection(info.filename, "symbolic link in archive"))
                continue
            try:
                with archive.open(info) as stream:
                    payload = _read_bounded(stream, info.filename, info.compress_size, limits, report)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                report.rejections.append(Rejection(info.filename, f"unreadable archive member: {exc}"))
                continue
            yield info.filename, payload


def _iter_tar(data: bytes, limits: ArchiveLimits, report: ArchiveReport) -> Iterator[tuple[str, bytes]]:
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveError(f"not a readable TAR archive: {exc}") from exc
    compressed_total = max(len(data), 1)
    with archive:
        while True:
            try:
                member = archive.next()
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise ArchiveError(f"damaged TAR archive: {exc}") from exc
            if member is None:
                break
            _count(report, limits)
            if member.isdir() or _skip(member.name):
                continue
            problem = _unsafe_name(member.name)
            if problem:
                report.rejections.append(Rejection(member.name, problem))
                continue
            if member.issym() or member.islnk():
                report.rejections.append(Rejection(member.name, "link in archive"))
                continue
            if not member.isfile():
                report.rejections.append(Rejection(member.name, "device, FIFO or other special file in archive"))
                continue
            if report.bytes_read + member.size > limits.max_total_bytes:
                raise ArchiveError(f"archive unpacks to more than {limits.max_total_bytes} bytes (zip bomb?)")
            stream = archive.extractfile(member)
            if stream is None:
                continue
            # A compressed tar has one ratio for the whole stream: bound the running total against it.
            payload = _read_bounded(stream, member.name, 0, limits, report)
            if report.bytes_read > 1_000_000 and report.bytes_read / compressed_total > limits.max_ratio:
                raise ArchiveError(f"archive compression ratio above {limits.max_ratio}:1 (zip bomb?)")
            yield member.name, payload
