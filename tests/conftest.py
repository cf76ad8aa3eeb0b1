"""Shared fixtures.

Services: when `DATABASE_URL` points at PostgreSQL the whole suite runs on it (the Makefile's `test` target
does that); `celery_worker_process` starts a real `celery worker` on `CELERY_BROKER_URL` against the test
database, for the tests marked `worker`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests import factories

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_data_dir(settings, tmp_path):
    """Each test writes blobs, indexes, keys and the dev chain under its own temporary data folder."""
    data_dir = tmp_path / "ledgerline-data"
    data_dir.mkdir(exist_ok=True)
    settings.LEDGERLINE_DATA_DIR = data_dir
    settings.MEDIA_ROOT = data_dir / "media"
    settings.LEDGERLINE_INDEX_DIR = data_dir / "indexes"
    settings.LEDGERLINE_SIGNING_KEY_PATH = data_dir / "keys" / "ledger-ed25519.pem"
    settings.LEDGERLINE_C2PA_CERT_CHAIN_PATH = data_dir / "keys" / "c2pa" / "chain.pem"
    settings.LEDGERLINE_C2PA_PRIVATE_KEY_PATH = data_dir / "keys" / "c2pa" / "signer-key.pem"
    settings.LEDGERLINE_C2PA_TRUST_ANCHORS_PATH = data_dir / "keys" / "c2pa" / "ca.pem"
    settings.LEDGERLINE_TASK_RUNNER = "eager"
    # The per-process Merkle tree would outlive the ledger rows a test rolls back: a proof from it is stale.
    from ledgerline.ledger.services import reset_tree_cache

    reset_tree_cache()
    # Django's default PBKDF2 (10^6 rounds) cost 1.3 s per user created on a 2-core machine, several minutes of
    # the suite; the tests are about who may do what, not about password storage (production keeps PBKDF2).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def label_user(db):
    return factories.user_with_role("label")


@pytest.fixture
def creator_user(db):
    return factories.user_with_role("creator")


@pytest.fixture
def reviewer_user(db):
    return factories.user_with_role("reviewer")


@pytest.fixture
def buyer_user(db):
    return factories.user_with_role("buyer")


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


def _worker_env(db_name: str) -> dict[str, str]:
    env = dict(os.environ)
    db = django_settings.DATABASES["default"]
    env["DATABASE_URL"] = (
        f"postgres://{db.get('USER') or 'postgres'}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db_name}"
    )
    env["LEDGERLINE_DATA_DIR"] = str(django_settings.LEDGERLINE_DATA_DIR)
    env["LEDGERLINE_TASK_RUNNER"] = "celery"
    # Short leases: a killed worker's job is taken over within seconds (renewed every second while it runs).
    env["LEDGERLINE_JOB_LEASE_S"] = "3"
    # Short visibility timeout: a killed worker's unacknowledged message comes back within seconds.
    env["CELERY_VISIBILITY_TIMEOUT"] = "4"
    env["PYTHONUNBUFFERED"] = "1"
    return env


class WorkerProcess:
    """A real `celery worker` subprocess consuming every queue, on the test database.

    `pool="prefork"` runs the tasks in one child process (`kill_pool_child` kills it, as the OOM killer does);
    `env` overrides the worker's environment (e.g. a production-like `CELERY_VISIBILITY_TIMEOUT`).
    """

    def __init__(self, db_name: str, log_path: Path, *, pool: str = "solo", env: dict[str, str] | None = None) -> None:
        self.db_name = db_name
        self.log_path = log_path
        self.pool = pool
        self.env = env or {}
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.log = open(self.log_path, "ab")
        ready_before = self.log_path.read_bytes().count(b"ready.")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "ledgerline",
                "worker",
                f"--pool={self.pool}",
                "--concurrency=1",
                "-Q",
                "cpu,gpu,ledger",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=INFO",
            ],
            cwd=REPO,
            env={**_worker_env(self.db_name), **self.env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited early; see {self.log_path}")
            if self.log_path.read_bytes().count(b"ready.") > ready_before:
                return
            time.sleep(0.2)
        raise RuntimeError(f"celery worker did not become ready; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL, as when a machine dies: the message stays unacknowledged and is redelivered."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.log.close()

    def pool_children(self) -> list[int]:
        """Process ids of the prefork pool's children (none with the solo pool)."""
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        return [int(pid) for pid in children.split()]

    def kill_pool_child(self) -> int:
        """SIGKILL the pool process running the task, as the OOM killer does; the worker itself lives on."""
        (child,) = self.pool_children()
        os.kill(child, signal.SIGKILL)
        return child

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        if not self.log.closed:
            self.log.close()


def _worker_started(settings, tmp_path, **options) -> WorkerProcess:
    if not os.environ.get("CELERY_BROKER_URL"):
        pytest.skip("CELERY_BROKER_URL is not set (the Makefile's test target sets it)")
    if django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("worker tests need PostgreSQL (DATABASE_URL)")
    from ledgerline.celery import app

    app.control.purge()
    settings.LEDGERLINE_TASK_RUNNER = "celery"
    worker = WorkerProcess(django_settings.DATABASES["default"]["NAME"], tmp_path / "worker.log", **options)
    worker.start()
    return worker


@pytest.fixture
def celery_worker_process(transactional_db, settings, tmp_path):
    """Start a real Celery worker for one test (tests marked `worker`). Skips when no broker/PostgreSQL is set."""
    worker = _worker_started(settings, tmp_path)
    yield worker
    worker.stop()


@pytest.fixture
def celery_prefork_worker_process(transactional_db, settings, tmp_path):
    """Like `celery_worker_process`, with the tasks run in one prefork pool child (`kill_pool_child`)."""
    worker = _worker_started(settings, tmp_path, pool="prefork")
    yield worker
    worker.stop()
