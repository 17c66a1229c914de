"""Benchmark of one S3 folder import on one worker host and on two, each host a network namespace
with its own address and its own Celery worker (tests/scaleout/hosts.py).

A plain script (pytest collects only test_*.py), run as root from `make bench` / `make bench-scaleout`:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/customlabels \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \
    .venv/bin/python tests/bench/bench_scaleout.py --images 100000

What one run does:
  1. makes two worker hosts, with relays on their gateways to PostgreSQL and Redis, and serves N
     640×480 JPEGs (bench_import's, hard-linked) as bench/<label>/img-<i>.jpg with `rclone serve s3`
     on 127.0.0.1 and both gateways;
  2. for one host, then for two: a fresh PostgreSQL database `<db>_scaleout_bench` and Redis db, one
     worker per host as the Procfile runs it (threads, concurrency 4) on the import queue alone (no
     thumbnails), and the import from dataset_create_from_s3 until CREATE_COMPLETE, timed; then a check
     that exactly N images were imported, and how many chunks each host ran (from its worker's log);
  3. prints images/s of each and the speed-up, and writes bench-results/scaleout.json.
On this 2-core machine the hosts share the same two cores with PostgreSQL, Redis and the S3 server:
the figures show that sharing is correct and costs nothing, not what a second machine would add.
The exit status is non-zero only when the run broke.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import bench_import as bi  # noqa: E402

from tests.scaleout.hosts import Hosts, HostsUnavailable  # noqa: E402
from tests.scaleout.rclone import RcloneS3, objects_write  # noqa: E402

CHUNK_LINE = re.compile(r"Task datasets\.tasks\.import_chunk_task\[[\w-]+\] succeeded")


def start_worker(host, nodename: str, env: dict, workdir: Path, *, tag: str) -> bi.Proc:
    """A worker on `host` as the Procfile runs it, on the import queue alone, answering pings."""
    from customlabels.celery import app

    host_env = {**env, "MALLOC_ARENA_MAX": "2"}
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "AWS_S3_ENDPOINT_URL"):
        host_env[name] = host.url(env[name])
    args = [str(bi.VENV_BIN / "celery"), "-A", "customlabels", "worker", "-Q", "celery", "--pool", "threads"]
    args += ["--concurrency", "4", "-l", "info", "--hostname", nodename, "--without-gossip", "--without-mingle"]
    worker = bi.Proc(nodename, host.command(args), env=host_env, log_path=workdir / f"worker-{tag}.log")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not worker.alive():
            raise bi.BenchBroke(f"the worker on {host.name} exited at start:\n{worker.tail()}")
        if app.control.ping(destination=[nodename], timeout=0.5):
            return worker
    worker.stop()
    raise bi.BenchBroke(f"the worker on {host.name} did not answer a ping in 60 s:\n{worker.tail()}")


class BackendCpu:
    """CPU seconds the PostgreSQL backends of one database have used, sampled every call: a backend
    that ends (Django closes connections older than CONN_MAX_AGE) keeps the last figure read for it.
    The database is new for each import, so every backend of it served the import (and this script's
    polling). PostgreSQL's shared processes (WAL writer, checkpointer) are not counted."""

    def __init__(self, database: str):
        self.database = database
        self.by_pid: dict[int, float] = {}

    def sample(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [self.database])
            pids = [row[0] for row in cursor.fetchall()]
        for pid in pids:
            self.by_pid[pid] = max(self.by_pid.get(pid, 0.0), bi.tree_cpu_seconds(pid))

    @property
    def seconds(self) -> float:
        return sum(self.by_pid.values())


