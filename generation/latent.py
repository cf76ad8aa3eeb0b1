"""The melody VAE in the platform (issue 16 §1): its training, the latent requests (interpolate between two
pieces, style mix, sample from the prior) and its memorisation check on prior samples (`memorisation`).

A request's latent vector is computed when the request is validated and stored in the track's generation
parameters, so the job (and anyone re-running it) decodes exactly that vector; the sources it came from are
stored beside it and end up in the track's provenance.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404

from ledgerline.catalogue.models import Track
from ledgerline.catalogue.selectors import corpus_items_visible_to, datasets_visible_to, tracks_visible_to
from ledgerline.jobs.models import Job
from ledgerline.jobs.services import JobError
from ledgerline.music.events import Score
from ledgerline.storage import read_blob, store_file

from . import services
from .engine import frames as fr
from .engine import tokens as tok
from .engine import vae as V
from .engine.anticopy import NgramGuard
from .engine.markov import MarkovHarmony
from .engine.models import get_model
from .engine.sample import generate_piece
from .engine.train import EarlyStopping
from .memorisation import memorisation_check, memorisation_readiness, memorisation_samples
from .models import TrainedModel
from .request import GenerationRequest, _parameter

MODES = ("sample", "interpolate", "style_mix")
PRIOR = "prior"
GUARD_REDRAWS = 8  # decodes with other seeds before a melody that copies a training n-gram is kept anyway
STRENGTH_LIMITS = (float, -2.0, 2.0)
T_LIMITS = (float, 0.0, 1.0)
STYLE_ITEMS = 64  # items per dataset read for an attribute vector (the first by content hash)


# --- training ----------------------------------------------------------------------------------------------
def _windows(scores: list[Score], config: V.VAEConfig) -> list[list[int]]:
    sequences = [tok.encode_melody(s) for s in scores]
    return V.melody_windows(sequences, config.bars, hop=1, max_len=config.max_len)


def vae_train(
    *,
    model: TrainedModel,
    job: Job,
    training: list[Score],
    held_out: list[Score],
    markov: MarkovHarmony,
    guard: NgramGuard,
    metrics: dict,
):
    """1. windows of the training and held-out melodies  2. train (early stopping with `patience` in the config)
    3. held-out reconstruction  4. the memorisation check, which sets readiness  5. store the checkpoint."""
    net = get_model("vae", {k: v for k, v in model.config.items() if k not in services.TRAINING_KEYS}, tok.VOCAB.size)
    config = net.config
    windows, held = _windows(training, config), _windows(held_out, config)
    if not windows:
        raise JobError(f"the training pieces hold no melody window of {config.bars} bars")
    early = None
    if model.config.get("patience") and held:
        early = EarlyStopping(
            held_out=held,
            every=int(model.config.get("eval_every", 50)),
            patience=int(model.config["patience"]),
            budget_s=model.config.get("budget_s"),
        )

    def on_step(step: int, total: int, loss: float) -> None:
        if step % 5 == 0 or step == total:
            job.set_progress(0.1 + 0.6 * step / max(total, 1), f"step {step}/{total}, loss {loss:.2f}")

    result = V.train_vae(
        net,
        windows,
        epochs=int(model.config.get("epochs", 2)),
        batch_size=32,
        lr=2e-3,
        device=services.device(),
        seed=0,
        on_step=on_step,
        early_stopping=early,
    )
    metrics.update(
        windows=len(windows),
        held_out_windows=len(held),
        window_bars=config.bars,
        steps=result.steps,
        final_loss=round(result.losses[-1], 3) if result.losses else None,
        train_seconds=round(result.seconds, 1),
    )
    if early is not None:
        metrics["stopped"] = result.stopped or "epochs"
    if held:
        held_metrics = V.evaluate_vae(net, held, device=services.device())
        metrics.update(
            held_out_teacher_forced_accuracy=round(held_metrics.teacher_forced_accuracy, 4),
            held_out_sampled_accuracy=round(held_metrics.sampled_accuracy, 4),
            held_out_kl_per_window=round(held_metrics.kl_per_window, 3),
            held_out_nll_per_token=round(held_metrics.nll_per_token, 4),
        )
    net.cpu().eval()
    job.set_progress(0.72, "memorisation check: screening prior samples against the training corpus")
    check = vae_memorisation(net, markov=markov, guard=guard, model=model, samples=memorisation_samples(model), job=job)
    metrics["memorisation"] = check
    metrics.update(memorisation_readiness(check))
    work = Path(settings.LEDGERLINE_DATA_DIR) / "checkpoints" / f"model-{model.pk}.final.pt"
    work.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"arch": "vae", "config": config.to_dict(), "state_dict": net.state_dict()}, work)
    checkpoint = store_file(work, suffix=".pt")
    work.unlink(missing_ok=True)
    return checkpoint


def vae_memorisation(
    net: V.MelodyVAE, *, markov: MarkovHarmony, guard: NgramGuard, model: TrainedModel, samples: int, job: Job | None
) -> dict:
    """The memorisation check (`memorisation.memorisation_check`) on prior samples: seed i draws z from the
    prior and decodes it at temperature 1, with the anti-copy redraw or without."""

    def compose(seed: int, key: str, guarded: bool) -> tuple[Score, int]:
        z = V.sample_prior(net, 1, seed)
        request = GenerationRequest(seed=seed, key=key)  # 100 bpm, temperature 1
        score, stats = _compose(net, markov, guard if guarded else None, z, request)
        return score, int(stats["interventions"])

    return memorisation_check(compose, model=model, samples=samples, job=job)


# --- composing ---------------------------------------------------------------------------------------------
def _compose(
    net: V.MelodyVAE,
    markov: MarkovHarmony,
    guard: NgramGuard | None,
    z: torch.Tensor,
    request: GenerationRequest,
    harmoniser: fr.FrameHarmoniser | None = None,
) -> tuple[Score, dict]:
    tokens, redraws = V.decode_guarded(
        net, z, guard, seed=request.seed, temperature=request.temperature, redraws=GUARD_REDRAWS
    )
    bars = net.config.bars
    score, stats = generate_piece(
        None,
        tok.VOCAB,
        markov,
        bars=bars,
        tempo=request.tempo,
        key=request.key,
        time_signature=request.time_signature,
        programs=request.programs or None,
        seed=request.seed,
        title=request.title or None,
        arrangement=request.arrangement,
        drums=request.drums,
        harmoniser=harmoniser,
        melody_tokens=[tok.VOCAB.bos, *tokens, tok.VOCAB.eos],
    )
    stats.update(interventions=redraws, melody_source="vae")
    return score, stats


def vae_compose(model: TrainedModel, request: GenerationRequest) -> tuple[Score, dict]:
    """The pure part of a VAE generation: decode the request's stored latent, then harmonise and arrange."""
    net = services._load_network(model.checkpoint_path, model.checkpoint_sha256)
    markov = MarkovHarmony.from_json(read_blob(model.markov_path).decode())
    guard = NgramGuard.from_bytes(read_blob(model.guard_path)) if request.anti_copy else None
    if request.latent is not None:
        z = torch.tensor([request.latent], dtype=torch.float32)
    else:  # a request built without its latent vector (model_stats): a prior sample of its seed
        z = V.sample_prior(net, 1, request.seed)
    harmoniser = (
        fr.FrameHarmoniser(services._load_frame_model(model.frames_path), device=services.device())
        if request.harmony == "frames"
        else None
    )
    score, stats = _compose(net, markov, guard, z, request, harmoniser)
    stats["harmony"] = request.harmony
    stats["sources"] = request.sources or []
    stats["latent_mode"] = request.mode or "sample"
    return score, stats


# --- requests ----------------------------------------------------------------------------------------------
def _source_score(user, ref: str, field: str) -> tuple[Score, dict]:
    """`track:ID` or `corpus:ID`, visible to `user` -> (its score, its provenance entry). Http404 when the piece
    does not exist or the user may not see it (the two are not told apart)."""
    kind, _, raw = str(ref).partition(":")
    if kind not in ("track", "corpus") or not raw.isdigit():
        raise ValidationError({field: f"write a source as track:ID, corpus:ID or {PRIOR}, not {ref!r}"})
    if kind == "track":
        piece = tracks_visible_to(user).filter(pk=int(raw)).first()
    else:
        piece = corpus_items_visible_to(user).filter(pk=int(raw)).first()
    noun = "track" if kind == "track" else "corpus item"
    if piece is None:
        raise Http404(f"No {noun} {raw} that you may see.")
    if not piece.events_path:
        raise ValidationError({field: f"{noun} {raw} ({piece}) has no notes to encode (it is audio only)"})
    score = Score.from_npz_bytes(read_blob(piece.events_path))
    entry = {
        "kind": "track" if isinstance(piece, Track) else "corpus_item",
        "id": piece.pk,
        "title": str(piece),
        "sha256": getattr(piece, "content_sha256", "") or getattr(piece, "sha256", ""),
    }
    return score, entry


def _first_window(score: Score, config: V.VAEConfig, field: str, name: str) -> list[int]:
    bars = V.melody_bars(tok.encode_melody(score))
    windows = V.melody_windows([tok.encode_melody(score)], config.bars, hop=1, max_len=config.max_len)
    if not windows:
        raise ValidationError(
            {
                field: f"{name} is too short for one window: the model reads {config.bars} bars of melody "
                f"(at most {config.max_len} tokens), the piece has {len(bars)}"
            }
        )
    return windows[0]


