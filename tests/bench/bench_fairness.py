"""Benchmark of fair use of the shared workers: a small import's time while another user's large one
runs, against its time on the idle worker.

A plain script, run from `make bench`:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/customlabels \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \
    .venv/bin/python tests/bench/bench_fairness.py --images 20000

What one run does, for each IMPORT_CHUNKS_IN_FLIGHT of --in-flight (a fresh PostgreSQL database and
Redis db each time, one worker as the Procfile runs it unless --worker says otherwise: --pool threads
--concurrency 4, MALLOC_ARENA_MAX=2, both queues):
  1. seeds an rclone S3 server with N 640×480 JPEGs under bench/<label>/ (user A's folder, as
     bench_import.py does) and 100 under small/ (user B's);
  2. B alone: B imports small/ (after one untimed import that warms the worker) --repeats times,
     each after the previous one's thumbnails are made: Submit → CREATE_COMPLETE, the median;
  3. A starts importing bench/; once it has finished a chunk, B imports small/ --repeats times
     while A runs, each after the previous one's thumbnails: the median, and its ratio to 2.'s
     (the target is 3× at most);
  4. A's own time, Submit → CREATE_COMPLETE: what the bound costs one import that runs alone.
A value of in-flight as large as A's chunks (e.g. 1000) is the old behaviour, every chunk queued at
once. Results go to bench-results/fairness-N.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_import as bi  # noqa: E402

SMALL_PREFIX = "small/"
SMALL_IMAGES = 100
TARGET_RATIO = 3.0


def seed_small(server: bi.S3Server, images: list[bytes]) -> None:
    """B's folder, written before the server starts (rclone would not see a folder made behind its back)."""
    folder = server.root / bi.SOURCE_BUCKET / SMALL_PREFIX
    folder.mkdir(parents=True)
    for i in range(SMALL_IMAGES):
        (folder / f"img-{i}.jpg").write_bytes(images[i % len(images)])


def wait_complete(dataset_id: int, worker, *, timeout: float, step: float = 0.02) -> float:
    """Seconds from now until the dataset is CREATE_COMPLETE; BenchBroke if it fails or the worker dies."""
    from datasets.models import Dataset

    t0 = time.perf_counter()
    while True:
        row = Dataset.objects.filter(pk=dataset_id).values("status", "status_message").get()
        if row["status"] == Dataset.Status.CREATE_COMPLETE:
            return time.perf_counter() - t0
        if row["status"] == Dataset.Status.CREATE_FAILED:
            raise bi.BenchBroke(f"the import failed: {row['status_message']}\n{worker.tail()}")
        if not worker.alive():
            raise bi.BenchBroke(f"the worker died:\n{worker.tail()}")
        if time.perf_counter() - t0 > timeout:
            raise bi.BenchBroke(f"not complete in {timeout:.0f} s\n{worker.tail()}")
        time.sleep(step)


def thumbnails_wait(dataset_id: int, timeout: float = 120) -> None:
    from datasets.models import Image

    deadline = time.monotonic() + timeout
    while Image.objects.filter(dataset_id=dataset_id, needs_thumbnail=True).exists():
        if time.monotonic() > deadline:
            raise bi.BenchBroke(f"the thumbnails of dataset {dataset_id} were not made in {timeout:.0f} s")
        time.sleep(0.1)


