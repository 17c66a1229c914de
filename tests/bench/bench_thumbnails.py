"""Benchmark of the thumbnails made while an S3-folder import runs, against floors of the same run.

A plain script (pytest collects only test_*.py), run from `make bench`:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/customlabels \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \
    .venv/bin/python tests/bench/bench_thumbnails.py --images 20000

One run, on N 640×480 JPEGs served by rclone (seeded as bench_import.py seeds them):
  1. the import floor: plain boto3 lists the folder and ranged-GETs every header (bench_import's);
  2. the thumbnail floor: a plain script laid out as the thumbnails worker is (THUMBNAIL_CONCURRENCY
     forked processes of THUMBNAIL_THREADS threads each): GET each object, decode with Pillow in
     draft mode (thumbnail_size), resize to the same size, encode (JPEG, quality 80), PUT. The targets
     are against it. Also, as a second figure, the same script in one process with as many threads
     in all (the issue's "same thread count"; the interpreter's lock holds it back);
  3. the import alone: only the import worker runs. Submit → CREATE_COMPLETE against 1.; then the
     thumbnails worker starts and makes all N thumbnails with nothing else running, against 2. (the
     throughput target: at most 1.25 × the floor);
  4. the import with thumbnails on, the two workers as the Procfile runs them (a fresh database):
     Submit → CREATE_COMPLETE against 1. (the target: at most 1.10 × the import floor, issue 13's
     import target) and 3., the thumbnails made during the import (the target: some, as chunks
     finish), and Submit → last thumbnail: minutes, and against 2. (a figure, not a target: it holds
     the import's own work too, done on the same two cores);
  5. both floors again; each floor is the mean of its two runs.
Results are printed and written to bench-results/thumbnails-N.json; the exit status is non-zero
only when the run broke.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_import as bi  # noqa: E402
import benchkit as kit  # noqa: E402

FLOOR_BUCKET = "bench-thumbnail-floor"
FLOOR_KINDS = ("import", "thumbnail", "thumbnail_one_process")
TARGET_THUMBNAILS = 1.25  # the thumbnails worker's time for all N, against the thumbnail floor
TARGET_IMPORT = 1.10  # the import with thumbnails on, against the import floor (issue 13's import target)


def thumbnail_floor(server: kit.S3Server, n: int, threads: int, processes: int = 1) -> dict:
    """GET, decode (draft), resize, encode and PUT every image with plain boto3 and Pillow: `processes`
    forked processes of `threads` threads each, every process taking its share of the images."""
    client = server.client(pool=threads * 2)
    if FLOOR_BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=FLOOR_BUCKET)
    cpu = bi.CpuWindow(s3_server=server.pid)
    t0 = time.perf_counter()
    if processes == 1:
        read = _floor_share(server, range(n), threads)
    else:
        global _forked  # what the forked processes inherit: the server (not picklable) and the thread count
        _forked = (server, threads)
        pool = multiprocessing.get_context("fork").Pool(processes)
        try:
            read = sum(pool.map(_floor_share_forked, [range(k, n, processes) for k in range(processes)]))
        finally:
            pool.close()  # not terminate(): its SIGTERM would reach the handler the children inherited
            pool.join()
    seconds = time.perf_counter() - t0
    return {
        "processes": processes,
        "threads": threads,
        "seconds": round(seconds, 3),
        "images_per_s": round(n / seconds, 1),
        "bytes_read": read,
        "cpu": cpu.result(),
    }


_forked: tuple = ()


def _floor_share_forked(indexes: range) -> int:
    return _floor_share(*_forked[:1], indexes, _forked[1])


def _floor_share(server: kit.S3Server, indexes: range, threads: int) -> int:
    from PIL import Image

    from datasets.operations.thumbnails import THUMBNAIL_SIZE, thumbnail_size
    from projects.console_storage import THUMBNAILS_PER_FOLDER

    client = server.client(pool=threads * 2)  # a client of this process's own (one made before a fork is not safe)

    def one(i: int) -> int:
        data = client.get_object(Bucket=kit.SOURCE_BUCKET, Key=kit.image_key(i))["Body"].read()
        with Image.open(io.BytesIO(data)) as img:
            img.draft("RGB", thumbnail_size(*img.size))
            small = img.convert("RGB")
            small.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
            out = io.BytesIO()
            small.save(out, "JPEG", quality=80)
        # The console's folder layout (a thousand thumbnails to a folder), so both pay the S3 server the same.
        key = f"floor/{i // THUMBNAILS_PER_FOLDER}/{i}.jpg"
        client.put_object(Bucket=FLOOR_BUCKET, Key=key, Body=out.getvalue(), ContentType="image/jpeg")
        return len(data)

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(one, indexes))


def made_count(dataset_id: int) -> int:
    """Thumbnails made so far: the dataset's images less those pending (the image_thumbnail_due index)."""
    from datasets.models import Image

    images = Image.objects.filter(dataset_id=dataset_id)
    return images.count() - images.filter(needs_thumbnail=True).count()


