"""Market figures: split throughput, catalogue query latency at scale, concurrent purchases.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ll_bench_market \\
        .venv/bin/python benchmarks/market/bench_market.py [--assets 100000] [--split-bars 90] [--buyers 8]

1. split: a 3-minute four-stem track (90 bars of 4/4 at 120 bpm, rendered with FluidSynth) published and cut
   into 1/2/4/8-bar loops per stem and for the mix by `split_handler`; loops per second.
2. catalogue: `--assets` assets (synthetic rows over 500 tracks, 3 offers each) in the database, then typical
   buyer searches through the API view (filters, count, first page with offers); p50/p95 per search.
3. purchases: `--buyers` threads buying random loops of a few tracks (a third of the attempts exclusive, so
   they collide) for 20 s; purchases/s, refusals, and a check that no bar of any stem was sold exclusively twice
   and that every order's shares sum to its amount.
The database is flushed first: point DATABASE_URL at a scratch database.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ledgerline.settings")
os.environ.setdefault("LEDGERLINE_DATA_DIR", tempfile.mkdtemp(prefix="market-bench-"))
os.environ.setdefault("LEDGERLINE_TASK_RUNNER", "eager")
os.environ.setdefault("LEDGERLINE_LOG_LEVEL", "ERROR")


def _setup() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)


def bench_split(bars: int) -> dict:
    from benchmarks._data import market_people, screened_track
    from ledgerline.jobs.models import Job, JobKind
    from rights.market.models import Asset
    from rights.market.services.publishing import track_publish

    market = market_people(prefix="split-")
    started = time.perf_counter()
    track = screened_track(market, bars=bars, tempo=120.0, seed=1)
    render_s = time.perf_counter() - started
    started = time.perf_counter()
    track_publish(user=market.creator, track=track)
    split_s = time.perf_counter() - started
    job = Job.objects.filter(kind=JobKind.SPLIT).latest("created_at")
    assets = Asset.objects.filter(track=track).count()
    return {
        "track_seconds": round(track.duration_s, 1),
        "stems": len(track.stems),
        "render_s": round(render_s, 1),
        "split_s": round(split_s, 1),
        "assets": assets,
        "loops_per_s": round(assets / split_s, 1),
        "job": job.status,
    }


def _fill_catalogue(count: int, market) -> None:
    from django.db import transaction

    from benchmarks._data import KEYS, catalogue_asset, catalogue_offers
    from ledgerline.catalogue.models import Track
    from rights.market.models import Asset, LicenceOffer

    rng = random.Random(0)
    tracks = Track.objects.bulk_create(
        [
            Track(
                organisation=market.studio,
                title=f"Bench piece {i}",
                status="published",
                tempo_bpm=float(rng.randint(70, 160)),
                key=rng.choice(KEYS),
                time_signature="4/4",
                bars=64,
            )
            for i in range(500)
        ]
    )
    made = 0
    with transaction.atomic():
        while made < count:
            track = tracks[made // (count // 500 + 1) % len(tracks)]
            batch = [
                catalogue_asset(rng, track=track, start_bar=made + n, number=made + n, method="bench")
                for n in range(min(5000, count - made))
            ]
            made += len(batch)
            LicenceOffer.objects.bulk_create(catalogue_offers(Asset.objects.bulk_create(batch)))


def bench_catalogue(count: int, repeats: int) -> dict:
    from django.db import connection
    from rest_framework.test import APIClient

    from benchmarks._data import market_people

    market = market_people(prefix="cat-")
    started = time.perf_counter()
    _fill_catalogue(count, market)
    with connection.cursor() as cursor:
        # What autovacuum would have done to a catalogue that has been up a while: statistics, and the GIN
        # index's pending list merged (a fresh bulk load leaves 100,000 rows there, and scans read it linearly).
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    fill_s = time.perf_counter() - started
    client = APIClient()
    client.force_authenticate(market.buyer)
    searches = {
        "newest": {},
        "key+bars": {"key": "G major", "bars": "4"},
        "tempo range+stem": {"tempo_min": "90", "tempo_max": "110", "kind": "stem"},
        "instrument+licence+price": {"instrument": "bass", "licence": "exclusive", "price_max": "200"},
        "text relevance": {"q": "piece 42 bass", "sort": "relevance"},
        "creator+cheapest": {"creator": market.studio.slug, "sort": "price"},
    }
    figures = {}
    for name, params in searches.items():
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            response = client.get("/api/market/assets/", params)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.content
        times.sort()
        figures[name] = {
            "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
            "count": response.json()["count"],
        }
    return {"assets": count, "fill_s": round(fill_s, 1), "vendor": connection.vendor, "searches": figures}


def bench_purchases(buyers: int, seconds: float) -> dict:
    from django.db import connection

    from benchmarks._data import market_people, screened_track, user_with_role
    from rights.market.models import Asset, Licence, LicenceOffer, Order
    from rights.market.services.publishing import track_publish
    from rights.market.services.purchases import PurchaseRefused, licence_purchase

    market = market_people(prefix="buy-")
    for seed in range(3):
        track_publish(user=market.creator, track=screened_track(market, bars=8, seed=seed + 10))
    offers = list(LicenceOffer.objects.filter(asset__track__title__startswith="Market piece").select_related("asset"))
    users = [user_with_role("buyer", prefix="buy-") for _ in range(buyers)]
    stop = time.perf_counter() + seconds
    counts = {"paid": 0, "refused": 0, "errors": 0}
    lock = threading.Lock()

    def buyer(user, seed: int) -> None:
        rng = random.Random(seed)
        n = 0
        try:
            while time.perf_counter() < stop:
                pool = [o for o in offers if o.licence_type == "exclusive"] if rng.random() < 0.33 else offers
                offer = rng.choice(pool)
                n += 1
                try:
                    licence_purchase(user=user, offer=offer, idempotency_key=f"{user.pk}-{n}")
                    outcome = "paid"
                except PurchaseRefused:
                    outcome = "refused"
                except Exception:  # noqa: BLE001 - counted and reported, the benchmark goes on
                    outcome = "errors"
                with lock:
                    counts[outcome] += 1
        finally:
            connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=buyer, args=(u, i)) for i, u in enumerate(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    # No bar of any stem sold exclusively twice; no sale of a loop after an exclusive covered it.
    double = 0
    exclusives = list(Licence.objects.filter(licence_type="exclusive").select_related("asset"))
    for a in exclusives:
        for b in exclusives:
            if (
                a.pk < b.pk
                and a.asset.track_id == b.asset.track_id
                and a.asset.stem == b.asset.stem
                and a.asset.start_bar < b.asset.end_bar
                and b.asset.start_bar < a.asset.end_bar
            ):
                double += 1
    late = 0
    for excl in exclusives:
        family = Asset.objects.filter(track_id=excl.asset.track_id, stem=excl.asset.stem)
        for asset in family:
            if asset.start_bar < excl.asset.end_bar and excl.asset.start_bar < asset.end_bar:
                late += Licence.objects.filter(asset=asset, created_at__gt=excl.created_at).count()
    bad_sums = sum(
        1
        for o in Order.objects.filter(status="paid").prefetch_related("shares")
        if sum(s.amount for s in o.shares.all()) != o.amount
    )
    return {
        "buyers": buyers,
        "seconds": round(elapsed, 1),
        "purchases_per_s": round(counts["paid"] / elapsed, 1),
        **counts,
        "exclusive_sold": len(exclusives),
        "double_sold_exclusives": double,
        "sales_after_an_exclusive": late,
        "orders_whose_shares_do_not_sum": bad_sums,
        "vendor": connection.vendor,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--split-bars", type=int, default=90)
    parser.add_argument("--buyers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--only", choices=["split", "catalogue", "purchases"])
    args = parser.parse_args()
    _setup()
    results = {}
    if args.only in (None, "split"):
        results["split"] = bench_split(args.split_bars)
        print(json.dumps({"split": results["split"]}), flush=True)
    if args.only in (None, "purchases"):
        results["purchases"] = bench_purchases(args.buyers, args.seconds)
        print(json.dumps({"purchases": results["purchases"]}), flush=True)
    if args.only in (None, "catalogue"):
        results["catalogue"] = bench_catalogue(args.assets, args.repeats)
        print(json.dumps({"catalogue": results["catalogue"]}), flush=True)


if __name__ == "__main__":
    main()
