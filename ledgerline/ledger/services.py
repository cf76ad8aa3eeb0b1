"""The provenance ledger: appends, tree heads, proofs, anchoring and verification."""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from .engine.canonical import canonical_json
from .engine.chain import AnchorReceipt, ChainUnavailable, get_chain
from .engine.merkle import Frontier, MerkleTree, leaf_hash
from .engine.signing import (
    SignedTreeHead,
    load_or_create_key,
    public_key_pem,
    sign_tree_head,
    verify_tree_head,
)
from .models import Anchor, AnchorStatus, LedgerEntry, TreeHead

# Any constant works; it only has to be the same for every writer of this database.
_APPEND_LOCK_KEY = 0x4C45444745524C  # "LEDGERL"

__all__ = [
    "canonical_json",
    "ledger_append",
    "ledger_append_many",
    "NewEntry",
    "ledger_tree",
    "tree_head_sign",
    "ledger_anchor",
    "ledger_verify",
    "LedgerIntegrityError",
]


class LedgerIntegrityError(RuntimeError):
    """The log's rows and its signed tree heads disagree: nothing more is signed until `ledger verify` is read."""


@dataclass(frozen=True)
class _LatestHead:
    tree_size: int
    root: bytes
    timestamp_ms: int
    frontier: bytes | None  # None on heads signed before heads carried their frontier


def _lock_and_tail(cursor) -> tuple[int, _LatestHead | None]:
    """Serialise appenders; return the next free index and the latest signed tree head.

    PostgreSQL: a transaction-scoped advisory lock serialises appenders so no two take the same index. The lock,
    the MAX and the latest head are three statements sent in one round trip (no parameters, so psycopg uses the
    simple query protocol): under READ COMMITTED each statement takes its own snapshot, so the reads, taken after
    the lock is granted, see every append committed while this one waited. One statement would not: its snapshot
    would predate the wait.
    SQLite: the IMMEDIATE transaction mode (settings) already holds the database's single write lock.
    """
    quote = connection.ops.quote_name
    last_sql = f"SELECT MAX({quote('index')}) FROM {quote(LedgerEntry._meta.db_table)}"
    head_sql = (
        f"SELECT {quote('tree_size')}, {quote('root_hash')}, {quote('timestamp_ms')}, {quote('frontier')} "
        f"FROM {quote(TreeHead._meta.db_table)} ORDER BY {quote('tree_size')} DESC LIMIT 1"
    )
    if connection.vendor == "postgresql":
        cursor.execute(f"SELECT pg_advisory_xact_lock({_APPEND_LOCK_KEY:d}); {last_sql}; {head_sql}")
        cursor.nextset()
        last = cursor.fetchone()[0]
        cursor.nextset()
    else:
        cursor.execute(last_sql)
        last = cursor.fetchone()[0]
        cursor.execute(head_sql)
    row = cursor.fetchone()
    head = (
        None
        if row is None
        else _LatestHead(row[0], bytes.fromhex(row[1]), row[2], None if row[3] is None else bytes(row[3]))
    )
    return 0 if last is None else last + 1, head


def _frontier_to_extend(cursor, next_index: int, head: _LatestHead | None) -> tuple[Frontier, list[bytes]]:
    """The right edge of the tree over entries 0..next_index-1, and the leaves after `head` that it includes.

    1. Normally the latest head covers exactly those entries (every append transaction signs one) and carries
       its frontier: that is used once its hashes fold into the head's root, and no entry is read.
    2. A log older than per-transaction heads (no head, or a latest head without a frontier) is read once from
       its stored leaf hashes, and must agree with that head; the head signed now covers it from then on.
    3. Anything else means rows were deleted, or written around this service after the latest head: signing now
       would vouch for rows nobody appended, so refuse.
    """
    if head is not None and head.tree_size > next_index:
        raise LedgerIntegrityError(
            f"the log has {next_index} entries but a tree head of size {head.tree_size} "
            "exists (entries deleted); run `manage.py ledger verify`"
        )
    if head is not None and head.frontier is not None:
        if head.tree_size < next_index:
            raise LedgerIntegrityError(
                f"entries {head.tree_size}..{next_index - 1} are in no signed tree head: they "
                "were written around the ledger service; run `manage.py ledger verify`"
            )
        try:
            frontier = Frontier.from_bytes(head.tree_size, head.frontier)
        except ValueError as exc:
            raise LedgerIntegrityError(f"tree head of size {head.tree_size}: {exc}") from None
        if frontier.root() != head.root:
            raise LedgerIntegrityError(f"tree head of size {head.tree_size}: its frontier does not hash to its root")
        return frontier, []
    quote = connection.ops.quote_name
    cursor.execute(
        f"SELECT {quote('index')}, {quote('leaf_hash')} FROM {quote(LedgerEntry._meta.db_table)} "
        f"ORDER BY {quote('index')}"
    )
    frontier, since_head = Frontier(), []
    signed_size = head.tree_size if head is not None else 0
    for index, leaf in cursor.fetchall():
        if index != frontier.size:
            raise LedgerIntegrityError(f"entry {frontier.size} is missing; run `manage.py ledger verify`")
        frontier.append(bytes.fromhex(leaf))
        if frontier.size > signed_size:
            since_head.append(bytes.fromhex(leaf))
        elif frontier.size == signed_size and frontier.root() != head.root:
            raise LedgerIntegrityError(
                f"tree head of size {signed_size}: root differs from the log's; run `manage.py ledger verify`"
            )
    return frontier, since_head


