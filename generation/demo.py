"""Demo step: train small models on the chorales so a newcomer can generate at once, on a CPU."""

from ledgerline.jobs.progress import wait_for_job

from .models import ModelStatus, TrainedModel
from .services import model_train_start

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
