"""Parallel appenders on PostgreSQL never share an index or fork the log, and each signs its own head."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from ledgerline.ledger.models import LedgerEntry
from ledgerline.ledger.services import ledger_verify, reset_tree_cache

REPO = Path(__file__).resolve().parents[2]
WRITER = """
import django, os
django.setup()
from ledgerline.ledger.services import ledger_append
for i in range(int(os.environ["N"])):
    ledger_append(event="concurrency.test", subject_type="writer", subject_id=os.environ["W"], payload={"i": i})
"""


@pytest.mark.django_db(transaction=True)
def test_four_parallel_writers_produce_one_gapless_signed_log(settings):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL)")
    s = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ledgerline.settings",
        "N": "150",
        "LEDGERLINE_DATA_DIR": str(settings.LEDGERLINE_DATA_DIR),  # the test's signing key
        "DATABASE_URL": f"postgres://{s.get('USER') or 'postgres'}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}",
    }
    writers = [subprocess.Popen([sys.executable, "-c", WRITER], cwd=REPO, env={**env, "W": str(w)}) for w in range(4)]
    # Verifying while they append sees one consistent log: every entry inside a signed head, no head past the log.
    while any(w.poll() is None for w in writers):
        report = ledger_verify(check_chain=False)
        assert report.ok, report.problems[:3]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]
    indexes = list(LedgerEntry.objects.order_by("index").values_list("index", flat=True))
    assert indexes == list(range(600))
    reset_tree_cache()
    report = ledger_verify(check_chain=False)
    assert report.ok and report.tree_heads == 600