_INSERT_FIELDS = (
    "index",
    "event",
    "subject_type",
    "subject_id",
    "organisation_id",
    "private",
    "payload",
    "canonical",
    "leaf_hash",
    "created_at",
)
_HEAD_FIELDS = ("tree_size", "root_hash", "timestamp_ms", "signature", "public_key", "frontier", "leaves", "created_at")
_POSTGRES_MAX_PARAMS = 65_535  # the wire protocol's limit on one statement's parameters


@contextlib.contextmanager
def _append_cursor():
    """The cursor appends run on, inside the caller's transaction, with database errors raised as Django's.

    PostgreSQL: a plain psycopg cursor on Django's own connection, with server-side binding, so the INSERT is
    prepared once per connection rather than having every value quoted into the SQL text by Django's default
    client-side cursor. Measured: 1,023–1,078 appends/s with Django's cursor, 1,108–1,196/s with this one
    (benchmarks/README.md). Elsewhere: Django's cursor.
    """
    with connection.wrap_database_errors:
        if connection.vendor != "postgresql":
            with connection.cursor() as cursor:
                yield cursor
            return
        import psycopg

        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            yield cursor


def _values_sql(model, names: tuple[str, ...], rows: int) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in names)
    placeholders = "(" + ", ".join(["%s"] * len(names)) + ")"
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES " + ", ".join([placeholders] * rows)


@functools.lru_cache(maxsize=32)
def _insert_sql(vendor: str, rows: int, with_head: bool) -> str:
    """INSERT of `rows` entries returning their ids, written once per row count rather than compiled by the ORM
    on every append (the ORM's bulk_create spent about a fifth of an append building this same statement).
    `with_head`: the signed tree head is inserted by the same statement (PostgreSQL's data-modifying WITH), so
    signing every append transaction costs no extra round trip; its parameters come first."""
    quote = connection.ops.quote_name
    entries = _values_sql(LedgerEntry, _INSERT_FIELDS, rows) + f" RETURNING {quote('id')}, {quote('index')}"
    return f"WITH head AS ({_values_sql(TreeHead, _HEAD_FIELDS, 1)}) {entries}" if with_head else entries


@functools.lru_cache(maxsize=4)
def _signer_at(path: str) -> tuple[Ed25519PrivateKey, str]:
    key = load_or_create_key(Path(path))
    return key, public_key_pem(key)


def _signer() -> tuple[Ed25519PrivateKey, str]:
    """The log's key and its public PEM, read once per process: every append signs (a new key needs a restart)."""
    return _signer_at(str(settings.LEDGERLINE_SIGNING_KEY_PATH))


def _signed_head_params(frontier: Frontier, leaves: list[bytes], previous: _LatestHead | None, created_db) -> list:
    """The row of a tree head over `frontier`, signed now; `leaves` are those it adds to `previous`."""
    key, pem = _signer()
    # Timestamps never go backwards across heads (verify checks), whatever the clock of this writer says.
    timestamp_ms = max(int(time.time() * 1000), previous.timestamp_ms if previous is not None else 0)
    sth = sign_tree_head(key, frontier.size, frontier.root(), timestamp_ms)
    return [
        sth.tree_size,
        sth.root_hash.hex(),
        sth.timestamp_ms,
        base64.b64encode(sth.signature).decode(),
        pem,
        frontier.to_bytes(),
        b"".join(leaves),
        created_db,
    ]


