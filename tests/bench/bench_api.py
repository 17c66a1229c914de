"""Benchmark of ListDatasetEntries (the Rekognition API, issue 14) over a 100,000-image dataset,
against a floor measured in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/customlabels .venv/bin/python tests/bench/bench_api.py --images 100000

One run: a fresh PostgreSQL database `<db>_bench_api` with one dataset of N images (a third with an
image-level label, a tenth with a bounding box), then every entry read page by page (100 a page):
  - floor: the same rows in plain SQL, page by page: the page's images by keyset, their labels and
    their boxes (three queries a page, no Django ORM), each entry dumped as a plain JSON object of its
    values (json.dumps: the least an entry, which is JSON text, can cost);
  - the operation: ListDatasetEntries as the view runs it (parameters, ARN lookup, the page of
    manifest lines), in this process;
  - end to end: boto3's own `rekognition` client and its paginator against the console served over
    HTTP by a WSGI server in this process, SigV4 signed and checked, JSON both ways.
Entries per second and the ratios to the floor are printed and written to bench-results/api-N.json.
The operation's target: at most 2x the floor.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchkit  # noqa: E402

TARGET_RATIO = 2.0
PAGE = 100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    args = parser.parse_args()
    n = args.images
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    if error := benchkit.django_on_fresh_database("bench_api"):
        print(error, file=sys.stderr)
        return 2
    from django.core.management import call_command
    from django.db import connection

    from datasets.api import entries_ops
    from datasets.models import Dataset, Label
    from projects import access_keys
    from projects.models import Project

    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import User

    user = User.objects.create_user("bench", password="x")
    project = Project.objects.create(owner=user, name="bench", arn_suffix=1)
    dataset = Dataset.objects.create(
        project=project, name="train", status="CREATE_COMPLETE", arn_suffix=1, is_project_dataset=True
    )
    labels = [Label.objects.create(dataset=dataset, name=name) for name in ("cat", "dog", "bird")]
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO datasets_image (dataset_id, source_ref, file_name, format, width, height, size, etag, "
            "thumbnail_key, needs_thumbnail, error_code, error_message, problems, is_labeled, created_at) "
            "SELECT %s, 's3://bench/images/img-' || g || '.jpg', 'img-' || g || '.jpg', 'JPEG', 640, 480, 40000, "
            "'', '', false, '', '', '[]', g %% 3 = 0 OR g %% 10 = 0, now() FROM generate_series(1, %s) g",
            [dataset.pk, n],
        )
        cur.execute(
            "INSERT INTO datasets_imagelabel (image_id, label_id, created_at) "
            "SELECT id, (ARRAY[%s, %s])[1 + id %% 2], now() FROM datasets_image WHERE dataset_id = %s AND id %% 3 = 0",
            [labels[0].pk, labels[1].pk, dataset.pk],
        )
        cur.execute(
            'INSERT INTO datasets_boundingbox (image_id, label_id, "left", top, width, height, created_at) '
            "SELECT id, %s, 10, 20, 100, 80, now() FROM datasets_image WHERE dataset_id = %s AND id %% 10 = 0",
            [labels[2].pk, dataset.pk],
        )
        cur.execute(
            "UPDATE datasets_image SET is_labeled = EXISTS (SELECT 1 FROM datasets_imagelabel l WHERE l.image_id = datasets_image.id) OR EXISTS (SELECT 1 FROM datasets_boundingbox b WHERE b.image_id = datasets_image.id)"
        )
        cur.execute("ANALYZE")
    print(f"seeded {n:,} images in {time.perf_counter() - t0:.1f}s")

    def floor_run() -> int:
        read, after = 0, 0
        with connection.cursor() as cur:
            while True:
                cur.execute(
                    "SELECT id, source_ref, width, height, error_code, error_message, problems::text, created_at "
                    "FROM datasets_image WHERE dataset_id = %s AND id > %s ORDER BY id LIMIT %s",
                    [dataset.pk, after, PAGE],
                )
                rows = cur.fetchall()
                if not rows:
                    return read
                ids = [row[0] for row in rows]
                cur.execute(
                    "SELECT il.image_id, l.name, il.created_at FROM datasets_imagelabel il "
                    "JOIN datasets_label l ON l.id = il.label_id WHERE il.image_id = ANY(%s) ORDER BY il.id",
                    [ids],
                )
                labels = {}
                for image_id, name, _ in cur.fetchall():
                    labels.setdefault(image_id, []).append(name)
                cur.execute(
                    "SELECT b.image_id, l.name, b.left, b.top, b.width, b.height, b.created_at "
                    "FROM datasets_boundingbox b JOIN datasets_label l ON l.id = b.label_id "
                    "WHERE b.image_id = ANY(%s) ORDER BY b.id",
                    [ids],
                )
                boxes = {}
                for image_id, *box, _ in cur.fetchall():
                    boxes.setdefault(image_id, []).append(box)
                # Each entry as JSON text, the least an entry can be: json.dumps of the row's values.
                for row in rows:
                    json.dumps(
                        {
                            "source-ref": row[1],
                            "labels": labels.get(row[0], []),
                            "boxes": boxes.get(row[0], []),
                            "size": [row[2], row[3]],
                            "created": row[7].isoformat(),
                        }
                    )
                read += len(rows)
                after = ids[-1]

    def operation_run() -> int:
        read, token = 0, None
        while True:
            params = {"DatasetArn": dataset.arn, "MaxResults": PAGE, **({"NextToken": token} if token else {})}
            answer = entries_ops.list_dataset_entries(user=user, params=params)
            json.dumps(answer)
            read += len(answer["DatasetEntries"])
            token = answer.get("NextToken")
            if not token:
                return read

    def timed(run) -> tuple[float, int]:
        start = time.perf_counter()
        count = run()
        return time.perf_counter() - start, count

    timed(floor_run)  # warm the cache for both
    # Alternated, best of 5 each, so a busy machine weighs on both alike.
    floors, ops = [], []
    for _ in range(5):
        floors.append(timed(floor_run))
        ops.append(timed(operation_run))
    (floor_s, floor_n), (op_s, op_n) = min(floors), min(ops)
    assert floor_n == op_n == n, (floor_n, op_n)

    # End to end: boto3 against the console over HTTP.
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    import boto3
    from django.core.wsgi import get_wsgi_application

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    key = access_keys.access_key_create(user=user)
    client = boto3.client(
        "rekognition",
        endpoint_url=f"http://127.0.0.1:{server.server_port}/rekognition",
        region_name="us-east-1",
        aws_access_key_id=key.key.access_key_id,
        aws_secret_access_key=key.secret,
    )

    def boto3_run() -> int:
        pages = client.get_paginator("list_dataset_entries").paginate(
            DatasetArn=dataset.arn, PaginationConfig={"PageSize": PAGE}
        )
        return sum(len(page["DatasetEntries"]) for page in pages)

    http_s, http_n = timed(boto3_run)
    assert http_n == n
    server.shutdown()

    results = {
        "images": n,
        "page_size": PAGE,
        "floor_sql_s": floor_s,
        "operation_s": op_s,
        "boto3_http_s": http_s,
        "floor_entries_per_s": n / floor_s,
        "operation_entries_per_s": n / op_s,
        "boto3_http_entries_per_s": n / http_s,
        "operation_ratio_to_floor": op_s / floor_s,
        "boto3_http_ratio_to_floor": http_s / floor_s,
    }
    ok = results["operation_ratio_to_floor"] <= TARGET_RATIO
    print(f"\nListDatasetEntries over {n:,} images, pages of {PAGE} (best of 5, alternated; end to end once)")
    print(f"  floor: plain SQL, page by page         {floor_s:.2f} s  {n / floor_s:,.0f} entries/s")
    print(
        f"  the operation (in process)             {op_s:.2f} s  {n / op_s:,.0f} entries/s  "
        f"{results['operation_ratio_to_floor']:.2f}x floor  target <= {TARGET_RATIO}x  {'PASS' if ok else 'FAIL'}"
    )
    print(
        f"  boto3 paginator over HTTP (SigV4)      {http_s:.2f} s  {n / http_s:,.0f} entries/s  "
        f"{results['boto3_http_ratio_to_floor']:.2f}x floor"
    )
    out = REPO / "bench-results"
    out.mkdir(exist_ok=True)
    (out / f"api-{n}.json").write_text(json.dumps(results, indent=2))
    connection.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
