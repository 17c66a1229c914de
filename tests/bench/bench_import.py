"""Benchmark of the S3 folder import, end to end, against a floor measured in the same run.

A plain script (pytest collects only test_*.py), run from `make bench` / `make bench-large`:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/customlabels \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \
    .venv/bin/python tests/bench/bench_import.py --images 10000

What one run does:
  1. serves a temp dir with `rclone serve s3` and seeds N 640×480 JPEGs as bench/<label>/img-<i>.jpg;
  2. (a) the floor: plain boto3, 16 threads, lists every key and ranged-GETs every header
     (rules.HEADER_BYTES), before and after the import;
  3. (b) the import: fresh PostgreSQL database `<db>_bench`, a dedicated Redis db, one import worker
     process (prefork -c 2 unless --workers says otherwise) and, as the Procfile runs it, the
     thumbnails worker beside it; times dataset_create_from_s3 until the dataset is CREATE_COMPLETE,
     then until every thumbnail is made, sampling the import worker tree's RSS;
  4. the gallery: median server time of the dataset page (all / one label / a deep page) through
     Django's test client.
Machines are noisy, so the figure that matters is the ratio import / floor. The results are printed
and written to bench-results/import-N.json. The exit status is non-zero only when the run broke.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The set-up the benchmarks share, re-exported: the other scripts use them as bi.<name>.
from benchkit import (  # noqa: E402, F401
    ACCESS_KEY,
    DISTINCT_IMAGES,
    DJANGO_SECRET_KEY,
    LABELS,
    REPO,
    SECRET_KEY,
    SOURCE_BUCKET,
    SOURCE_PREFIX,
    VENV_BIN,
    BenchBroke,
    Proc,
    S3Server,
    bench_lock,
    bench_urls,
    code_version,
    django_env,
    fresh_state,
    image_key,
    importer,
    jpeg_bytes,
    log,
    migrate,
    recreate_database,
    start_thumbnail_worker,
    start_worker,
    with_db_name,
    with_redis_db,
)

FLOOR_THREADS = 16
GALLERY_REPEATS = 30
GALLERY_COLD_REPEATS = 5

TARGET_RATIO, TARGET_RATIO_N = 1.3, 10_000
TARGET_RSS_MB, TARGET_RSS_N = 300, 100_000
TARGET_PAGE_MS, TARGET_PAGE_N = 50, 100_000


# --- memory ---------------------------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def process_tree(pid: int) -> list[int]:
    children = _children_map()
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def _status_kb(pid: int, field: str, path: str = "status") -> int:
    try:
        with open(f"/proc/{pid}/{path}") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


_HZ = os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU-seconds all cores have spent busy since boot (from /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / _HZ


def tree_cpu_seconds(pid: int) -> float:
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / _HZ


def wait_for_quiet(max_wait: float, *, threshold: float = 0.3) -> dict:
    """Wait (at most max_wait s) until the machine is nearly idle, so a timed phase starts on a quiet
    machine; other people's tests on a shared 2-core box otherwise decide the result."""
    t0 = time.monotonic()
    busy = 0.0
    while True:
        b0 = machine_busy_seconds()
        time.sleep(2.0)
        busy = (machine_busy_seconds() - b0) / 2.0
        waited = time.monotonic() - t0
        if busy < threshold or waited >= max_wait:
            if busy >= threshold:
                log(f"  the machine is still busy ({busy:.1f} cores) after {waited:.0f} s; going ahead")
            elif waited > 3:
                log(f"  waited {waited:.0f} s for a quiet machine")
            return {"waited_s": round(waited, 1), "busy_cores": round(busy, 2), "quiet": busy < threshold}