def entry_body(
    *,
    index: int,
    event: str,
    subject_type: str,
    subject_id: str,
    organisation: str | None,
    payload: dict,
    time_iso: str,
) -> dict:
    return {
        "index": index,
        "event": event,
        "subject": {"type": subject_type, "id": subject_id},
        "organisation": organisation,
        "payload": payload,
        "time": time_iso,
    }


@dataclass(frozen=True)
class NewEntry:
    event: str
    subject_type: str
    subject_id: str | int
    payload: dict
    organisation: object = None
    private: bool = False


def ledger_append(
    *,
    event: str,
    subject_type: str,
    subject_id: str | int,
    payload: dict,
    organisation=None,
    private: bool = False,
) -> LedgerEntry:
    """Append one entry; call inside the same transaction as the change it records."""
    return ledger_append_many([NewEntry(event, subject_type, subject_id, payload, organisation, private)])[0]


@transaction.atomic(savepoint=False)  # a failed append fails the caller's whole transaction, as it must
def ledger_append_many(entries: list[NewEntry]) -> list[LedgerEntry]:
    """Append entries in order under one lock and one insert, and sign the tree head that covers them.

    The head is written in the same transaction as the entries, so no committed entry is ever outside a signed
    head (a merge delay of zero): rewriting one, even with its stored hash, changes a root that is signed. An
    append costs, inside the caller's transaction, two round trips: the lock with the next index and the latest
    head, and the INSERT of the entries with the head. Rows are returned as saved model instances.
    """
    if not entries:
        return []
    created_at = timezone.now()
    time_iso = created_at.isoformat()
    payload_field = LedgerEntry._meta.get_field("payload")
    created_field = LedgerEntry._meta.get_field("created_at")
    created_db = created_field.get_db_prep_save(created_at, connection)
    rows, params = [], []
    with _append_cursor() as cursor:
        first, head = _lock_and_tail(cursor)
        frontier, leaves = _frontier_to_extend(cursor, first, head)
        for offset, new in enumerate(entries):
            organisation = new.organisation
            subject_id = str(new.subject_id)
            body = entry_body(
                index=first + offset,
                event=new.event,
                subject_type=new.subject_type,
                subject_id=subject_id,
                organisation=organisation.slug if organisation is not None else None,
                payload=new.payload,
                time_iso=time_iso,
            )
            canonical = canonical_json(body)
            leaf = leaf_hash(canonical.encode())
            frontier.append(leaf)
            leaves.append(leaf)
            entry = LedgerEntry(
                index=first + offset,
                event=new.event,
                subject_type=new.subject_type,
                subject_id=subject_id,
                organisation=organisation,
                private=new.private,
                payload=json.loads(canonical)["payload"],
                canonical=canonical,
                leaf_hash=leaf.hex(),
                created_at=created_at,
            )
            rows.append(entry)
            params += [
                entry.index,
                entry.event,
                entry.subject_type,
                entry.subject_id,
                entry.organisation_id,
                entry.private,
                payload_field.get_db_prep_save(entry.payload, connection),
                canonical,
                entry.leaf_hash,
                created_db,
            ]
        head_params = _signed_head_params(frontier, leaves, head, created_db)
        width = len(_INSERT_FIELDS)
        postgres = connection.vendor == "postgresql"
        if postgres:  # the head rides on the first INSERT
            batch = (_POSTGRES_MAX_PARAMS - len(_HEAD_FIELDS)) // width
        else:
            cursor.execute(_values_sql(TreeHead, _HEAD_FIELDS, 1), head_params)
            batch = max(1, connection.ops.bulk_batch_size(_INSERT_FIELDS, rows))
        prepare = {"prepare": True} if postgres else {}  # psycopg's own cursor only
        ids = {}
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            with_head = postgres and start == 0
            cursor.execute(
                _insert_sql(connection.vendor, len(chunk), with_head),
                (head_params if with_head else []) + params[start * width : (start + len(chunk)) * width],
                **prepare,
            )
            ids.update((index, pk) for pk, index in cursor.fetchall())  # RETURNING's row order is not promised
    for entry in rows:
        entry.pk = ids[entry.index]
        entry._state.adding = False
        entry._state.db = connection.alias
    return rows


# --- the tree ------------------------------------------------------------------------------------------
_tree_lock = threading.Lock()
_tree_cache: dict[str, MerkleTree] = {}