def run(*, n: int, in_flight: int, env: dict, workdir: Path, args, result: dict) -> None:
    """One bound: fresh database and broker, one worker, B alone, then B during A."""
    import redis
    from django.contrib.auth import get_user_model
    from django.db import connections, transaction

    from customlabels import s3
    from datasets.imports import s3_folder
    from datasets.models import Dataset, ImportChunk, ImportJob
    from projects import services as project_services

    connections.close_all()
    bi.recreate_database(env["DATABASE_URL"])
    bi.migrate(env, workdir)
    redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()
    project_services.console_bucket_create()
    users = get_user_model().objects
    project_a = project_services.project_create(owner=users.create_user(username="alice"), name="large")
    project_b = project_services.project_create(owner=users.create_user(username="bob"), name="small")
    large = s3.parse_location(f"s3://{bi.SOURCE_BUCKET}/{bi.SOURCE_PREFIX}")
    small = s3.parse_location(f"s3://{bi.SOURCE_BUCKET}/{SMALL_PREFIX}")
    # Default deny: each user may import their own folder because an administrator granted it.
    project_services.s3_access_grant_set(location=large.uri, user=project_a.owner)
    project_services.s3_access_grant_set(location=small.uri, user=project_b.owner)

    def start(project, location, name: str) -> Dataset:
        with transaction.atomic():
            return s3_folder.dataset_create_from_s3(project=project, name=name, location=location, auto_label=True)

    worker_env = {**env, "IMPORT_CHUNKS_IN_FLIGHT": str(in_flight)}
    pool, concurrency = args.worker
    worker, _ = bi.start_worker(pool, concurrency, worker_env, workdir, args.loglevel, args.malloc_arena_max)
    try:
        warm = start(project_b, small, "warm-up")
        wait_complete(warm.pk, worker, timeout=120)
        thumbnails_wait(warm.pk)

        result["quiet_before_alone"] = bi.wait_for_quiet(args.quiet_wait)
        alone = []
        for i in range(args.repeats):
            dataset = start(project_b, small, f"alone-{i}")
            alone.append(wait_complete(dataset.pk, worker, timeout=120))
            thumbnails_wait(dataset.pk)
        result["b_alone_seconds"] = [round(s, 3) for s in alone]
        result["b_alone_median_s"] = round(statistics.median(alone), 3)
        bi.log(f"  B alone: {result['b_alone_median_s']} s (median of {len(alone)})")

        result["quiet_before_large"] = bi.wait_for_quiet(args.quiet_wait)
        t0 = time.perf_counter()
        dataset_a = start(project_a, large, "large")
        job_a = ImportJob.objects.get(dataset=dataset_a)
        while ImportJob.objects.filter(pk=job_a.pk).values_list("chunks_done", flat=True).get() < 1:
            if time.perf_counter() - t0 > args.timeout:
                raise bi.BenchBroke(f"the large import finished no chunk in {args.timeout} s\n{worker.tail()}")
            time.sleep(0.05)
        during, most_in_flight, overlapped = [], 0, True
        for i in range(args.repeats):
            dataset = start(project_b, small, f"during-{i}")
            during.append(wait_complete(dataset.pk, worker, timeout=args.timeout))
            in_flight_now = ImportChunk.objects.filter(job=job_a, queued=True, done=False).count()
            most_in_flight = max(most_in_flight, in_flight_now)
            overlapped &= Dataset.objects.get(pk=dataset_a.pk).status == Dataset.Status.CREATE_IN_PROGRESS
            thumbnails_wait(dataset.pk, timeout=args.timeout)  # as alone: B's own work never competes
        result["b_during_a_seconds"] = [round(s, 3) for s in during]
        result["b_during_a_median_s"] = round(statistics.median(during), 3)
        result["every_b_ended_before_a"] = overlapped
        result["a_chunks_in_flight_seen"] = most_in_flight
        result["ratio"] = round(result["b_during_a_median_s"] / result["b_alone_median_s"], 2)
        bi.log(f"  B during A: {result['b_during_a_median_s']} s, ratio {result['ratio']}")
        wait_complete(dataset_a.pk, worker, timeout=args.timeout, step=0.2)
        a_seconds = time.perf_counter() - t0
        result["a_seconds"] = round(a_seconds, 2)
        result["a_images_per_s"] = round(n / a_seconds, 1)
        result["a_chunks"] = ImportJob.objects.get(pk=job_a.pk).chunks_total
        bi.log(f"  A: {a_seconds:.1f} s ({n / a_seconds:.0f} images/s)")
    finally:
        worker.stop()
        kept = bi.REPO / "bench-results" / f"fairness-{n}-in-flight-{in_flight}-worker.log"
        kept.parent.mkdir(exist_ok=True)
        shutil.copyfile(worker.log_path, kept)