class CpuWindow:
    """How busy the whole machine was over a window, and how much of it was ours: other people's
    load on a shared machine shows up as busy cores that our processes do not account for."""

    def __init__(self, **pids: int | None):
        self.pids = {name: pid for name, pid in pids.items() if pid}
        self.t0 = time.perf_counter()
        self.busy0 = machine_busy_seconds()
        self.own0 = time.process_time()
        self.trees0 = {name: tree_cpu_seconds(pid) for name, pid in self.pids.items()}

    def result(self) -> dict:
        elapsed = time.perf_counter() - self.t0
        out = {
            "machine_busy_cores": round((machine_busy_seconds() - self.busy0) / elapsed, 2),
            "bench_process_cores": round((time.process_time() - self.own0) / elapsed, 2),
            "loadavg_1m": round(os.getloadavg()[0], 2),
        }
        for name, pid in self.pids.items():
            out[f"{name}_cores"] = round((tree_cpu_seconds(pid) - self.trees0[name]) / elapsed, 2)
        return out


class RssSampler(threading.Thread):
    """Samples the summed VmRSS (and PSS, which counts pages shared after fork once) of a process tree."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.peak_rss_kb = self.peak_pss_kb = 0
        self.phase = "idle"
        self.peak_by_phase: dict[str, int] = {}
        self.max_processes = 0
        self.peak_per_process_mb: list[int] = []
        self.timeline: list[tuple[float, int]] = []
        self._t0 = time.monotonic()

    def sample(self) -> tuple[int, int, int]:
        rss, pss, per_process = self._sample()
        return rss, pss, len(per_process)

    def _sample(self) -> tuple[int, int, list[int]]:
        tree = process_tree(self.pid)
        per_process = [_status_kb(p, "VmRSS:") for p in tree]
        pss = sum(_status_kb(p, "Pss:", "smaps_rollup") for p in tree)
        return sum(per_process), pss, per_process

    def run(self) -> None:
        last_kept = -1.0
        while not self.stop_event.is_set():
            rss, pss, per_process = self._sample()
            nproc = len(per_process)
            with self.lock:
                if rss > self.peak_rss_kb:
                    self.peak_per_process_mb = [round(kb / 1024) for kb in per_process]
                self.peak_rss_kb = max(self.peak_rss_kb, rss)
                self.peak_pss_kb = max(self.peak_pss_kb, pss)
                self.peak_by_phase[self.phase] = max(self.peak_by_phase.get(self.phase, 0), rss)
                self.max_processes = max(self.max_processes, nproc)
                now = time.monotonic() - self._t0
                if now - last_kept >= 1.0:
                    self.timeline.append((round(now, 1), rss // 1024))
                    last_kept = now
            self.stop_event.wait(self.interval)

    def set_phase(self, phase: str) -> None:
        with self.lock:
            self.phase = phase

    def stop(self) -> None:
        self.stop_event.set()
        self.join(5)


# --- (a) the floor --------------------------------------------------------------------------


def measure_floor(server: S3Server, n: int, header_bytes: int) -> dict:
    """List the folder page by page and ranged-GET every header, GETs overlapping the listing."""
    client = server.client(pool=FLOOR_THREADS * 2)

    def get(key: str) -> int:
        resp = client.get_object(Bucket=SOURCE_BUCKET, Key=key, Range=f"bytes=0-{header_bytes - 1}")
        body = resp["Body"]
        try:
            return len(body.read(header_bytes))
        finally:
            body.close()

    cpu = CpuWindow(s3_server=server.pid)
    t0 = time.perf_counter()
    futures, listed, list_seconds = [], 0, 0.0
    with ThreadPoolExecutor(FLOOR_THREADS) as pool:
        kwargs = {"Bucket": SOURCE_BUCKET, "Prefix": SOURCE_PREFIX, "MaxKeys": 1000}
        while True:
            tl = time.perf_counter()
            resp = client.list_objects_v2(**kwargs)
            list_seconds += time.perf_counter() - tl
            keys = [o["Key"] for o in resp.get("Contents", [])]
            listed += len(keys)
            futures.extend(pool.submit(get, k) for k in keys)
            if not resp.get("IsTruncated"):
                break
            kwargs["ContinuationToken"] = resp["NextContinuationToken"]
        read = sum(f.result() for f in futures)
    seconds = time.perf_counter() - t0
    if listed != n:
        raise BenchBroke(f"the floor listed {listed} keys, expected {n}")
    return {
        "seconds": round(seconds, 3),
        "images_per_s": round(n / seconds, 1),
        "list_seconds": round(list_seconds, 3),
        "bytes_read": read,
        "cpu": cpu.result(),
    }


def warm_listing(server: S3Server, n: int) -> None:
    """List the folder once, untimed, so every timed phase finds the server's directory cache warm."""
    client = server.client()
    listed = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=SOURCE_BUCKET, Prefix=SOURCE_PREFIX):
        listed += len(page.get("Contents", []))
    if listed != n:
        raise BenchBroke(f"the S3 server lists {listed} keys, expected {n}")


