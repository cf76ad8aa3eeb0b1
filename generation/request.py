"""A generation request, validated once (issue 13): `GenerationRequest.build` checks a request's parameters
against the model and the user and returns a frozen dataclass; the draft track stores it (`as_params`) and the
job reads it back (`from_params`), so the composer reads typed attributes instead of re-casting a dict.

The API serializer and the page's form only parse their wire format; `generation_start` builds the request
after the creator check, so an uploaded prompt is stored only for a creator of the model's organisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError
from django.http import Http404

from ledgerline.accounts.models import Role
from ledgerline.accounts.permissions import has_role
from ledgerline.catalogue.models import CorpusItem, Track, TrackSource
from ledgerline.music.audio import CorruptFile
from ledgerline.music.detect import UnsupportedFormat, detect_format
from ledgerline.music.events import NOTE_DTYPE, Score
from ledgerline.music.parse import parse_symbolic
from ledgerline.storage import read_blob, store_bytes

from .engine import tokens as tok
from .engine.arrange import ARRANGEMENTS, CorpusStyle, corpus_style, default_arrangement
from .engine.limits import MAX_BARS, MAX_TEMPO, MIN_TEMPO
from .engine.markov import key_shift, parse_key, score_key
from .models import ModelStatus, TrainedModel

MAX_SEED = 2**32 - 1
MAX_TITLE = 200
# Every number a generation request carries, with its type and inclusive limits. They are checked before the
# draft track is written: a value the engine refuses (a negative seed for numpy, a temperature so small the
# logits overflow to inf) would otherwise fail the job and leave the draft behind.
PARAMETER_LIMITS: dict[str, tuple[type, float, float]] = {
    "bars": (int, 1, MAX_BARS),
    "tempo": (float, MIN_TEMPO, MAX_TEMPO),
    "seed": (int, 0, MAX_SEED),
    "temperature": (float, 0.01, 100.0),
    "top_k": (int, 0, tok.VOCAB.size),
    "top_p": (float, 0.01, 1.0),
}
PARAMETER_DEFAULTS = {"bars": 16, "tempo": 100.0, "seed": 0, "temperature": 1.0, "top_k": 0, "top_p": 0.95}
PROGRAM_LIMITS = (int, 0, 127)
#: Who writes the harmony under the melody: the Markov chord chain (seed §4.3) or the frame model (issue 16 §3).
HARMONIES = ("markov", "frames")


def _parameter(name: str, value, limits: tuple[type, float, float]) -> int | float:
    """`value` as its type within `limits`; ValueError saying what is allowed (NaN and infinities never are)."""
    kind, low, high = limits
    noun = "an integer" if kind is int else "a number"
    try:
        if isinstance(value, bool) or (kind is int and isinstance(value, float) and not value.is_integer()):
            raise ValueError
        number = kind(value)
    except (TypeError, ValueError, OverflowError):
        number = None
    if number is None or not low <= number <= high:
        shown = "d" if kind is int else "g"
        raise ValueError(f"{name} must be {noun} in {low:{shown}}..{high:{shown}}, got {value!r}")
    return number


@dataclass(frozen=True)
class GenerationRequest:
    """A validated generation request. Defaults are those of a request that gives nothing (and of requests
    stored before a field existed); the optional fields are set only by the requests that use them."""

    bars: int = 16
    tempo: float = 100.0
    key: str = "C"
    seed: int = 0
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 0.95
    programs: dict[str, int] = field(default_factory=dict)
    anti_copy: bool = True
    title: str = ""
    time_signature: tuple[int, int] = (4, 4)
    arrangement: str = "band"
    drums: bool = True
    harmony: str = "markov"
    #: The prompt to continue, as stored: {track, sha256} or {upload, sha256, name, format}, with transpose, bars.
    prompt: dict[str, Any] | None = None
    #: A regenerated track's id and the first bar written anew (counted from 1).
    from_track: int | None = None
    from_bar: int | None = None
    # A VAE model's request (generation/latent.py): its mode, the sources of its latent vector (for the
    # provenance), t or strength and style, and the latent vector the job decodes.
    mode: str | None = None
    sources: list[dict[str, Any]] | None = None
    t: float | None = None
    strength: float | None = None
    style: dict[str, Any] | None = None
    latent: tuple[float, ...] | None = None

    @classmethod
    def build(cls, *, model: TrainedModel, params: dict, user=None, latent: bool = True) -> GenerationRequest:
        """Validate a request's `params` (a serializer's or form's cleaned data, or the CLI's) for `model` and
        `user`: a ValidationError naming each field that is out of range (several at once), Http404 for a track,
        piece or dataset `user` may not see. The caller checks that `user` may generate with `model` first: a
        prompt file is stored here.

        A VAE model's request fixes its latent vector here (`latent_request_validate`); `latent=False` leaves it
        out, for callers that vary the seed of one request (`model_melody_summary` draws each seed's prior).
        """
        clean = _validated(model=model, params=params, user=user)
        if latent:
            if model.arch == "vae":
                # latent imports services, which imports this module, and torch: imported for a VAE's request.
                from .latent import latent_request_validate

                if "prompt" in clean or "from_track" in clean:
                    raise ValidationError(
                        {
                            "prompt_track": "a VAE model decodes whole windows: it does not continue a prompt or "
                            "regenerate from a bar"
                        }
                    )
                clean |= latent_request_validate(user=user, model=model, params=params)
            elif given := latent_fields_given(params):
                raise ValidationError(
                    {given[0]: f"interpolation and style mixing need a VAE model; {model.name!r} is {model.arch}"}
                )
        return cls.from_params(clean)

    @classmethod
    def from_params(cls, params: dict) -> GenerationRequest:
        """The request a track stored (`Track.generation_params`); keys it lacks take the defaults."""
        values: dict[str, Any] = {}
        for name, kind in _CASTS.items():
            if params.get(name) is not None:
                values[name] = kind(params[name])
        if params.get("programs"):
            values["programs"] = {str(part): int(program) for part, program in params["programs"].items()}
        if params.get("time_signature"):
            numerator, denominator = params["time_signature"]
            values["time_signature"] = (int(numerator), int(denominator))
        for name in ("prompt", "style"):
            if params.get(name) is not None:
                values[name] = dict(params[name])
        if params.get("sources") is not None:
            values["sources"] = [dict(source) for source in params["sources"]]
        if params.get("latent") is not None:
            values["latent"] = tuple(float(v) for v in params["latent"])
        return cls(**values)

    def as_params(self) -> dict:
        """The JSON stored as `Track.generation_params` (and in the provenance's `request`); the optional fields
        only when set."""
        params: dict[str, Any] = {
            "harmony": self.harmony,
            "key": self.key,
            "anti_copy": self.anti_copy,
            "title": self.title,
            "programs": dict(self.programs),
            "time_signature": list(self.time_signature),
            "bars": self.bars,
            "tempo": self.tempo,
            "seed": self.seed,
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
            "arrangement": self.arrangement,
            "drums": self.drums,
        }
        if self.prompt is not None:
            params["prompt"] = dict(self.prompt)
        if self.from_track is not None:
            params["from_track"], params["from_bar"] = self.from_track, self.from_bar
        if self.mode is not None:
            params["mode"] = self.mode
        for name in ("sources", "t", "strength", "style"):
            if getattr(self, name) is not None:
                params[name] = getattr(self, name)
        if self.latent is not None:
            params["latent"] = list(self.latent)
        return params


_CASTS: dict[str, Any] = {
    "bars": int,
    "tempo": float,
    "key": str,
    "seed": int,
    "temperature": float,
    "top_k": int,
    "top_p": float,
    "anti_copy": bool,
    "title": str,
    "arrangement": str,
    "drums": bool,
    "harmony": str,
    "from_track": int,
    "from_bar": int,
    "mode": str,
    "t": float,
    "strength": float,
}


def latent_fields_given(params: dict) -> list[str]:
    """The latent-request fields a request sets (refused for a model that is not a VAE)."""
    fields = ("source_a", "source_b", "t", "style_toward", "style_away", "strength", "latent")
    given = [f for f in fields if params.get(f) not in (None, "")]
    if (params.get("mode") or "sample") != "sample":
        given.insert(0, "mode")
    return given


def _validated(*, model: TrainedModel, params: dict, user) -> dict:
    """`GenerationRequest.build`'s checks, before the latent part: the request normalised as it is stored.

    Besides the numbers: `arrangement` ("satb" or "band"; default from the training data, `model_corpus_style`),
    `drums` (band only; default: whether the corpus has a drum track), a prompt to continue (`prompt_track`,
    one of `user`'s tracks, or `prompt_file`, an uploaded MIDI/MusicXML file) or a track of `user`'s to
    regenerate from bar `from_bar` (counted from 1; the bars before it are kept, and the key, tempo,
    instruments and arrangement are the track's). A track `user` may not see is an Http404.
    """
    if model.status != ModelStatus.READY:
        raise ValidationError(
            {"model": f"model {model.name!r} is not trained yet ({model.get_status_display().lower()})"}
        )
    errors: dict[str, str] = {}
    regenerated = _regenerated_track(user, params, errors)
    source = regenerated[0] if regenerated else None
    if source is not None:
        # Regenerating keeps what the kept bars were made with; the request chooses only the new bars' sampling.
        inherited = source.generation_params
        params = {
            **params,
            **{
                k: inherited[k]
                for k in ("key", "tempo", "programs", "arrangement", "drums", "harmony")
                if k in inherited
            },
            "bars": params.get("bars") or inherited.get("bars"),
            "seed": params.get("seed") if params.get("seed") is not None else (inherited.get("seed", 0) + 1) % MAX_SEED,
        }
    clean: dict = {
        "harmony": str(params.get("harmony") or "markov"),
        "key": str(params.get("key") or ""),
        "anti_copy": bool(params.get("anti_copy", True)),
        "title": str(params.get("title") or ""),
        "programs": {},
        "time_signature": [4, 4],
    }
    for name, limits in PARAMETER_LIMITS.items():
        value = params.get(name)
        try:
            clean[name] = _parameter(name, PARAMETER_DEFAULTS[name] if value is None else value, limits)
        except ValueError as exc:
            errors[name] = str(exc)
    style = model_corpus_style(model)
    # The frame model writes chords for four voices: it harmonises the satb arrangement, the default with it.
    frames = clean["harmony"] == "frames"
    arrangement = params.get("arrangement") or ("satb" if frames else default_arrangement(style))
    if arrangement not in ARRANGEMENTS:
        errors["arrangement"] = f"unknown arrangement {arrangement!r}; choose one of {', '.join(ARRANGEMENTS)}"
    if clean["harmony"] not in HARMONIES:
        errors["harmony"] = f"harmony must be one of {', '.join(HARMONIES)}, got {clean['harmony']!r}"
    elif frames and not model.frames_path:
        errors["harmony"] = (
            f"model {model.name!r} has no frame harmony model: train it with frames enabled, or use markov"
        )
    elif frames and arrangement != "satb":
        errors["harmony"] = f"the frame harmony writes four voices: use arrangement satb, not {arrangement!r}"
    clean["arrangement"] = arrangement
    drums = params.get("drums")
    clean["drums"] = arrangement == "band" and (style.has_drums if drums is None else bool(drums))
    prompt = _request_prompt(user, params, errors)
    if prompt is not None:
        clean["prompt"], prompt_score = prompt
        clean["time_signature"] = list(prompt_score.time_signature)
        if not clean["key"]:
            clean["key"] = score_key(prompt_score).name
    if source is not None:
        clean["from_track"], clean["from_bar"] = source.pk, regenerated[1]
        clean["time_signature"] = list(track_score(source).time_signature)
    try:
        key = parse_key(clean["key"] or "C")
        clean["key"] = clean["key"] or "C"
    except ValueError as exc:
        errors["key"] = str(exc)
    else:
        if prompt is not None:
            melody = prompt_melody(prompt[1])
            clean["prompt"]["transpose"] = key_shift(melody, key) if params.get("key") else 0
            clean["prompt"]["bars"] = _bars_filled(melody, prompt[1].bar_beats)
            if isinstance(clean.get("bars"), int) and clean["prompt"]["bars"] >= clean["bars"]:
                errors["bars"] = (
                    f"the prompt fills {clean['prompt']['bars']} bar(s): bars must be more than that, "
                    f"got {clean['bars']}"
                )
    if source is not None and isinstance(clean.get("bars"), int) and clean["bars"] < clean["from_bar"]:
        errors["bars"] = f"bars must be at least from_bar ({clean['from_bar']}) to have a bar to write"
    if len(clean["title"]) > MAX_TITLE:
        errors["title"] = f"title must be at most {MAX_TITLE} characters, got {len(clean['title'])}"
    programs = params.get("programs") or {}
    unknown = set(programs) - set(tok.ROLE_NAMES)
    try:
        if unknown:
            raise ValueError(f"unknown part(s) {sorted(unknown)}; parts are {', '.join(tok.ROLE_NAMES)}")
        clean["programs"] = {
            part: _parameter(f"program for {part}", program, PROGRAM_LIMITS) for part, program in programs.items()
        }
    except ValueError as exc:
        errors["programs"] = str(exc)
    if errors:
        raise ValidationError(errors)
    for dataset in model.datasets.all():
        if not dataset.generation_allowed:
            raise ValidationError({"model": f"the licence of {dataset.name!r} does not allow generation"})
    return clean


PROMPT_MAX_BYTES = 2 * 1024 * 1024


def training_scores(model: TrainedModel) -> list[tuple[CorpusItem, Score]]:
    """`model`'s training items with their scores, in content-hash order (`train_handler` trains on them)."""
    items = CorpusItem.objects.filter(dataset__in=model.datasets.all()).exclude(events_path="").order_by("sha256")
    return [(item, Score.from_npz_bytes(read_blob(item.events_path))) for item in items]


def model_corpus_style(model: TrainedModel) -> CorpusStyle:
    """Whether `model`'s training pieces are chorale-like and have drums: stored at training, else (older models)
    read from its datasets now and stored."""
    stored = (model.provenance or {}).get("corpus_style")
    if stored is None:
        stored = corpus_style([s for _, s in training_scores(model)]).to_dict()
        model.provenance = {**(model.provenance or {}), "corpus_style": stored}
        TrainedModel.objects.filter(pk=model.pk).update(provenance=model.provenance)
    return CorpusStyle.from_dict(stored)


def own_track(user, track_id) -> Track:
    """A track of an organisation where `user` is a creator (any track for staff); Http404 otherwise, so that
    another organisation's track ids cannot be probed."""
    try:
        track = Track.objects.select_related("organisation").get(pk=int(track_id))
    except (Track.DoesNotExist, TypeError, ValueError):
        raise Http404(f"no track {track_id!r} among yours") from None
    if user is None or not has_role(user, track.organisation, Role.CREATOR):
        raise Http404(f"no track {track_id!r} among yours")
    return track


def prompt_melody(score: Score) -> np.ndarray:
    """The melody of a prompt: the top voice (`tokens.skyline`) of its melody-role track, NOTE_DTYPE."""
    roles = tok.assign_roles(score)
    melody_tracks = [index for index, role in roles.items() if role == 0]
    if not melody_tracks:
        return np.zeros(0, dtype=NOTE_DTYPE)
    notes = score.notes[(score.notes["track"] == melody_tracks[0]) & ~score.notes["is_drum"]]
    return tok.skyline(notes)


def _bars_filled(melody: np.ndarray, bar_beats: float) -> int:
    if len(melody) == 0:
        return 0
    return max(int(np.ceil(float((melody["start"] + melody["duration"]).max()) / bar_beats - 1e-9)), 1)


def track_score(track: Track) -> Score:
    return Score.from_npz_bytes(read_blob(track.events_path))


def _request_prompt(user, params: dict, errors: dict[str, str]) -> tuple[dict, Score] | None:
    """(the prompt as stored in the request, its Score) from `prompt_track` or `prompt_file`, or None."""
    track_id, upload = params.get("prompt_track"), params.get("prompt_file")
    if track_id is not None and upload is not None:
        errors["prompt_file"] = "give either prompt_track or prompt_file, not both"
        return None
    if track_id is not None:
        if params.get("from_track") is not None:
            errors["prompt_track"] = "a regenerated track is its own prompt: leave prompt_track out"
            return None
        track = own_track(user, track_id)
        if not track.events_path:
            errors["prompt_track"] = f"track {track.pk} has no notes yet"
            return None
        score = track_score(track)
        if len(prompt_melody(score)) == 0:
            errors["prompt_track"] = f"track {track.pk} has no melody to continue"
            return None
        return {"track": track.pk, "sha256": track.content_sha256}, score
    if upload is None:
        return None
    name = getattr(upload, "name", "") or "prompt"
    data = upload.read() if hasattr(upload, "read") else bytes(upload)
    if len(data) > PROMPT_MAX_BYTES:
        errors["prompt_file"] = f"the prompt file is {len(data)} bytes; at most {PROMPT_MAX_BYTES} are accepted"
        return None
    try:
        fmt = detect_format(data)
        score = parse_symbolic(data, fmt, name=name)
    except (UnsupportedFormat, CorruptFile) as exc:
        errors["prompt_file"] = f"the prompt must be a MIDI or MusicXML file: {exc}"
        return None
    if len(prompt_melody(score)) == 0:
        errors["prompt_file"] = "the prompt file has no melody to continue"
        return None
    blob = store_bytes(data, suffix=f".{fmt.value}")
    return {"upload": blob.relpath, "sha256": blob.sha256, "name": str(name)[:200], "format": fmt.value}, score


def _regenerated_track(user, params: dict, errors: dict[str, str]) -> tuple[Track, int] | None:
    """(the track of `user`'s that `from_track` names, `from_bar`) when that bar is inside the track; None
    without `from_track` or with an error (recorded in `errors`)."""
    track_id, from_bar = params.get("from_track"), params.get("from_bar")
    if track_id is None:
        if from_bar is not None:
            errors["from_bar"] = "from_bar needs from_track, the track to regenerate"
        return None
    track = own_track(user, track_id)
    if track.source != TrackSource.GENERATED or not track.events_path or not track.bars:
        errors["from_track"] = f"track {track.pk} is not a finished generated track"
        return None
    try:
        bar = int(_parameter("from_bar", from_bar if from_bar is not None else 1, (int, 1, track.bars)))
    except ValueError:
        errors["from_bar"] = (
            f"from_bar must be a bar of the track: an integer in 1..{track.bars} (bars count from 1), got {from_bar!r}"
        )
        return None
    return track, bar