def run_import(*, n: int, hosts: list, env: dict, workdir: Path, args, server_pid: int, result: dict) -> None:
    """One import with a worker on each of `hosts`, in a fresh database and Redis db."""
    import redis
    from django.contrib.auth import get_user_model
    from django.db import connections

    connections.close_all()
    bi.recreate_database(env["DATABASE_URL"])
    bi.migrate(env, workdir)
    redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()

    from customlabels import s3
    from datasets.imports import s3_folder
    from datasets.models import Dataset, Image, ImportJob
    from projects import services as project_services
    from projects.models import S3AccessGrant
    from projects.s3_access import UserS3

    user = get_user_model().objects.create_user(username="bench-scaleout", password=uuid.uuid4().hex)
    S3AccessGrant.objects.create(user=user, bucket=bi.SOURCE_BUCKET)
    project_services.console_bucket_create()
    project = project_services.project_create(owner=user, name="bench-scaleout")
    location = s3.parse_location(f"s3://{bi.SOURCE_BUCKET}/{bi.SOURCE_PREFIX}")
    s3_folder.s3_folder_check(location=location, reader=UserS3(user.pk))  # what the form does; not timed

    count = len(hosts)
    workers = [
        start_worker(host, f"bench-{k + 1}@{host.name}", env, workdir, tag=f"{count}-hosts-{k + 1}")
        for k, host in enumerate(hosts)
    ]
    try:
        result["quiet_before"] = bi.wait_for_quiet(args.quiet_wait)
        cpu = bi.CpuWindow(s3_server=server_pid, **{f"worker{k + 1}": w.pid for k, w in enumerate(workers)})
        backends = BackendCpu(urlsplit(env["DATABASE_URL"]).path.lstrip("/"))
        t0 = time.perf_counter()
        dataset = s3_folder.dataset_create_from_s3(
            project=project, name=f"bench-{count}-hosts", location=location, auto_label=True
        )
        deadline = t0 + args.timeout
        progress: list[tuple[float, int, int]] = []
        last = -1.0
        while True:
            row = Dataset.objects.filter(pk=dataset.pk).values("status", "status_message").get()
            now = time.perf_counter()
            if row["status"] == Dataset.Status.CREATE_COMPLETE:
                break
            if row["status"] == Dataset.Status.CREATE_FAILED:
                raise bi.BenchBroke(f"the import failed: {row['status_message']}")
            for worker in workers:
                if not worker.alive():
                    raise bi.BenchBroke(f"the worker {worker.name} died during the import:\n{worker.tail()}")
            if now > deadline:
                raise bi.BenchBroke(f"the import did not finish in {args.timeout:.0f} s")
            if now - last >= 1:
                backends.sample()
                job = ImportJob.objects.filter(dataset=dataset).values("chunks_done", "chunks_total").first()
                if job and not progress or job and now - progress[-1][0] - t0 >= 5:
                    progress.append((round(now - t0, 1), job["chunks_done"], job["chunks_total"]))
                last = now
            time.sleep(0.1)
        seconds = time.perf_counter() - t0
        backends.sample()
        cpu_result = cpu.result()
        worker_cpu = sum(v for k, v in cpu_result.items() if k.startswith("worker")) * seconds
        result.update(
            hosts=count,
            seconds=round(seconds, 2),
            images_per_s=round(n / seconds, 1),
            cpu=cpu_result,
            # CPU per 1,000 images: what a deployment needs of each, whatever the machines.
            cpu_ms_per_1000_images={
                "workers": round(worker_cpu / n * 1e6),
                "postgresql_backends": round(backends.seconds / n * 1e6),
                "s3_server": round(cpu_result.get("s3_server_cores", 0) * seconds / n * 1e6),
            },
            postgresql_backends=len(backends.by_pid),
            chunk_progress=progress,
        )
        images = Image.objects.filter(dataset=dataset)
        got = (images.count(), images.values("source_ref").distinct().count(), images.exclude(error_code="").count())
        if got != (n, n, 0):
            raise bi.BenchBroke(f"the import made {got[0]} images ({got[1]} distinct, {got[2]} with errors), not {n}")
        bi.log(f"  {count} host(s): {seconds:.1f} s, {n / seconds:.0f} images/s")
    finally:
        for worker in workers:
            worker.stop()
        result["chunks_by_host"] = {
            worker.name: len(CHUNK_LINE.findall(worker.log_path.read_text(errors="replace"))) for worker in workers
        }
        kept = bi.REPO / "bench-results" / "scaleout-logs"
        kept.mkdir(parents=True, exist_ok=True)
        for worker in workers:
            shutil.copyfile(worker.log_path, kept / worker.log_path.name)


