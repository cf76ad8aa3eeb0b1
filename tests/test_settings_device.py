"""LEDGERLINE_DEVICE: where training and generation run. Settings are read once per process: a subprocess each."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent


def _device(tmp_path: Path, value: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LEDGERLINE_DEVICE"}
    env.update(LEDGERLINE_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="ledgerline.settings")
    if value is not None:
        env["LEDGERLINE_DEVICE"] = value
    code = "import ledgerline.settings as s; print(s.LEDGERLINE_DEVICE)"
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_unset_device_is_the_gpu_when_torch_sees_one(tmp_path):
    result = _device(tmp_path, None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("cuda" if torch.cuda.is_available() else "cpu")


def test_cpu_can_always_be_chosen(tmp_path):
    assert _device(tmp_path, " CPU ").stdout.strip() == "cpu"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("gpu", "is not a device (use cpu, cuda or cuda:N)"),
        ("cuda:x", "is not a device"),
        ("cuda:99", "CUDA device" if torch.cuda.is_available() else "sees no CUDA device"),
    ],
)
def test_a_bad_device_fails_loudly_at_start(tmp_path, value, message):
    result = _device(tmp_path, value)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr
