"""Demo step: train small models on the chorales so a newcomer can generate at once, on a CPU."""

from ledgerline.catalogue.models import Track
from ledgerline.jobs.progress import wait_for_job

from .models import ModelStatus, TrainedModel
from .services import generation_start, model_train_start

DEMO_MODELS = [("demo-markov", "markov", 1), ("demo-lstm", "lstm", 3)]


def load(*, stdout, options: dict, context: dict) -> None:
    dataset = context["dataset"]
    creator = context["users"]["creator"]
    organisation = context["organisations"]["creator"]
    for name, arch, epochs in DEMO_MODELS:
        existing = TrainedModel.objects.filter(name=name).first()
        if existing is not None and existing.status == ModelStatus.READY:
            stdout.write(f"demo: model {name} is ready")
            continue
        if existing is not None:
            existing.delete()
        stdout.write(f"demo: training {name} ({arch}, {epochs} epochs) on {dataset.name}")
        model = model_train_start(user=creator, organisation=organisation, name=name, arch=arch,
                                  dataset_ids=[dataset.pk], epochs=epochs)
        job = wait_for_job(model.job_id, json_mode=bool(options.get("quiet")))
        model.refresh_from_db()
        stdout.write(f"demo: {name} {job.status} {model.metrics if job.status == 'succeeded' else job.error}")

    _demo_track(stdout=stdout, options=options, creator=creator)


DEMO_TRACK = "Demo chorale fantasy"


def _demo_track(*, stdout, options: dict, creator) -> None:
    """One generated, screened track waiting for the creator to publish it (the market's walk-through)."""
    if Track.objects.filter(title=DEMO_TRACK).exists():
        stdout.write(f"demo: track {DEMO_TRACK!r} exists")
        return
    model = TrainedModel.objects.filter(name="demo-lstm", status=ModelStatus.READY).first()
    if model is None:
        stdout.write("demo: no ready demo-lstm model; skipping the demo track")
        return
    stdout.write(f"demo: generating {DEMO_TRACK!r} with {model.name} (8 bars, four tracks), then screening it")
    track = generation_start(user=creator, model=model, params={"bars": 8, "tempo": 96, "key": "G", "seed": 1,
                                                                 "title": DEMO_TRACK})
    job = wait_for_job(track.provenance["job"], json_mode=bool(options.get("quiet")))
    track.refresh_from_db()
    stdout.write(f"demo: {DEMO_TRACK!r} {job.status}; status {track.get_status_display().lower()} "
                 f"(publish it at /tracks/{track.pk}/ as 'creator')")