def report(results: dict) -> None:
    print()
    print(f"N = {results['images']:,} images, rclone S3, {results['cpus']} CPUs, one worker (threads -c 4) per host")
    code = results.get("code", {})
    print(
        f"code: commit {code.get('commit')}"
        + (f" + changes in {code['changed_files']}" if code.get("changed_files") else "")
    )
    if not results["complete"]:
        print(f"INCOMPLETE RUN: {results.get('error', '')[:500]}")
    print(f"{'hosts':>5} {'seconds':>9} {'images/s':>9}  {'chunks per host':<18} CPU (cores busy over the import)")
    for run in results.get("runs", []):
        if "seconds" not in run:
            continue
        cpu = run["cpu"]
        workers = " + ".join(str(v) for k, v in cpu.items() if k.startswith("worker"))
        chunks = "/".join(str(c) for c in run.get("chunks_by_host", {}).values())
        print(
            f"{run['hosts']:>5} {run['seconds']:>9.1f} {run['images_per_s']:>9.0f}  {chunks:<18} "
            f"machine {cpu['machine_busy_cores']}, workers {workers}, S3 {cpu.get('s3_server_cores')}, "
            f"relays {cpu['bench_process_cores']}"
        )
    for run in results.get("runs", []):
        if "cpu_ms_per_1000_images" in run:
            per = run["cpu_ms_per_1000_images"]
            print(
                f"  {run['hosts']} host(s), CPU per 1,000 images: workers {per['workers']} ms, PostgreSQL backends "
                f"{per['postgresql_backends']} ms, S3 server {per['s3_server']} ms"
            )
    if results.get("speedup"):
        print(f"speed-up, two hosts over one: {results['speedup']:.2f}×")
    print(
        "Both hosts run on this machine's cores, beside PostgreSQL, Redis and the S3 server: this shows the "
        "work is shared correctly and throughput holds, not what a second machine adds."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100_000, help="how many images to import (default 100000)")
    parser.add_argument("--redis-db", type=int, default=4, help="the Redis db the bench flushes and uses")
    parser.add_argument("--timeout", type=float, default=None, help="seconds one import may take")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60,
        help="before each timed import, wait up to this many seconds for the machine to be idle (0: don't)",
    )
    args = parser.parse_args()
    n = args.images
    if n < 2000:
        parser.error("--images must be at least 2000 (two chunks)")
    args.timeout = args.timeout or 300 + n * 0.05

    base_db = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/customlabels")
    if not base_db.startswith(("postgres://", "postgresql://")):
        parser.error("DATABASE_URL must be a PostgreSQL URL")
    base_broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    if not base_broker.startswith("redis://"):
        parser.error("CELERY_BROKER_URL must be a redis:// URL")
    bench_db = bi.with_db_name(base_db, urlsplit(base_db).path.lstrip("/") + "_scaleout_bench")
    bench_broker = bi.with_redis_db(base_broker, args.redis_db)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    results: dict = {
        "images": n,
        "cpus": os.cpu_count(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "complete": False,
        "code": bi.code_version(),
        "worker": "threads -c 4, -Q celery (no thumbnails), one per host",
    }
    status = 0
    lock = server = None
    workdir = Path(tempfile.mkdtemp(prefix="bench-scaleout-"))
    try:
        lock = bi.bench_lock(base_db)
        db, broker = urlsplit(base_db), urlsplit(base_broker)
        with Hosts(2, relay=[(db.hostname, db.port or 5432), (broker.hostname, broker.port or 6379)]) as hosts:
            bi.log(f"seeding {n:,} JPEGs ({bi.DISTINCT_IMAGES} distinct, hard-linked) for rclone over {workdir}")
            images = [bi.jpeg_bytes(i) for i in range(bi.DISTINCT_IMAGES)]
            objects_write(
                workdir / "s3", bi.SOURCE_BUCKET, ((bi.image_key(i), images[i % len(images)]) for i in range(n))
            )
            server = RcloneS3(
                workdir / "s3",
                addresses=["127.0.0.1", *(host.gateway for host in hosts)],
                access_key=bi.ACCESS_KEY,
                secret_key=bi.SECRET_KEY,
                log_path=workdir / "rclone.log",
            )
            server.start()
            env = {
                **os.environ,
                "DATABASE_URL": bench_db,
                "CELERY_BROKER_URL": bench_broker,
                "AWS_S3_ENDPOINT_URL": server.endpoint,
                "AWS_ACCESS_KEY_ID": bi.ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": bi.SECRET_KEY,
                "SECRET_KEY": bi.DJANGO_SECRET_KEY,
                "AWS_DEFAULT_REGION": "us-east-1",
                "DJANGO_SETTINGS_MODULE": "customlabels.settings",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(bi.REPO), os.environ.get("PYTHONPATH")])),
                "CELERY_TASK_ALWAYS_EAGER": "false",
                # One import spread over every host: by default an import keeps one chunk in flight (fair use).
                "IMPORT_CHUNKS_IN_FLIGHT": "8",
            }
            os.environ.update(env)
            import django

            django.setup()
            results["hosts"] = [{"name": h.name, "address": h.address, "gateway": h.gateway} for h in hosts]
            runs = results["runs"] = []
            for count in (1, 2):
                bi.log(f"import on {count} host(s)")
                run: dict = {"hosts": count}
                runs.append(run)
                run_import(
                    n=n, hosts=hosts.hosts[:count], env=env, workdir=workdir, args=args, server_pid=server.process.pid,
                    result=run,
                )  # fmt: skip
            results["relayed_connections"] = {
                host.name: {str(port): hosts.connections(host, port) for _, port in hosts.relay_targets}
                for host in hosts
            }
            results["speedup"] = round(runs[1]["images_per_s"] / runs[0]["images_per_s"], 3)
            results["complete"] = True
    except HostsUnavailable as exc:
        bi.log(f"BROKEN: {exc}")
        results["error"] = str(exc)
        status = 2
    except KeyboardInterrupt:
        bi.log("interrupted; cleaning up")
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
        out = bi.REPO / "bench-results" / "scaleout.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=2))
        bi.log(f"wrote {out.relative_to(bi.REPO)}" + ("" if results["complete"] else " (incomplete run)"))
    report(results)
    return status


if __name__ == "__main__":
    sys.exit(main())
