"""Training and generation for the platform, wrapped around `generation.engine`."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from ledgerline.accounts.models import Role
from ledgerline.accounts.permissions import has_role, require_role
from ledgerline.catalogue.models import CorpusItem, Dataset, Track, TrackSource
from ledgerline.catalogue.selectors import datasets_visible_to
from ledgerline.catalogue.signals import track_rendered
from ledgerline.jobs.models import Job, JobKind, JobSubject
from ledgerline.jobs.services import JobError, job_create, job_enqueue
from ledgerline.ledger.services import ledger_append
from ledgerline.music.audio import CorruptFile
from ledgerline.music.detect import Format, UnsupportedFormat, detect_format
from ledgerline.music.events import NOTE_DTYPE, Score
from ledgerline.music.parse import parse_symbolic
from ledgerline.rendering import render_track_score
from ledgerline.storage import blob_path, read_blob, store_bytes, store_file

from .engine import frames as fr
from .engine import tokens as tok
from .engine.anticopy import NgramGuard
from .engine.arrange import ARRANGEMENTS, CorpusStyle, corpus_style, default_arrangement
from .engine.baseline import markov_baseline_nll, readiness_metrics
from .engine.markov import MarkovHarmony, extract_chords, parse_key, score_key
from .engine.models import get_model, legacy_config
from .engine.sample import MAX_BARS, MAX_TEMPO, MIN_TEMPO, generate_piece, key_shift, transpose_notes
from .engine.stats import compare, corpus_melody_stats, corpus_reference, melody_stats, summarise
from .engine.train import RECIPES, EarlyStopping, evaluate_nll, train
from .models import ARCHS, ModelStatus, TrainedModel

HELD_OUT_EVERY = 10  # every 10th item (by content hash order) is held out for the NLL


def _set_threads() -> None:
    if settings.LEDGERLINE_TORCH_THREADS:
        torch.set_num_threads(settings.LEDGERLINE_TORCH_THREADS)


def device() -> str:
    """The torch device of every training and generation path (`LEDGERLINE_DEVICE`)."""
    _set_threads()
    return settings.LEDGERLINE_DEVICE


def code_version() -> str:
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                cwd=settings.BASE_DIR,
            ).stdout.strip()
            or "unknown"
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# --- training -----------------------------------------------------------------------------------------
def _require_creator(user, organisation) -> None:
    require_role(user, organisation, Role.CREATOR, message="Only creators of this organisation may train and generate.")


@transaction.atomic
def model_train_start(
    *, user, organisation, name: str, arch: str, dataset_ids: list[int], epochs: int = 2, config: dict | None = None
) -> TrainedModel:
    """Create the model row and start its training job (gpu queue). Refuses datasets whose terms forbid it."""
    _require_creator(user, organisation)
    if arch not in ARCHS:
        raise ValidationError({"arch": f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}"})
    if not 1 <= epochs <= 1000:
        raise ValidationError({"epochs": "must be between 1 and 1000"})
    if TrainedModel.objects.filter(name=name).exists():
        raise ValidationError({"name": f"a model named {name!r} exists already"})
    visible = datasets_visible_to(user).filter(pk__in=dataset_ids).values("pk")
    # Locked, so a label's change of terms lands wholly before this snapshot or wholly after it.
    datasets = list(
        Dataset.objects.select_for_update().filter(pk__in=visible).select_related("organisation").order_by("pk")
    )
    missing = set(dataset_ids) - {d.pk for d in datasets}
    if not dataset_ids or missing:
        raise ValidationError({"datasets": f"unknown or inaccessible dataset(s): {sorted(missing) or 'none given'}"})
    for dataset in datasets:
        if dataset.withdrawn_at is not None:
            raise ValidationError(
                {
                    "datasets": f"{dataset.name!r} was withdrawn from training by its label on "
                    f"{dataset.withdrawn_at:%Y-%m-%d}"
                }
            )
        if not dataset.training_allowed:
            raise ValidationError(
                {
                    "datasets": f"the licence of {dataset.name!r} "
                    f"({dataset.licence_name or 'its terms'}) does not allow training"
                }
            )
        if not dataset.licence_is_current():
            raise ValidationError({"datasets": f"the licence of {dataset.name!r} has expired"})
        if not dataset.items.exists():
            raise ValidationError({"datasets": f"{dataset.name!r} has no ingested items yet"})
    model = TrainedModel.objects.create(
        name=name,
        arch=arch,
        organisation=organisation,
        created_by=user,
        config={"epochs": epochs, **(config or {})},
        status=ModelStatus.TRAINING,
    )
    model.datasets.set(datasets)
    model_terms_snapshot(model=model, datasets=datasets)
    model.job = job_create(
        kind=JobKind.TRAIN,
        organisation=organisation,
        user=user,
        params={"model": model.pk},
        subject_type=JobSubject.MODEL,
        subject_id=model.pk,
    )
    model.save(update_fields=["job"])
    job_enqueue(job=model.job)
    return model


def training_config(size: str, *, frames: bool = False) -> dict | None:
    """The `config` of `model_train_start` for a size ("debug" or "default") and the frame-model option."""
    config = {"size": "debug"} if size == "debug" else {}
    if frames:
        config["frames"] = True
    return config or None


def model_terms_snapshot(*, model: TrainedModel, datasets: list[Dataset]) -> dict:
    """Fix the licence terms (share, licence, attribution, ...) `model` is trained under, in its provenance and
    in the ledger. Sales of its tracks are split by these; a later change of a dataset's terms applies only to
    models trained after it."""
    snapshot = {
        "taken_at": timezone.now().isoformat(),
        "datasets": [
            {"id": d.pk, "name": d.name, "organisation": d.organisation.slug, "terms": d.terms()}
            for d in sorted(datasets, key=lambda d: d.pk)
        ],
    }
    entry = ledger_append(
        event="model.terms_snapshot",
        subject_type="model",
        subject_id=model.pk,
        payload={"model": model.name, **snapshot},
        organisation=model.organisation,
        private=True,
    )
    model.provenance = {**model.provenance, "licence_terms": {**snapshot, "ledger_index": entry.index}}
    model.save(update_fields=["provenance"])
    return model.provenance["licence_terms"]


def _training_scores(model: TrainedModel) -> list[tuple[CorpusItem, Score]]:
    items = CorpusItem.objects.filter(dataset__in=model.datasets.all()).exclude(events_path="").order_by("sha256")
    return [(item, Score.from_npz_bytes(read_blob(item.events_path))) for item in items]


def train_handler(job: Job) -> dict:
    """1. load the scores  2. fit the Markov harmony and the anti-copy guard  3. train the network with
    checkpoints (a redelivered job resumes)  4. held-out NLL  5. store the checkpoint by its SHA-256."""
    try:
        model = TrainedModel.objects.get(pk=job.params["model"])
    except TrainedModel.DoesNotExist:
        raise JobError("the model was deleted before training") from None
    pairs = _training_scores(model)
    if not pairs:
        raise JobError("the datasets hold no symbolic items to train on")
    held_out, training = _held_out_split([s for _, s in pairs])
    job.set_progress(0.05, f"fitting the Markov harmony on {len(training)} pieces")
    markov = MarkovHarmony().fit(training)
    guard = NgramGuard.from_melodies(tok.melody_pitches(tok.encode_melody(s)) for _, s in pairs)
    metrics: dict = {
        "train_pieces": len(training),
        "held_out_pieces": len(held_out),
        "device": device(),
        "guard_ngrams": len(guard),
    }
    reference = corpus_reference([corpus_melody_stats(s) for s in held_out])
    held = [(s, chords) for s in held_out if (chords := _safe_chords(s))]
    if held:
        held_chords = [chords for _, chords in held]
        total = sum(markov.log_prob(chords, key=score_key(s)) for s, chords in held)
        metrics["markov_nll_per_chord"] = round(-total / max(sum(len(c) for c in held_chords), 1), 4)
    checkpoint = None
    if model.arch == "vae":
        from .latent import vae_train

        checkpoint = vae_train(
            model=model, job=job, training=training, held_out=held_out, markov=markov, guard=guard, metrics=metrics
        )
    elif model.arch != "markov":
        net = get_model(model.arch, {k: v for k, v in model.config.items() if k not in TRAINING_KEYS}, tok.VOCAB.size)
        sequences = [tok.encode_melody(s) for s in training]
        work = Path(settings.LEDGERLINE_DATA_DIR) / "checkpoints" / f"model-{model.pk}.pt"
        early = _early_stopping(model.config, held_out)
        started = time.monotonic()

        def on_step(step: int, total: int, loss: float) -> None:
            if step % 5 == 0 or step == total:
                done = step / max(total, 1)
                if early is not None and early.budget_s:  # ends by its budget at the latest
                    done = max(done, min((time.monotonic() - started) / early.budget_s, 1.0))
                job.set_progress(0.1 + 0.8 * done, f"step {step}/{total}, loss {loss:.3f}")

        result = train(
            net,
            sequences,
            epochs=int(model.config.get("epochs", 2)),
            batch_size=16,
            **RECIPES.get(model.arch, RECIPES["lstm"]).kwargs(),
            seq_len=min(256, net.config.max_len if hasattr(net, "config") else 256),
            device=device(),
            seed=0,
            on_step=on_step,
            checkpoint_path=work,
            checkpoint_every=20,
            early_stopping=early,
        )
        metrics.update(
            steps=result.steps,
            final_loss=round(result.losses[-1], 4) if result.losses else None,
            tokens_per_s=round(result.tokens_per_s, 1),
            resumed_from=result.resumed_from,
        )
        if early is not None:
            metrics.update(stopped=result.stopped or "epochs", evaluations=len(result.held_out_nll))
        baseline = None
        if held_out:
            held_tokens = [tok.encode_melody(s) for s in held_out]
            metrics["held_out_nll_per_token"] = round(evaluate_nll(net, held_tokens, device=device()), 4)
            try:
                baseline = round(markov_baseline_nll(sequences, held_tokens, tok.VOCAB.size), 4)
            except ValueError:  # held-out melodies too short to score
                baseline = None
            metrics["baseline_nll_per_token"] = baseline
        metrics.update(readiness_metrics(metrics.get("held_out_nll_per_token"), baseline))
        final = work.with_suffix(".final.pt")
        torch.save({"arch": model.arch, "config": _config_of(net), "state_dict": net.cpu().state_dict()}, final)
        checkpoint = store_file(final, suffix=".pt")
        final.unlink(missing_ok=True)
        work.unlink(missing_ok=True)
    frames_blob = None
    if model.config.get("frames"):
        frames_blob, frame_metrics = _train_frame_model(model, training, held_out, job)
        metrics.update(frame_metrics)
    job.set_progress(0.95, "storing the model")
    with transaction.atomic():
        model.markov_path = store_bytes(markov.to_json().encode(), suffix=".json").relpath
        if frames_blob is not None:
            model.frames_path = frames_blob.relpath
        model.guard_path = store_bytes(guard.to_bytes(), suffix=".bin").relpath
        if checkpoint is not None:
            model.checkpoint_path, model.checkpoint_sha256 = checkpoint.relpath, checkpoint.sha256
        model.training_items = [{"corpus_item": i.pk, "dataset": i.dataset_id, "sha256": i.sha256} for i, _ in pairs]
        model.metrics = metrics
        model.provenance = {
            **model.provenance,
            "corpus_reference": reference,
            "corpus_style": corpus_style([s for _, s in pairs]).to_dict(),
        }
        model.status = ModelStatus.READY
        model.trained_at = timezone.now()
        model.save()
        ledger_append(
            event="model.trained",
            subject_type="model",
            subject_id=model.pk,
            payload={
                "name": model.name,
                "arch": model.arch,
                "checkpoint_sha256": model.checkpoint_sha256,
                "datasets": sorted(model.datasets.values_list("pk", flat=True)),
                "items_sha256": hashlib.sha256("".join(sorted(i.sha256 for i, _ in pairs)).encode()).hexdigest(),
                "metrics": metrics,
            },
            organisation=model.organisation,
            private=True,
        )
    return {"model": model.pk, **metrics}


def _train_frame_model(model: TrainedModel, training: list[Score], held_out: list[Score], job: Job):
    """The frame model (four-part harmony, issue 16 §3) on the training pieces' quarter-note rolls, early-stopped
    on the held-out ones; its size follows the model's (`size: debug` or the default). Returns (blob, metrics)."""
    size = "debug" if model.config.get("size") == "debug" else "default"
    config = fr.FRAME_CONFIGS[size]
    rolls = [roll for roll in (fr.frames_from_score(s) for s in training) if len(roll)]
    valid = [roll for roll in (fr.frames_from_score(s) for s in held_out) if len(roll)] or None
    if not rolls:
        raise JobError("the datasets hold no pitched notes for the frame model")
    job.set_progress(0.9, f"training the frame harmony on {len(rolls)} pieces")
    torch.manual_seed(0)
    net = fr.FrameLSTM(config)
    result = fr.train_frames(net, rolls, valid=valid, seed=0, device=device(), **fr.FRAME_TRAINING[size])  # type: ignore[arg-type]
    metrics = {"frame_train_seconds": round(result.seconds, 1), "frame_best_epoch": result.best_epoch}
    if valid:
        metrics["frame_nll_per_frame"] = round(fr.frame_nll(net, valid, device=device()), 4)
    buffer = io.BytesIO()
    torch.save({"config": asdict(config), "state_dict": net.cpu().state_dict()}, buffer)
    return store_bytes(buffer.getvalue(), suffix=".pt"), metrics


