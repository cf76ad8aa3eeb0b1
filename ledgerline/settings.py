"""One settings module, driven by environment variables.

With no variables set, the embedded defaults apply: SQLite and blobs under `LEDGERLINE_DATA_DIR` (default
`./var/`), tasks run in a background thread of the process, and the ledger anchors on an in-process dev chain.
With `DATABASE_URL` and `CELERY_BROKER_URL` set, PostgreSQL and Celery workers take over.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from ledgerline.jobs.queues import QUEUES

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


_DEVICE_PATTERN = re.compile(r"cpu|cuda(:\d+)?")


def env_device(name: str) -> str:
    """A torch device as configured: "cpu", "cuda" or "cuda:N", or "" when unset (then `generation.services.device()`
    picks "cuda" when torch sees a GPU, else "cpu", at first use). Only the spelling is checked here: settings never
    import torch, which cost every process (manage.py, each web worker) 1.6 s; whether a named CUDA device exists is
    checked, as loudly, when training or generation first asks for it."""
    raw = (os.environ.get(name) or "").strip().lower()
    if raw and not _DEVICE_PATTERN.fullmatch(raw):
        raise ImproperlyConfigured(f"{name}={raw!r} is not a device (use cpu, cuda or cuda:N)")
    return raw


def secret_key_in(path: Path) -> str:
    """The key kept in `path`, or a new random one written there (mode 0600) on first run.

    The file appears whole or not at all (written aside, then hard-linked): of two processes starting at
    once, the first link wins and both read it.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


# --- Core -------------------------------------------------------------------------------------------
DEBUG = env_bool("LEDGERLINE_DEBUG", True)
ALLOWED_HOSTS = [h for h in env_str("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]

LEDGERLINE_DATA_DIR = Path(env_str("LEDGERLINE_DATA_DIR", str(BASE_DIR / "var"))).resolve()
# Signs sessions, CSRF tokens and download links. Unset, each installation makes its own on first run and
# keeps it in the data folder (shared by the web and worker containers), as it does the ledger key.
SECRET_KEY = env_str("SECRET_KEY") or secret_key_in(LEDGERLINE_DATA_DIR / "keys" / "secret-key")
if not DEBUG and (len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("ledgerline-dev-")):
    # The last: the development key this project once published.
    raise ImproperlyConfigured(
        "SECRET_KEY must be a random string of at least 50 characters when LEDGERLINE_DEBUG is false "
        "(unset it to have one generated in LEDGERLINE_DATA_DIR)"
    )
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
    "axes",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc served from our static files: /api/docs/ works offline
    "ledgerline.accounts",
    "ledgerline.jobs",
    "ledgerline.ledger",
    "ledgerline.catalogue",
    "generation",
    "fingerprint",
    "tracks",
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
    # Last: turns a log-in refused by the lockout into its 429 page.
    "axes.middleware.AxesMiddleware",
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
# Seconds a web process keeps its database connection between requests (0: one connection per request, a
# forked PostgreSQL backend each time; under load that costs more than a catalogue page's queries).
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", _default_sqlite),
        conn_max_age=env_int("LEDGERLINE_DB_CONN_MAX_AGE", 0, minimum=0),
        conn_health_checks=True,
    )
}
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

# --- Cache ------------------------------------------------------------------------------------------
# A Redis URL shares the cache between every web process and worker (each process has its own otherwise).
_cache_url = env_str("LEDGERLINE_CACHE_URL")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}
    if _cache_url
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
# Seconds a catalogue search page (GET /api/market/assets/) is served from the cache; 0: off. A change to the
# catalogue (new loops, prices, exclusive sales) invalidates the pages at once in a shared cache; without one,
# other processes may show the old page for up to this long.
LEDGERLINE_CATALOGUE_CACHE_S = env_int("LEDGERLINE_CATALOGUE_CACHE_S", 0, minimum=0)

# --- Log-in protection ------------------------------------------------------------------------------
# django-axes counts failed log-ins (login page and /api/auth/token/) per username and client address in the
# database; at the limit that pair is refused with 429, even with the right password, until the cool-off has
# passed since its last failure. Attempts during the lockout do not extend it.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LEDGERLINE_LOGIN_FAILURE_LIMIT = env_int("LEDGERLINE_LOGIN_FAILURE_LIMIT", 5, minimum=1)
LEDGERLINE_LOGIN_COOLOFF_S = env_int("LEDGERLINE_LOGIN_COOLOFF_S", 15 * 60, minimum=1)
AXES_FAILURE_LIMIT = LEDGERLINE_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LEDGERLINE_LOGIN_COOLOFF_S)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_COOLOFF_MESSAGE = (
    "Too many failed log-ins for this username from your address: "
    f"try again in {max(1, round(LEDGERLINE_LOGIN_COOLOFF_S / 60))} minutes."
)
# API tokens are refused this long after they were issued; /api/auth/token/ then issues a new one.
LEDGERLINE_API_TOKEN_TTL_S = env_int("LEDGERLINE_API_TOKEN_TTL_S", 24 * 3600, minimum=60)

