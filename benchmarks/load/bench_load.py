"""Buyers under load: gunicorn on loopback, N concurrent clients, throughput and latency per endpoint.

    .venv/bin/python benchmarks/load/bench_load.py [--users 20,50] [--duration 30] [--think-ms 0]
        [--workers 2] [--threads 4] [--assets 20000] [--datasets 2000] [--skip-seed]

1. seed: a scratch PostgreSQL database (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/ledgerline_load,
   created when missing, FLUSHED) gets a realistic catalogue as plain rows (no audio is rendered: the measured
   endpoints read rows only): `--assets` loops over 500 published tracks of 20 studios, three offers each,
   `--datasets` public datasets of 40 labels with 1-20 corpus items each, `--buyers` buyer accounts; then
   VACUUM ANALYZE (what autovacuum does to a catalogue that has been up a while).
2. serve: gunicorn on 127.0.0.1 (a free port; loopback only) with `--workers` processes of `--threads` threads
   (gthread; `--threads 1` gives sync workers), production settings (LEDGERLINE_DEBUG=0).
3. log in: each buyer asks POST /api/auth/token/ once (the real path, PBKDF2 included); clients share the
   buyers' tokens round-robin.
4. load: for each level of `--users`, that many client threads (one keep-alive HTTP connection each) send
   requests back to back (or `--think-ms` apart, like a person browsing) for `--duration` seconds or until
   `--max-requests`, whichever comes first: half catalogue searches (a mix of filters, sorts and pages), a
   quarter dataset lists, a quarter asset details. A short warm-up at each level is not counted.
5. report: requests/s, p50/p95/p99 per endpoint, errors (status >= 400, timeouts, refused connections), and the
   machine's load average before and after each level (the clients share the 2 cores with the server).

Everything stops by itself: each level is bounded in time and requests, a watchdog kills gunicorn and exits
after `--deadline` seconds, and gunicorn is stopped in a `finally`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode, urlparse

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/ledgerline_load"
PASSWORD = "load-bench-password"
WORDS = ["morning", "chorale", "river", "night", "dance", "piece", "fantasy", "hymn", "waltz", "storm"]


# --- 1. seed ----------------------------------------------------------------------------------------------
def database_ensure(url: str) -> None:
    """Create the scratch database when it is missing (connecting to the server's `postgres` database)."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def catalogue_seed(*, assets: int, datasets: int, buyers: int, seed: int = 0) -> dict:
    """Rows of a catalogue that has been up a while (see the module docstring); returns what the clients need."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import connection, transaction

    from benchmarks._data import KEYS, catalogue_asset, catalogue_offers
    from ledgerline.accounts.models import Membership, Organisation, Role
    from ledgerline.catalogue.models import CorpusItem, Dataset, Track
    from rights.market.models import Asset, LicenceOffer

    call_command("flush", interactive=False, verbosity=0)
    rng = random.Random(seed)
    User = get_user_model()
    with transaction.atomic():
        studios = Organisation.objects.bulk_create(
            [Organisation(slug=f"studio-{i}", name=f"Studio {i}") for i in range(20)]
        )
        labels = Organisation.objects.bulk_create(
            [Organisation(slug=f"label-{i}", name=f"Label {i}") for i in range(40)]
        )
        buyer_org = Organisation.objects.create(slug="buyers", name="Buyers Ltd")
        password = make_password(PASSWORD)  # hashed once: PBKDF2 costs about a second per user here
        users = User.objects.bulk_create([User(username=f"buyer{i}", password=password) for i in range(buyers)])
        Membership.objects.bulk_create([Membership(user=u, organisation=buyer_org, role=Role.BUYER) for u in users])

        made = Dataset.objects.bulk_create(
            [
                Dataset(
                    organisation=labels[i % len(labels)],
                    name=f"{rng.choice(WORDS).title()} collection {i}",
                    description="Licensed symbolic music.",
                    is_public=True,
                    status="ready",
                    training_allowed=True,
                    generation_allowed=True,
                    commercial_use=bool(i % 2),
                    revenue_share_percent=Decimal(rng.randint(5, 30)),
                )
                for i in range(datasets)
            ]
        )
        items = [
            CorpusItem(
                dataset=d,
                sha256=f"{d.pk:032x}{n:032x}",
                original_name=f"piece-{n}.mid",
                format="midi",
                kind="symbolic",
                title=f"Piece {n}",
                duration_s=60.0,
                key=rng.choice(KEYS),
                tempo_bpm=100.0,
                time_signature="4/4",
                source_path="x",
            )
            for d in made
            for n in range(rng.randint(1, 20))
        ]
        CorpusItem.objects.bulk_create(items, batch_size=5000)

        tracks = Track.objects.bulk_create(
            [
                Track(
                    organisation=studios[i % len(studios)],
                    title=f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} {i}",
                    status="published",
                    tempo_bpm=float(rng.randint(70, 160)),
                    key=rng.choice(KEYS),
                    time_signature="4/4",
                    bars=64,
                    duration_s=128.0,
                )
                for i in range(500)
            ]
        )
        per_track: dict[int, int] = {}
        rows = []
        for n in range(assets):
            track = tracks[n % len(tracks)]
            per_track[track.pk] = per_track.get(track.pk, -1) + 1
            rows.append(catalogue_asset(rng, track=track, start_bar=per_track[track.pk], number=n, method="load-bench"))
        created = Asset.objects.bulk_create(rows, batch_size=5000)
        LicenceOffer.objects.bulk_create(catalogue_offers(created), batch_size=10000)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return world_read()


def world_read() -> dict:
    """What the clients pick from: buyer names, asset ids, studio slugs (from a seeded database)."""
    from django.contrib.auth import get_user_model

    from ledgerline.accounts.models import Organisation
    from rights.market.models import Asset

    return {
        "buyers": list(
            get_user_model().objects.filter(username__startswith="buyer").values_list("username", flat=True)
        ),
        "assets": list(Asset.objects.values_list("pk", flat=True)),
        "studios": list(Organisation.objects.filter(slug__startswith="studio-").values_list("slug", flat=True)),
    }


# --- 2. serve ---------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn_start(*, port: int, workers: int, threads: int, env: dict) -> subprocess.Popen:
    command = [
        str(REPO / ".venv" / "bin" / "gunicorn"),
        "ledgerline.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--timeout",
        "120",
        "--log-level",
        "warning",
        "--keep-alive",
        "30",
    ]
    if threads > 1:
        command += ["--worker-class", "gthread", "--threads", str(threads)]
    server = subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True)
    deadline = time.monotonic() + 180  # each worker imports the whole platform (torch included) on a busy machine
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode} before answering")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.3)
    gunicorn_stop(server)
    raise SystemExit("gunicorn did not answer /healthz within 180 s")


def gunicorn_stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def server_cpu_seconds(server: subprocess.Popen) -> dict[int, float]:
    """CPU seconds (user + system) so far of each gunicorn worker and of each PostgreSQL backend serving the
    scratch database (same machine): the server's own cost, whatever else the machine runs."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        pids = [row[0] for row in cursor.fetchall()]
    connection.close()
    try:
        pids += [int(p) for p in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]
    except OSError:
        pass
    ticks = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone, or not readable
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return seconds


# --- 3. log in ---------------------------------------------------------------------------------------------
def tokens_obtain(port: int, usernames: list[str]) -> list[str]:
    tokens = []
    for username in usernames:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request(
            "POST",
            "/api/auth/token/",
            body=json.dumps({"username": username, "password": PASSWORD}),
            headers={"Content-Type": "application/json"},
        )
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"log-in of {username} answered {response.status}: {body[:200]!r}")
        tokens.append(json.loads(body)["token"])
        conn.close()
    return tokens


