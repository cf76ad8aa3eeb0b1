"""Format detection from a file's content, never from its name."""

from __future__ import annotations

import enum
import io
import re
import tarfile
import zipfile


class Format(enum.StrEnum):
    MIDI = "midi"
    MUSICXML = "musicxml"
    MXL = "mxl"  # compressed MusicXML
    ABC = "abc"
    HUMDRUM = "humdrum"
    WAV = "wav"
    FLAC = "flac"
    OGG = "ogg"
    MP3 = "mp3"
    ZIP = "zip"
    TAR = "tar"

    @property
    def is_symbolic(self) -> bool:
        return self in SYMBOLIC

    @property
    def is_audio(self) -> bool:
        return self in AUDIO

    @property
    def is_archive(self) -> bool:
        return self in (Format.ZIP, Format.TAR)


SYMBOLIC = {Format.MIDI, Format.MUSICXML, Format.MXL, Format.ABC, Format.HUMDRUM}
AUDIO = {Format.WAV, Format.FLAC, Format.OGG, Format.MP3}

SUFFIX = {
    Format.MIDI: ".mid",
    Format.MUSICXML: ".musicxml",
    Format.MXL: ".mxl",
    Format.ABC: ".abc",
    Format.HUMDRUM: ".krn",
    Format.WAV: ".wav",
    Format.FLAC: ".flac",
    Format.OGG: ".ogg",
    Format.MP3: ".mp3",
    Format.ZIP: ".zip",
    Format.TAR: ".tar",
}


class UnsupportedFormat(ValueError):
    pass


_ABC_HEADER = re.compile(rb"^X:\s*\d+", re.MULTILINE)
_XML_ROOT = re.compile(rb"<(score-partwise|score-timewise)[\s>]")


def _is_mp3(head: bytes) -> bool:
    if head.startswith(b"ID3"):
        return True
    # An MPEG audio frame header: 11 sync bits, a valid layer and bitrate index.
    return len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06) != 0


def detect_format(data: bytes) -> Format:
    """Identify the format of `data` (whole file or at least its first 64 KiB; ZIP needs the whole file)."""
    if not data:
        raise UnsupportedFormat("the file is empty (0 bytes)")
    head = data[:65536]
    if head.startswith(b"MThd"):
        return Format.MIDI
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return Format.WAV
    if head.startswith(b"fLaC"):
        return Format.FLAC
    if head.startswith(b"OggS"):
        return Format.OGG
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except zipfile.BadZipFile as exc:
            raise UnsupportedFormat(f"a damaged ZIP archive: {exc}") from exc
        if "META-INF/container.xml" in names:
            return Format.MXL
        return Format.ZIP
    if len(head) > 262 and head[257:262] == b"ustar":
        return Format.TAR
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        try:
            with tarfile.open(fileobj=io.BytesIO(data)) as archive:
                archive.next()
            return Format.TAR
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise UnsupportedFormat(f"a compressed file that is not a readable TAR archive: {exc}") from exc
    if _is_mp3(head):
        return Format.MP3
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<"):
        if _XML_ROOT.search(head):
            return Format.MUSICXML
        raise UnsupportedFormat("an XML file that is not MusicXML (no score-partwise or score-timewise root)")
    if text.startswith(b"**kern") or b"\n**kern" in head[:4096] or text.startswith(b"!!!"):
        if b"**kern" in head:
            return Format.HUMDRUM
    if _ABC_HEADER.search(head[:4096]):
        return Format.ABC
    raise UnsupportedFormat("unknown format (not MIDI, MusicXML, ABC, Humdrum, WAV, FLAC, OGG, MP3, ZIP or TAR)")