# --- HTTPS ------------------------------------------------------------------------------------------
# Behind TLS (LEDGERLINE_HTTPS=1): cookies only over HTTPS, plain HTTP redirected, and HSTS for a year
# (`manage.py check --deploy` asks for subdomains and preload too). `make run` serves plain HTTP and leaves
# these off. Behind a TLS-terminating proxy that sets X-Forwarded-Proto, LEDGERLINE_PROXY_SSL_HEADER=1 makes
# Django trust it (otherwise every request looks like HTTP and is redirected forever).
LEDGERLINE_HTTPS = env_bool("LEDGERLINE_HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = LEDGERLINE_HTTPS
SECURE_HSTS_SECONDS = env_int("LEDGERLINE_HSTS_SECONDS", 365 * 24 * 3600, minimum=0) if LEDGERLINE_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = LEDGERLINE_HTTPS
if env_bool("LEDGERLINE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

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
# Work grows with a piece's duration, not its bytes: checked from the header (audio) or the parsed score
# (symbolic) before decoding or rendering. Defaults fit a 2-core worker.
LEDGERLINE_MAX_DURATION_S = env_int("LEDGERLINE_MAX_DURATION_S", 15 * 60, minimum=1)  # corpus items, tracks
LEDGERLINE_MAX_QUERY_DURATION_S = env_int("LEDGERLINE_MAX_QUERY_DURATION_S", 10 * 60, minimum=1)  # screening

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
# One queue per `JobQueue`; each job is sent to the queue its kind was registered with (ledgerline/jobs/registry.py).
CELERY_TASK_QUEUES = tuple(Queue(name, Exchange(name), routing_key=name) for name in QUEUES)
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
# A running job's worker holds a lease on it for this long, renewed every third of it while the job runs; a job
# whose lease expired belongs to a dead worker and is taken over by a redelivery or by the stale-job sweep.
LEDGERLINE_JOB_LEASE_S = env_int("LEDGERLINE_JOB_LEASE_S", 30, minimum=1)
# A queued job that no worker claimed within this long is sent again by the sweep (its message may be lost);
# a duplicate message is harmless, the job is claimed once.
LEDGERLINE_JOB_QUEUED_LEASE_S = env_int("LEDGERLINE_JOB_QUEUED_LEASE_S", 900, minimum=1)
# A job whose handler raised a transient error (ledgerline.jobs.services.TRANSIENT_ERRORS: the database or the
# broker away for a moment) runs again after a backoff that starts here and doubles, up to this many runs in all.
LEDGERLINE_JOB_MAX_ATTEMPTS = env_int("LEDGERLINE_JOB_MAX_ATTEMPTS", 5, minimum=1)
LEDGERLINE_JOB_RETRY_BACKOFF_S = env_int("LEDGERLINE_JOB_RETRY_BACKOFF_S", 2, minimum=0)

# --- Generation -------------------------------------------------------------------------------------
# torch intra-op threads for training and generation on the CPU (0: torch's default, one per core). On a
# shared 2-core machine two spinning OpenMP threads made training 25x slower than one
# (benchmarks/generation/RESULTS.md), so the default is 1.
LEDGERLINE_TORCH_THREADS = env_int("LEDGERLINE_TORCH_THREADS", 1, minimum=0)
# Where every training and generation path runs its models (cpu, cuda, cuda:N). Unset (""): the GPU when torch
# sees one, decided at first use (`generation.services.device()`). Training uses bf16 autocast on CUDA; sampling draws on the CPU, so a seed gives the same tokens anywhere.
LEDGERLINE_DEVICE = env_device("LEDGERLINE_DEVICE")

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
LEDGERLINE_OFFER_PRICES = json.loads(
    env_str(
        "LEDGERLINE_OFFER_PRICES",
        json.dumps(
            {
                "non_exclusive": {"default": "4.99", "min": "0.99", "max": "99.00"},
                "extended": {"default": "29.00", "min": "9.00", "max": "499.00"},
                "exclusive": {"default": "199.00", "min": "49.00", "max": "9999.00"},
            }
        ),
    )
)
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
# Content Credentials (C2PA) on downloaded files: the signing certificate chain (leaf, then CA), its PKCS#8 key
# and the CA trusted by `manage.py credentials`. Left unset, an identity is created on first use in keys/c2pa/.
LEDGERLINE_C2PA_CERT_CHAIN_PATH = Path(
    env_str("LEDGERLINE_C2PA_CERT_CHAIN_PATH", str(LEDGERLINE_DATA_DIR / "keys" / "c2pa" / "chain.pem"))
)
LEDGERLINE_C2PA_PRIVATE_KEY_PATH = Path(
    env_str("LEDGERLINE_C2PA_PRIVATE_KEY_PATH", str(LEDGERLINE_DATA_DIR / "keys" / "c2pa" / "signer-key.pem"))
)
LEDGERLINE_C2PA_TRUST_ANCHORS_PATH = Path(
    env_str("LEDGERLINE_C2PA_TRUST_ANCHORS_PATH", str(LEDGERLINE_DATA_DIR / "keys" / "c2pa" / "ca.pem"))
)
WEB3_PROVIDER_URI = env_str("WEB3_PROVIDER_URI", "")

# --- Demo -------------------------------------------------------------------------------------------
LEDGERLINE_DEMO_STEPS = [
    "ledgerline.catalogue.demo.load",
    "generation.demo.load",
    "ledgerline.ledger.demo.load",
]

# --- API --------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "ledgerline.accounts.authentication.ExpiringTokenAuthentication",
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
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LEDGERLINE_LOG_LEVEL", "WARNING")},
}
