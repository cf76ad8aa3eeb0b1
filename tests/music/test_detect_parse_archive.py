import io
import tarfile
import zipfile

import pytest

from ledgerline.music.archive import ArchiveError, ArchiveLimits, ArchiveReport, iter_archive
from ledgerline.music.audio import CorruptFile
from ledgerline.music.detect import Format, UnsupportedFormat, detect_format
from ledgerline.music.parse import parse_symbolic

MUSICXML = b"""<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="3.1"><work><work-title>Tiny</work-title></work>
<part-list><score-part id="P1"><part-name>Flute</part-name></score-part></part-list>
<part id="P1"><measure number="1"><attributes><divisions>1</divisions><key><fifths>1</fifths><mode>major</mode></key>
<time><beats>3</beats><beat-type>4</beat-type></time></attributes>
<note><pitch><step>G</step><octave>4</octave></pitch><duration>1</duration></note>
<note><pitch><step>A</step><octave>4</octave></pitch><duration>1</duration></note>
<note><pitch><step>B</step><octave>4</octave></pitch><duration>1</duration></note>
</measure></part></score-partwise>"""

ABC = b"X:1\nT:Scale\nM:4/4\nL:1/4\nK:D\nDEFG|ABcd|\n"


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"MThd\x00\x00\x00\x06", Format.MIDI),
        (MUSICXML, Format.MUSICXML),
        (ABC, Format.ABC),
        (b"**kern\n*M4/4\n4c\n*-\n", Format.HUMDRUM),
        (b"fLaC\x00\x00", Format.FLAC),
        (b"OggS\x00", Format.OGG),
        (b"ID3\x04\x00", Format.MP3),
    ],
)
def test_format_is_detected_by_content(data, fmt):
    assert detect_format(data) == fmt


def test_zero_byte_and_unknown_files_are_refused_with_a_reason():
    with pytest.raises(UnsupportedFormat, match="empty"):
        detect_format(b"")
    with pytest.raises(UnsupportedFormat, match="unknown format"):
        detect_format(b"hello, this is a plain text file")


def test_xml_that_is_not_musicxml_is_refused():
    with pytest.raises(UnsupportedFormat, match="not MusicXML"):
        detect_format(b"<?xml version='1.0'?><html><body/></html>")


def test_musicxml_parses_with_metadata():
    score = parse_symbolic(MUSICXML, Format.MUSICXML)
    assert list(score.notes["pitch"]) == [67, 69, 71]
    assert score.time_signature == (3, 4) and score.key == "G major" and score.title == "Tiny"


def test_abc_parses():
    score = parse_symbolic(ABC, Format.ABC)
    assert len(score.notes) == 8 and score.key.startswith("D")


def test_musicxml_that_is_broken_xml_is_corrupt():
    with pytest.raises(CorruptFile):
        parse_symbolic(MUSICXML[:200], Format.MUSICXML)


def test_truncated_midi_is_corrupt():
    from ledgerline.music.events import Score, TrackInfo, make_notes, with_seconds

    good = with_seconds(
        Score(notes=make_notes([(60, 0, 1), (62, 1, 1)]), tracks=[TrackInfo("Piano", 0)])
    ).to_midi_bytes()
    assert len(parse_symbolic(good, Format.MIDI).notes) == 2
    with pytest.raises(CorruptFile):
        parse_symbolic(good[:30], Format.MIDI)


def test_archive_refuses_traversal_absolute_names_and_links_but_reads_good_members():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, payload in {"ok.abc": ABC, "../evil.abc": ABC, "/etc/passwd.abc": ABC}.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
        link = tarfile.TarInfo("link.abc")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        archive.addfile(link)
    report = ArchiveReport()
    members = list(iter_archive(buffer.getvalue(), Format.TAR, ArchiveLimits(), report))
    assert [name for name, _ in members] == ["ok.abc"]
    reasons = {r.name: r.reason for r in report.rejections}
    assert "traversal" in reasons["../evil.abc"]
    assert "absolute" in reasons["/etc/passwd.abc"]
    assert "link" in reasons["link.abc"]


def test_zip_traversal_member_is_refused():
    report = ArchiveReport()
    members = list(iter_archive(_zip({"a/../../x.mid": b"MThd", "fine.abc": ABC}), Format.ZIP, ArchiveLimits(), report))
    assert [n for n, _ in members] == ["fine.abc"]
    assert "traversal" in report.rejections[0].reason


def test_zip_bomb_stops_at_the_ratio_limit_without_unpacking_it():
    bomb = _zip({"bomb.wav": b"\x00" * (50 * 1024 * 1024)})
    assert len(bomb) < 100_000
    with pytest.raises(ArchiveError, match="zip bomb"):
        list(iter_archive(bomb, Format.ZIP, ArchiveLimits(max_ratio=100), ArchiveReport()))


def test_archive_total_size_limit():
    with pytest.raises(ArchiveError, match="more than"):
        list(
            iter_archive(
                _zip({f"{i}.abc": ABC * 100 for i in range(5)}, zipfile.ZIP_STORED),
                Format.ZIP,
                ArchiveLimits(max_total_bytes=5000),
                ArchiveReport(),
            )
        )


def test_archive_member_count_limit():
    with pytest.raises(ArchiveError, match="members"):
        list(
            iter_archive(
                _zip({f"{i}.abc": ABC for i in range(6)}), Format.ZIP, ArchiveLimits(max_members=5), ArchiveReport()
            )
        )
