"""Benchmark of the Ground Truth manifest import and the manifest export, against the S3-folder import
of the same images measured in the same run.

A plain script, run from `make bench`:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/customlabels \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \
    .venv/bin/python tests/bench/bench_manifest.py --images 100000

What one run does (rclone S3 server, fresh PostgreSQL database, dedicated Redis db, one worker as the
Procfile runs it: --pool threads --concurrency 4, MALLOC_ARENA_MAX=2):
  1. seeds N 640×480 JPEGs under bench/<label>/ as bench_import.py does, and one manifest with a line
     for each of them (its folder's label as an image-level label; every tenth line a bounding box too);
  2. (b) the S3-folder import of bench/ with automatic labeling: Submit → CREATE_COMPLETE;
  3. (c) the manifest import of the same N images: Submit → CREATE_COMPLETE; the ratio c/b is the figure;
  4. (d) "Download manifest" of that dataset: request → the file is in the console bucket;
  5. (e) the gallery's median server time on both 100,000-image datasets (all, one label, a deep page).
The worker listens only to the import queue: thumbnails would otherwise run between the phases and
time neither import fairly (both imports are measured without them). Worker RSS is sampled
throughout. Results go to bench-results/manifest-N.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_import as bi  # noqa: E402

MANIFEST_KEY = "manifests/bench.manifest"
TARGET_RATIO = 1.3
TARGET_EXPORT_S = 10.0
TARGET_RSS_MB = 300
TARGET_PAGE_MS = 50.0


def manifest_lines(n: int):
    """One line per seeded image, in the console's export format (ground_truth_writer.write_line)."""
    from datetime import UTC, datetime

    from datasets.formats import ground_truth, ground_truth_writer

    when = datetime(2026, 11, 25, tzinfo=UTC)
    for i in range(n):
        key = bi.image_key(i)
        label = key.split("/")[1]
        boxes = ()
        if i % 10 == 0:
            boxes = (ground_truth.ManifestBox(label=label, left=100, top=80, width=200, height=150),)
        yield ground_truth_writer.write_line(
            source_ref=f"s3://{bi.SOURCE_BUCKET}/{key}",
            labels=[label],
            boxes=boxes,
            image_size=(640, 480),
            creation_date=when,
        )


def wait_status(dataset_id: int, worker, timeout: float) -> float:
    """Seconds from now until the dataset is CREATE_COMPLETE; BenchBroke if it fails or hangs."""
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
            raise bi.BenchBroke(f"not done in {timeout} s\n{worker.tail()}")
        time.sleep(0.1)


