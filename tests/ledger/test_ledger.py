"""The provenance ledger: appends, signed tree heads, anchors on the dev chain, verification and tampering."""

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from ledgerline.ledger.engine.canonical import canonical_json
from ledgerline.ledger.engine.merkle import leaf_hash
from ledgerline.ledger.engine.signing import SignedTreeHead, verify_tree_head
from ledgerline.ledger.models import Anchor, LedgerEntry, TreeHead
from ledgerline.ledger.services import (
    LedgerIntegrityError,
    NewEntry,
    ledger_anchor,
    ledger_append,
    ledger_append_many,
    ledger_tree,
    ledger_verify,
    reset_tree_cache,
    tree_head_sign,
)
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_tree_cache():
    reset_tree_cache()
    yield
    reset_tree_cache()


def append_many(n, org=None, private=False):
    return [
        ledger_append(
            event="test.event",
            subject_type="thing",
            subject_id=i,
            payload={"i": i, "price": "9.99"},
            organisation=org,
            private=private,
        )
        for i in range(n)
    ]


def test_appends_are_numbered_and_verify():
    entries = append_many(5)
    assert [e.index for e in entries] == [0, 1, 2, 3, 4]
    head = tree_head_sign()
    assert head.tree_size == 5
    report = ledger_verify(check_chain=False)
    assert report.ok and report.entries == 5 and report.tree_heads == 5


def test_floats_are_refused_in_entries():
    with pytest.raises(TypeError):
        ledger_append(event="x", subject_type="t", subject_id=1, payload={"price": object()})


def _verify_fails(match):
    with pytest.raises(CommandError, match=match) as raised:
        call_command("ledger", "verify", "--no-chain")
    assert raised.value.returncode == 1


def test_an_edited_row_is_named():
    append_many(6)
    tree_head_sign()
    LedgerEntry.objects.filter(index=3).update(payload={"i": 3, "price": "0.01"})
    _verify_fails("first bad entry 3")


def rewrite_with_its_hash(index, price="0.01"):
    """What someone with write access to the database can do: edit an entry and store the matching hash."""
    entry = LedgerEntry.objects.get(index=index)
    body = json.loads(entry.canonical)
    body["payload"]["price"] = price
    canonical = canonical_json(body)
    LedgerEntry.objects.filter(pk=entry.pk).update(
        payload=body["payload"], canonical=canonical, leaf_hash=leaf_hash(canonical.encode()).hex()
    )


def test_every_append_transaction_commits_a_signed_head_that_covers_it():
    from django.db import transaction

    for i in range(3):
        entry = ledger_append(event="test.event", subject_type="thing", subject_id=i, payload={})
        assert TreeHead.objects.order_by("-tree_size").first().tree_size == entry.index + 1
    ledger_append_many([NewEntry("batch", "t", i, {"i": i}) for i in range(4)])
    with transaction.atomic():  # two appends in one caller's transaction: one head each
        append_many(2)
    sizes = list(TreeHead.objects.values_list("tree_size", flat=True))
    assert sizes == [1, 2, 3, 7, 8, 9]
    tree = ledger_tree()
    for head in TreeHead.objects.all():
        sth = SignedTreeHead(
            head.tree_size, bytes.fromhex(head.root_hash), head.timestamp_ms, base64.b64decode(head.signature)
        )
        assert verify_tree_head(head.public_key, sth) and sth.root_hash == tree.root(head.tree_size)
    assert tree_head_sign().tree_size == 9 and TreeHead.objects.count() == 6  # nothing left to sign


def test_the_newest_entry_rewritten_with_its_hash_is_named():
    append_many(6)
    rewrite_with_its_hash(5)
    _verify_fails("first bad entry 5")


def test_an_older_entry_rewritten_with_its_hash_is_named_not_bracketed():
    append_many(6)
    rewrite_with_its_hash(2)
    report = ledger_verify(check_chain=False)
    assert not report.ok and report.first_bad_entry == 2
    assert report.problems == [
        "entry 2: rewritten together with its stored hash (its leaf is not the one signed in the tree head of size 3)"
    ]


def test_an_entry_inside_a_batch_rewritten_with_its_hash_is_named():
    ledger_append_many([NewEntry("batch", "thing", i, {"i": i, "price": "9.99"}) for i in range(10)])
    append_many(3)
    rewrite_with_its_hash(7)
    rewrite_with_its_hash(11)
    report = ledger_verify(check_chain=False)
    assert report.first_bad_entry == 7 and [p.split(":")[0] for p in report.problems] == ["entry 7", "entry 11"]
    _verify_fails("first bad entry 7")


def test_a_rewrite_whose_head_leaf_record_was_rewritten_too_is_still_caught():
    append_many(6)
    rewrite_with_its_hash(3)
    TreeHead.objects.filter(tree_size=4).update(leaves=bytes.fromhex(LedgerEntry.objects.get(index=3).leaf_hash))
    report = ledger_verify(check_chain=False)
    assert not report.ok and report.first_bad_entry == 3 and "an entry in 3..3 was rewritten" in report.problems[0]


