"""Anchoring on a real JSON-RPC node process on loopback (ganache from the npm registry), not the in-process chain."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from ledgerline.ledger.models import Anchor
from ledgerline.ledger.services import ledger_anchor, ledger_append, ledger_verify

pytestmark = pytest.mark.django_db
GANACHE = Path(__file__).resolve().parents[2] / ".venv" / "node" / "node_modules" / ".bin" / "ganache"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    request = urllib.request.Request(
        url,
        data=json.dumps({"jsonrpc": "2.0", "method": "eth_chainId", "params": [], "id": 1}).encode(),
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=1) as response:
            return "result" in json.loads(response.read())
    except OSError:
        return False


@pytest.fixture
def rpc_node():
    if not GANACHE.exists():
        pytest.skip("ganache is not installed (scripts/setup.sh dev installs it with npm)")
    port = _free_port()
    node = subprocess.Popen(
        [str(GANACHE), "--port", str(port), "--wallet.deterministic", "--logging.quiet", "--chain.chainId", "1337"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not _answers(url):
        if node.poll() is not None or time.monotonic() > deadline:
            node.kill()
            pytest.fail("the ganache node did not start")
        time.sleep(0.3)
    yield node, url
    node.terminate()
    node.wait(timeout=10)


def test_tree_heads_are_anchored_on_a_json_rpc_node_and_a_dead_node_delays_without_losing(rpc_node, settings):
    node, url = rpc_node
    settings.WEB3_PROVIDER_URI = url
    ledger_append(event="test.first", subject_type="t", subject_id=1, payload={"n": 1})
    anchor = ledger_anchor()
    assert anchor.status == "anchored" and anchor.chain_id == 1337 and anchor.tx_hash.startswith("0x")
    report = ledger_verify()
    assert report.ok and report.anchors_verified == 1, report.as_json()

    node.terminate()
    node.wait(timeout=10)
    ledger_append(event="test.second", subject_type="t", subject_id=2, payload={"n": 2})  # never blocked by the chain
    failed = ledger_anchor()
    assert failed.status == "failed" and "unreachable" in failed.error
    assert Anchor.objects.filter(status="anchored").count() == 1
    report = ledger_verify()
    assert report.entries == 2 and report.anchors_pending == 1
    assert report.anchors_unverifiable and "unreachable" in json.dumps(report.anchors_unverifiable)
