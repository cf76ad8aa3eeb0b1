"""The memorisation check (issue 16 §5): before a trained model's tracks may be published, `samples` of its
pieces are screened against its own training corpus, with and without the anti-copy guard, and at most
`MEMORISATION_GOAL` of the guarded ones may be flagged.

Every generator is checked the same way: the VAE on prior samples (`latent.vae_memorisation`), the token models
(LSTM, Transformer) on free samples (`services.train_handler`). Each passes its own `Compose`; rendering and
screening are shared. The screening is the platform's own, corpus only, through a screener that the tracks app
registers at start (generation and fingerprint are independent layers; tracks sits above both).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from django.conf import settings

from ledgerline.jobs.models import Job
from ledgerline.jobs.services import JobError
from ledgerline.music.events import Score
from ledgerline.music.render import render_midi

from .models import TrainedModel

MEMORISATION_SAMPLES = 200  # pieces screened after training
MEMORISATION_GOAL = 0.01  # the share of them that may be flagged against the training corpus
MEMORISATION_KEYS = ("C", "G", "D", "F", "Am", "Em")  # keys the samples cycle through, at 100 bpm

#: Screens a rendered piece against the corpus: (audio, score, training corpus item ids) -> "flag" (a passed match
#: on a training item), "clear", or "unmeasured" (the screening was incomplete).
CorpusScreener = Callable[[np.ndarray, Score, set[int]], str]
#: One sample: (seed, key, guarded) -> (the piece, how many times the guard redrew or masked a copy). With
#: guarded=False the same seed and key without the guard.
Compose = Callable[[int, str, bool], tuple[Score, int]]

_corpus_screener: CorpusScreener | None = None


def corpus_screener_set(screener: CorpusScreener) -> None:
    global _corpus_screener
    _corpus_screener = screener


def corpus_screener() -> CorpusScreener:
    if _corpus_screener is None:
        raise JobError("no corpus screener is registered (the tracks app registers it at start)")
    return _corpus_screener


def memorisation_samples(model: TrainedModel, default: int | None = None) -> int:
    """How many pieces the check screens: the model's `memorisation_samples`, else `default`, else
    MEMORISATION_SAMPLES. Token models of the debug size (tests) default to 0, and 0 means not checked (the
    demo's LSTM: see generation/demo.py); a VAE screening 0 samples is not ready."""
    fallback = MEMORISATION_SAMPLES if default is None else default
    return int(model.config.get("memorisation_samples", fallback))


def memorisation_check(
    compose: Compose,
    *,
    model: TrainedModel,
    samples: int,
    job: Job | None,
    progress: tuple[float, float] = (0.72, 0.92),
) -> dict:
    """Screen `samples` pieces (seeds 0..samples-1, keys cycling through MEMORISATION_KEYS) with and without the
    anti-copy guard against the model's training corpus; count those with a passed match on a training item.
    A guarded piece the guard did not touch is the unguarded piece, so it is screened once."""
    screen_against = corpus_screener()
    training_ids = {int(item["corpus_item"]) for item in model.training_items or []}
    flagged = {"guarded": 0, "unguarded": 0}
    unmeasured, interventions, started = 0, 0, time.monotonic()

    def screen(score: Score) -> str:
        audio = render_midi(score.to_midi_bytes(), soundfont=settings.LEDGERLINE_SOUNDFONT)
        return screen_against(audio, score, training_ids)

    for seed in range(samples):
        key = MEMORISATION_KEYS[seed % len(MEMORISATION_KEYS)]
        guarded, count = compose(seed, key, True)
        interventions += count
        verdicts = {"guarded": screen(guarded)}
        verdicts["unguarded"] = verdicts["guarded"] if count == 0 else screen(compose(seed, key, False)[0])
        for condition, verdict in verdicts.items():
            flagged[condition] += verdict == "flag"
        unmeasured += verdicts["guarded"] == "unmeasured"
        if job is not None and (seed + 1) % 5 == 0:
            low, high = progress
            job.set_progress(low + (high - low) * (seed + 1) / samples, f"memorisation check: {seed + 1}/{samples}")
    return {
        "samples": samples,
        "flagged_guarded": flagged["guarded"],
        "flagged_unguarded": flagged["unguarded"],
        "unmeasured": unmeasured,
        "guard_redraws": interventions,
        "seconds": round(time.monotonic() - started, 1),
    }


def memorisation_readiness(check: dict) -> dict:
    """Ready when the share of guarded samples flagged against the training corpus is at most the goal and every
    sample could be screened (an incomplete index cannot say "not flagged")."""
    samples, flagged, unmeasured = check["samples"], check["flagged_guarded"], check["unmeasured"]
    if samples == 0:
        return {"ready": False, "not_ready_reason": "the memorisation check screened no samples"}
    if unmeasured:
        return {
            "ready": False,
            "not_ready_reason": f"memorisation not measured: {unmeasured} of {samples} samples were screened "
            "against an incompletely indexed corpus",
        }
    if flagged / samples > MEMORISATION_GOAL:
        return {
            "ready": False,
            "not_ready_reason": f"{flagged} of {samples} samples were flagged against its training corpus "
            f"(the goal is at most {MEMORISATION_GOAL:.0%})",
        }
    return {"ready": True}