@functools.lru_cache(maxsize=8)
def _load_frame_model(frames_path: str) -> fr.FrameLSTM:
    state = torch.load(blob_path(frames_path), map_location="cpu", weights_only=False)
    net = fr.FrameLSTM(fr.FrameConfig(**state["config"]))
    net.load_state_dict(state["state_dict"])
    return net.eval()


def _held_out_split(scores: list[Score]) -> tuple[list[Score], list[Score]]:
    """(held out, training): every HELD_OUT_EVERY-th score in content-hash order; a small corpus keeps one."""
    held_idx = {i for i in range(len(scores)) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1}
    if not held_idx and len(scores) >= 2:
        held_idx = {len(scores) - 1}  # a small corpus still gets one held-out piece
    return ([s for i, s in enumerate(scores) if i in held_idx], [s for i, s in enumerate(scores) if i not in held_idx])


def model_corpus_reference(model: TrainedModel) -> dict:
    """The reference of `model`'s held-out pieces: stored at training, else (older models) measured now."""
    stored = (model.provenance or {}).get("corpus_reference")
    if stored is not None:
        return stored
    held_out, _ = _held_out_split([s for _, s in _training_scores(model)])
    return corpus_reference([corpus_melody_stats(s) for s in held_out])


def track_melody_stats(score: Score, key: str) -> dict:
    """The measures of a generated score's melody (track 0) in the requested key."""
    return melody_stats(score.notes[score.notes["track"] == 0], key=key, bar_beats=score.bar_beats)