def ledger_tree() -> MerkleTree:
    """The Merkle tree over every entry's stored leaf hash, kept per process and extended incrementally."""
    key = f"{connection.settings_dict['ENGINE']}:{connection.settings_dict['NAME']}"
    with _tree_lock:
        tree = _tree_cache.get(key)
        if tree is None:
            tree = _tree_cache[key] = MerkleTree()
        rows = LedgerEntry.objects.filter(index__gte=tree.size).order_by("index").values_list("index", "leaf_hash")
        for index, leaf in rows.iterator(chunk_size=10_000):
            if index != tree.size:
                # The table no longer matches what this process saw (rows deleted or rewritten): start over.
                _tree_cache.pop(key)
                return _rebuild_tree()
            tree.append(bytes.fromhex(leaf))
        return tree


def _rebuild_tree() -> MerkleTree:
    leaves = LedgerEntry.objects.order_by("index").values_list("leaf_hash", flat=True)
    return MerkleTree([bytes.fromhex(h) for h in leaves.iterator(chunk_size=10_000)])


def reset_tree_cache() -> None:
    with _tree_lock:
        _tree_cache.clear()


def tree_head_sign() -> TreeHead | None:
    """The latest signed tree head, which covers the whole log. None for an empty log.

    Every append transaction signs its own head, so this normally only reads. It signs one for a log written
    before that (entries after the latest head, which has no frontier), under the append lock.
    """
    latest = TreeHead.objects.order_by("-tree_size").first()
    last = LedgerEntry.objects.aggregate(last=Max("index"))["last"]
    if latest is not None and latest.tree_size == (-1 if last is None else last) + 1:
        return latest
    with transaction.atomic(), _append_cursor() as cursor:
        next_index, head = _lock_and_tail(cursor)
        if next_index == 0 and head is None:
            return None
        if head is None or head.tree_size != next_index:
            frontier, leaves = _frontier_to_extend(cursor, next_index, head)
            created_db = TreeHead._meta.get_field("created_at").get_db_prep_save(timezone.now(), connection)
            cursor.execute(
                _values_sql(TreeHead, _HEAD_FIELDS, 1), _signed_head_params(frontier, leaves, head, created_db)
            )
    return TreeHead.objects.order_by("-tree_size").first()


def _sth(head: TreeHead) -> SignedTreeHead:
    return SignedTreeHead(
        head.tree_size, bytes.fromhex(head.root_hash), head.timestamp_ms, base64.b64decode(head.signature)
    )


# --- anchoring -----------------------------------------------------------------------------------------
def _chain():
    return get_chain(settings.WEB3_PROVIDER_URI, settings.LEDGERLINE_DATA_DIR / "chain")


def ledger_anchor() -> Anchor | None:
    """Publish the latest signed tree head; retry earlier anchors that failed.

    A chain that is down leaves the anchor `failed` with the error; appends never wait for the chain. The
    contract accepts only growing sizes, so a failed anchor older than one already on the chain is marked
    superseded: the later anchor commits to it through the consistency of the two tree heads.
    """
    head = tree_head_sign()
    if head is None:
        return None
    Anchor.objects.get_or_create(tree_head=head)
    latest = Anchor.objects.filter(status=AnchorStatus.ANCHORED).order_by("-tree_head__tree_size").first()
    latest_size = latest.tree_head.tree_size if latest else -1
    pending = Anchor.objects.exclude(status=AnchorStatus.ANCHORED).select_related("tree_head")
    for anchor in pending.order_by("tree_head__tree_size"):
        if anchor.tree_head.tree_size < latest_size:
            anchor.error = f"superseded by the anchor of tree size {latest_size}"
            anchor.save(update_fields=["error"])
            continue
        if _anchor_one(anchor).status == AnchorStatus.ANCHORED:
            latest_size = anchor.tree_head.tree_size
    return Anchor.objects.get(tree_head=head)


def _anchor_one(anchor: Anchor) -> Anchor:
    head = anchor.tree_head
    anchor.attempts += 1
    try:
        receipt = _chain().anchor(head.tree_size, bytes.fromhex(head.root_hash), head.timestamp_ms)
    except (ChainUnavailable, OSError, ConnectionError) as exc:
        anchor.status, anchor.error = AnchorStatus.FAILED, str(exc)[:1000]
        anchor.save(update_fields=["status", "error", "attempts"])
        return anchor
    anchor.status, anchor.error = AnchorStatus.ANCHORED, ""
    anchor.chain_id, anchor.contract = receipt.chain_id, receipt.contract
    anchor.tx_hash, anchor.block_number = receipt.tx_hash, receipt.block_number
    anchor.provider = settings.WEB3_PROVIDER_URI or "dev"
    anchor.anchored_at = timezone.now()
    anchor.save()
    return anchor


