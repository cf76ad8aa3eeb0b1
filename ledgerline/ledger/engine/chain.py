"""Anchoring tree heads on an Ethereum-compatible chain with web3.py.

Two chains:
* `RpcChain`: any JSON-RPC node (`WEB3_PROVIDER_URI`); the contract is deployed once and its address kept.
* `DevChain`: the embedded default, an in-process py-evm chain (eth-tester). eth-tester keeps its blocks in
  memory only, so this wrapper persists the chain database to a file after every transaction and loads it
  before every operation, under a file lock: a restarted process, or `ledger verify` in another process,
  sees the same blocks. If the file is lost, verification says plainly that the anchors could not be checked.
"""

from __future__ import annotations

import fcntl
import json
import struct
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_typing import HexStr

if TYPE_CHECKING:
    from eth_tester import PyEVMBackend
    from web3 import Web3
    from web3.contract import Contract

CONTRACT_DIR = Path(__file__).resolve().parents[3] / "contracts" / "build"


@dataclass(frozen=True)
class AnchorReceipt:
    chain_id: int
    contract: str
    tx_hash: str
    block_number: int


@dataclass(frozen=True)
class AnchorCheck:
    status: str  # "verified" | "mismatch" | "unverifiable"
    detail: str


class ChainUnavailable(RuntimeError):
    """The chain cannot be reached now; anchoring is retried later."""


def contract_interface() -> tuple[list[dict[str, Any]], str]:
    """The anchor contract's ABI (JSON, a list of entries) and its deployable bytecode (hex)."""
    abi = json.loads((CONTRACT_DIR / "LedgerAnchor.abi").read_text())
    bytecode = (CONTRACT_DIR / "LedgerAnchor.bin").read_text().strip()
    return abi, bytecode


class _Web3Chain:
    """Shared logic: deploy, anchor, check. Subclasses provide `_web3()` and where the address is kept."""

    state_dir: Path

    def _web3(self) -> Web3:
        raise NotImplementedError

    def _address_file(self, chain_id: int) -> Path:
        return self.state_dir / f"anchor-contract-{chain_id}.json"

    def _contract(self, w3: Web3) -> Contract:
        """The anchor contract on this chain, deployed first if the address file names none that has code."""
        from web3 import Web3

        abi, bytecode = contract_interface()
        chain_id = w3.eth.chain_id
        address_file = self._address_file(chain_id)
        if address_file.exists():
            address = Web3.to_checksum_address(json.loads(address_file.read_text())["address"])
            if w3.eth.get_code(address):
                return w3.eth.contract(address=address, abi=abi)
        factory = w3.eth.contract(abi=abi, bytecode=bytecode)
        tx_hash = factory.constructor().transact({"from": w3.eth.accounts[0]})
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
        deployed = receipt["contractAddress"]
        if deployed is None:
            raise ChainUnavailable(f"deploying the anchor contract left no address (transaction {tx_hash.hex()})")
        address_file.parent.mkdir(parents=True, exist_ok=True)
        address_file.write_text(json.dumps({"address": deployed, "chain_id": chain_id}))
        return w3.eth.contract(address=deployed, abi=abi)

    def anchor(self, tree_size: int, root: bytes, timestamp_ms: int) -> AnchorReceipt:
        with self._session(write=True) as w3:
            contract = self._contract(w3)
            try:
                tx_hash = contract.functions.anchor(tree_size, root, timestamp_ms).transact(
                    {"from": w3.eth.accounts[0]}
                )
                receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
            except ChainUnavailable:
                raise
            except Exception as exc:  # a revert (size went backwards) or a node error
                raise ChainUnavailable(f"anchor transaction failed: {exc}") from exc
            if receipt["status"] != 1:
                raise ChainUnavailable(f"anchor transaction {tx_hash.hex()} reverted")
            return AnchorReceipt(
                w3.eth.chain_id,
                contract.address,
                "0x" + bytes(tx_hash).hex().removeprefix("0x"),
                receipt["blockNumber"],
            )

    def check(self, receipt: AnchorReceipt, tree_size: int, root: bytes) -> AnchorCheck:
        """Is (tree_size, root) recorded by the anchor's transaction on the chain, in the block it names?"""
        try:
            with self._session(write=False) as w3:
                if w3.eth.chain_id != receipt.chain_id:
                    return AnchorCheck(
                        "unverifiable", f"connected to chain {w3.eth.chain_id}, anchor is on {receipt.chain_id}"
                    )
                try:
                    tx_receipt = w3.eth.get_transaction_receipt(HexStr(receipt.tx_hash))
                except Exception:
                    return AnchorCheck(
                        "unverifiable", f"transaction {receipt.tx_hash} is not on this chain (was the chain reset?)"
                    )
                if tx_receipt["blockNumber"] != receipt.block_number:
                    return AnchorCheck(
                        "mismatch", f"transaction is in block {tx_receipt['blockNumber']}, not {receipt.block_number}"
                    )
                abi, _ = contract_interface()
                contract = w3.eth.contract(address=w3.to_checksum_address(receipt.contract), abi=abi)
                events = contract.events.Anchored().process_receipt(tx_receipt)
                if not events:
                    return AnchorCheck("mismatch", "transaction emitted no Anchored event")
                args = events[0]["args"]
                if args["treeSize"] != tree_size or bytes(args["root"]) != root:
                    return AnchorCheck(
                        "mismatch", f"chain holds size {args['treeSize']} root {bytes(args['root']).hex()}"
                    )
                stored = contract.functions.rootAt(tree_size).call()
                if bytes(stored) != root:
                    return AnchorCheck("mismatch", "contract storage holds another root for this size")
                return AnchorCheck("verified", f"block {receipt.block_number} on chain {receipt.chain_id}")
        except ChainUnavailable as exc:
            return AnchorCheck("unverifiable", str(exc))

    @contextmanager
    def _session(self, *, write: bool) -> Iterator[Web3]:
        yield self._web3()


