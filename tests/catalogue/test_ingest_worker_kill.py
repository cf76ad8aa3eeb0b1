"""An ingest whose worker is killed half way finishes once, on a real Celery worker: no item twice, ledger intact."""

import time

import pytest
from django.core.management import call_command

from ledgerline.catalogue.ingest import dataset_ingest_start
from ledgerline.catalogue.models import CorpusItem, DatasetStatus
from ledgerline.catalogue.services import dataset_upload_add
from ledgerline.jobs.models import Job
from ledgerline.ledger.models import LedgerEntry
from tests import factories
from tests.catalogue.test_ingest import midi_bytes
from tests.helpers import wait_until_finished

pytestmark = pytest.mark.worker

PIECES = 8


def _dataset_of_pieces(tmp_path):
    org = factories.OrganisationFactory()
    label = factories.user_with_role("label", org)
    dataset = factories.DatasetFactory(organisation=org)
    for piece in range(PIECES):
        path = tmp_path / f"piece-{piece}.mid"
        # 24 beats (12 s) each: rendering takes long enough for a kill to land half way through the ingest.
        path.write_bytes(midi_bytes(tuple(48 + piece + (step * 5) % 24 for step in range(24))))
        dataset_upload_add(dataset=dataset, user=label, path=path)
    return label, dataset


def _wait_for_items(dataset, count: int) -> None:
    deadline = time.monotonic() + 60
    while (stored := CorpusItem.objects.filter(dataset=dataset).count()) < count:
        assert time.monotonic() < deadline, f"{stored} items stored, waiting for {count}"
        time.sleep(0.1)
    assert stored < PIECES, "the ingest finished before the kill"


def test_an_ingest_killed_with_its_pool_process_then_with_its_whole_worker_finishes_once(
    celery_prefork_worker_process, tmp_path, capsys
):
    worker = celery_prefork_worker_process
    label, dataset = _dataset_of_pieces(tmp_path)
    job = dataset_ingest_start(dataset=dataset, user=label)

    _wait_for_items(dataset, 2)
    worker.kill_pool_child()  # as the OOM killer does: the worker lives on and requeues the message at once
    # The redelivery finds the dead process's lease still held, tries again once it expired, and takes the job over.
    _wait_for_items(dataset, 4)
    assert Job.objects.get(pk=job.pk).attempts == 2

    worker.kill()  # the whole machine this time
    # As in production, the broker keeps the killed worker's message for an hour: only the stale-job sweep that
    # the next worker sends once it is ready can resume the job.
    worker.env["CELERY_VISIBILITY_TIMEOUT"] = "3600"
    worker.start()

    done = wait_until_finished(job.pk, seconds=60)
    worker.kill()  # the fingerprinting the ingest set off is not this test's business
    assert done.status == "succeeded", done.error
    assert done.attempts == 3
    assert done.result["items_ingested"] + done.result["items_duplicate"] == PIECES
    items = CorpusItem.objects.filter(dataset=dataset)
    assert items.count() == PIECES and len(set(items.values_list("sha256", flat=True))) == PIECES
    assert LedgerEntry.objects.filter(event="corpus_item.ingested").count() == PIECES
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.READY
    call_command("ledger", "verify", "--json")  # raises CommandError when the ledger does not verify
    assert '"ok": true' in capsys.readouterr().out
