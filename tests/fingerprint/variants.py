"""Real-variant stand-ins for the tests: a tune as another arranger might write it down."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ledgerline.music.events import Score, with_seconds


def ornamented(score: Score, *, every: int = 2) -> Score:
    """Passing notes between the melody's steps of a third and neighbour notes on long notes, on the off-beats
    (so the notes on the beat stay), at every `every`-th melody note: the note windows around each one change."""
    notes = score.notes
    pitched = np.nonzero(~notes["is_drum"])[0]
    order = pitched[np.lexsort((-notes["pitch"][pitched].astype(int), notes["start"][pitched]))]
    starts = notes["start"][order]
    melody = order[np.concatenate([[True], np.diff(starts) > 0])]
    changed, added = notes.copy(), []
    for position, (row, following) in enumerate(zip(melody[:-1], melody[1:], strict=True)):
        if position % every:
            continue
        note, step = notes[row], int(notes["pitch"][following]) - int(notes[row]["pitch"])
        if note["duration"] == 1.0 and abs(step) in (3, 4):
            extra = (int(note["pitch"]) + step // 2, 0.5)
        elif note["duration"] >= 2.0:
            extra = (int(note["pitch"]) + 2, note["duration"] - 0.5)
        else:
            continue
        changed["duration"][row] = extra[1]
        ornament = note.copy()
        ornament["pitch"], ornament["start"] = extra[0], note["start"] + extra[1]
        ornament["duration"] = note["duration"] - extra[1]
        added.append(ornament)
    merged = np.concatenate([changed, np.array(added, dtype=notes.dtype)])
    merged = merged[np.lexsort((merged["pitch"], merged["track"], merged["start"]))]
    return with_seconds(replace(score, notes=merged))