def watch(dataset_id: int, n: int, workers: list[kit.Proc], *, t0: float, timeout: float, until_complete: bool) -> list:
    """Sample (seconds since t0, chunks done, thumbnails made) each second until the import is
    complete (until_complete) or every thumbnail is made. BenchBroke if it fails, a worker dies or time runs out."""
    from datasets.models import Dataset, ImportJob

    timeline = []
    while True:
        now = time.perf_counter()
        status, message = Dataset.objects.filter(pk=dataset_id).values_list("status", "status_message").get()
        if status == Dataset.Status.CREATE_FAILED:
            raise kit.BenchBroke(f"the import failed: {message}")
        job = ImportJob.objects.filter(dataset_id=dataset_id).values("chunks_done").first() or {"chunks_done": 0}
        made = made_count(dataset_id)
        if not timeline or now - t0 - timeline[-1][0] >= 1.0:
            timeline.append((round(now - t0, 2), job["chunks_done"], made))
        if until_complete and status == Dataset.Status.CREATE_COMPLETE:
            return timeline
        if not until_complete and made >= n:
            timeline.append((round(now - t0, 2), job["chunks_done"], made))
            return timeline
        for worker in workers:
            if not worker.alive():
                raise kit.BenchBroke(f"the {worker.name} worker died:\n{worker.tail()}")
        if now - t0 > timeout:
            raise kit.BenchBroke(f"not done in {timeout:.0f} s (made {made} of {n} thumbnails)")
        time.sleep(0.05 if until_complete else 0.25)


def run(*, n: int, thumbnails_on: bool, env: dict, workdir: Path, args, server_pid: int | None, result: dict) -> None:
    """One import into a fresh database: with the thumbnails worker beside the import worker from the
    start (thumbnails_on), or started once the import is complete."""
    from datasets.imports import s3_folder
    from datasets.models import Image

    kit.fresh_state(env, workdir)
    user, project, location = kit.importer("bench-thumbnails")
    importer, _ = kit.start_worker("threads", 4, env, workdir, args.loglevel, 2, queues="celery")
    thumbnailer = None
    samplers = {"import": bi.RssSampler(importer.pid)}
    try:
        if thumbnails_on:
            thumbnailer, _ = kit.start_thumbnail_worker(env, workdir, args.loglevel)
            samplers["thumbnails"] = bi.RssSampler(thumbnailer.pid)
        for sampler in samplers.values():
            sampler.start()
        result["quiet_before"] = bi.wait_for_quiet(args.quiet_wait)
        cpu = bi.CpuWindow(worker=importer.pid, thumbnails=thumbnailer and thumbnailer.pid, s3_server=server_pid)
        t0 = time.perf_counter()
        dataset = s3_folder.dataset_create_from_s3(project=project, name="bench", location=location, auto_label=True)
        workers = [importer] + ([thumbnailer] if thumbnailer else [])
        timeline = watch(dataset.pk, n, workers, t0=t0, timeout=args.timeout, until_complete=True)
        import_s = time.perf_counter() - t0
        made = made_count(dataset.pk)
        result.update(
            import_seconds=round(import_s, 3),
            import_images_per_s=round(n / import_s, 1),
            thumbnails_during_import=made,
            thumbnails_per_s_during_import=round(made / import_s, 1),
            cpu_import=cpu.result(),
        )
        kit.log(f"  import complete in {import_s:.1f} s, {made:,} thumbnails made meanwhile")
        if not thumbnails_on:
            thumbnailer, _ = kit.start_thumbnail_worker(env, workdir, args.loglevel)
            samplers["thumbnails"] = bi.RssSampler(thumbnailer.pid)
            samplers["thumbnails"].start()
        cpu = bi.CpuWindow(worker=importer.pid, thumbnails=thumbnailer.pid, s3_server=server_pid)
        t1 = time.perf_counter()
        timeline += watch(dataset.pk, n, [importer, thumbnailer], t0=t0, timeout=3 * args.timeout, until_complete=False)
        last_s = time.perf_counter() - t0
        after_s = time.perf_counter() - t1
        result.update(
            last_thumbnail_seconds=round(last_s, 3),
            last_thumbnail_minutes=round(last_s / 60, 2),
            thumbnails_after_import_seconds=round(after_s, 3),
            thumbnails_per_s_after_import=round((n - made) / after_s, 1) if after_s else None,
            thumbnails_per_s_overall=round(n / last_s, 1),
            cpu_after_import=cpu.result(),
            timeline=timeline,
        )
        errors = Image.objects.filter(dataset=dataset).exclude(error_code="").count()
        keys = Image.objects.filter(dataset=dataset).exclude(thumbnail_key="").values("thumbnail_key").distinct()
        if errors or keys.count() != n:
            raise kit.BenchBroke(f"{errors} images with errors, {keys.count()} distinct thumbnails for {n} images")
        kit.log(f"  last thumbnail {last_s:.1f} s after Submit")
    finally:
        for name, sampler in samplers.items():
            sampler.stop()
            result[f"{name}_worker_rss_peak_mb"] = round(sampler.peak_rss_kb / 1024, 1)
        for worker in (thumbnailer, importer):
            if worker:
                worker.stop()


