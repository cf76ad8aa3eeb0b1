"""Production defaults: a per-installation secret key, HTTPS flags, and a clean `manage.py check --deploy`.

Settings are read once per process, so each case runs in a subprocess with its own environment.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHOWN = [
    "SECRET_KEY",
    "DEBUG",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
]


def _env(data_dir: Path, **overrides: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LEDGERLINE_", "SECURE_")) and k not in {"SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"}
    }
    env.update(LEDGERLINE_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="ledgerline.settings", **overrides)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def _settings(env: dict[str, str]) -> dict:
    code = f"import json, ledgerline.settings as s; print(json.dumps({{n: getattr(s, n) for n in {SHOWN!r}}}))"
    result = _run(["-c", code], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_secret_key_is_generated_into_the_data_folder_once_per_installation(tmp_path):
    first = _settings(_env(tmp_path / "a"))
    key_file = tmp_path / "a" / "keys" / "secret-key"
    assert key_file.read_text().strip() == first["SECRET_KEY"]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first["SECRET_KEY"]) >= 50
    assert _settings(_env(tmp_path / "a"))["SECRET_KEY"] == first["SECRET_KEY"]
    assert _settings(_env(tmp_path / "b"))["SECRET_KEY"] != first["SECRET_KEY"]


def test_secret_key_from_the_environment_wins_and_writes_no_file(tmp_path):
    key = secrets.token_urlsafe(48)
    assert _settings(_env(tmp_path, SECRET_KEY=key))["SECRET_KEY"] == key
    assert not (tmp_path / "keys" / "secret-key").exists()


def test_short_or_published_secret_key_is_refused_with_debug_off(tmp_path):
    for key in [
        "change-me-in-production-0123456789abcdef",
        "ledgerline-dev-secret-key-change-me-in-production-0123456789",
    ]:
        result = _run(["-c", "import ledgerline.settings"], _env(tmp_path, LEDGERLINE_DEBUG="0", SECRET_KEY=key))
        assert result.returncode != 0
        assert "SECRET_KEY must be a random string of at least 50 characters" in result.stderr


def test_short_secret_key_is_accepted_in_development(tmp_path):
    assert _settings(_env(tmp_path, SECRET_KEY="dev"))["DEBUG"] is True


def test_plain_http_development_keeps_cookies_usable_without_tls(tmp_path):
    shown = _settings(_env(tmp_path))
    assert not shown["SESSION_COOKIE_SECURE"] and not shown["SECURE_SSL_REDIRECT"] and shown["SECURE_HSTS_SECONDS"] == 0


def test_https_sets_secure_cookies_hsts_and_redirect(tmp_path):
    shown = _settings(_env(tmp_path, LEDGERLINE_HTTPS="1"))
    assert shown["SESSION_COOKIE_SECURE"] and shown["CSRF_COOKIE_SECURE"] and shown["SECURE_SSL_REDIRECT"]
    assert shown["SECURE_HSTS_SECONDS"] >= 365 * 24 * 3600


def test_check_deploy_is_clean_in_production_settings(tmp_path):
    env = _env(tmp_path, LEDGERLINE_DEBUG="0", LEDGERLINE_HTTPS="1", ALLOWED_HOSTS="ledgerline.example")
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