def _dataset_windows(user, dataset_id, config: V.VAEConfig, field: str) -> tuple[list[list[int]], dict]:
    try:
        pk = int(dataset_id)
    except (TypeError, ValueError):
        raise ValidationError({field: f"a dataset id is an integer, not {dataset_id!r}"}) from None
    dataset = datasets_visible_to(user).filter(pk=pk).first()
    if dataset is None:
        raise Http404(f"No dataset {pk} that you may see.")
    items = dataset.items.exclude(events_path="").order_by("sha256")[:STYLE_ITEMS]
    windows = [w for item in items for w in _windows([Score.from_npz_bytes(read_blob(item.events_path))], config)]
    if not windows:
        raise ValidationError({field: f"dataset {dataset.name!r} holds no melody window of {config.bars} bars"})
    return windows, {"id": dataset.pk, "name": dataset.name, "windows": len(windows)}


def latent_request_validate(*, user, model: TrainedModel, params: dict) -> dict:
    """The latent part of a generation request with a VAE model, as stored on the track: mode, sources (for the
    provenance), t or strength, and the latent vector itself. ValidationError (400) for a bad request, Http404 for
    a piece or dataset the user may not see."""
    mode = str(params.get("mode") or "sample")
    if mode not in MODES:
        raise ValidationError({"mode": f"unknown mode {mode!r}; choose one of {', '.join(MODES)}"})
    net = services._load_network(model.checkpoint_path, model.checkpoint_sha256)
    config = net.config
    seed = int(params.get("seed") or 0)
    clean: dict = {"mode": mode, "bars": config.bars, "sources": []}
    metres: list[tuple[str, tuple[int, int]]] = []

    def latent_of(field: str, default: str = PRIOR) -> torch.Tensor:
        ref = params.get(field) or default
        if ref == PRIOR:
            # Source b of a prior-to-prior path must differ from source a: another seed.
            z = V.sample_prior(net, 1, seed + (1 if field == "source_b" else 0))[0]
            clean["sources"].append({"role": field, "kind": PRIOR, "seed": seed + (1 if field == "source_b" else 0)})
            return z
        score, entry = _source_score(user, ref, field)
        window = _first_window(score, config, field, f"{entry['kind'].replace('_', ' ')} {entry['id']}")
        clean["sources"].append({"role": field, **entry})
        metres.append((field, tuple(score.time_signature)))
        return V.encode(net, [window])[0]

    errors: dict[str, str] = {}
    if params.get("latent") is not None:
        values = params["latent"]
        try:
            z = torch.tensor([float(v) for v in values], dtype=torch.float32)
        except (TypeError, ValueError):
            raise ValidationError({"latent": "the latent vector must be a list of numbers"}) from None
        if z.numel() != config.latent:
            raise ValidationError({"latent": f"the latent vector needs {config.latent} numbers, got {z.numel()}"})
        clean["sources"].append({"role": "latent", "kind": "latent"})
    elif mode == "interpolate":
        try:
            t = _parameter("t", 0.5 if params.get("t") is None else params["t"], T_LIMITS)
        except ValueError as exc:
            raise ValidationError({"t": str(exc)}) from None
        z_a, z_b = latent_of("source_a"), latent_of("source_b")
        clean["t"] = t
        z = V.slerp(z_a, z_b, float(t))
    elif mode == "style_mix":
        try:
            strength = _parameter(
                "strength", 1.0 if params.get("strength") is None else params["strength"], STRENGTH_LIMITS
            )
        except ValueError as exc:
            raise ValidationError({"strength": str(exc)}) from None
        for field in ("style_toward", "style_away"):
            if params.get(field) in (None, ""):
                errors[field] = (
                    "style mixing needs two datasets: the style to move toward and the one to move away from"
                )
        if errors:
            raise ValidationError(errors)
        toward, toward_info = _dataset_windows(user, params["style_toward"], config, "style_toward")
        away, away_info = _dataset_windows(user, params["style_away"], config, "style_away")
        z = latent_of("source_a") + float(strength) * V.attribute_vector(net, toward, away)
        clean.update(strength=strength, style={"toward": toward_info, "away": away_info})
    else:
        z = latent_of("source_a")
    if len({metre for _, metre in metres}) > 1:
        shown = " and ".join(f"{a}/{b}" for _, (a, b) in metres)
        raise ValidationError({"source_b": f"the pieces are in different metres ({shown}): pick two in the same metre"})
    if not all(math.isfinite(float(v)) for v in z.tolist()):
        raise ValidationError({"latent": "the latent vector holds non-finite values"})
    clean["time_signature"] = list(metres[0][1]) if metres else [4, 4]
    clean["latent"] = [round(float(v), 6) for v in z.tolist()]
    return clean
