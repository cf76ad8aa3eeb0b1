"""Demo step: train the demo's models on the chorales so a newcomer can generate at once, on a CPU, and one
generated, screened track.

No undertrained model in front of a user: the LSTM trains until its held-out NLL stops improving (early
stopping with patience, within a time budget that fits a two-core machine). Until it is ready the demo
generates with the Markov model, and says so (`demo_model`).
"""

from ledgerline.catalogue.demo import demo_progress
from ledgerline.catalogue.models import Track
from ledgerline.contributions import contributes_to
from ledgerline.jobs.progress import wait_for_chain

from .engine.baseline import readiness
from .models import ModelStatus, TrainedModel
from .services import generation_start, model_reference_refresh, model_train_start

MARKOV, LSTM = "demo-markov", "demo-lstm"
#: The LSTM's most epochs, evaluations without improvement before it stops, steps between evaluations, and
#: seconds it may take (it keeps the best weights it evaluated). No memorisation check (0 samples): the demo's
#: stages ingest while it trains, and a check against a corpus still being indexed can only say "unmeasured";
#: the architecture's check is bench_memorisation.py's (0 of 200 flagged, benchmarks/README.md).
LSTM_TRAINING = {"epochs": 200, "patience": 3, "eval_every": 20, "budget_s": 900, "memorisation_samples": 0}
DEMO_MODELS = {MARKOV: ("markov", {"epochs": 1}), LSTM: ("lstm", LSTM_TRAINING)}
DEMO_TRACK = "Demo chorale fantasy"
DEMO_BARS = 16
#: The background demo's second track, made once its LSTM has converged (the first one came from the Markov model).
LSTM_DEMO_TRACK = "Demo chorale fantasy (LSTM)"


def demo_model() -> TrainedModel | None:
    """The model the demo generates with now: the LSTM once trained to convergence, the Markov model until then,
    and for good if the LSTM's time budget ran out first (an undertrained network is not put in front of a user)."""
    ready = {m.name: m for m in TrainedModel.objects.filter(name__in=DEMO_MODELS, status=ModelStatus.READY)}
    lstm = ready.get(LSTM)
    converged = (
        lstm is not None and lstm.metrics.get("stopped") != "budget" and readiness(lstm.arch, lstm.metrics) is None
    )  # and it beats the Markov baseline
    return lstm if converged else ready.get(MARKOV)


@contributes_to("dashboard")
def dashboard_demo(*, user) -> dict:
    """The dashboard's demo panel (`load_demo --background`): its stages and the model it generates with now."""
    stages = demo_progress()
    return {
        "demo_stages": stages,
        "demo_model": demo_model() if stages else None,
        "demo_lstm": LSTM,
        "demo_lstm_model": TrainedModel.objects.filter(name=LSTM).first() if stages else None,
        "demo_loading": any(s["job"] is None or not s["job"].is_finished for s in stages),
    }


def _train(name: str, *, stdout, options: dict, context: dict, run_here: bool = False) -> None:
    arch, training = DEMO_MODELS[name]
    existing = TrainedModel.objects.filter(name=name).select_related("job").first()
    if existing is not None and existing.status == ModelStatus.READY:
        stdout.write(f"demo: model {name} is ready")
        return
    if existing is not None and existing.job is not None and not existing.job.is_finished:
        model, job_id = existing, existing.job_id  # resumed after a restart: finish the training under way
    else:
        if existing is not None:
            existing.delete()
        epochs, config = training["epochs"], {k: v for k, v in training.items() if k != "epochs"}
        how = (
            f"until its held-out loss stops improving ({config['patience']} checks without gain, at most "
            f"{config['budget_s'] // 60} min)"
            if "patience" in config
            else f"{epochs} epoch(s)"
        )
        stdout.write(f"demo: training {name} ({arch}) on {context['dataset'].name}, {how}")
        model = model_train_start(
            user=context["users"]["creator"],
            organisation=context["organisations"]["creator"],
            name=name,
            arch=arch,
            dataset_ids=[context["dataset"].pk],
            epochs=epochs,
            config=config,
        )
        job_id = model.job_id
    job, *_ = wait_for_chain(job_id, json_mode=bool(options.get("quiet")), run_here=run_here)
    model.refresh_from_db()
    stdout.write(
        f"demo: {name} {job.status}: {_metrics_line(model.metrics) if job.status == 'succeeded' else job.error}"
    )