# --- verification --------------------------------------------------------------------------------------
@dataclass
class VerifyReport:
    ok: bool = True
    entries: int = 0
    tree_heads: int = 0
    anchors_verified: int = 0
    anchors_unverifiable: list[dict] = field(default_factory=list)
    anchors_pending: int = 0
    problems: list[str] = field(default_factory=list)
    first_bad_entry: int | None = None

    def fail(self, message: str, *, entry: int | None = None) -> None:
        self.ok = False
        self.problems.append(message)
        if entry is not None and (self.first_bad_entry is None or entry < self.first_bad_entry):
            self.first_bad_entry = entry

    def as_json(self) -> dict:
        return self.__dict__.copy()


@contextlib.contextmanager
def _read_snapshot():
    """One view of entries and heads while appends go on (each commits its entries together with their head).

    PostgreSQL: a REPEATABLE READ transaction; without it, heads committed after the entries were read would
    look like heads over deleted entries. SQLite: a transaction (IMMEDIATE, see settings) holds writers back for
    as long as verify reads; embedded logs are small.
    """
    if connection.in_atomic_block:  # the caller's transaction is the view
        yield
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def ledger_verify(*, check_chain: bool = True, progress=None) -> VerifyReport:
    """Recompute every leaf from the stored entries, check every signed tree head against them, and every anchor.

    1. Entries must be numbered 0..n-1 without gaps; each row's canonical text must re-derive from its columns
       and hash to its stored leaf; so an edited, deleted, reordered or inserted row is named.
    2. Each tree head must carry a valid signature by this log's key, and timestamps never go backwards. Its
       leaves (those it added to the previous head), appended to the signed tree's right edge, must hash to its
       signed root: that proves they are the leaves that were signed, so each entry whose recomputed leaf
       differs is named, even when its stored hash was rewritten with it. A head that does not record its
       leaves (signed before heads did) is checked with the recomputed leaves and brackets a rewrite between
       itself and the previous head.
    3. Entries after the last signed head fail: each append transaction signs its head with its entries, so an
       entry outside every head was written around the ledger service (or before heads were signed per append:
       check it, then `manage.py ledger head` signs it).
    4. Each anchor must be found on the chain with the same (size, root).
    """
    with _read_snapshot():
        report = VerifyReport()
        heads = TreeHead.objects.count()
        total = LedgerEntry.objects.count() + heads

        def advance(done: int) -> None:
            if progress and done % 5000 == 0:
                progress(done / max(total, 1))

        leaves, named = _verify_entries(report, advance)
        _verify_tree_heads(report, leaves, named, lambda done: advance(report.entries + done))
        size = max(leaves, default=-1) + 1
        signed = TreeHead.objects.aggregate(size=Max("tree_size"))["size"] or 0
        if size > signed:
            report.fail(
                f"entries {signed}..{size - 1} are in no signed tree head: every append signs its own, so "
                "they were written around the ledger service (if they predate signing per append and are "
                "known good, `manage.py ledger head` signs them)",
                entry=signed,
            )
        _verify_anchors(report, check_chain)
    return report


def _verify_entries(report: VerifyReport, advance) -> tuple[dict[int, bytes], set[int]]:
    """Step 1: every row against its own columns and stored hash. Returns the recomputed leaf of each index, and
    the indexes already named."""
    leaves: dict[int, bytes] = {}
    named: set[int] = set()
    expected = 0
    for entry in LedgerEntry.objects.select_related("organisation").order_by("index").iterator(chunk_size=5000):
        report.entries += 1
        if entry.index != expected:
            kind = "deleted" if entry.index > expected else "duplicated"
            report.fail(
                f"entry {expected}: missing ({kind} or reordered rows; next stored index is {entry.index})",
                entry=expected,
            )
            named.add(expected)
            expected = entry.index
        body = entry_body(
            index=entry.index,
            event=entry.event,
            subject_type=entry.subject_type,
            subject_id=entry.subject_id,
            organisation=entry.organisation.slug if entry.organisation_id else None,
            payload=entry.payload,
            time_iso=entry.created_at.isoformat(),
        )
        if canonical_json(body) != entry.canonical:
            report.fail(
                f"entry {entry.index}: its columns no longer match the logged entry (edited)", entry=entry.index
            )
            named.add(entry.index)
        leaves[entry.index] = leaf_hash(entry.canonical.encode())
        if leaves[entry.index].hex() != entry.leaf_hash:
            report.fail(f"entry {entry.index}: logged entry does not hash to its leaf (edited)", entry=entry.index)
            named.add(entry.index)
        expected += 1
        advance(report.entries)
    return leaves, named