def model_melody_summary(*, model: TrainedModel, samples: int, params: dict | None = None) -> dict:
    """Compose `samples` pieces (seeds 0..samples-1, nothing rendered or stored) with the request `params`
    (platform defaults otherwise) and summarise their melodies against the model's held-out reference."""
    clean = generation_validate(model=model, params=params or {})
    reference = model_corpus_reference(model)
    melodies = []
    for seed in range(samples):
        score, stats = compose(model, {**clean, "seed": seed})
        melodies.append(track_melody_stats(score, stats["key"]))
    return {
        "model": model.name,
        "arch": model.arch,
        "request": {k: v for k, v in clean.items() if k != "seed"},
        "reference": {k: reference.get(k) for k in ("pieces", "percentiles")},
        "summary": summarise(melodies, reference),
    }


#: Model config keys that steer training, not the network.
TRAINING_KEYS = {"epochs", "patience", "budget_s", "eval_every", "frames"}


def _early_stopping(config: dict, held_out: list[Score]) -> EarlyStopping | None:
    """With `patience` in the config, train until the held-out NLL stops improving (or `budget_s` passes)."""
    if not config.get("patience") or not held_out:
        return None
    return EarlyStopping(
        held_out=[tok.encode_melody(s) for s in held_out],
        every=int(config.get("eval_every", 20)),
        patience=int(config["patience"]),
        budget_s=config.get("budget_s"),
    )