def _metrics_line(metrics: dict) -> str:
    shown = {
        "train_pieces": "{} training pieces",
        "markov_nll_per_chord": "held-out NLL {} nats/chord",
        "held_out_nll_per_token": "held-out NLL {} nats/token",
        "steps": "{} steps",
        "stopped": "stopped by {}",
        "tokens_per_s": "{} tokens/s",
    }
    return ", ".join(text.format(metrics[key]) for key, text in shown.items() if metrics.get(key) is not None)


def _demo_track(
    *, stdout, options: dict, context: dict, run_here: bool = False, title: str = DEMO_TRACK, only_with: str = ""
) -> None:
    """One generated, screened track waiting for the creator to publish it (the market's walk-through), made with
    the model the demo uses now; with `only_with`, only when that is the model the demo uses."""
    if Track.objects.filter(title=title).exists():
        stdout.write(f"demo: track {title!r} exists")
        return
    model = demo_model()
    if model is None:
        stdout.write("demo: no ready demo model; skipping the demo track")
        return
    if only_with and model.name != only_with:
        stdout.write(f"demo: {only_with} is not the demo's model (not converged); the demo keeps {DEMO_TRACK!r}")
        return
    # 16 bars, the length of the pieces a model's summary samples and about that of a chorale: its repetition
    # measures (the share of bars that repeat an earlier bar) are then on the corpus's scale; in 8 bars one
    # repeated bar is 0.125, under the chorales' 5th percentile of contour repetition (0.24).
    stdout.write(f"demo: generating {title!r} with {model.name} ({DEMO_BARS} bars, four tracks), then screening it")
    track = generation_start(
        user=context["users"]["creator"],
        model=model,
        params={"bars": DEMO_BARS, "tempo": 96, "key": "G", "seed": 1, "title": title},
    )
    # The screening is a job the generation causes: the track's status is final only when it is done too.
    job, *_ = wait_for_chain(track.provenance["job"], json_mode=bool(options.get("quiet")), run_here=run_here)
    track.refresh_from_db()
    stdout.write(
        f"demo: {title!r} {job.status}; status {track.get_status_display().lower()} "
        f"(publish it at /tracks/{track.pk}/ as 'creator')"
    )


def load(*, stdout, options: dict, context: dict) -> None:
    for name in DEMO_MODELS:
        _train(name, stdout=stdout, options=options, context=context)
    _demo_track(stdout=stdout, options=options, context=context)


# Stages of the demo in the background (ledgerline.catalogue.demo.BACKGROUND_STAGES).
def stage_markov(*, stdout, options: dict, context: dict) -> None:
    _train(MARKOV, stdout=stdout, options=options, context=context, run_here=True)


def stage_track(*, stdout, options: dict, context: dict) -> None:
    _demo_track(stdout=stdout, options=options, context=context, run_here=True)


def stage_lstm(*, stdout, options: dict, context: dict) -> None:
    _refresh_markov_reference(stdout=stdout)
    _train(LSTM, stdout=stdout, options=options, context=context, run_here=True)


def _refresh_markov_reference(*, stdout) -> None:
    """The Markov model was trained on the first few chorales and held one out: once the other chorales are in,
    its tracks are compared with the chorales it never saw (`model_reference_refresh`), not with that one."""
    markov = TrainedModel.objects.filter(name=MARKOV, status=ModelStatus.READY).first()
    if markov is not None:
        reference = model_reference_refresh(model=markov)
        stdout.write(f"demo: {MARKOV}'s corpus reference: {reference.get('pieces', 0)} chorales it never saw")


def stage_lstm_track(*, stdout, options: dict, context: dict) -> None:
    """The converged LSTM's own demo track, so the demo shows what the network plays (beside the corpus)."""
    _demo_track(stdout=stdout, options=options, context=context, run_here=True, title=LSTM_DEMO_TRACK, only_with=LSTM)
