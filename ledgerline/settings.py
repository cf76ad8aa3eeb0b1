"""One settings module, driven by environment variables.

With no variables set, the embedded defaults apply: SQLite and blobs under `LEDGERLINE_DATA_DIR` (default
`./var/`), tasks run in a background thread of the process, and the ledger anchors on an in-process dev chain.
With `DATABASE_URL` and `CELERY_BROKER_URL` set, PostgreSQL and Celery workers take over.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal, InvalidOperation
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from exc
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum {minimum}")
    return value


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from exc


def env_decimal(name: str, default: str) -> Decimal:
    raw = os.environ.get(name) or default
    try:
        return Decimal(raw)
    except InvalidOperation as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a decimal number") from exc


def env_choice(name: str, default: str, choices: set[str]) -> str:
    value = os.environ.get(name) or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of {sorted(choices)}")
    return value


# --- Core -------------------------------------------------------------------------------------------
DEBUG = env_bool("LEDGERLINE_DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY", "ledgerline-dev-secret-key-change-me-in-production-0123456789")
if not DEBUG and SECRET_KEY.startswith("ledgerline-dev-"):
    raise ImproperlyConfigured("Set SECRET_KEY when LEDGERLINE_DEBUG is false")
ALLOWED_HOSTS = [h for h in env_str("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]

LEDGERLINE_DATA_DIR = Path(env_str("LEDGERLINE_DATA_DIR", str(BASE_DIR / "var"))).resolve()
# librosa's own cache (joblib, on disk) keeps the CQT filter bank that every chroma computation would otherwise
# rebuild: ingest went from ~100x to ~150x realtime per core. librosa reads this when first imported, which in
# a Django process is after the settings.
os.environ.setdefault("LIBROSA_CACHE_DIR", str(LEDGERLINE_DATA_DIR / "cache" / "librosa"))
LEDGERLINE_DATA_DIR.mkdir(parents=True, exist_ok=True)  # SQLite cannot create its own folder
MEDIA_ROOT = LEDGERLINE_DATA_DIR / "media"
MEDIA_URL = "/media/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "ledgerline.accounts",
    "ledgerline.jobs",
    "ledgerline.catalogue",
    "generation",
    "fingerprint",
    "rights",
    "rights.market",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ledgerline.urls"
WSGI_APPLICATION = "ledgerline.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ledgerline.accounts.context_processors.roles",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------------
_default_sqlite = f"sqlite:///{LEDGERLINE_DATA_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(env_str("DATABASE_URL", _default_sqlite), conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The thread runner writes while requests read: WAL and a busy timeout keep SQLite from "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    # A file, not memory, so that subprocesses started by tests (commands, workers) see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(LEDGERLINE_DATA_DIR / "test-db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []

# --- Uploads ----------------------------------------------------------------------------------------
LEDGERLINE_MAX_UPLOAD_BYTES = env_int("LEDGERLINE_MAX_UPLOAD_BYTES", 200 * 1024 * 1024, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
LEDGERLINE_ARCHIVE_MAX_MEMBERS = env_int("LEDGERLINE_ARCHIVE_MAX_MEMBERS", 10_000, minimum=1)
LEDGERLINE_ARCHIVE_MAX_TOTAL_BYTES = env_int("LEDGERLINE_ARCHIVE_MAX_TOTAL_BYTES", 2 * 1024**3, minimum=1)
LEDGERLINE_ARCHIVE_MAX_RATIO = env_int("LEDGERLINE_ARCHIVE_MAX_RATIO", 200, minimum=1)

# --- Music ------------------------------------------------------------------------------------------
LEDGERLINE_SOUNDFONT = env_str("LEDGERLINE_SOUNDFONT", "/usr/share/sounds/sf2/FluidR3_GM.sf2")

# --- Tasks ------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
# eager: run inside the caller (tests); thread: a background thread of this process (embedded default);
# celery: send to the broker's queues.
LEDGERLINE_TASK_RUNNER = env_choice(
    "LEDGERLINE_TASK_RUNNER", "celery" if CELERY_BROKER_URL else "thread", {"eager", "thread", "celery"}
)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "")
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_QUEUES = tuple(Queue(name, Exchange(name), routing_key=name) for name in ("cpu", "gpu", "ledger"))
# With Redis, a killed worker's unacknowledged task comes back after the visibility timeout; it must exceed the
# longest task (acks_late). Short timeouts (tests) also sweep for such messages more often.
_visibility_timeout = env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": _visibility_timeout,
    "unacked_restore_interval": min(10, _visibility_timeout),
    "unacked_restore_throttle": 1 if _visibility_timeout < 60 else 10,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
LEDGERLINE_ANCHOR_INTERVAL_S = env_int("LEDGERLINE_ANCHOR_INTERVAL_S", 300, minimum=5)
CELERY_BEAT_SCHEDULE = {
    "ledger-anchor": {
        "task": "rights.tasks.ledger_anchor_task",
        "schedule": float(LEDGERLINE_ANCHOR_INTERVAL_S),
        "options": {"queue": "ledger"},
    },
}
# A running job whose heartbeat is older than this is taken to belong to a dead worker and may be re-claimed.
LEDGERLINE_JOB_STALE_S = env_int("LEDGERLINE_JOB_STALE_S", 120, minimum=1)

# --- Generation -------------------------------------------------------------------------------------
# torch intra-op threads for training and generation on the CPU (0: torch's default, one per core). On a
# shared 2-core machine two spinning OpenMP threads made training 25x slower than one
# (benchmarks/generation/RESULTS.md), so the default is 1.
LEDGERLINE_TORCH_THREADS = env_int("LEDGERLINE_TORCH_THREADS", 1, minimum=0)

# --- Near-copy screening ----------------------------------------------------------------------------
# Thresholds of fingerprint.engine.screen.Thresholds. The defaults were calibrated on the chorale corpus by
# `benchmarks/nearcopy/bench_nearcopy.py` (false flags on unrelated music <= 1 %; see benchmarks/README.md).
# Override any of them with a JSON object, e.g. LEDGERLINE_SCREEN_THRESHOLDS='{"chroma_score": 0.85}'.
LEDGERLINE_SCREEN_THRESHOLDS = json.loads(env_str("LEDGERLINE_SCREEN_THRESHOLDS", "{}"))
# An index with at least this many vectors is rebuilt as a trained IVF-PQ index (re-scored with finer codes;
# Chromaprint codes: a multi-hash index, exact within 2 bits); below, exact Flat. Flat costs a 3-minute query
# ~32 ms per 1,000 stored chroma windows on two cores, so the switch comes early (benchmarks/README.md).
LEDGERLINE_INDEX_IVF_THRESHOLD = env_int("LEDGERLINE_INDEX_IVF_THRESHOLD", 10_000, minimum=1000)
LEDGERLINE_INDEX_DIR = LEDGERLINE_DATA_DIR / "indexes"

# --- Money ------------------------------------------------------------------------------------------
LEDGERLINE_CURRENCY = env_str("LEDGERLINE_CURRENCY", "EUR")
LEDGERLINE_PLATFORM_FEE_PERCENT = env_decimal("LEDGERLINE_PLATFORM_FEE_PERCENT", "15")
# Where a reviewer cleared a flag by requiring a licence, the matched work's rights holder gets this share of
# every sale of the track (each such matched work; taken before the creator's rest).
LEDGERLINE_MATCHED_WORK_SHARE_PERCENT = env_decimal("LEDGERLINE_MATCHED_WORK_SHARE_PERCENT", "10")

# --- Loops and stems market -------------------------------------------------------------------------
# Platform defaults for licence offers: the price an offer starts at, and the range a creator may set.
LEDGERLINE_OFFER_PRICES = json.loads(env_str("LEDGERLINE_OFFER_PRICES", json.dumps({
    "non_exclusive": {"default": "4.99", "min": "0.99", "max": "99.00"},
    "extended": {"default": "29.00", "min": "9.00", "max": "499.00"},
    "exclusive": {"default": "199.00", "min": "49.00", "max": "9999.00"},
})))
# Payment provider (a dotted path to a class with `charge(...)`); the built-in test provider needs no network.
LEDGERLINE_PAYMENT_PROVIDER = env_str("LEDGERLINE_PAYMENT_PROVIDER", "rights.market.payments.TestProvider")
# Download links of licensed files are signed and expire after this many seconds.
LEDGERLINE_DOWNLOAD_TTL_S = env_int("LEDGERLINE_DOWNLOAD_TTL_S", 15 * 60, minimum=10)
# Stem separation for uploaded audio-only tracks: "hpss", "nmf", or a separator registered by a plug-in.
LEDGERLINE_SEPARATION_METHOD = env_str("LEDGERLINE_SEPARATION_METHOD", "hpss")

# --- Ledger and chain -------------------------------------------------------------------------------
LEDGERLINE_SIGNING_KEY_PATH = Path(
    env_str("LEDGERLINE_SIGNING_KEY_PATH", str(LEDGERLINE_DATA_DIR / "keys" / "ledger-ed25519.pem"))
)
WEB3_PROVIDER_URI = env_str("WEB3_PROVIDER_URI", "")

# --- Demo -------------------------------------------------------------------------------------------
LEDGERLINE_DEMO_STEPS = [
    "ledgerline.catalogue.demo.load",
    "generation.demo.load",
    "rights.demo.load",
]

# --- API --------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "ledgerline.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Ledgerline API",
    "DESCRIPTION": "Rights-aware music platform: datasets, generation, screening, ledger, loops and stems.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LEDGERLINE_LOG_LEVEL", "WARNING")},
}