def _safe_chords(score: Score):
    try:
        return extract_chords(score)
    except (ValueError, IndexError):
        return []


def _config_of(net) -> dict:
    config = getattr(net, "config", None)
    return config.to_dict() if config is not None else {}


def model_failed(job: Job) -> None:
    TrainedModel.objects.filter(pk=job.params.get("model"), status=ModelStatus.TRAINING).update(
        status=ModelStatus.FAILED
    )


@functools.lru_cache(maxsize=8)
def _load_network(checkpoint_path: str, sha256: str):
    state = torch.load(blob_path(checkpoint_path), map_location="cpu", weights_only=False)
    net = get_model(state["arch"], legacy_config(state["arch"], state["config"]), tok.VOCAB.size)
    net.load_state_dict(state["state_dict"])
    net.eval()
    return net


# --- generation ---------------------------------------------------------------------------------------
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


def generation_validate(*, model: TrainedModel, params: dict, user=None) -> dict:
    """Normalise a request; a ValidationError naming each field that is out of range (several at once).

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
        clean["time_signature"] = list(_track_score(source).time_signature)
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


def model_corpus_style(model: TrainedModel) -> CorpusStyle:
    """Whether `model`'s training pieces are chorale-like and have drums: stored at training, else (older models)
    read from its datasets now and stored."""
    stored = (model.provenance or {}).get("corpus_style")
    if stored is None:
        stored = corpus_style([s for _, s in _training_scores(model)]).to_dict()
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


def _track_score(track: Track) -> Score:
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
        score = _track_score(track)
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


@transaction.atomic
def generation_start(*, user, model: TrainedModel, params: dict) -> Track:
    """Validate, create a draft Track and a generation job (gpu queue)."""
    _require_creator(user, model.organisation)
    clean = generation_validate(model=model, params=params, user=user)
    from .latent import latent_fields_given, latent_request_validate

    if model.arch == "vae":
        if "prompt" in clean or "from_track" in clean:
            raise ValidationError(
                {
                    "prompt_track": "a VAE model decodes whole windows: it does not continue a prompt or regenerate from a bar"
                }
            )
        clean |= latent_request_validate(user=user, model=model, params=params)
    elif given := latent_fields_given(params):
        raise ValidationError(
            {given[0]: f"interpolation and style mixing need a VAE model; {model.name!r} is {model.arch}"}
        )
    track = Track.objects.create(
        organisation=model.organisation,
        created_by=user,
        source=TrackSource.GENERATED,
        model=model,
        title=clean["title"] or f"{model.name} #{clean['seed']}",
        generation_params=clean,
    )
    job = job_create(
        kind=JobKind.GENERATE,
        organisation=model.organisation,
        user=user,
        params={"track": track.pk},
        subject_type=JobSubject.TRACK,
        subject_id=track.pk,
    )
    track.provenance = {"job": str(job.pk)}
    track.save(update_fields=["provenance"])
    job_enqueue(job=job)
    return track


def compose(model: TrainedModel, params: dict) -> tuple[Score, dict]:
    """The pure part of generation: the same model and request give the same score."""
    _set_threads()
    if model.arch == "vae":
        from .latent import vae_compose

        return vae_compose(model, params)
    markov = MarkovHarmony.from_json(read_blob(model.markov_path).decode())
    guard = NgramGuard.from_bytes(read_blob(model.guard_path)) if params.get("anti_copy", True) else None
    net = _load_network(model.checkpoint_path, model.checkpoint_sha256) if model.checkpoint_path else None
    prompt, prompt_bars, keep = _prompt_of(params)
    harmony = params.get("harmony") or "markov"
    harmoniser = (
        fr.FrameHarmoniser(_load_frame_model(model.frames_path), device=device()) if harmony == "frames" else None
    )
    score, stats = generate_piece(
        net,
        tok.VOCAB,
        markov,
        bars=params["bars"],
        tempo=params["tempo"],
        key=params["key"],
        programs=params["programs"] or None,
        temperature=params["temperature"],
        top_k=params["top_k"],
        top_p=params["top_p"],
        seed=params["seed"],
        guard=guard,
        device=device(),
        title=params.get("title") or None,
        time_signature=tuple(params.get("time_signature", (4, 4))),
        arrangement=params.get("arrangement", "band"),
        drums=bool(params.get("drums", True)),
        prompt=prompt,
        prompt_bars=prompt_bars,
        keep=keep,
        harmoniser=harmoniser,
    )
    return score, {**stats, "harmony": harmony}


def _prompt_of(params: dict) -> tuple[np.ndarray | None, int | None, Score | None]:
    """(prompt melody, the bars it fills, the score to keep) of a validated request (permissions were checked
    then). A regenerated track gives its melody before `from_bar` and itself."""
    if params.get("from_track") is not None:
        keep = _track_score(Track.objects.get(pk=params["from_track"]))
        bars_kept = int(params["from_bar"]) - 1
        if bars_kept == 0:
            return None, None, None
        melody = keep.notes[keep.notes["track"] == 0]
        return melody[melody["start"] < bars_kept * keep.bar_beats - 1e-9], bars_kept, keep
    prompt = params.get("prompt")
    if not prompt:
        return None, None, None
    if "track" in prompt:
        score = _track_score(Track.objects.get(pk=prompt["track"]))
    else:
        score = parse_symbolic(read_blob(prompt["upload"]), Format(prompt["format"]), name=prompt.get("name", ""))
    melody = transpose_notes(prompt_melody(score), int(prompt.get("transpose", 0)))
    return melody, int(prompt["bars"]), None


def generate_handler(job: Job) -> dict:
    try:
        track = Track.objects.select_related("model").get(pk=job.params["track"])
    except Track.DoesNotExist:
        raise JobError("the track was deleted before generation") from None
    model = track.model
    job.set_progress(0.1, "composing")
    score, stats = compose(model, track.generation_params)
    job.set_progress(0.5, "rendering with FluidSynth")
    blobs = render_track_score(score)
    terms = model.licence_terms()  # as trained, not as the datasets' terms read today
    provenance = {
        "job": str(job.pk),
        "model": model.name,
        "arch": model.arch,
        "checkpoint_sha256": model.checkpoint_sha256,
        "datasets": [
            {
                "id": d.pk,
                "name": d.name,
                "licence": terms.get(d.pk, {}).get("licence_name", ""),
                "revenue_share_percent": terms.get(d.pk, {}).get("revenue_share_percent"),
            }
            for d in model.datasets.all()
        ],
        "request": track.generation_params,
        "seed": track.generation_params["seed"],
        "code_version": code_version(),
        "midi_sha256": blobs["midi"].sha256,
        "mix_sha256": blobs["mix"].sha256,
        "stats": _jsonable(stats),
    }
    if "sources" in stats:  # a VAE track: the pieces (or prior draws) its latent vector came from
        provenance["sources"] = stats["sources"]
    provenance["melody_stats"] = track_melody_stats(score, stats["key"])
    provenance["corpus_comparison"] = compare(provenance["melody_stats"], model_corpus_reference(model))
    with transaction.atomic():
        track.midi_path, track.events_path = blobs["midi"].relpath, blobs["events"].relpath
        track.audio_path, track.preview_path = blobs["mix"].relpath, blobs["preview"].relpath
        track.stems = blobs["stems"]
        track.tempo_bpm, track.key = float(track.generation_params["tempo"]), stats.get("key", "")
        track.time_signature = "/".join(str(n) for n in track.generation_params.get("time_signature", (4, 4)))
        track.bars = int(track.generation_params["bars"])
        track.duration_s = round(score.duration_s, 3)
        track.content_sha256 = blobs["midi"].sha256
        track.provenance = provenance
        track.save()
        ledger_append(
            event="track.generated",
            subject_type="track",
            subject_id=track.pk,
            payload={
                k: provenance[k]
                for k in ("model", "checkpoint_sha256", "seed", "midi_sha256", "mix_sha256", "code_version")
            }
            | {
                "datasets": [d["id"] for d in provenance["datasets"]],
                **({"sources": provenance["sources"]} if "sources" in provenance else {}),
                "corpus_inside": [provenance["corpus_comparison"][k] for k in ("inside", "total")],
            },
            organisation=track.organisation,
            private=True,
        )
    # Screening is the fingerprint app's: it answers the signal with the Screening row it started.
    screenings = [answer for _, answer in track_rendered.send(sender=Track, track=track, user=job.created_by, job=job)]
    screening = next((answer.pk for answer in screenings if answer is not None), None)
    return {"track": track.pk, "screening": screening, "interventions": stats.get("interventions", 0)}


def _jsonable(value):
    return json.loads(json.dumps(value, default=lambda o: o.item() if isinstance(o, np.generic) else str(o)))


def dataset_ids_parse(raw: str) -> list[int]:
    try:
        return [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise ValidationError({"datasets": f"dataset ids must be integers separated by commas, not {raw!r}"}) from None
