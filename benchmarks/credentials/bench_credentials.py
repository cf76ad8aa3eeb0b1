"""Content Credentials figures: signing time and size overhead of a licensed 2-bar loop and a 3-minute mix.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ll_bench_credentials \\
        .venv/bin/python benchmarks/credentials/bench_credentials.py [--repeat 7]

A four-bar track is published and one 2-bar mix loop bought (a real licence, its sale in the ledger); its
manifest (`licence_manifest`) is then signed into the loop as a download does, and into the 3-minute mix of a
second track (90 bars of 4/4 at 120 bpm, rendered with FluidSynth), as rendered and as 44.1 kHz stereo 24-bit,
to show how signing scales with the file.
Per file: median and minimum signing time over `--repeat` runs, bytes added, and the time to read and
validate the result against the platform CA (`credentials_read`, ledger proof included).
The database is flushed first: point DATABASE_URL at a scratch database.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ledgerline.settings")
os.environ.setdefault("LEDGERLINE_DATA_DIR", tempfile.mkdtemp(prefix="credentials-bench-"))
os.environ.setdefault("LEDGERLINE_TASK_RUNNER", "eager")
os.environ.setdefault("LEDGERLINE_LOG_LEVEL", "ERROR")


def _measure(name: str, data: bytes, manifest: dict, repeat: int) -> dict:
    import soundfile as sf

    from rights.credentials import credentials_read, file_sign

    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        signed = file_sign(data=data, mime="audio/flac", manifest=manifest)
        times.append(time.perf_counter() - started)
    started = time.perf_counter()
    report = credentials_read(signed)
    read_ms = (time.perf_counter() - started) * 1000
    info = sf.info(io.BytesIO(data))
    return {
        "file": name,
        "duration_s": round(info.duration, 2),
        "format": f"{info.samplerate} Hz {info.channels} ch {info.subtype}",
        "bytes": len(data),
        "sign_ms_median": round(statistics.median(times) * 1000, 1),
        "sign_ms_min": round(min(times) * 1000, 1),
        "overhead_bytes": len(signed) - len(data),
        "read_validate_ms": round(read_ms, 1),
        "state": report.state,
        "ledger_ok": report.ledger_ok,
    }


def _sale_quality(flac: bytes) -> bytes:
    """The mix as 44.1 kHz stereo 24-bit FLAC (what a sale-quality download weighs; signing hashes every byte)."""
    import numpy as np
    import scipy.signal
    import soundfile as sf

    samples, rate = sf.read(io.BytesIO(flac), dtype="float32")
    if samples.ndim == 1:
        samples = np.stack([samples, samples], axis=1)
    samples = scipy.signal.resample_poly(samples, 44100, rate, axis=0)
    out = io.BytesIO()
    sf.write(out, np.clip(samples, -1, 1), 44100, format="FLAC", subtype="PCM_24")
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    from benchmarks._data import market_people, screened_track
    from ledgerline.storage import blob_path
    from rights.credentials import licence_manifest, signing_identity
    from rights.market.models import Asset
    from rights.market.services.publishing import track_publish
    from rights.market.services.purchases import licence_purchase

    signing_identity()  # created once, outside the timings
    market = market_people(prefix="c2pa-")
    track = screened_track(market, bars=4)
    track_publish(user=market.creator, track=track)
    loop = Asset.objects.get(track=track, stem="mix", start_bar=0, bars=2)
    purchase = licence_purchase(
        user=market.buyer, offer=loop.offers.get(licence_type="non_exclusive"), idempotency_key="bench"
    )
    manifest = licence_manifest(purchase.licence, title="loop.flac")
    long_track = screened_track(market, bars=90, seed=1)
    mix = blob_path(long_track.audio_path).read_bytes()
    rows = [
        _measure("2-bar loop", blob_path(loop.path).read_bytes(), manifest, args.repeat),
        _measure("3-minute mix", mix, manifest, args.repeat),
        _measure("3-minute mix at sale quality", _sale_quality(mix), manifest, args.repeat),
    ]
    print(json.dumps({"manifest_json_bytes": len(json.dumps(manifest)), "results": rows}, indent=2))


if __name__ == "__main__":
    main()
