"""Training and generation for the platform, wrapped around `generation.engine`."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from ledgerline.accounts.models import Role
from ledgerline.accounts.permissions import require_role
from ledgerline.catalogue.models import CorpusItem, Dataset, Track, TrackSource
from ledgerline.catalogue.selectors import datasets_visible_to
from ledgerline.catalogue.signals import track_rendered
from ledgerline.contributions import contributes_to
from ledgerline.jobs.models import Job, JobKind, JobStatus, JobSubject
from ledgerline.jobs.selectors import jobs_about
from ledgerline.jobs.services import JobError, job_create, job_enqueue, job_start
from ledgerline.ledger.services import ledger_append
from ledgerline.music.detect import Format
from ledgerline.music.events import Score
from ledgerline.music.parse import parse_symbolic
from ledgerline.rendering import render_track_score
from ledgerline.storage import blob_path, read_blob, store_bytes, store_file

from .engine import tokens as tok
from .engine.anticopy import NgramGuard
from .engine.arrange import corpus_style
from .engine.baseline import markov_baseline_nll, readiness, readiness_metrics
from .engine.markov import MarkovHarmony, extract_chords, score_key
from .engine.stats import compare, corpus_melody_stats, corpus_reference, melody_stats, summarise
from .memorisation import memorisation_check, memorisation_readiness, memorisation_samples
from .models import ARCHS, ModelStatus, TrainedModel
from .request import GenerationRequest, prompt_melody, track_score, training_scores

# torch and the engine modules built on it (models, train, sample, frames, vae; `latent`) are imported by the
# functions that train, load or sample a network, so that Django's start, pages and commands that do not generate
# never import them (tests/test_startup.py).
if TYPE_CHECKING:
    from .engine.frames import FrameLSTM
    from .engine.train import EarlyStopping

HELD_OUT_EVERY = 10  # every 10th item (by content hash order) is held out for the NLL
_T = TypeVar("_T")


def _set_threads() -> None:
    import torch

    if settings.LEDGERLINE_TORCH_THREADS:
        torch.set_num_threads(settings.LEDGERLINE_TORCH_THREADS)


@functools.cache
def _device_of(configured: str) -> str:
    """`LEDGERLINE_DEVICE` as torch sees this machine: unset ("") is "cuda" when torch sees a GPU, else "cpu".
    ImproperlyConfigured for a CUDA device torch does not see. Settings check only the spelling (they never
    import torch), so this is where a missing GPU is refused, before any work starts on it."""
    if configured == "cpu":
        return configured
    import torch

    available = torch.cuda.is_available()
    if not configured:
        return "cuda" if available else "cpu"
    if not available:
        raise ImproperlyConfigured(f"LEDGERLINE_DEVICE={configured!r} but torch sees no CUDA device on this machine")
    index = int(configured.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise ImproperlyConfigured(
            f"LEDGERLINE_DEVICE={configured!r} but torch sees {torch.cuda.device_count()} CUDA device(s)"
        )
    return configured


def device() -> str:
    """The torch device of every training and generation path (`LEDGERLINE_DEVICE`, resolved at first use)."""
    _set_threads()
    return _device_of(settings.LEDGERLINE_DEVICE)


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


def train_handler(job: Job) -> dict:
    """1. load the scores  2. fit the Markov harmony and the anti-copy guard  3. train the network with
    checkpoints (a redelivered job resumes)  4. held-out NLL  5. store the checkpoint by its SHA-256."""
    try:
        model = TrainedModel.objects.get(pk=job.params["model"])
    except TrainedModel.DoesNotExist:
        raise JobError("the model was deleted before training") from None
    pairs = training_scores(model)
    if not pairs:
        raise JobError("the datasets hold no symbolic items to train on")
    held_out, training = _held_out_split([s for _, s in pairs])
    job.set_progress(0.05, f"fitting the Markov harmony on {len(training)} pieces")
    markov = MarkovHarmony().fit(training)
    guard = NgramGuard.from_scores(s for _, s in pairs)
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
        import torch

        from .engine.models import get_model
        from .engine.train import RECIPES, evaluate_nll, train

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
        samples = memorisation_samples(model, default=0 if model.config.get("size") == "debug" else None)
        if metrics["ready"] and samples:
            metrics.update(_token_memorisation(net.eval(), model=model, markov=markov, guard=guard, job=job))
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


def _token_memorisation(net, *, model: TrainedModel, markov: MarkovHarmony, guard: NgramGuard, job: Job) -> dict:
    """The memorisation check of a token model (LSTM, Transformer): pieces from the platform's default request
    (16 bars, temperature 1, top-p 0.95), with and without the anti-copy guard; sets readiness."""
    job.set_progress(0.9, "memorisation check: screening samples against the training corpus")

    def sample(seed: int, key: str, guarded: bool) -> tuple[Score, int]:
        score, stats = _generate(net, markov, guard if guarded else None, GenerationRequest(seed=seed, key=key))
        return score, int(stats["interventions"])

    check = memorisation_check(sample, model=model, samples=memorisation_samples(model), job=job, progress=(0.9, 0.95))
    return {"memorisation": check, **memorisation_readiness(check)}


def _train_frame_model(model: TrainedModel, training: list[Score], held_out: list[Score], job: Job):
    """The frame model (four-part harmony, issue 16 §3) on the training pieces' quarter-note rolls, early-stopped
    on the held-out ones; its size follows the model's (`size: debug` or the default). Returns (blob, metrics)."""
    import torch

    from .engine import frames as fr

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
def _load_frame_model(frames_path: str) -> FrameLSTM:
    import torch

    from .engine import frames as fr

    state = torch.load(blob_path(frames_path), map_location="cpu", weights_only=False)
    net = fr.FrameLSTM(fr.FrameConfig(**state["config"]))
    net.load_state_dict(state["state_dict"])
    return net.eval()


