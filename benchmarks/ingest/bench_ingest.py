"""Ingest throughput for music21's 371 Bach chorales.

Usage: .venv/bin/python benchmarks/ingest/bench_ingest.py [--chorales N]
Runs on a throwaway SQLite database in a temporary data folder (removed at the end) with the eager task
runner, so every job runs inside this process: `load_demo`'s ingest and, fired by its `dataset_ingested`
signal, the fingerprinting and indexing of the new items. `jobs` gives each job's own wall time (from its
row), so ingest alone and fingerprinting alone can be read apart from the total. Peak memory is the
process's maximum RSS (`getrusage`); FluidSynth runs as child processes, whose largest RSS is reported apart.
Prints one JSON object.
"""

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chorales", type=int, default=371)
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="ledgerline-bench-")
    os.environ.update(
        LEDGERLINE_DATA_DIR=data_dir, LEDGERLINE_TASK_RUNNER="eager", DJANGO_SETTINGS_MODULE="ledgerline.settings"
    )
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.conf import settings

    from ledgerline.catalogue import demo
    from ledgerline.catalogue.models import CorpusItem
    from ledgerline.jobs.models import Job
    from ledgerline.music.detect import Format
    from ledgerline.music.parse import parse_symbolic
    from ledgerline.music.render import mix, render_stems

    # Render realtime factor on its own: 20 chorales, parse excluded.
    paths = demo.chorale_paths(20)
    scores = [parse_symbolic(p.read_bytes(), Format.MXL, name=p.name) for p in paths]
    started = time.perf_counter()
    for score in scores:
        mix(render_stems(score, soundfont=settings.LEDGERLINE_SOUNDFONT))
    render_wall = time.perf_counter() - started
    render_audio = sum(s.duration_s for s in scores)

    started = time.perf_counter()
    cpu_started = time.process_time()
    demo.load(stdout=open(os.devnull, "w"), options={"chorales": args.chorales, "quiet": True}, context={})
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    items = CorpusItem.objects.count()
    audio_s = sum(CorpusItem.objects.values_list("duration_s", flat=True))
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    children_kb = children.ru_maxrss
    jobs = {}
    for job in Job.objects.exclude(started_at=None).exclude(finished_at=None).order_by("created_at"):
        entry = jobs.setdefault(job.kind, {"count": 0, "wall_s": 0.0, "status": []})
        entry["count"] += 1
        entry["wall_s"] = round(entry["wall_s"] + (job.finished_at - job.started_at).total_seconds(), 1)
        entry["status"].append(job.status)
    cores = os.cpu_count()
    print(
        json.dumps(
            {
                "chorales": args.chorales,
                "items": items,
                "wall_s": round(wall, 1),
                "cores": cores,
                "items_per_s": round(items / wall, 2),
                "items_per_s_per_core": round(items / wall / cores, 2),
                "audio_s_per_wall_s": round(audio_s / wall, 1),
                "audio_s_per_wall_s_per_core": round(audio_s / wall / cores, 1),
                "main_process_cpu_s": round(cpu, 1),
                "fluidsynth_children_cpu_s_total": round(children.ru_utime + children.ru_stime, 1),
                "jobs": jobs,
                "peak_rss_mb": round(peak_kb / 1024),
                "peak_child_rss_mb": round(children_kb / 1024),
                "render_realtime_factor_4_stems": round(render_audio / render_wall, 1),
                "render_realtime_factor_per_stem_track": round(4 * render_audio / render_wall, 1),
            },
            indent=2,
        )
    )
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