def run(*, n: int, env: dict, workdir: Path, args, server, results: dict) -> None:
    import redis
    from django.contrib.auth import get_user_model
    from django.db import connections

    connections.close_all()
    bi.recreate_database(env["DATABASE_URL"])
    bi.migrate(env, workdir)
    redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()

    from customlabels import s3
    from datasets import operations
    from datasets.imports import manifest as manifest_import
    from datasets.imports import s3_folder
    from datasets.models import BoundingBox, Image, ImageLabel, ManifestExport
    from projects import services as project_services
    from projects.s3_access import UserS3

    user = get_user_model().objects.create_user(username="bench-manifest", password=uuid.uuid4().hex)
    project_services.console_bucket_create()
    project = project_services.project_create(owner=user, name="bench-manifest")
    project_services.s3_access_grant_set(location=f"s3://{bi.SOURCE_BUCKET}", user=user)

    bi.log(f"writing a {n:,}-line manifest to s3://{bi.SOURCE_BUCKET}/{MANIFEST_KEY}")
    body = ("\n".join(manifest_lines(n)) + "\n").encode()
    server.client().put_object(Bucket=bi.SOURCE_BUCKET, Key=MANIFEST_KEY, Body=body)
    results["manifest_mb"] = round(len(body) / 2**20, 1)
    del body

    worker, _ = bi.start_worker("threads", 4, env, workdir, args.loglevel, args.malloc_arena_max, queues="celery")
    sampler = bi.RssSampler(worker.pid)
    sampler.start()
    timeout = 300 + n * 0.1
    try:
        results["worker_rss_idle_mb"] = round(sampler.sample()[0] / 1024, 1)

        bi.log("(b) S3-folder import of the same images")
        results["quiet_before_s3"] = bi.wait_for_quiet(args.quiet_wait)
        sampler.set_phase("s3_import")
        location = s3.parse_location(f"s3://{bi.SOURCE_BUCKET}/{bi.SOURCE_PREFIX}")
        t0 = time.perf_counter()
        folder = s3_folder.dataset_create_from_s3(project=project, name="folder", location=location, auto_label=True)
        results["s3_import_seconds"] = round(time.perf_counter() - t0 + wait_status(folder.pk, worker, timeout), 3)
        bi.log(f"  {results['s3_import_seconds']:.1f} s")

        bi.log("(c) manifest import")
        results["quiet_before_manifest"] = bi.wait_for_quiet(args.quiet_wait)
        sampler.set_phase("manifest_import")
        where = manifest_import.manifest_location_parse(f"s3://{bi.SOURCE_BUCKET}/{MANIFEST_KEY}")
        # What the form does before Submit, the access check included; not timed.
        manifest_import.manifest_check(location=where, reader=UserS3(project.owner_id))
        t0 = time.perf_counter()
        dataset = manifest_import.dataset_create_from_manifest(project=project, name="manifest", location=where)
        results["manifest_import_seconds"] = round(
            time.perf_counter() - t0 + wait_status(dataset.pk, worker, timeout), 3
        )
        bi.log(f"  {results['manifest_import_seconds']:.1f} s")
        images = Image.objects.filter(dataset=dataset)
        got = {
            "images": images.count(),
            "errors": images.exclude(error_code="").count(),
            "image_labels": ImageLabel.objects.filter(image__dataset=dataset).count(),
            "boxes": BoundingBox.objects.filter(image__dataset=dataset).count(),
        }
        want = {"images": n, "errors": 0, "image_labels": n, "boxes": (n + 9) // 10}
        if got != want:
            raise bi.BenchBroke(f"the manifest import made {got}, expected {want}")

        bi.log("(d) Download manifest")
        results["quiet_before_export"] = bi.wait_for_quiet(args.quiet_wait)
        sampler.set_phase("export")
        t0 = time.perf_counter()
        export = operations.manifest_export_start(dataset=dataset, user=user)
        while True:
            export.refresh_from_db()
            if export.status == ManifestExport.Status.SUCCEEDED:
                break
            if export.status == ManifestExport.Status.FAILED:
                raise bi.BenchBroke(f"the export failed: {export.message}")
            if not worker.alive():
                raise bi.BenchBroke(f"the worker died exporting:\n{worker.tail()}")
            if time.perf_counter() - t0 > timeout:
                raise bi.BenchBroke("the export did not finish")
            time.sleep(0.05)
        results["export_seconds"] = round(time.perf_counter() - t0, 3)
        results["export_lines"] = export.lines
        results["export_mb"] = round(export.size / 2**20, 1)
        bi.log(f"  {results['export_seconds']:.1f} s, {export.lines:,} lines, {results['export_mb']} MB")

        # (e) The gallery of both 100,000-image datasets: the second one's images come after the
        # first one's in the table, which is where a plan that walks the primary key goes wrong.
        # This worker makes no thumbnails (see the docstring); they are marked made, as they would be.
        from django.db import connection

        with connection.cursor() as cur:
            # Where the thumbnail task puts them: the owner's console storage.
            cur.execute(
                "UPDATE datasets_image SET thumbnail_key = %s || dataset_id || '/' || id || '.jpg', "
                "needs_thumbnail = false",
                [f"users/{user.pk}/thumbnails/"],
            )
            cur.execute("ANALYZE")
        results["quiet_before_gallery"] = bi.wait_for_quiet(args.quiet_wait)
        results["gallery"] = {
            name: bi.measure_gallery(user=user, dataset=d) for name, d in (("first", folder), ("second", dataset))
        }
        for name, pages in results["gallery"].items():
            bi.log(
                f"  gallery of the {name} dataset: " + ", ".join(f"{p} {v['median_ms']} ms" for p, v in pages.items())
            )
    finally:
        sampler.stop()
        results["worker_rss_peak_mb"] = round(sampler.peak_rss_kb / 1024, 1)
        results["worker_rss_peak_by_phase_mb"] = {k: round(v / 1024, 1) for k, v in sampler.peak_by_phase.items()}
        worker.stop()
        kept = bi.REPO / "bench-results" / f"manifest-{n}-worker.log"
        kept.parent.mkdir(exist_ok=True)
        shutil.copyfile(worker.log_path, kept)


def report(results: dict) -> None:
    s3_s, man_s, exp_s = (results.get(k) for k in ("s3_import_seconds", "manifest_import_seconds", "export_seconds"))
    rss = results.get("worker_rss_peak_mb")
    gallery = results.get("gallery") or {}
    page_ms = max((v["median_ms"] for pages in gallery.values() for v in pages.values()), default=None)
    ratio = round(man_s / s3_s, 3) if s3_s and man_s else None
    results["ratio"] = ratio
    checks = {
        f"manifest import ≤ {TARGET_RATIO}× S3-folder import": ratio is not None and ratio <= TARGET_RATIO,
        f"export ≤ {TARGET_EXPORT_S:.0f} s": exp_s is not None and exp_s <= TARGET_EXPORT_S,
        f"worker RSS ≤ {TARGET_RSS_MB} MB": rss is not None and rss <= TARGET_RSS_MB,
        f"gallery median ≤ {TARGET_PAGE_MS:.0f} ms on both datasets": page_ms is not None and page_ms <= TARGET_PAGE_MS,
    }
    results["targets"] = checks
    n = results["images"]
    print()
    print(f"Manifest benchmark, {n:,} images ({results.get('manifest_mb', '?')} MB manifest), one worker threads:4")
    print(f"  (b) S3-folder import   {s3_s if s3_s is not None else '—'} s")
    print(f"  (c) manifest import    {man_s if man_s is not None else '—'} s   ratio c/b = {ratio if ratio else '—'}")
    print(f"  (d) Download manifest  {exp_s if exp_s is not None else '—'} s")
    print(
        f"  worker RSS peak        {rss if rss is not None else '—'} MB  {results.get('worker_rss_peak_by_phase_mb', {})}"
    )
    for name, pages in gallery.items():
        print(f"  gallery, {name} dataset  " + "  ".join(f"{p} {v['median_ms']} ms" for p, v in pages.items()))
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'MISSED'}] {name}")
    if results.get("error"):
        print(f"  run broke: {results['error']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100_000, help="manifest lines and images (default 100000)")
    parser.add_argument("--redis-db", type=int, default=4, help="the Redis db the bench flushes and uses")
    parser.add_argument("--loglevel", default="warning")
    parser.add_argument("--malloc-arena-max", type=int, default=2)
    parser.add_argument("--quiet-wait", type=float, default=120)
    args = parser.parse_args()
    n = args.images

    base_db = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/customlabels")
    base_broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    bench_db = bi.with_db_name(base_db, urlsplit(base_db).path.lstrip("/") + "_bench")
    env_broker = bi.with_redis_db(base_broker, args.redis_db)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    results: dict = {"images": n, "cpus": os.cpu_count(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    status = 0
    lock = server = None
    workdir = Path(tempfile.mkdtemp(prefix="bench-manifest-"))
    try:
        lock = bi.bench_lock(base_db)
        server = bi.S3Server("rclone", workdir)
        env = bi.django_env(server=server, database=bench_db, broker=env_broker)
        bi.log(f"seeding {n:,} JPEGs into an rclone S3 server over {workdir}")
        images = [bi.jpeg_bytes(i) for i in range(bi.DISTINCT_IMAGES)]
        server.start(n, images)
        bi.warm_listing(server, n)
        run(n=n, env=env, workdir=workdir, args=args, server=server, results=results)
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
        out = bi.REPO / "bench-results" / f"manifest-{n}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
