"""Benchmark of Export dataset (issue 15): N images with boxes exported labels only as COCO and as
YOLO, each as the worker writes it (the rows read in one snapshot, the files streamed into a zip
uploaded to S3), against the floor of reading the same raw rows in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/customlabels .venv/bin/python tests/bench/bench_formats.py --images 100000

One run: a fresh PostgreSQL database `<db>_bench_formats` with one dataset of N image rows, each
with an image-level label and a box (one of five labels); moto's S3 server in a process of its own
holds the console bucket. The floor is the three SELECTs of the image, label and box rows in raw SQL
(psycopg, every row fetched), so the ratio shows what mapping, writing and zipping add. Target:
each export in at most 10 s. Results are printed and written to bench-results/formats-N.json.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[2]
TARGET_S = 10.0
LABELS = ["cat", "dog", "bird", "fish", "horse"]


def with_db_name(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n = args.images
    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/customlabels")
    if not base_url.startswith("postgres"):
        print("bench_formats needs PostgreSQL in DATABASE_URL", file=sys.stderr)
        return 2
    db_name = urlsplit(base_url).path.lstrip("/") + "_bench_formats"
    import psycopg

    with psycopg.connect(with_db_name(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db_name}"')
    port = free_port()
    moto = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.environ.update(
        DATABASE_URL=with_db_name(base_url, db_name),
        DJANGO_SETTINGS_MODULE="customlabels.settings",
        SECRET_KEY=os.environ.get("SECRET_KEY", secrets.token_urlsafe(50)),
        AWS_S3_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
    )
    sys.path.insert(0, str(REPO))
    try:
        return run(n=n, repeats=args.repeats)
    finally:
        moto.terminate()
        moto.wait()


def run(*, n: int, repeats: int) -> int:
    import django

    django.setup()
    import boto3
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from datasets.models import BoundingBox, Dataset, DatasetExport, Image, ImageLabel, Label
    from datasets.operations.format_export import dataset_export_run
    from projects.models import ConsoleBucket, Project

    call_command("migrate", verbosity=0)
    for _ in range(50):
        try:
            s3 = boto3.client("s3", endpoint_url=settings.AWS_S3_ENDPOINT_URL, region_name="us-east-1")
            s3.create_bucket(Bucket="custom-labels-console-us-east-1-0000000000")
            break
        except Exception:
            time.sleep(0.2)
    from django.contrib.auth.models import User

    user = User.objects.create_user("bench", password="x")
    ConsoleBucket.objects.create(
        region="us-east-1", name="custom-labels-console-us-east-1-0000000000", created_at=timezone.now()
    )
    project = Project.objects.create(owner=user, name="bench", arn_suffix=1)
    dataset = Dataset.objects.create(project=project, name="bench", status="CREATE_COMPLETE", arn_suffix=1)
    labels = [Label.objects.create(dataset=dataset, name=name) for name in LABELS]
    print(f"seeding {n:,} images with a label and a box each …", flush=True)
    for start in range(0, n, 10_000):
        rows = [
            Image(
                dataset=dataset,
                source_ref=f"s3://bench/images/{LABELS[i % 5]}/img-{i:07d}.jpg",
                file_name=f"img-{i:07d}.jpg",
                format="jpeg",
                width=640,
                height=480,
                is_labeled=True,
            )
            for i in range(start, min(n, start + 10_000))
        ]
        Image.objects.bulk_create(rows, batch_size=5000)
        ImageLabel.objects.bulk_create([ImageLabel(image=im, label=labels[im.pk % 5]) for im in rows], batch_size=5000)
        BoundingBox.objects.bulk_create(
            [
                BoundingBox(image=im, label=labels[(im.pk + 1) % 5], left=100, top=80, width=200, height=150)
                for im in rows
            ],
            batch_size=5000,
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")

    raw_url = os.environ["DATABASE_URL"]
    import psycopg

    def floor() -> float:
        start = time.perf_counter()
        with psycopg.connect(raw_url) as conn:
            rows = conn.execute(
                "SELECT id, source_ref, file_name, width, height FROM datasets_image WHERE dataset_id = %s ORDER BY id",
                [dataset.pk],
            ).fetchall()
            rows += conn.execute(
                "SELECT il.image_id, il.label_id FROM datasets_imagelabel il JOIN datasets_label l ON l.id = il.label_id "
                "WHERE l.dataset_id = %s ORDER BY il.id",
                [dataset.pk],
            ).fetchall()
            rows += conn.execute(
                "SELECT b.image_id, b.label_id, b.left, b.top, b.width, b.height FROM datasets_boundingbox b "
                "JOIN datasets_label l ON l.id = b.label_id WHERE l.dataset_id = %s ORDER BY b.id",
                [dataset.pk],
            ).fetchall()
        assert len(rows) == 3 * n
        return time.perf_counter() - start

    def export(fmt: str) -> tuple[float, int]:
        job = DatasetExport.objects.create(dataset=dataset, requested_by=user, format=fmt, images_total=n)
        start = time.perf_counter()
        done = dataset_export_run(export_id=job.pk)
        elapsed = time.perf_counter() - start
        assert done.status == DatasetExport.Status.SUCCEEDED, done.message
        return elapsed, done.size

    results = {"images": n, "floor_s": [], "COCO_s": [], "YOLO_s": [], "sizes": {}}
    floor()  # warm the cache: every measurement reads from memory
    for _ in range(repeats):
        results["floor_s"].append(floor())
        for fmt in ("COCO", "YOLO"):
            seconds, size = export(fmt)
            results[f"{fmt}_s"].append(seconds)
            results["sizes"][fmt] = size
    best = {key: min(results[f"{key}_s"]) for key in ("floor", "COCO", "YOLO")}
    print(f"\n{n:,} images with a label and a box each, labels only, best of {repeats}:")
    print(f"  floor (raw rows read)  {best['floor']:6.2f} s")
    ok = True
    for fmt in ("COCO", "YOLO"):
        verdict = "ok" if best[fmt] <= TARGET_S else f"OVER the {TARGET_S:.0f} s target"
        ok &= best[fmt] <= TARGET_S
        print(
            f"  {fmt:5s} export (zip in S3)  {best[fmt]:6.2f} s  ×{best[fmt] / best['floor']:.1f} the floor, "
            f"{results['sizes'][fmt] / 1e6:.1f} MB zip — {verdict}"
        )
    out = REPO / "bench-results"
    out.mkdir(exist_ok=True)
    (out / f"formats-{n}.json").write_text(json.dumps(results, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