def test_entries_written_around_the_service_fail_verify_and_stop_appends():
    append_many(3)
    forged = LedgerEntry.objects.get(index=2)
    body = json.loads(forged.canonical)
    body["index"] = 3
    forged.pk, forged.index, forged.canonical = None, 3, canonical_json(body)
    forged.leaf_hash = leaf_hash(forged.canonical.encode()).hex()
    forged.save()
    report = ledger_verify(check_chain=False)
    assert (
        not report.ok
        and report.first_bad_entry == 3
        and "entries 3..3 are in no signed tree head" in report.problems[0]
    )
    _verify_fails("first bad entry 3")
    with pytest.raises(LedgerIntegrityError, match="entries 3..3 are in no signed tree head"):
        append_many(1)
    with pytest.raises(CommandError, match="entries 3..3 are in no signed tree head") as raised:
        call_command("ledger", "head")
    assert raised.value.returncode == 1
    assert LedgerEntry.objects.count() == 4 and TreeHead.objects.count() == 3


def test_a_log_from_before_heads_per_append_is_signed_once_then_verifies():
    append_many(5)
    TreeHead.objects.filter(tree_size__gt=2).delete()
    TreeHead.objects.update(frontier=None, leaves=None)  # as signed before heads recorded them
    reset_tree_cache()
    assert "entries 2..4 are in no signed tree head" in ledger_verify(check_chain=False).problems[0]
    append_many(1)  # the first append signs the old entries too
    assert ledger_verify(check_chain=False).ok
    rewrite_with_its_hash(1)  # under a head that does not record its leaves: bracketed
    report = ledger_verify(check_chain=False)
    assert report.first_bad_entry == 1 and "an entry in 1..1 was rewritten" in report.problems[0]


def test_an_old_log_that_no_longer_matches_its_heads_is_not_signed_over():
    append_many(3)
    TreeHead.objects.update(frontier=None, leaves=None)  # as signed before heads recorded them
    rewrite_with_its_hash(2)
    with pytest.raises(LedgerIntegrityError, match="tree head of size 3: root differs"):
        append_many(1)
    assert LedgerEntry.objects.count() == 3 and TreeHead.objects.count() == 3


def test_a_log_never_signed_is_signed_by_its_next_head():
    append_many(4)
    TreeHead.objects.all().delete()
    head = tree_head_sign()
    assert head.tree_size == 4 and len(bytes(head.leaves)) == 4 * 32
    append_many(1)
    assert ledger_verify(check_chain=False).ok


def test_a_deleted_row_is_named():
    append_many(6)
    tree_head_sign()
    LedgerEntry.objects.filter(index=2).delete()
    _verify_fails("first bad entry 2")


def test_an_inserted_row_is_named():
    append_many(4)
    tree_head_sign()
    for entry in LedgerEntry.objects.filter(index__gte=2).order_by("-index"):
        LedgerEntry.objects.filter(pk=entry.pk).update(index=entry.index + 1)
    forged = LedgerEntry.objects.get(index=0)
    forged.pk, forged.index = None, 2
    forged.save()
    _verify_fails("first bad entry 2")


def test_reordered_rows_are_named():
    append_many(5)
    tree_head_sign()
    a, b = LedgerEntry.objects.get(index=1), LedgerEntry.objects.get(index=3)
    LedgerEntry.objects.filter(pk=a.pk).update(index=-1)
    LedgerEntry.objects.filter(pk=b.pk).update(index=1)
    LedgerEntry.objects.filter(pk=a.pk).update(index=3)
    _verify_fails("first bad entry 1")


def test_a_forged_signature_fails():
    append_many(3)
    head = tree_head_sign()
    TreeHead.objects.filter(pk=head.pk).update(signature="A" * 86 + "==")
    report = ledger_verify(check_chain=False)
    assert not report.ok and "forged" in report.problems[0]


def test_a_tree_head_larger_than_the_log_means_entries_were_deleted():
    append_many(4)
    tree_head_sign()
    LedgerEntry.objects.filter(index=3).delete()
    report = ledger_verify(check_chain=False)
    assert not report.ok and any("holds only 3 entries" in p for p in report.problems)


def test_signing_refuses_a_tree_head_that_goes_backwards():
    append_many(4)
    tree_head_sign()
    LedgerEntry.objects.filter(index=3).delete()
    reset_tree_cache()
    with pytest.raises(LedgerIntegrityError, match="tree head of size 4 exists"):
        tree_head_sign()
    with pytest.raises(LedgerIntegrityError, match="tree head of size 4 exists"):
        append_many(1)