def _held_out_split(scores: list[_T]) -> tuple[list[_T], list[_T]]:
    """(held out, training): every HELD_OUT_EVERY-th score (or item) in content-hash order; a small corpus keeps
    one."""
    held_idx = {i for i in range(len(scores)) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1}
    if not held_idx and len(scores) >= 2:
        held_idx = {len(scores) - 1}  # a small corpus still gets one held-out piece
    return ([s for i, s in enumerate(scores) if i in held_idx], [s for i, s in enumerate(scores) if i not in held_idx])


def model_corpus_reference(model: TrainedModel) -> dict:
    """The reference of `model`'s held-out pieces: stored at training, else (older models) measured now."""
    stored = (model.provenance or {}).get("corpus_reference")
    if stored is not None:
        return stored
    held_out, _ = _held_out_split([s for _, s in training_scores(model)])
    return corpus_reference([corpus_melody_stats(s) for s in held_out])


#: A model's corpus reference is widened to this many pieces it never saw when its held-out set is smaller (a
#: model trained on a handful of pieces holds one out); as many as the benchmarks' test chorales.
REFERENCE_PIECES = 35


def model_reference_refresh(*, model: TrainedModel, limit: int = REFERENCE_PIECES) -> dict:
    """Widen `model`'s corpus reference to the pieces it never saw, up to `limit`: its held-out pieces, then the
    items of its datasets ingested after it was trained (not in `training_items`), in content-hash order. Stored
    in its provenance when that gives more pieces than the stored reference; returns the reference in force."""
    current = model_corpus_reference(model)
    if current.get("pieces", 0) >= limit:
        return current
    trained_on = {entry["sha256"] for entry in model.training_items}
    items = list(CorpusItem.objects.filter(dataset__in=model.datasets.all()).exclude(events_path="").order_by("sha256"))
    held_out, _ = _held_out_split([item for item in items if item.sha256 in trained_on])
    unseen = (held_out + [item for item in items if item.sha256 not in trained_on])[:limit]
    if len(unseen) <= current.get("pieces", 0):
        return current
    reference = corpus_reference(
        [corpus_melody_stats(Score.from_npz_bytes(read_blob(item.events_path))) for item in unseen]
    )
    reference["unseen"] = {"held_out": len(held_out), "added_after_training": len(unseen) - len(held_out)}
    model.provenance = {**(model.provenance or {}), "corpus_reference": reference}
    TrainedModel.objects.filter(pk=model.pk).update(provenance=model.provenance)
    return reference


@contributes_to("track_api")
def _track_api_comparison(*, track: Track) -> dict:
    return {"corpus_comparison": track_corpus_comparison(track)}