# --- 4. load -----------------------------------------------------------------------------------------------
def search_params(rng: random.Random, studios: list[str]) -> dict:
    """What buyers type into the catalogue's filters (with the page they look at)."""
    from benchmarks._data import KEYS

    choice = rng.randrange(8)
    params: dict = {}
    if choice == 0:
        params = {"key": rng.choice(KEYS), "bars": rng.choice(["1", "2", "4", "8", "4,8"])}
    elif choice == 1:
        low = rng.randint(70, 140)
        params = {"tempo_min": low, "tempo_max": low + 20, "kind": "stem"}
    elif choice == 2:
        params = {"instrument": rng.choice(["bass", "melody", "drums"]), "licence": "exclusive", "price_max": "200"}
    elif choice == 3:
        params = {"q": f"{rng.choice(WORDS)} {rng.choice(['bass', 'melody', 'mix'])}", "sort": "relevance"}
    elif choice == 4:
        params = {"creator": rng.choice(studios), "sort": "price"}
    elif choice == 5:
        params = {"q": rng.choice(WORDS)}
    if choice >= 4 and rng.random() < 0.4:  # later pages of the broad searches only: a narrow one has 1-2 pages
        params["page"] = rng.randint(2, 5)
    return params


@dataclass
class Sample:
    endpoint: str
    ms: float
    status: int  # 0: no answer (timeout, refused, reset)


