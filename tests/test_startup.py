"""Django's start imports neither torch nor the other heavy libraries of the work: every process (web workers,
Celery workers that never train, manage.py commands) would pay 1.5-4 s for torch and about 1 s for the rest.
torch and the engine modules built on it load when a model is trained, loaded or sampled (`generation.services`,
`generation.latent`); scipy, matplotlib, pyloudnorm, numba and fpdf when a grid is tracked, a loudness measured,
a plot drawn, melodies aligned or a PDF certificate downloaded. A fresh interpreter each, since a module once
imported stays in `sys.modules`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The modules that import torch when imported: torch itself, the generation engine's network modules, and the
# platform's VAE module.
TORCH_MODULES = (
    "torch",
    "generation.engine.models",
    "generation.engine.train",
    "generation.engine.sample",
    "generation.engine.vae",
    "generation.engine.frames",
    "generation.latent",
)
# Heavy at import and needed only by the work: scipy (through pyloudnorm, the bar grid's filter and numba),
# matplotlib (evidence plots), numba (melody alignment), fpdf (PDF certificates).
LAZY_LIBRARIES = ("fpdf", "matplotlib", "numba", "pyloudnorm", "scipy")
START = """
import django
django.setup()  # every app's models and ready(): job handlers, contributions, signal receivers
from django.core.management import call_command, get_commands, load_command_class
from django.urls import get_resolver
get_resolver().url_patterns  # the URLconf, with every app's views and API
call_command("check")
for name, app in get_commands().items():
    load_command_class(app, name)  # every command's module, as `manage.py <command>` loads it
"""


def _loaded_after(code: str, tmp_path: Path, watched: tuple[str, ...]) -> list[str]:
    """Which of `watched` a fresh interpreter holds after running `code`."""
    code += f"import json, sys; print(json.dumps(sorted(m for m in sys.modules if m in {watched!r})))"
    env = {**os.environ, "LEDGERLINE_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "ledgerline.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_django_start_urlconf_check_and_commands_import_no_torch_nor_heavy_libraries(tmp_path):
    assert _loaded_after(START, tmp_path, TORCH_MODULES + LAZY_LIBRARIES) == []


def test_the_watch_sees_a_network_module_and_torch(tmp_path):
    """What the test above watches is what a network's module loads (so that test can fail)."""
    loaded = _loaded_after("import generation.engine.sample\n", tmp_path, TORCH_MODULES)
    assert loaded == ["generation.engine.sample", "torch"]


def test_the_watch_sees_the_libraries_the_work_loads(tmp_path):
    """The modules and functions that do the work load what the first test watches (so it can fail)."""
    work = """
import django
django.setup()
import numpy as np
import ledgerline.music.align_kernels, fingerprint.engine.plots, rights.market.certificate_pdf
from rights.market.engine.sale_audio import integrated_loudness
integrated_loudness(np.zeros((48000, 1)), 48000)
"""
    assert _loaded_after(work, tmp_path, LAZY_LIBRARIES) == sorted(LAZY_LIBRARIES)
