"""Items are named by the title written in the file (what a reviewer recognises), the file name only otherwise."""

import io

import mido

from ledgerline.music.detect import Format
from ledgerline.music.parse import midi_title, parse_symbolic

ABC = b"X:1\nT:The Kesh Jig\nM:6/8\nL:1/8\nK:G\nGAG GAB|ABA ABd|edd gdd|edB dBA|\n"


def midi_with_sequence_name(name: str | None, *, conductor: bool = True) -> bytes:
    midi = mido.MidiFile(type=1)
    if conductor:
        head = mido.MidiTrack()
        if name is not None:
            head.append(mido.MetaMessage("track_name", name=name))
        midi.tracks.append(head)
    notes = mido.MidiTrack([mido.MetaMessage("track_name", name="Piano")])
    for pitch in (60, 62, 64, 65, 67):
        notes += [
            mido.Message("note_on", note=pitch, velocity=80, time=0),
            mido.Message("note_off", note=pitch, velocity=0, time=480),
        ]
    midi.tracks.append(notes)
    out = io.BytesIO()
    midi.save(file=out)
    return out.getvalue()


def test_midi_title_is_the_conductor_tracks_name():
    data = midi_with_sequence_name("Wachet auf, ruft uns die Stimme")
    assert midi_title(data) == "Wachet auf, ruft uns die Stimme"
    assert parse_symbolic(data, Format.MIDI, name="bwv140.mid").title == "Wachet auf, ruft uns die Stimme"


def test_midi_without_a_sequence_name_is_named_by_its_file():
    assert parse_symbolic(midi_with_sequence_name(None), Format.MIDI, name="dir/bwv140.mid").title == "bwv140"
    # A first track that plays notes names an instrument, not the piece.
    assert midi_title(midi_with_sequence_name(None, conductor=False)) is None


def test_abc_title_comes_from_its_t_field():
    assert parse_symbolic(ABC, Format.ABC, name="tune1.abc").title == "The Kesh Jig"