def track_corpus_comparison(track: Track) -> dict | None:
    """A generated track's melody against its model's corpus reference in force: the comparison stored at
    generation, or, when the reference has grown since (`model_reference_refresh`), the comparison with it."""
    stored = (track.provenance or {}).get("corpus_comparison")
    if stored is None or track.model is None or "melody_stats" not in track.provenance:
        return stored
    reference = model_corpus_reference(track.model)
    if reference.get("pieces", 0) <= stored.get("reference_pieces", 0):
        return stored
    return compare(track.provenance["melody_stats"], reference)


def track_melody_stats(score: Score, key: str) -> dict:
    """The measures of a generated score's melody (track 0) in the requested key."""
    return melody_stats(score.notes[score.notes["track"] == 0], key=key, bar_beats=score.bar_beats)


def model_melody_summary(
    *,
    model: TrainedModel,
    samples: int,
    params: dict | None = None,
    on_sample: Callable[[int], None] | None = None,
) -> dict:
    """Compose `samples` pieces (seeds 0..samples-1, nothing rendered or stored) with the request `params`
    (platform defaults otherwise) and summarise their melodies against the model's held-out reference.
    `on_sample(done)` is called after each piece; `readiness` is why the model may not publish (None: it may)."""
    request = GenerationRequest.build(model=model, params=params or {}, latent=False)
    reference = model_corpus_reference(model)
    melodies = []
    for seed in range(samples):
        score, stats = compose(model, replace(request, seed=seed))
        melodies.append(track_melody_stats(score, stats["key"]))
        if on_sample is not None:
            on_sample(seed + 1)
    return {
        "model": model.name,
        "arch": model.arch,
        "readiness": readiness(model.arch, model.metrics),
        "request": {k: v for k, v in request.as_params().items() if k != "seed"},
        "reference": {k: reference.get(k) for k in ("pieces", "percentiles")},
        "summary": summarise(melodies, reference),
    }


MODEL_STATS_SAMPLES = 50  # the per-model summary
MAX_MODEL_STATS_SAMPLES = 1000


def may_summarise(user, model: TrainedModel) -> bool:
    """Whether `user` may start `model`'s sample summary: its owner and staff."""
    return bool(user.is_staff or (model.created_by_id is not None and model.created_by_id == user.pk))


def _require_owner(user, model: TrainedModel) -> None:
    if not may_summarise(user, model):
        raise PermissionDenied("Only the model's owner (or staff) may summarise its samples.")