# --- (b) the import -------------------------------------------------------------------------


_TASK_LINE = re.compile(
    r"^\[(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): \w+/[^\]]+\] "
    r"Task (?P<name>[\w.]+)\[[\w-]+\] (?P<what>succeeded in (?P<rt>[\d.e-]+)s|retry|raised)"
)


def task_stats(log_path: Path, window: tuple[float, float]) -> dict:
    """Per task name: runs, retries, failures, seconds; and task-seconds spent inside the import window."""
    stats: dict[str, dict] = {}
    w0, w1 = window
    for line in log_path.read_text(errors="replace").splitlines():
        m = _TASK_LINE.match(line)
        if not m:
            continue
        name = m["name"].rsplit(".", 1)[-1]
        s = stats.setdefault(name, {"runs": 0, "retries": 0, "failures": 0, "runtimes": [], "seconds_in_import": 0.0})
        if m["rt"] is None:
            s["retries" if m["what"] == "retry" else "failures"] += 1
            continue
        end = datetime.strptime(m["ts"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        runtime = float(m["rt"])
        s["runs"] += 1
        s["runtimes"].append(runtime)
        s["seconds_in_import"] += max(0.0, min(end, w1) - max(end - runtime, w0))
    out = {}
    for name, s in stats.items():
        rts = sorted(s.pop("runtimes"))
        out[name] = {
            **s,
            "seconds_in_import": round(s["seconds_in_import"], 2),
            "total_seconds": round(sum(rts), 2),
            "median_s": round(statistics.median(rts), 3) if rts else None,
            "max_s": round(rts[-1], 3) if rts else None,
        }
    return out


def run_import(
    *, n: int, pool: str, concurrency: int, env: dict, workdir: Path, args, server_pid: int | None, result: dict
):
    """One import with a fresh database and Redis db. Fills `result` as each phase ends, so an
    interrupted run still reports what it measured."""
    result.update(pool=pool, concurrency=concurrency)
    fresh_state(env, workdir)

    from datasets.imports import s3_folder
    from datasets.models import Dataset, Image, ImportJob

    user, project, location = importer(f"bench-{pool}")

    worker, _ = start_worker(pool, concurrency, env, workdir, args.loglevel, args.malloc_arena_max)
    sampler = RssSampler(worker.pid)
    sampler.start()
    wall0 = wall1 = time.time()

    def memory() -> dict:
        return {
            "worker_rss_peak_mb": round(sampler.peak_rss_kb / 1024, 1),
            "worker_rss_peak_import_mb": round(sampler.peak_by_phase.get("import", 0) / 1024, 1),
            "worker_pss_peak_mb": round(sampler.peak_pss_kb / 1024, 1),
            "worker_max_processes": sampler.max_processes,
            "worker_rss_peak_per_process_mb": sampler.peak_per_process_mb,
            "rss_timeline_mb": sampler.timeline,
        }

    try:
        result["quiet_before_import"] = wait_for_quiet(args.quiet_wait)
        result["worker_rss_idle_mb"] = round(sampler.sample()[0] / 1024, 1)
        sampler.set_phase("import")
        cpu = CpuWindow(worker=worker.pid, s3_server=server_pid)
        wall0, t0 = time.time(), time.perf_counter()
        dataset = s3_folder.dataset_create_from_s3(
            project=project, name=f"bench-{pool}-{concurrency}", location=location, auto_label=True
        )
        progress: list[tuple[float, int, int]] = []
        result["chunk_progress"] = progress
        deadline = t0 + args.timeout
        last_progress = -1.0
        while True:
            status = Dataset.objects.filter(pk=dataset.pk).values_list("status", flat=True).get()
            now = time.perf_counter()
            if status == Dataset.Status.CREATE_COMPLETE:
                break
            if status == Dataset.Status.CREATE_FAILED:
                message = Dataset.objects.get(pk=dataset.pk).status_message
                raise BenchBroke(f"the import failed: {message}\n{worker.tail()}")
            if not worker.alive():
                raise BenchBroke(f"the worker died during the import:\n{worker.tail()}")
            if now > deadline:
                raise BenchBroke(f"the import did not finish in {args.timeout} s\n{worker.tail()}")
            if now - last_progress >= 1.0:
                job = ImportJob.objects.filter(dataset=dataset).values("chunks_done", "chunks_total").first()
                if job:
                    progress.append((round(now - t0, 1), job["chunks_done"], job["chunks_total"]))
                last_progress = now
            time.sleep(0.1)
        import_s = time.perf_counter() - t0
        wall1 = time.time()
        result.update(
            import_seconds=round(import_s, 3), import_images_per_s=round(n / import_s, 1), cpu_import=cpu.result()
        )
        cpu = CpuWindow(worker=worker.pid, s3_server=server_pid)
        sampler.set_phase("thumbnails")

        imported = Image.objects.filter(dataset=dataset).count()
        errors = Image.objects.filter(dataset=dataset).exclude(error_code="").count()
        if imported != n or errors:
            raise BenchBroke(f"the import made {imported} images ({errors} with errors), expected {n} without")
        log(f"  import done in {import_s:.1f} s ({n / import_s:.0f} images/s); waiting for thumbnails")

        pending = Image.objects.filter(dataset=dataset, needs_thumbnail=True)
        while pending.exists():
            if not worker.alive():
                raise BenchBroke(f"the worker died making thumbnails:\n{worker.tail()}")
            if time.perf_counter() > t0 + 2 * args.timeout:
                raise BenchBroke(f"thumbnails not done in {2 * args.timeout} s")
            time.sleep(0.5)
        thumbs_s = time.perf_counter() - t0
        result.update(
            thumbnails_done_seconds=round(thumbs_s, 3),
            thumbnails_per_s=round(n / thumbs_s, 1),
            cpu_thumbnails=cpu.result(),
        )
        thumb_errors = Image.objects.filter(dataset=dataset).exclude(error_code="").count()
        if thumb_errors:
            raise BenchBroke(f"{thumb_errors} images got an error while making thumbnails")
        log(f"  thumbnails done {thumbs_s:.1f} s after submit")
    finally:
        sampler.stop()
        result.update(memory())
        worker.stop()
        result["tasks"] = task_stats(worker.log_path, (wall0, wall1 if wall1 > wall0 else time.time()))
        kept = REPO / "bench-results" / f"import-{n}-worker-{pool}-{concurrency}.log"
        kept.parent.mkdir(exist_ok=True)
        shutil.copyfile(worker.log_path, kept)

    result["quiet_before_gallery"] = wait_for_quiet(args.quiet_wait)
    result["gallery"] = measure_gallery(user=user, dataset=dataset)


# --- the gallery ----------------------------------------------------------------------------


def measure_gallery(*, user, dataset) -> dict:
    from django.conf import settings
    from django.test import Client, override_settings

    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    # The manifest storage needs `collectstatic`; the plain one costs the same per {% static %} and needs nothing.
    static = override_settings(
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    )
    static.enable()
    try:
        return _measure_pages(client, dataset)
    finally:
        static.disable()


def _measure_pages(client, dataset) -> dict:
    from django.core.cache import caches
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from datasets.models import Image, Label
    from datasets.selectors import PAGE_SIZE

    url = reverse("datasets:detail", args=[dataset.pk])
    label = Label.objects.get(dataset=dataset, name=LABELS[0])
    ids = Image.objects.filter(dataset=dataset).order_by("-id").values_list("id", flat=True)
    deep_after = ids[PAGE_SIZE + 1]
    pages = {"all": {}, "label": {"label": label.pk}, "deep": {"after": deep_after}}
    out = {}
    for name, query in pages.items():
        for _ in range(3):
            resp = client.get(url, query)
            if resp.status_code != 200:
                raise BenchBroke(f"GET {url} {query} answered {resp.status_code}")
        times = []
        for _ in range(GALLERY_REPEATS):
            t = time.perf_counter()
            resp = client.get(url, query)
            times.append((time.perf_counter() - t) * 1000)
            if resp.status_code != 200:
                raise BenchBroke(f"GET {url} {query} answered {resp.status_code}")
        if resp.content.count(b"<img") < PAGE_SIZE:
            raise BenchBroke(f"the {name} page shows fewer than {PAGE_SIZE} images")
        # With every cache emptied first: the first view after a write, which recounts.
        cold = []
        for _ in range(GALLERY_COLD_REPEATS):
            for c in caches.all():
                c.clear()
            t = time.perf_counter()
            client.get(url, query)
            cold.append((time.perf_counter() - t) * 1000)
        with CaptureQueriesContext(connection) as ctx:
            client.get(url, query)
        slowest = sorted(ctx.captured_queries, key=lambda q: float(q["time"]), reverse=True)[:3]
        out[name] = {
            "query": query,
            "median_ms": round(statistics.median(times), 2),
            "p90_ms": round(sorted(times)[int(0.9 * len(times))], 2),
            "cold_median_ms": round(statistics.median(cold), 2),
            "queries": len(ctx.captured_queries),
            "sql_ms": round(sum(float(q["time"]) for q in ctx.captured_queries) * 1000, 2),
            "slowest_sql": [{"ms": round(float(q["time"]) * 1000, 2), "sql": q["sql"][:300]} for q in slowest],
        }
    return out


# --- report ---------------------------------------------------------------------------------


def verdict(ok: bool, n: int, target_n: int) -> str:
    text = "PASS" if ok else "FAIL"
    return text if n == target_n else f"{text} (target is set at N={target_n:,}; this run N={n:,})"


def cpu_text(cpu: dict) -> str:
    parts = [f"machine busy {cpu['machine_busy_cores']} cores"]
    for key in ("bench_process", "worker", "s3_server"):
        if f"{key}_cores" in cpu:
            parts.append(f"{key.replace('_', ' ')} {cpu[f'{key}_cores']}")
    return ", ".join(parts) + f"; load {cpu['loadavg_1m']}"


def targets(results: dict) -> dict:
    """Each target with the first worker configuration's value and PASS/FAIL (missing: not measured)."""
    runs = results.get("runs") or [{}]
    main, n = runs[0], results["images"]
    ratio = main.get("ratio")
    rss = main.get("worker_rss_peak_mb")
    gallery = main.get("gallery")
    page = max(g["median_ms"] for g in gallery.values()) if gallery else None
    checks = [
        (f"ratio b/a <= {TARGET_RATIO} at N={TARGET_RATIO_N:,}", ratio, TARGET_RATIO, TARGET_RATIO_N),
        (f"worker RSS <= {TARGET_RSS_MB} MB at N={TARGET_RSS_N:,}", rss, TARGET_RSS_MB, TARGET_RSS_N),
        (f"gallery median <= {TARGET_PAGE_MS} ms at N={TARGET_PAGE_N:,}", page, TARGET_PAGE_MS, TARGET_PAGE_N),
    ]
    return {
        name: {
            "value": value,
            "verdict": "NOT MEASURED" if value is None else verdict(value <= limit, n, target_n),
            "worker": f"{main.get('pool')} -c {main.get('concurrency')}",
        }
        for name, value, limit, target_n in checks
    }


def _num(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def report(results: dict) -> None:
    n = results["images"]
    floor = results.get("floor", {})
    print()
    print(f"N = {n:,} images  ({results['s3_server']} S3 server, {results['cpus']} CPUs)")
    code = results.get("code", {})
    print(
        f"code: commit {code.get('commit')}"
        + (f" + changes in {', '.join(code['changed_files'])}" if code.get("changed_files") else "")
    )
    if not results["complete"]:
        print(f"INCOMPLETE RUN: {results.get('error', '')[:500]}")
    print(f"{'':34}{'seconds':>10}{'images/s':>10}")
    for tag in ("before", "after"):
        if tag in floor:
            f = floor[tag]
            print(f"{'(a) floor, boto3 16 threads, ' + tag:34}{f['seconds']:>10.2f}{f['images_per_s']:>10.0f}")
    if floor.get("seconds"):
        print(f"{'(a) floor, mean':34}{floor['seconds']:>10.2f}{n / floor['seconds']:>10.0f}")
    for tag in ("before", "after"):
        if tag in floor:
            print(f"    CPU during floor {tag}: {cpu_text(floor[tag]['cpu'])}")
    for run in results.get("runs", []):
        tag = f"{run['pool']} -c {run['concurrency']}"
        print(
            f"{'(b) import, ' + tag:34}{_num(run.get('import_seconds'), '>10.2f')}"
            f"{_num(run.get('import_images_per_s'), '>10.0f')}   ratio b/a {_num(run.get('ratio'), '.2f')}"
        )
        print(
            f"{'    + all thumbnails, ' + tag:34}{_num(run.get('thumbnails_done_seconds'), '>10.2f')}"
            f"{_num(run.get('thumbnails_per_s'), '>10.0f')}"
        )
        if "worker_rss_peak_mb" in run:
            print(
                f"    worker RSS peak {run['worker_rss_peak_mb']:.0f} MB (import {run['worker_rss_peak_import_mb']:.0f} MB, "
                f"idle {_num(run.get('worker_rss_idle_mb'), '.0f')} MB, PSS peak {run['worker_pss_peak_mb']:.0f} MB, "
                f"{run['worker_max_processes']} processes: {run['worker_rss_peak_per_process_mb']} MB)"
            )
        for phase in ("import", "thumbnails"):
            if f"cpu_{phase}" in run:
                print(f"    CPU during {phase}: {cpu_text(run[f'cpu_{phase}'])}")
        for name, t in run.get("tasks", {}).items():
            print(
                f"    {name:24} runs {t['runs']:>6}  median {t['median_s']}s  max {t['max_s']}s  "
                f"total {t['total_seconds']}s  in import window {t['seconds_in_import']}s"
                + (f"  retries {t['retries']}" if t["retries"] else "")
                + (f"  failures {t['failures']}" if t["failures"] else "")
            )
        for name, g in run.get("gallery", {}).items():
            print(
                f"    gallery {name:6} median {g['median_ms']:7.1f} ms  p90 {g['p90_ms']:7.1f} ms  "
                f"cold cache {_num(g.get('cold_median_ms'), '7.1f')} ms  "
                f"{g['queries']} queries, {g['sql_ms']:.1f} ms SQL"
            )
    checks = results.get("targets", {})
    if checks:
        print(f"\nTargets (for {next(iter(checks.values()))['worker']}):")
        for name, check in checks.items():
            print(f"  {name:42} {_num(check['value'], '>8'):>8}  {check['verdict']}")


def parse_workers(text: str) -> list[tuple[str, int]]:
    out = []
    for part in text.split(","):
        pool, _, conc = part.strip().partition(":")
        if pool not in ("prefork", "threads", "solo", "gevent", "eventlet"):
            raise argparse.ArgumentTypeError(f"unknown pool {pool!r}")
        out.append((pool, int(conc or 2)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000, help="how many images to import (default 10000)")
    parser.add_argument(
        "--workers",
        type=parse_workers,
        default=parse_workers("prefork:2"),
        help="worker pools to run, one import each, e.g. 'prefork:2,threads:4' (default prefork:2)",
    )
    parser.add_argument("--s3", choices=("rclone", "moto"), default="rclone", help="the local S3 server")
    parser.add_argument("--redis-db", type=int, default=3, help="the Redis db the bench flushes and uses")
    parser.add_argument("--loglevel", default="info", help="worker log level; info gives per-task timings")
    parser.add_argument("--timeout", type=float, default=None, help="seconds the import may take")
    parser.add_argument(
        "--malloc-arena-max",
        type=int,
        default=2,
        help="MALLOC_ARENA_MAX for the worker, as the Procfile and `make run` set it (0: leave unset)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=180,
        help="before each timed phase, wait up to this many seconds for the machine to be idle (0: don't)",
    )
    args = parser.parse_args()
    n = args.images
    if n < 200:
        parser.error("--images must be at least 200")
    args.timeout = args.timeout or 300 + n * 0.1

    base_db, bench_db, bench_broker = bench_urls(parser, args.redis_db)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    results: dict = {
        "images": n,
        "s3_server": args.s3,
        "cpus": os.cpu_count(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "complete": False,
        "code": code_version(),
        "worker_malloc_arena_max": args.malloc_arena_max,
    }
    status = 0
    lock = None
    workdir = Path(tempfile.mkdtemp(prefix="bench-import-"))
    server = None
    try:
        lock = bench_lock(base_db)
        server = S3Server(args.s3, workdir)
        env = django_env(server=server, database=bench_db, broker=bench_broker)
        from django.conf import settings

        from datasets import rules

        results["header_bytes"] = rules.HEADER_BYTES
        results["import_header_threads"] = settings.IMPORT_HEADER_THREADS

        log(f"seeding {n:,} JPEGs ({DISTINCT_IMAGES} distinct) into an {args.s3} S3 server over {workdir}")
        t = time.perf_counter()
        images = [jpeg_bytes(i) for i in range(DISTINCT_IMAGES)]
        server.start(n, images)
        results["image_kb_mean"] = round(statistics.mean(len(b) for b in images) / 1024, 1)
        log(f"  seeded in {time.perf_counter() - t:.1f} s, {results['image_kb_mean']} KB per image")
        warm_listing(server, n)

        log("(a) floor")
        floor = results["floor"] = {}
        quiet = wait_for_quiet(args.quiet_wait)
        floor["before"] = {**measure_floor(server, n, rules.HEADER_BYTES), "quiet_before": quiet}
        floor["seconds"] = floor["before"]["seconds"]
        log(f"  {floor['before']['seconds']:.1f} s")
        runs = results["runs"] = []
        for pool, concurrency in args.workers:
            log(f"(b) import with one worker, --pool {pool} --concurrency {concurrency}")
            run: dict = {}
            runs.append(run)
            run_import(
                n=n,
                pool=pool,
                concurrency=concurrency,
                env=env,
                workdir=workdir,
                args=args,
                server_pid=server.pid,
                result=run,
            )
        log("(a) floor again")
        quiet = wait_for_quiet(args.quiet_wait)
        floor["after"] = {**measure_floor(server, n, rules.HEADER_BYTES), "quiet_before": quiet}
        floor["seconds"] = round((floor["before"]["seconds"] + floor["after"]["seconds"]) / 2, 3)
        results["complete"] = True
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        results["error"] = "interrupted"
        status = 130
    except BenchBroke as exc:
        log(f"BROKEN: {exc}")
        results["error"] = str(exc)
        status = 2
    except Exception as exc:
        results["error"] = repr(exc)
        raise
    finally:
        if server:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        if lock:
            lock.close()
        for run in results.get("runs", []):
            if "import_seconds" in run and results.get("floor", {}).get("seconds"):
                run["ratio"] = round(run["import_seconds"] / results["floor"]["seconds"], 3)
        results["targets"] = targets(results)
        out = REPO / "bench-results" / f"import-{n}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=2))
        log(f"wrote {out.relative_to(REPO)}" + ("" if results["complete"] else " (incomplete run)"))
    report(results)
    return status


if __name__ == "__main__":
    sys.exit(main())