@dataclass
class Client:
    port: int
    token: str
    world: dict
    think_ms: float
    rng: random.Random
    samples: list[Sample] = field(default_factory=list)
    conn: http.client.HTTPConnection | None = None

    def request(self) -> Sample:
        roll = self.rng.random()
        if roll < 0.5:
            endpoint, path = (
                "catalogue search",
                "/api/market/assets/?" + urlencode(search_params(self.rng, self.world["studios"])),
            )
        elif roll < 0.75:
            page = self.rng.choice([1, 1, 1, 2, 3])
            endpoint, path = "dataset list", f"/api/datasets/?page={page}" if page > 1 else "/api/datasets/"
        else:
            endpoint, path = "asset detail", f"/api/market/assets/{self.rng.choice(self.world['assets'])}/"
        started = time.perf_counter()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.conn.request("GET", path, headers={"Authorization": f"Token {self.token}"})
            response = self.conn.getresponse()
            response.read()
            status = response.status
            if response.will_close:
                self.conn.close()
                self.conn = None
        except (OSError, http.client.HTTPException):
            status = 0
            if self.conn is not None:
                self.conn.close()
            self.conn = None
        return Sample(endpoint, (time.perf_counter() - started) * 1000, status)

    def run(self, stop: threading.Event, budget: list[int], lock: threading.Lock) -> None:
        while not stop.is_set():
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            self.samples.append(self.request())
            if self.think_ms:
                stop.wait(self.rng.uniform(0.5, 1.5) * self.think_ms / 1000)


def load_level(
    *,
    server: subprocess.Popen,
    port: int,
    users: int,
    tokens: list[str],
    world: dict,
    duration: float,
    max_requests: int,
    think_ms: float,
    warmup_s: float,
) -> dict:
    def drive(seconds: float, budget: int) -> tuple[list[Client], float]:
        clients = [
            Client(port, tokens[i % len(tokens)], world, think_ms, random.Random(1000 * users + i))
            for i in range(users)
        ]
        stop, lock, left = threading.Event(), threading.Lock(), [budget]
        threads = [threading.Thread(target=c.run, args=(stop, left, lock), daemon=True) for c in clients]
        started = time.perf_counter()
        for t in threads:
            t.start()
        stop.wait(seconds)
        stop.set()
        for t in threads:
            t.join(timeout=35)
        elapsed = time.perf_counter() - started
        for c in clients:
            if c.conn is not None:
                c.conn.close()
        return clients, elapsed

    drive(warmup_s, max_requests)
    load_before, cpu_before = os.getloadavg(), server_cpu_seconds(server)
    clients, elapsed = drive(duration, max_requests)
    load_after, cpu_after = os.getloadavg(), server_cpu_seconds(server)
    samples = [s for c in clients for s in c.samples]
    server_cpu = sum(cpu - cpu_before.get(pid, 0.0) for pid, cpu in cpu_after.items())
    figures = {
        "users": users,
        "think_ms": think_ms,
        "seconds": round(elapsed, 1),
        "requests": len(samples),
        "requests_per_s": round(len(samples) / elapsed, 1),
        "errors": sum(1 for s in samples if s.status == 0 or s.status >= 400),
        "error_statuses": dict(Counter(s.status for s in samples if s.status == 0 or s.status >= 400)),
        "server_cpu_ms_per_request": round(1000 * server_cpu / max(1, len(samples)), 1),
        "server_cpu_share": round(server_cpu / elapsed / (os.cpu_count() or 1), 2),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "endpoints": {},
    }
    for endpoint in ("catalogue search", "dataset list", "asset detail"):
        times = sorted(s.ms for s in samples if s.endpoint == endpoint)
        if not times:
            continue
        figures["endpoints"][endpoint] = {
            "requests": len(times),
            "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 1),
            "p99_ms": round(times[min(len(times) - 1, int(0.99 * len(times)))], 1),
            "errors": sum(1 for s in samples if s.endpoint == endpoint and (s.status == 0 or s.status >= 400)),
        }
    return figures


