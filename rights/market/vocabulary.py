"""The buyer's words for keys and instruments, and what they mean in the catalogue's columns (no Django).

Keys are stored as their source wrote them: "G major", "Bb minor" (read from MIDI and MusicXML) or "G", "Gm"
(the generator's key names). A buyer may write any of these, and a sharp for a flat ("A#m" for "Bbm").
Instruments are General MIDI programs (0-127) on the asset row; a buyer writes a program's name ("flute",
"acoustic grand piano"), a family ("piano", "strings", "bass"), "drums", or a stem's own name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GM_PROGRAMS = (
    "Acoustic Grand Piano",
    "Bright Acoustic Piano",
    "Electric Grand Piano",
    "Honky-tonk Piano",
    "Electric Piano 1",
    "Electric Piano 2",
    "Harpsichord",
    "Clavinet",
    "Celesta",
    "Glockenspiel",
    "Music Box",
    "Vibraphone",
    "Marimba",
    "Xylophone",
    "Tubular Bells",
    "Dulcimer",
    "Drawbar Organ",
    "Percussive Organ",
    "Rock Organ",
    "Church Organ",
    "Reed Organ",
    "Accordion",
    "Harmonica",
    "Tango Accordion",
    "Acoustic Guitar (nylon)",
    "Acoustic Guitar (steel)",
    "Electric Guitar (jazz)",
    "Electric Guitar (clean)",
    "Electric Guitar (muted)",
    "Overdriven Guitar",
    "Distortion Guitar",
    "Guitar Harmonics",
    "Acoustic Bass",
    "Electric Bass (finger)",
    "Electric Bass (pick)",
    "Fretless Bass",
    "Slap Bass 1",
    "Slap Bass 2",
    "Synth Bass 1",
    "Synth Bass 2",
    "Violin",
    "Viola",
    "Cello",
    "Contrabass",
    "Tremolo Strings",
    "Pizzicato Strings",
    "Orchestral Harp",
    "Timpani",
    "String Ensemble 1",
    "String Ensemble 2",
    "Synth Strings 1",
    "Synth Strings 2",
    "Choir Aahs",
    "Voice Oohs",
    "Synth Voice",
    "Orchestra Hit",
    "Trumpet",
    "Trombone",
    "Tuba",
    "Muted Trumpet",
    "French Horn",
    "Brass Section",
    "Synth Brass 1",
    "Synth Brass 2",
    "Soprano Sax",
    "Alto Sax",
    "Tenor Sax",
    "Baritone Sax",
    "Oboe",
    "English Horn",
    "Bassoon",
    "Clarinet",
    "Piccolo",
    "Flute",
    "Recorder",
    "Pan Flute",
    "Blown Bottle",
    "Shakuhachi",
    "Whistle",
    "Ocarina",
    "Lead 1 (square)",
    "Lead 2 (sawtooth)",
    "Lead 3 (calliope)",
    "Lead 4 (chiff)",
    "Lead 5 (charang)",
    "Lead 6 (voice)",
    "Lead 7 (fifths)",
    "Lead 8 (bass + lead)",
    "Pad 1 (new age)",
    "Pad 2 (warm)",
    "Pad 3 (polysynth)",
    "Pad 4 (choir)",
    "Pad 5 (bowed)",
    "Pad 6 (metallic)",
    "Pad 7 (halo)",
    "Pad 8 (sweep)",
    "FX 1 (rain)",
    "FX 2 (soundtrack)",
    "FX 3 (crystal)",
    "FX 4 (atmosphere)",
    "FX 5 (brightness)",
    "FX 6 (goblins)",
    "FX 7 (echoes)",
    "FX 8 (sci-fi)",
    "Sitar",
    "Banjo",
    "Shamisen",
    "Koto",
    "Kalimba",
    "Bagpipe",
    "Fiddle",
    "Shanai",
    "Tinkle Bell",
    "Agogo",
    "Steel Drums",
    "Woodblock",
    "Taiko Drum",
    "Melodic Tom",
    "Synth Drum",
    "Reverse Cymbal",
    "Guitar Fret Noise",
    "Breath Noise",
    "Seashore",
    "Bird Tweet",
    "Telephone Ring",
    "Helicopter",
    "Applause",
    "Gunshot",
)
# The sixteen General MIDI families, eight programs each, with the words a buyer uses for them.
GM_FAMILIES = (
    ("Piano", ("piano", "pianos", "keys")),
    ("Chromatic percussion", ("chromatic percussion", "mallets")),
    ("Organ", ("organ", "organs")),
    ("Guitar", ("guitar", "guitars")),
    ("Bass", ("bass", "basses")),
    ("Strings", ("strings", "string")),
    ("Ensemble", ("ensemble", "choir")),
    ("Brass", ("brass",)),
    ("Reed", ("reed", "reeds", "woodwind", "woodwinds")),
    ("Pipe", ("pipe", "pipes", "flutes")),
    ("Synth lead", ("synth lead", "lead")),
    ("Synth pad", ("synth pad", "pad", "pads")),
    ("Synth effects", ("synth effects", "synth fx")),
    ("Ethnic", ("ethnic", "world")),
    ("Percussive", ("percussive", "tuned percussion")),
    ("Sound effects", ("sound effects", "sfx")),
)
DRUM_WORDS = ("drums", "drum", "drum kit", "percussion", "kit")
_PITCH_CLASSES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_SPELLINGS = {
    0: ("C", "B#"),
    1: ("C#", "Db"),
    2: ("D",),
    3: ("D#", "Eb"),
    4: ("E", "Fb"),
    5: ("F", "E#"),
    6: ("F#", "Gb"),
    7: ("G",),
    8: ("G#", "Ab"),
    9: ("A",),
    10: ("A#", "Bb"),
    11: ("B", "Cb"),
}
_KEY = re.compile(r"^([a-g])\s*(#|b|♯|♭|sharp|flat)?\s*(m|min|minor|maj|major)?$")


@dataclass(frozen=True)
class Instrument:
    """What an instrument word selects: GM programs (melodic parts only), drum parts, and stems by name."""

    programs: tuple[int, ...] = ()
    drums: bool = False
    stem: str = ""


def key_spellings(text: str) -> tuple[str, list[str]]:
    """("G major", every stored spelling of G major) for "G", "G major", "Gmaj", "g"; the same for minor keys
    ("Gm", "G minor", "G min"). ValueError naming the forms accepted for anything else."""
    match = _KEY.match(" ".join(text.lower().split()))
    if not match:
        raise ValueError(f"unknown key {text.strip()!r}: write a key such as G, G major, Gm, G minor, F#m or Bb")
    letter, accidental, mode = match.groups()
    shift = 1 if accidental in ("#", "♯", "sharp") else -1 if accidental in ("b", "♭", "flat") else 0
    minor = mode in ("m", "min", "minor")
    names = _SPELLINGS[(_PITCH_CLASSES[letter] + shift) % 12]
    forms = [f"{name} {'minor' if minor else 'major'}" for name in names]
    forms += [f"{name}m" for name in names] if minor else [*names]
    forms += [f"{name} min" if minor else f"{name} maj" for name in names]
    return forms[0], forms


def instrument_of(text: str) -> Instrument:
    """An instrument word as programs, drums and a stem name (any of which may match)."""
    word = " ".join(text.lower().split())
    if word.isdigit():
        return Instrument(programs=(int(word),), stem=word)
    if word in DRUM_WORDS:
        return Instrument(drums=True, stem=word)
    for number, (_, words) in enumerate(GM_FAMILIES):
        if word in words:
            return Instrument(programs=tuple(range(8 * number, 8 * number + 8)), stem=word)
    programs = tuple(p for p, name in enumerate(GM_PROGRAMS) if re.search(rf"\b{re.escape(word)}\b", name.lower()))
    return Instrument(programs=programs, stem=word)


def instrument_name(*, program: int | None, is_drum: bool, stem: str) -> str:
    """A part's name for buyers: "Drum kit", the GM program's name, or the stem's own name (audio-only stems, mixes)."""
    if is_drum:
        return "Drum kit"
    if program is not None and 0 <= program < len(GM_PROGRAMS):
        return GM_PROGRAMS[program]
    return "Full mix" if stem == "mix" else stem.capitalize()


def family_name(program: int | None) -> str:
    return GM_FAMILIES[program // 8][0] if program is not None and 0 <= program < 128 else ""
