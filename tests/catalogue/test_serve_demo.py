"""`make run` after the installs (`manage.py serve_demo`): the server answers at once, the demo loads behind it."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_serve_demo_answers_on_a_fresh_data_dir_while_the_demo_is_still_queued_or_running(tmp_path):
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "LEDGERLINE_TASK_RUNNER", "DJANGO_SETTINGS_MODULE"}
    }
    # The embedded defaults (SQLite, thread runner); a long lease, so no start-up sweep sends the demo: serve_demo must.
    env.update(LEDGERLINE_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1", LEDGERLINE_JOB_LEASE_S="600")
    log = (tmp_path / "console.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve_demo", f"127.0.0.1:{port}", "--chorales", "2"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline, status = time.monotonic() + 240, None  # generous: the suite shares two busy cores
        while status != 200:
            assert server.poll() is None, (tmp_path / "console.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no answer at / within 240 s"
            try:
                status = urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/", timeout=5
                ).status  # follows the login redirect
            except OSError:
                time.sleep(0.5)
        db = sqlite3.connect(tmp_path / "data" / "db.sqlite3", timeout=30)
        users = {name for (name,) in db.execute("select username from auth_user")}
        assert {"label", "creator", "reviewer", "buyer"} <= users
        first_stage = (
            "select status from jobs_job where kind = 'demo' and json_extract(params, '$.stage') = 'first-chorales'"
        )
        assert db.execute(first_stage).fetchone() is not None
        deadline = time.monotonic() + 60  # once it serves, the demo starts
        while db.execute(first_stage).fetchone()[0] == "queued":
            assert time.monotonic() < deadline, "the demo did not start after the server answered"
            time.sleep(0.5)
        db.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
    console = (tmp_path / "console.log").read_text()
    assert f"demo loading: log in at http://127.0.0.1:{port}" in console and "\r" not in console  # where it serves