def report(levels: list[dict]) -> str:
    lines = [
        "| users | think | req/s | errors | server CPU ms/req | endpoint | p50 ms | p95 ms | p99 ms "
        "| load avg (1 min) before → after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for level in levels:
        for name, e in level["endpoints"].items():
            lines.append(
                f"| {level['users']} | {level['think_ms']:.0f} ms | {level['requests_per_s']} | {level['errors']} "
                f"| {level['server_cpu_ms_per_request']} | {name} | {e['p50_ms']} | {e['p95_ms']} | {e['p99_ms']} "
                f"| {level['load_average_before'][0]} → {level['load_average_after'][0]} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", default="1,20,50", help="comma-separated concurrency levels")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds measured per level")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of uncounted load before each level")
    parser.add_argument("--max-requests", type=int, default=50_000, help="at most this many requests per level")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="mean pause of each client between requests (uniform 0.5x-1.5x); 0: back to back",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (gthread); 1: sync workers")
    parser.add_argument("--conn-max-age", type=int, default=60, help="LEDGERLINE_DB_CONN_MAX_AGE of the server")
    parser.add_argument("--cache-s", type=int, default=0, help="LEDGERLINE_CATALOGUE_CACHE_S of the server (0: off)")
    parser.add_argument(
        "--cache-url",
        default=os.environ.get("LEDGERLINE_CACHE_URL", ""),
        help="LEDGERLINE_CACHE_URL of the server (a Redis URL; empty: each worker its own memory)",
    )
    parser.add_argument("--assets", type=int, default=20_000)
    parser.add_argument("--datasets", type=int, default=2_000)
    parser.add_argument("--buyers", type=int, default=5)
    parser.add_argument("--skip-seed", action="store_true", help="reuse the catalogue a previous run seeded")
    parser.add_argument("--deadline", type=float, default=900.0, help="hard stop: seconds for the whole run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    levels = [int(u) for u in args.users.split(",") if u.strip()]
    if not levels or min(levels) < 1 or args.duration <= 0 or args.workers < 1 or args.threads < 1:
        parser.error("--users, --duration, --workers and --threads must be positive")

    env = dict(os.environ)
    env.setdefault("DATABASE_URL", DEFAULT_DB)
    env.update(
        DJANGO_SETTINGS_MODULE="ledgerline.settings",
        LEDGERLINE_DEBUG="0",
        ALLOWED_HOSTS="127.0.0.1",
        LEDGERLINE_TASK_RUNNER="eager",
        LEDGERLINE_LOG_LEVEL="ERROR",
        SECRET_KEY=secrets.token_urlsafe(64),
        LEDGERLINE_DB_CONN_MAX_AGE=str(args.conn_max_age),
        LEDGERLINE_CATALOGUE_CACHE_S=str(args.cache_s),
        LEDGERLINE_CACHE_URL=args.cache_url,
    )
    env.setdefault("LEDGERLINE_DATA_DIR", tempfile.mkdtemp(prefix="load-bench-"))
    env.pop("CELERY_BROKER_URL", None)  # no task is started by a read
    os.environ.update(env)
    sys.path.insert(0, str(REPO))

    server = None

    def watchdog() -> None:
        print(f"deadline of {args.deadline:.0f} s reached: stopping", file=sys.stderr, flush=True)
        if server is not None:
            gunicorn_stop(server)
        os._exit(3)

    timer = threading.Timer(args.deadline, watchdog)
    timer.daemon = True
    timer.start()

    database_ensure(env["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    world = (
        world_read()
        if args.skip_seed
        else catalogue_seed(assets=args.assets, datasets=args.datasets, buyers=args.buyers)
    )
    if not world["assets"] or not world["buyers"]:
        raise SystemExit("the database holds no catalogue: run without --skip-seed first")
    print(
        f"catalogue: {len(world['assets'])} assets, {len(world['buyers'])} buyers "
        f"({'reused' if args.skip_seed else f'seeded in {time.perf_counter() - started:.0f} s'})",
        flush=True,
    )
    from django.db import connections

    connections.close_all()
    port = free_port()
    try:
        server = gunicorn_start(port=port, workers=args.workers, threads=args.threads, env=env)
        tokens = tokens_obtain(port, world["buyers"])
        results = []
        for users in levels:
            results.append(
                load_level(
                    server=server,
                    port=port,
                    users=users,
                    tokens=tokens,
                    world=world,
                    duration=args.duration,
                    max_requests=args.max_requests,
                    think_ms=args.think_ms,
                    warmup_s=args.warmup,
                )
            )
            print(json.dumps(results[-1]), flush=True)
    finally:
        if server is not None:
            gunicorn_stop(server)
        timer.cancel()
    config = {
        "workers": args.workers,
        "threads": args.threads,
        "conn_max_age": args.conn_max_age,
        "catalogue_cache_s": args.cache_s,
        "cache": "redis" if args.cache_url else "per-process memory",
        "assets": len(world["assets"]),
        "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    print(f"\n{config}\n" + report(results))
    if args.json:
        args.json.write_text(json.dumps({"config": config, "levels": results}, indent=2))


if __name__ == "__main__":
    main()
