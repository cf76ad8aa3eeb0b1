"""The ledger's models moved from the `rights` app to `ledger` in Django's state only: a database migrated before
the move keeps its tables, its rows and its content types (and so the admin permissions granted on them)."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from ledgerline.ledger.models import LedgerEntry, TreeHead

BEFORE_THE_MOVE = [("rights", "0003_treehead_frontier_leaves"), ("market", "0006_sale_audio_format")]


@pytest.mark.django_db(transaction=True)
def test_rows_written_before_the_move_are_read_by_the_ledger_app_after_it():
    entry_type = ContentType.objects.get(app_label="ledger", model="ledgerentry")
    executor = MigrationExecutor(connection)
    executor.migrate([*BEFORE_THE_MOVE, ("ledger", None)])
    old = executor.loader.project_state(BEFORE_THE_MOVE).apps
    OldEntry, OldHead = old.get_model("rights", "LedgerEntry"), old.get_model("rights", "TreeHead")
    OldEntry.objects.create(
        index=0,
        event="before.move",
        subject_type="thing",
        subject_id="1",
        canonical="{}",
        leaf_hash="ab" * 32,
        created_at="2026-11-28T10:00:00Z",
    )
    OldHead.objects.create(tree_size=1, root_hash="cd" * 32, timestamp_ms=1, signature="s", public_key="k")
    assert ContentType.objects.filter(pk=entry_type.pk).values_list("app_label", flat=True).get() == "rights"

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()

    assert LedgerEntry._meta.db_table == "rights_ledgerentry"
    assert list(LedgerEntry.objects.values_list("index", "event")) == [(0, "before.move")]
    assert TreeHead.objects.get().root_hash == "cd" * 32
    assert ContentType.objects.get_for_model(LedgerEntry).pk == entry_type.pk
    assert not ContentType.objects.filter(app_label="rights").exists()