def figures(results: dict) -> dict:
    """The ratios to the floors, and the targets' verdicts."""
    floor, alone, on = results.get("floor", {}), results.get("alone", {}), results.get("thumbnails_on", {})
    import_floor, thumb_floor = floor.get("import_seconds"), floor.get("thumbnail_seconds")
    out = {}

    def ratio(name, a, b):
        if a and b:
            out[name] = round(a / b, 3)

    ratio("import_alone_vs_floor", alone.get("import_seconds"), import_floor)
    ratio("import_thumbnails_on_vs_floor", on.get("import_seconds"), import_floor)
    ratio("import_thumbnails_on_vs_alone", on.get("import_seconds"), alone.get("import_seconds"))
    ratio("thumbnails_alone_vs_floor", alone.get("thumbnails_after_import_seconds"), thumb_floor)
    ratio("last_thumbnail_vs_floor", on.get("last_thumbnail_seconds"), thumb_floor)
    one_process = floor.get("thumbnail_one_process_seconds")
    ratio("thumbnails_alone_vs_one_process_floor", alone.get("thumbnails_after_import_seconds"), one_process)
    ratio("last_thumbnail_vs_one_process_floor", on.get("last_thumbnail_seconds"), one_process)
    out["targets"] = {
        f"thumbnails of N images <= {TARGET_THUMBNAILS} × thumbnail floor": _verdict(
            out.get("thumbnails_alone_vs_floor"), TARGET_THUMBNAILS
        ),
        "thumbnails made during the import > 0": "NOT MEASURED"
        if "thumbnails_during_import" not in on
        else f"{on['thumbnails_during_import']} {'PASS' if on['thumbnails_during_import'] > 0 else 'FAIL'}",
        f"import with thumbnails on <= {TARGET_IMPORT} × import floor": _verdict(
            out.get("import_thumbnails_on_vs_floor"), TARGET_IMPORT
        ),
    }
    return out


def _verdict(value, limit) -> str:
    return "NOT MEASURED" if value is None else f"{value:.2f} {'PASS' if value <= limit else 'FAIL'}"