@transaction.atomic
def model_stats_start(*, user, model: TrainedModel, samples: int = MODEL_STATS_SAMPLES) -> Job:
    """Start the job that composes `samples` pieces with `model` and summarises their melodies against its
    held-out corpus (`model_melody_summary`); the one already queued or running is returned instead of a second.
    Only the model's owner and staff may; the model must be trained."""
    _require_owner(user, model)
    if model.status != ModelStatus.READY:
        raise ValidationError(
            {"model": f"{model.name} has no trained weights to sample ({model.get_status_display()})"}
        )
    if not 1 <= samples <= MAX_MODEL_STATS_SAMPLES:
        raise ValidationError({"samples": f"must be between 1 and {MAX_MODEL_STATS_SAMPLES}, got {samples}"})
    under_way = (
        jobs_about(JobSubject.MODEL, model.pk)
        .filter(kind=JobKind.MODEL_STATS, status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
        .first()
    )
    if under_way is not None:
        return under_way
    return job_start(
        kind=JobKind.MODEL_STATS,
        organisation=model.organisation,
        user=user,
        params={"model": model.pk, "samples": samples},
        subject_type=JobSubject.MODEL,
        subject_id=model.pk,
    )


def model_stats_handler(job: Job) -> dict:
    """The summary of a model's samples (`model_stats_start`), kept as the job's result."""
    try:
        model = TrainedModel.objects.get(pk=job.params["model"])
    except TrainedModel.DoesNotExist:
        raise JobError("the model was deleted before its samples were summarised") from None
    samples = int(job.params.get("samples", MODEL_STATS_SAMPLES))

    def on_sample(done: int) -> None:
        job.set_progress(done / samples, f"{done} of {samples} pieces composed")

    return model_melody_summary(model=model, samples=samples, on_sample=on_sample)


#: Model config keys that steer training, not the network.
TRAINING_KEYS = {"epochs", "patience", "budget_s", "eval_every", "frames", "memorisation_samples"}


def _early_stopping(config: dict, held_out: list[Score]) -> EarlyStopping | None:
    """With `patience` in the config, train until the held-out NLL stops improving (or `budget_s` passes)."""
    if not config.get("patience") or not held_out:
        return None
    from .engine.train import EarlyStopping

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
    import torch

    from .engine.models import get_model, legacy_config

    state = torch.load(blob_path(checkpoint_path), map_location="cpu", weights_only=False)
    net = get_model(state["arch"], legacy_config(state["arch"], state["config"]), tok.VOCAB.size)
    net.load_state_dict(state["state_dict"])
    net.eval()
    return net


# --- generation ---------------------------------------------------------------------------------------
@transaction.atomic
def generation_start(*, user, model: TrainedModel, params: dict) -> Track:
    """Check the creator, validate the request once (`GenerationRequest.build`), create a draft Track that
    stores it and a generation job (gpu queue)."""
    _require_creator(user, model.organisation)
    request = GenerationRequest.build(model=model, params=params, user=user)
    track = Track.objects.create(
        organisation=model.organisation,
        created_by=user,
        source=TrackSource.GENERATED,
        model=model,
        title=request.title or f"{model.name} #{request.seed}",
        generation_params=request.as_params(),
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


def compose(model: TrainedModel, request: GenerationRequest) -> tuple[Score, dict]:
    """The pure part of generation: the same model and request give the same score."""
    _set_threads()
    if model.arch == "vae":
        from .latent import vae_compose

        return vae_compose(model, request)
    from .engine import frames as fr

    markov = MarkovHarmony.from_json(read_blob(model.markov_path).decode())
    guard = NgramGuard.from_bytes(read_blob(model.guard_path)) if request.anti_copy else None
    net = _load_network(model.checkpoint_path, model.checkpoint_sha256) if model.checkpoint_path else None
    prompt, prompt_bars, keep = _prompt_of(request)
    harmoniser = (
        fr.FrameHarmoniser(_load_frame_model(model.frames_path), device=device())
        if request.harmony == "frames"
        else None
    )
    score, stats = _generate(
        net, markov, guard, request, prompt=prompt, prompt_bars=prompt_bars, keep=keep, harmoniser=harmoniser
    )
    return score, {**stats, "harmony": request.harmony}


def _generate(net, markov: MarkovHarmony, guard: NgramGuard | None, request: GenerationRequest, **melody) -> tuple:
    """`generate_piece` for a validated request on the platform's device: the one call behind every generated
    piece (tracks, and the memorisation check's samples). `melody`: prompt, prompt_bars, keep, harmoniser."""
    from .engine.sample import generate_piece

    return generate_piece(
        net,
        tok.VOCAB,
        markov,
        bars=request.bars,
        tempo=request.tempo,
        key=request.key,
        programs=request.programs or None,
        temperature=request.temperature,
        top_k=request.top_k,
        top_p=request.top_p,
        seed=request.seed,
        guard=guard,
        device=device(),
        title=request.title or None,
        time_signature=request.time_signature,
        arrangement=request.arrangement,
        drums=request.drums,
        **melody,
    )


def _prompt_of(request: GenerationRequest) -> tuple[np.ndarray | None, int | None, Score | None]:
    """(prompt melody, the bars it fills, the score to keep) of a validated request (permissions were checked
    then). A regenerated track gives its melody before `from_bar` and itself."""
    from .engine.sample import transpose_notes

    if request.from_track is not None:
        keep = track_score(Track.objects.get(pk=request.from_track))
        bars_kept = int(request.from_bar or 1) - 1
        if bars_kept == 0:
            return None, None, None
        melody = keep.notes[keep.notes["track"] == 0]
        return melody[melody["start"] < bars_kept * keep.bar_beats - 1e-9], bars_kept, keep
    prompt = request.prompt
    if not prompt:
        return None, None, None
    if "track" in prompt:
        score = track_score(Track.objects.get(pk=prompt["track"]))
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
    request = GenerationRequest.from_params(track.generation_params)
    job.set_progress(0.1, "composing")
    score, stats = compose(model, request)
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
        "seed": request.seed,
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
        track.tempo_bpm, track.key = request.tempo, stats.get("key", "")
        track.time_signature = "/".join(str(n) for n in request.time_signature)
        track.bars = request.bars
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
