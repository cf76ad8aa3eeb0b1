"""A command's console while it waits for jobs: one named line per stage and tenth, no carriage-return redraws
when stderr is not a terminal."""

import pytest

from ledgerline.jobs.models import Job
from ledgerline.jobs.progress import caused_by, wait_for_chain

pytestmark = pytest.mark.django_db


def test_waiting_on_a_chain_names_every_stage_in_lines_without_redraws(capsys):
    train = Job.objects.create(kind="train", status="succeeded", progress=1.0, message="storing the model")
    generate = Job.objects.create(kind="generate", status="succeeded", progress=1.0, params=caused_by(train))
    Job.objects.create(kind="screening", status="succeeded", progress=1.0, params=caused_by(generate))
    Job.objects.create(kind="fingerprint", status="failed", progress=0.5, params=caused_by(train))

    finished = wait_for_chain(train.pk)

    assert [job.kind for job in finished] == ["train", "generate", "fingerprint", "screening"]
    err = capsys.readouterr().err  # not a terminal here, as in a log or CI
    assert "\r" not in err
    assert err.splitlines() == [
        "training: succeeded 100% (storing the model)",
        "generating: succeeded 100%",
        "fingerprinting and indexing: failed 50%",
        "screening: succeeded 100%",
    ]