def report(results: dict) -> None:
    n, floor = results["images"], results.get("floor", {})
    print(
        f"\nN = {n:,} images, {results['cpus']} CPUs, thumbnails worker: {results.get('thumbnail_processes')} "
        f"processes × THUMBNAIL_THREADS {results.get('thumbnail_threads')}"
    )
    print(f"code: commit {results['code'].get('commit')} {' '.join(results['code'].get('changed_files', []))}")
    if results.get("error"):
        print(f"INCOMPLETE RUN: {results['error'][:500]}")
    for kind in FLOOR_KINDS:
        runs = ", ".join(f"{f['seconds']:.1f} s" for f in floor.get(kind, []))
        if runs:
            print(f"{kind + ' floor':28} {floor[kind + '_seconds']:>8.1f} s  ({runs})")
    for tag, name in (("alone", "import alone"), ("thumbnails_on", "import with thumbnails on")):
        r = results.get(tag, {})
        if "import_seconds" in r:
            print(
                f"{name:28} {r['import_seconds']:>8.1f} s  {r['import_images_per_s']:>6.0f} images/s, "
                f"{r['thumbnails_during_import']:,} thumbnails made meanwhile "
                f"({r['thumbnails_per_s_during_import']}/s)"
            )
        if "last_thumbnail_seconds" in r:
            print(
                f"{'  last thumbnail':28} {r['last_thumbnail_seconds']:>8.1f} s  ({r['last_thumbnail_minutes']} min) "
                f"after Submit; {r['thumbnails_per_s_after_import']}/s after the import, "
                f"{r['thumbnails_per_s_overall']}/s overall"
            )
            print(
                f"{'  worker RSS peak':28} import {r.get('import_worker_rss_peak_mb')} MB, "
                f"thumbnails {r.get('thumbnails_worker_rss_peak_mb')} MB"
            )
        for phase in ("import", "after_import"):
            if f"cpu_{phase}" in r:
                print(f"  CPU {phase.replace('_', ' '):14} {r[f'cpu_{phase}']}")
    fig = results.get("figures", {})
    for name, value in fig.items():
        if name != "targets":
            print(f"{name:34} {value}")
    for name, verdict in fig.get("targets", {}).items():
        print(f"TARGET {name}: {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=20_000, help="how many images (default 20000)")
    parser.add_argument("--redis-db", type=int, default=3, help="the Redis db the bench flushes and uses")
    parser.add_argument("--loglevel", default="warning", help="the workers' log level")
    parser.add_argument("--quiet-wait", type=float, default=120, help="seconds to wait for an idle machine per phase")
    parser.add_argument("--timeout", type=float, default=None, help="seconds the import may take")
    parser.add_argument("--floors-once", action="store_true", help="measure the floors before the imports only")
    args = parser.parse_args()
    n = args.images
    args.timeout = args.timeout or 300 + n * 0.1
    base_db, bench_db, broker = kit.bench_urls(parser, args.redis_db)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    results: dict = {"images": n, "cpus": os.cpu_count(), "code": kit.code_version(), "complete": False}
    status, lock, server = 0, None, None
    workdir = Path(tempfile.mkdtemp(prefix="bench-thumbnails-"))
    try:
        lock = kit.bench_lock(base_db)
        server = kit.S3Server("rclone", workdir)
        env = kit.django_env(server=server, database=bench_db, broker=broker)
        from django.conf import settings

        from datasets import rules

        threads = results["thumbnail_threads"] = settings.THUMBNAIL_THREADS
        kit.log(f"seeding {n:,} JPEGs into an rclone S3 server over {workdir}")
        server.start(n, [kit.jpeg_bytes(i) for i in range(kit.DISTINCT_IMAGES)])
        bi.warm_listing(server, n)
        processes = results["thumbnail_processes"] = kit.THUMBNAIL_CONCURRENCY
        floor = results["floor"] = {kind: [] for kind in FLOOR_KINDS}

        def floors() -> None:
            bi.wait_for_quiet(args.quiet_wait)
            floor["import"].append(bi.measure_floor(server, n, rules.HEADER_BYTES))
            bi.wait_for_quiet(args.quiet_wait)
            floor["thumbnail"].append(thumbnail_floor(server, n, threads, processes))
            bi.wait_for_quiet(args.quiet_wait)
            floor["thumbnail_one_process"].append(thumbnail_floor(server, n, threads * processes))
            for kind in FLOOR_KINDS:
                floor[f"{kind}_seconds"] = round(sum(f["seconds"] for f in floor[kind]) / len(floor[kind]), 3)
            kit.log("  " + ", ".join(f"{kind} floor {floor[kind][-1]['seconds']} s" for kind in FLOOR_KINDS))

        kit.log("floors")
        floors()
        for tag, on in (("alone", False), ("thumbnails_on", True)):
            kit.log(f"the import {'with thumbnails on' if on else 'alone, then its thumbnails'}")
            results[tag] = {}
            run(n=n, thumbnails_on=on, env=env, workdir=workdir, args=args, server_pid=server.pid, result=results[tag])
        if not args.floors_once:
            kit.log("floors again")
            floors()
        results["complete"] = True
    except KeyboardInterrupt:
        results["error"], status = "interrupted", 130
    except kit.BenchBroke as exc:
        kit.log(f"BROKEN: {exc}")
        results["error"], status = str(exc), 2
    finally:
        if server:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        if lock:
            lock.close()
        results["figures"] = figures(results)
        out = kit.REPO / "bench-results" / f"thumbnails-{n}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=2))
        report(results)
    return status


if __name__ == "__main__":
    sys.exit(main())