class RpcChain(_Web3Chain):
    def __init__(self, uri: str, state_dir: Path) -> None:
        self.uri = uri
        self.state_dir = state_dir

    def _web3(self) -> Web3:
        from web3 import HTTPProvider, Web3

        w3 = Web3(HTTPProvider(self.uri, request_kwargs={"timeout": 10}))
        try:
            w3.eth.chain_id  # noqa: B018 - the cheapest call that proves the node answers
        except Exception as exc:
            raise ChainUnavailable(f"chain node {self.uri} is unreachable: {exc}") from exc
        return w3


class DevChain(_Web3Chain):
    """In-process py-evm chain, persisted to `state_dir/devchain.db`."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.db_file = state_dir / "devchain.db"
        self.lock_file = state_dir / "devchain.lock"

    @contextmanager
    def _session(self, *, write: bool) -> Iterator[Web3]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.lock_file, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
            try:
                w3, backend = self._load()
                yield w3
                if write:
                    self._save(backend)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load(self) -> tuple[Web3, PyEVMBackend]:
        from eth_tester import EthereumTester, PyEVMBackend
        from web3 import EthereumTesterProvider, Web3

        backend = PyEVMBackend()
        if self.db_file.exists():
            from eth.db.atomic import AtomicDB
            from eth.db.backends.memory import MemoryDB

            store = _read_kv(self.db_file.read_bytes())
            backend.chain = type(backend.chain)(AtomicDB(MemoryDB(store)))
        return Web3(EthereumTesterProvider(EthereumTester(backend))), backend

    def _save(self, backend: PyEVMBackend) -> None:
        base = backend.chain.chaindb.db
        store = getattr(base, "wrapped_db", base).kv_store
        tmp = self.db_file.with_suffix(".tmp")
        tmp.write_bytes(_write_kv(store))
        tmp.replace(self.db_file)


def _write_kv(store: Mapping[bytes, bytes]) -> bytes:
    parts = [b"LLDEVCHAIN1"]
    for key, value in store.items():
        parts.append(struct.pack(">II", len(key), len(value)) + bytes(key) + bytes(value))
    return b"".join(parts)


def _read_kv(data: bytes) -> dict[bytes, bytes]:
    if not data.startswith(b"LLDEVCHAIN1"):
        raise ChainUnavailable("the dev chain file is damaged")
    store: dict[bytes, bytes] = {}
    offset = len(b"LLDEVCHAIN1")
    while offset < len(data):
        key_len, value_len = struct.unpack_from(">II", data, offset)
        offset += 8
        key = data[offset : offset + key_len]
        offset += key_len
        store[key] = data[offset : offset + value_len]
        offset += value_len
    return store


def get_chain(provider_uri: str, state_dir: Path) -> _Web3Chain:
    return RpcChain(provider_uri, state_dir) if provider_uri else DevChain(state_dir)