def report(results: dict) -> None:
    n = results["images"]
    print()
    print(f"Fairness benchmark: B imports {SMALL_IMAGES} images while A imports {n:,}; one worker threads:4")
    print(f"{'in flight':>10}{'B alone s':>11}{'B during A s':>14}{'ratio':>8}{'A s':>9}{'A images/s':>12}  verdict")
    for run in results.get("runs", []):
        ratio = run.get("ratio")
        verdict = "—" if ratio is None else ("ok" if ratio <= TARGET_RATIO else f"MISSED (target ≤ {TARGET_RATIO}×)")
        if ratio is not None and not run.get("every_b_ended_before_a"):
            verdict += ", A ended before a B (no overlap)"
        print(
            f"{run['in_flight']:>10}{run.get('b_alone_median_s', '—'):>11}{run.get('b_during_a_median_s', '—'):>14}"
            f"{ratio if ratio is not None else '—':>8}{run.get('a_seconds', '—'):>9}{run.get('a_images_per_s', '—'):>12}"
            f"  {verdict}"
        )
    if results.get("error"):
        print(f"  run broke: {results['error']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=20_000, help="images of A's import (default 20000)")
    parser.add_argument(
        "--in-flight",
        default=None,
        help="comma-separated IMPORT_CHUNKS_IN_FLIGHT values to run (default: the setting's default)",
    )
    parser.add_argument(
        "--worker",
        type=lambda text: bi.parse_workers(text)[0],
        default=("threads", 4),
        help="the worker's pool and concurrency (default threads:4, as the Procfile runs it)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="B's imports per measurement (the median is kept)")
    parser.add_argument("--redis-db", type=int, default=6, help="the Redis db the bench flushes and uses")
    parser.add_argument("--loglevel", default="info")
    parser.add_argument("--malloc-arena-max", type=int, default=2)
    parser.add_argument("--quiet-wait", type=float, default=120)
    parser.add_argument("--timeout", type=float, default=None, help="seconds an import may take")
    args = parser.parse_args()
    n = args.images
    args.timeout = args.timeout or 300 + n * 0.05

    base_db = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/customlabels")
    base_broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    if not base_db.startswith(("postgres://", "postgresql://")) or not base_broker.startswith("redis://"):
        parser.error("DATABASE_URL must be a PostgreSQL URL and CELERY_BROKER_URL a redis:// URL")
    bench_db = bi.with_db_name(base_db, urlsplit(base_db).path.lstrip("/") + "_bench")
    env_broker = bi.with_redis_db(base_broker, args.redis_db)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    results: dict = {
        "images": n,
        "small_images": SMALL_IMAGES,
        "cpus": os.cpu_count(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "code": bi.code_version(),
        "runs": [],
    }
    status = 0
    lock = server = None
    workdir = Path(tempfile.mkdtemp(prefix="bench-fairness-"))
    try:
        lock = bi.bench_lock(base_db)
        server = bi.S3Server("rclone", workdir)
        env = bi.django_env(server=server, database=bench_db, broker=env_broker)
        from django.conf import settings

        bounds = [int(v) for v in args.in_flight.split(",")] if args.in_flight else [settings.IMPORT_CHUNKS_IN_FLIGHT]
        results["default_in_flight"] = settings.IMPORT_CHUNKS_IN_FLIGHT
        bi.log(f"seeding {n:,} + {SMALL_IMAGES} JPEGs into an rclone S3 server over {workdir}")
        images = [bi.jpeg_bytes(i) for i in range(bi.DISTINCT_IMAGES)]
        seed_small(server, images)
        server.start(n, images)
        bi.warm_listing(server, n)
        for in_flight in bounds:
            bi.log(f"IMPORT_CHUNKS_IN_FLIGHT={in_flight}")
            result = {"in_flight": in_flight}
            results["runs"].append(result)
            run(n=n, in_flight=in_flight, env=env, workdir=workdir, args=args, result=result)
        results["complete"] = True
    except KeyboardInterrupt:
        results["error"] = "interrupted"
        status = 130
    except bi.BenchBroke as exc:
        bi.log(f"BROKEN: {exc}")
        results["error"] = str(exc)
        status = 2
    finally:
        if server:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        if lock:
            lock.close()
        report(results)
        out = bi.REPO / "bench-results" / f"fairness-{n}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