def test_anchor_on_the_dev_chain_survives_a_new_process_and_verify_checks_it():
    append_many(3)
    anchor = ledger_anchor()
    assert anchor.status == "anchored" and anchor.tx_hash.startswith("0x")
    append_many(2)
    second = ledger_anchor()
    assert second.block_number > anchor.block_number
    # `ledger verify` in another process reads the persisted dev chain.
    env = {**__import__("os").environ, "DATABASE_URL": _db_url(), "LEDGERLINE_DATA_DIR": str(_data_dir())}
    out = subprocess.run(
        [sys.executable, "manage.py", "ledger", "verify", "--json"], cwd=REPO, env=env, capture_output=True, text=True
    )
    report = json.loads(out.stdout)
    assert out.returncode == 0, out.stderr
    assert report["anchors_verified"] == 2 and report["anchors_unverifiable"] == []


def test_a_lost_dev_chain_is_reported_as_unverifiable_not_as_verified(settings):
    append_many(2)
    ledger_anchor()
    (settings.LEDGERLINE_DATA_DIR / "chain" / "devchain.db").unlink()
    report = ledger_verify()
    assert report.ok and report.anchors_verified == 0
    assert "not on this chain" in report.anchors_unverifiable[0]["reason"]
    with pytest.raises(CommandError, match="could not be checked") as raised:
        call_command("ledger", "verify")
    assert raised.value.returncode == 3


def test_chain_down_appends_still_succeed_and_anchoring_is_retried(settings):
    settings.WEB3_PROVIDER_URI = "http://127.0.0.1:9"  # nothing listens on the discard port
    append_many(2)
    anchor = ledger_anchor()
    assert anchor.status == "failed" and "unreachable" in anchor.error
    append_many(1)
    assert LedgerEntry.objects.count() == 3
    settings.WEB3_PROVIDER_URI = ""
    retried = ledger_anchor()
    assert retried.status == "anchored" and retried.tree_head.tree_size == 3
    # The failed anchor was retried first (sizes only grow on the contract), then the new one.
    assert Anchor.objects.get(tree_head__tree_size=2).status == "anchored"


def test_inclusion_proof_checks_with_the_hashlib_script(tmp_path, capsys):
    append_many(7)
    call_command("ledger", "proof", "4")
    proof = tmp_path / "proof.json"
    proof.write_text(capsys.readouterr().out)
    ok = subprocess.run([sys.executable, "tools/verify_proof.py", str(proof)], cwd=REPO, capture_output=True, text=True)
    assert ok.returncode == 0 and "OK: entry 4" in ok.stdout
    doc = json.loads(proof.read_text())
    doc["entry"]["canonical"] = doc["entry"]["canonical"].replace("9.99", "0.01")
    proof.write_text(json.dumps(doc))
    bad = subprocess.run(
        [sys.executable, "tools/verify_proof.py", str(proof)], cwd=REPO, capture_output=True, text=True
    )
    assert bad.returncode != 0 and "FAIL" in bad.stderr


def test_private_entries_show_only_their_hash_to_outsiders(api_client):
    org = factories.OrganisationFactory()
    member, outsider = factories.user_with_role("label", org), factories.user_with_role("label")
    entry = append_many(1, org=org, private=True)[0]
    api_client.force_authenticate(outsider)
    redacted = api_client.get(f"/api/ledger/entries/{entry.index}/").json()
    assert redacted == {"index": entry.index, "private": True, "leaf_hash": entry.leaf_hash}
    assert api_client.get(f"/api/ledger/entries/{entry.index}/proof/").status_code == 404
    api_client.force_authenticate(member)
    assert api_client.get(f"/api/ledger/entries/{entry.index}/").json()["payload"]["price"] == "9.99"
    assert api_client.get(f"/api/ledger/entries/{entry.index}/proof/").status_code == 200


def test_head_and_consistency_endpoints(api_client):
    append_many(9)
    head = api_client.get("/api/ledger/head/").json()
    assert head["tree_size"] == 9
    proof = api_client.get("/api/ledger/consistency/?old=4&new=9").json()
    assert proof["new_root"] == head["root_hash"]
    assert api_client.get("/api/ledger/consistency/?old=10&new=9").status_code == 400


def _db_url():
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    return (
        f"postgres://{s.get('USER') or 'postgres'}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"
    )


def _data_dir():
    from django.conf import settings

    return settings.LEDGERLINE_DATA_DIR


def test_a_batch_of_appends_takes_consecutive_indexes_and_verifies():
    ledger_append(event="single", subject_type="t", subject_id=0, payload={})
    batch = ledger_append_many([NewEntry("batch", "t", i, {"i": i}) for i in range(5)])
    assert [e.index for e in batch] == [1, 2, 3, 4, 5] and all(e.pk for e in batch)
    assert ledger_verify(check_chain=False).ok


def test_a_batch_larger_than_one_statement_is_appended_under_one_signed_head():
    batch = ledger_append_many([NewEntry("batch", "t", i, {"i": i}) for i in range(7000)])  # > 65,535 parameters
    assert [e.index for e in batch] == list(range(7000))
    assert list(TreeHead.objects.values_list("tree_size", flat=True)) == [7000]
    rewrite_with_its_hash(6999)
    report = ledger_verify(check_chain=False)
    assert report.first_bad_entry == 6999 and "rewritten together with its stored hash" in report.problems[0]