def _verify_tree_heads(report: VerifyReport, leaves: dict[int, bytes], named: set[int], advance) -> None:
    """Step 2. `signed` is the right edge of the tree as signed so far, or None while it is unknown (after a
    forged head, or a rewrite that could not be named): later heads are then not judged until one whose stored
    frontier hashes to its root restores it."""
    pem = _signer()[1]
    signed: Frontier | None = Frontier()
    previous: TreeHead | None = None
    for head in TreeHead.objects.defer("frontier").order_by("tree_size").iterator(chunk_size=2000):
        report.tree_heads += 1
        advance(report.tree_heads)
        size = head.tree_size
        try:
            sth = _sth(head)
            genuine = verify_tree_head(head.public_key, sth)
        except ValueError:  # not base64 or not hex
            sth, genuine = None, False
        if not genuine:
            report.fail(f"tree head of size {size}: signature does not verify (forged)")
        if head.public_key != pem:
            report.fail(f"tree head of size {size}: signed by a key that is not this log's")
        if previous is not None and head.timestamp_ms < previous.timestamp_ms:
            report.fail(f"tree head of size {size}: timestamp goes backwards")
        previous = head
        if size > len(leaves):
            report.fail(
                f"tree head of size {size}: the log holds only {len(leaves)} entries (entries deleted)",
                entry=len(leaves),
            )
        if not genuine:
            signed = None
            continue
        start = signed.size if signed is not None else None
        recorded = bytes(head.leaves) if head.leaves is not None else None
        if start is not None and recorded is not None and len(recorded) == 32 * (size - start):
            added = [recorded[i : i + 32] for i in range(0, len(recorded), 32)]
            extended = signed.extended(added)
            if extended.root() == sth.root_hash:  # these are the leaves that were signed
                for index, leaf in enumerate(added, start):
                    if index in leaves and leaves[index] != leaf and index not in named:
                        report.fail(
                            f"entry {index}: rewritten together with its stored hash (its leaf is not the "
                            f"one signed in the tree head of size {size})",
                            entry=index,
                        )
                signed = extended
                continue
        if start is not None and all(index in leaves for index in range(start, size)):  # missing ones are named
            extended = signed.extended(leaves[index] for index in range(start, size))
            if extended.root() == sth.root_hash:
                signed = extended
                continue
            report.fail(
                f"tree head of size {size}: root differs from the log's; an entry in {start}..{size - 1} "
                "was rewritten (the head's record of the leaves it signed is missing or altered too)",
                entry=start,
            )
        signed = _authentic_frontier(head, sth)


def _authentic_frontier(head: TreeHead, sth: SignedTreeHead) -> Frontier | None:
    """The head's stored frontier if it hashes to its signed root (then it is the signed tree's right edge)."""
    if head.frontier is None:
        return None
    try:
        frontier = Frontier.from_bytes(head.tree_size, bytes(head.frontier))
    except ValueError:
        return None
    return frontier if frontier.root() == sth.root_hash else None


def _verify_anchors(report: VerifyReport, check_chain: bool) -> None:
    """Step 4."""
    for anchor in Anchor.objects.select_related("tree_head"):
        if anchor.status != AnchorStatus.ANCHORED:
            report.anchors_pending += 1
            continue
        if not check_chain:
            continue
        receipt = AnchorReceipt(anchor.chain_id, anchor.contract, anchor.tx_hash, anchor.block_number)
        result = _chain().check(receipt, anchor.tree_head.tree_size, bytes.fromhex(anchor.tree_head.root_hash))
        if result.status == "verified":
            report.anchors_verified += 1
        elif result.status == "unverifiable":
            report.anchors_unverifiable.append({"tree_size": anchor.tree_head.tree_size, "reason": result.detail})
        else:
            report.fail(f"anchor of tree size {anchor.tree_head.tree_size}: {result.detail}")
