"""LEDGERLINE_DEVICE: where training and generation run. Settings are read once per process: a subprocess each.

Settings check only the spelling and never import torch (every process would pay for it); the device itself is
resolved, and a CUDA device this machine lacks refused, when training or generation first asks for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
# Prints the configured value and whether loading settings imported torch, then the device in use.
CODE = (
    "import sys; import ledgerline.settings as s; print(repr(s.LEDGERLINE_DEVICE), 'torch' in sys.modules, flush=True)"
    "; import django; django.setup(); from generation.services import device; print(device())"
)


def _device(tmp_path: Path, value: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LEDGERLINE_DEVICE"}
    env.update(LEDGERLINE_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="ledgerline.settings")
    if value is not None:
        env["LEDGERLINE_DEVICE"] = value
    return subprocess.run([sys.executable, "-c", CODE], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_unset_device_is_the_gpu_when_torch_sees_one_decided_at_first_use(tmp_path):
    result = _device(tmp_path, None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["'' False", "cuda" if torch.cuda.is_available() else "cpu"]


def test_cpu_can_always_be_chosen(tmp_path):
    assert _device(tmp_path, " CPU ").stdout.split("\n")[:2] == ["'cpu' False", "cpu"]


@pytest.mark.parametrize(
    ("value", "message"),
    [("gpu", "is not a device (use cpu, cuda or cuda:N)"), ("cuda:x", "is not a device")],
)
def test_a_misspelt_device_fails_loudly_at_start(tmp_path, value, message):
    result = _device(tmp_path, value)
    assert result.returncode != 0 and result.stdout == ""
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_a_cuda_device_the_machine_lacks_is_refused_at_first_use(tmp_path):
    result = _device(tmp_path, "cuda:99")
    assert result.returncode != 0 and result.stdout == "'cuda:99' False\n"
    count = torch.cuda.device_count()
    message = f"torch sees {count} CUDA device(s)" if count else "torch sees no CUDA device on this machine"
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr
