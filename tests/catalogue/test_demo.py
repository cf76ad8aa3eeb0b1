import pytest
from django.core.management import call_command

from ledgerline.accounts.models import Membership
from ledgerline.catalogue.models import Dataset

pytestmark = pytest.mark.django_db


def test_load_demo_creates_every_role_and_ingests_chorales_and_is_idempotent(settings):
    settings.LEDGERLINE_DEMO_STEPS = ["ledgerline.catalogue.demo.load"]
    call_command("load_demo", "--chorales", "2", "--quiet")
    call_command("load_demo", "--chorales", "2", "--quiet")
    assert set(Membership.objects.values_list("user__username", "role")) == {
        ("label", "label"),
        ("creator", "creator"),
        ("reviewer", "reviewer"),
        ("buyer", "buyer"),
    }
    # The reviewer may decide flags on the label's chorales: it reviews for the rights holder.
    assert Membership.objects.filter(
        user__username="reviewer", organisation__slug="demo-label", role="reviewer"
    ).exists()
    dataset = Dataset.objects.get(name="Bach chorales")
    assert dataset.status == "ready" and dataset.items.count() == 2 and dataset.uploads.count() == 2
    item = dataset.items.first()
    assert len(item.stems) == 4 and item.key and item.time_signature


def test_load_demo_in_the_background_returns_in_seconds_with_users_created_and_its_first_stage_queued(settings):
    import time

    from ledgerline.jobs.models import Job
    from ledgerline.jobs.services import JOB_RUN

    settings.LEDGERLINE_TASK_RUNNER = "thread"  # `make run`: the web process, not this command, runs the jobs
    started = time.monotonic()
    call_command("load_demo", "--background", "--chorales", "2")
    assert time.monotonic() - started < 10
    assert {"label", "creator", "reviewer", "buyer"} <= set(Membership.objects.values_list("user__username", flat=True))
    stage = Job.objects.get(kind="demo")
    assert (stage.status, stage.task, stage.params["stage"], stage.params["chorales"]) == (
        "queued",
        JOB_RUN,
        "first-chorales",
        2,
    )
    assert not Job.objects.exclude(kind="demo").exists()  # nothing heavy ran in the command
    assert Dataset.objects.get(name="Bach chorales").items.count() == 0


def test_load_demo_in_the_background_refuses_a_bad_count_and_writes_nothing():
    from django.core.management.base import CommandError

    from ledgerline.jobs.models import Job

    with pytest.raises(CommandError, match="--chorales must be between 1 and 371"):
        call_command("load_demo", "--background", "--chorales", "0")
    assert not Job.objects.exists() and not Membership.objects.exists()


def test_the_dashboard_shows_the_demo_stages_with_the_progress_of_the_job_each_waits_for(client, settings):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from ledgerline.catalogue.demo import BACKGROUND_STAGES, demo_background_start
    from ledgerline.jobs.models import Job

    settings.LEDGERLINE_TASK_RUNNER = "thread"
    first = demo_background_start(chorales=2, send=False)
    Job.objects.filter(pk=first.pk).update(status="running", started_at=timezone.now())
    ingest = Job.objects.create(kind="ingest", status="running", progress=0.4, message="item 1 of 2: bwv1.6.mxl")
    client.force_login(get_user_model().objects.get(username="creator"))

    page = client.get("/").content.decode()
    assert 'id="demo-panel"' in page and "is loading in the background" in page
    assert "ingest and index the first 8 chorales" in page and "40 % ingest" in page and "bwv1.6.mxl" in page
    assert "No demo model is ready yet" in page
    panel = client.get("/", {"panel": "demo"}).content.decode()  # what the panel's script fetches every 2 s
    assert panel.lstrip().startswith('<div class="card" id="demo-panel" data-refresh=') and "<h1>" not in panel

    Job.objects.filter(pk=ingest.pk).update(status="succeeded", progress=1.0)
    Job.objects.filter(kind="demo").update(status="succeeded", progress=1.0)
    for name, _, _ in BACKGROUND_STAGES[1:]:
        Job.objects.create(kind="demo", status="succeeded", progress=1.0, params={"stage": name})
    done = client.get("/", {"panel": "demo"}).content.decode()
    assert "data-refresh" not in done and "is loading" not in done  # the panel stops refreshing itself


@pytest.mark.django_db(transaction=True)  # the ingest's indexing starts when its transaction commits
def test_the_background_demo_runs_its_stages_in_order_to_a_screened_markov_track_then_a_converged_lstm(
    client, monkeypatch
):
    """The whole chain, on the eager runner (each stage runs as it is queued): two chorales first, then the
    other two in batches of one."""
    from django.contrib.auth import get_user_model

    from generation.models import TrainedModel
    from ledgerline.catalogue import demo
    from ledgerline.catalogue.models import Track
    from ledgerline.jobs.models import Job

    monkeypatch.setattr(demo, "FIRST_CHORALES", 2)
    monkeypatch.setattr(demo, "CHORALE_BATCH", 1)
    demo.demo_background_start(chorales=4)
    stages = list(Job.objects.filter(kind="demo").order_by("created_at"))
    assert [(j.params["stage"], j.status) for j in stages] == [
        (name, "succeeded")
        for name in ("first-chorales", "markov", "track", "chorales", "chorales", "lstm", "lstm-track", "anchor")
    ]
    assert all(later.params["caused_by"] == str(earlier.pk) for earlier, later in zip(stages, stages[1:], strict=False))
    track = Track.objects.get(title="Demo chorale fantasy")
    assert track.model.name == "demo-markov" and track.status in {"clear", "flagged"}  # screened, not "screening"
    lstm = TrainedModel.objects.get(name="demo-lstm", status="ready")
    assert lstm.metrics["stopped"] == "patience" and lstm.metrics["evaluations"] >= 1  # converged
    lstm_track = Track.objects.get(title="Demo chorale fantasy (LSTM)")  # what the converged network plays
    assert lstm_track.model == lstm and lstm_track.status in {"clear", "flagged"}
    assert "corpus_comparison" in lstm_track.provenance  # shown beside the corpus on its page
    assert Dataset.objects.get(name="Bach chorales").items.count() == 4
    client.force_login(get_user_model().objects.get(username="creator"))
    page = client.get("/").content.decode()
    assert "generates with <strong>demo-lstm</strong>" in page and "is loading" not in page


def test_an_lstm_stopped_by_its_time_budget_is_not_put_in_front_of_a_user_the_markov_model_stays(client, settings):
    from django.contrib.auth import get_user_model

    from generation.demo import demo_model
    from generation.models import TrainedModel
    from ledgerline.accounts.models import Organisation
    from ledgerline.catalogue.demo import demo_background_start

    settings.LEDGERLINE_TASK_RUNNER = "thread"
    demo_background_start(chorales=2, send=False)
    studio = Organisation.objects.get(slug="demo-studio")
    TrainedModel.objects.create(name="demo-markov", arch="markov", organisation=studio, status="ready")
    lstm = TrainedModel.objects.create(
        name="demo-lstm", arch="lstm", organisation=studio, status="ready", metrics={"stopped": "budget", "steps": 30}
    )
    assert demo_model().name == "demo-markov"
    client.force_login(get_user_model().objects.get(username="creator"))
    panel = client.get("/", {"panel": "demo"}).content.decode()
    assert "generates with <strong>demo-markov</strong>" in panel and "reached its time budget" in panel

    TrainedModel.objects.filter(pk=lstm.pk).update(
        metrics={"stopped": "patience", "steps": 120, "held_out_nll_per_token": 1.9}
    )
    assert demo_model().name == "demo-lstm"
    assert "generates with <strong>demo-lstm</strong>" in client.get("/", {"panel": "demo"}).content.decode()
