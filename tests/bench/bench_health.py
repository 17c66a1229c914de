"""Benchmark of Check dataset and dataset versions at 100,000 images, against floors measured in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/customlabels .venv/bin/python tests/bench/bench_health.py --images 100000

One run: a fresh PostgreSQL database `<db>_bench_health` with one dataset of N image rows, as an import
with thumbnails leaves them (hashes made): three labels, image-level on two thirds of the images and a
box on the last third, 1% exact copies and 1% near copies (hashes 3 bits apart). Then, each timed:
  - the check (health_report_run, as the worker runs it) the first time, against the floor: reading the
    same rows (images, image-level labels, boxes) with plain SQL and nothing else;
  - the check again after 100 images were added (the near-duplicate search reuses the last report's groups);
  - Create version (version_create), against the floor: one INSERT ... SELECT of the image rows alone;
  - the comparison of two N-image versions 10% apart (counts and the first page), and of a version and
    now, against the floor: the same FULL OUTER JOIN counted in SQL.
Targets (issue 16): check <= 30 s, create <= 10 s, compare <= 5 s. Results go to bench-results/health-N.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchkit  # noqa: E402

TARGET_CHECK_S, TARGET_CREATE_S, TARGET_COMPARE_S = 30.0, 10.0, 5.0


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    args = parser.parse_args()
    n = args.images
    if error := benchkit.django_on_fresh_database("bench_health"):
        print(error, file=sys.stderr)
        return 2
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection

    from datasets import health, versions
    from datasets.models import BoundingBox, Dataset, HealthReport, Image, ImageLabel, Label, VersionEntry
    from projects.models import Project

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench", password="x")
    project = Project.objects.create(owner=user, name="bench", arn_suffix=1)
    dataset = Dataset.objects.create(project=project, name="bench", status="CREATE_COMPLETE", arn_suffix=1)
    labels = [Label.objects.create(dataset=dataset, name=name) for name in ("cat", "dog", "bird")]
    image, image_label, box = (m._meta.db_table for m in (Image, ImageLabel, BoundingBox))

    def add_images(start: int, count: int) -> None:
        # Hashes: random 63-bit values; every 100th image is a near copy (3 bits flipped) of the one
        # before it, every 100th (offset 50) an exact copy (same ETag and size).
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {image} (dataset_id, source_ref, file_name, format, width, height, size, etag, phash, "
                "thumbnail_key, needs_thumbnail, error_code, error_message, problems, is_labeled, created_at) "
                "SELECT %s, 's3://bench/img-' || g || '.jpg', 'img-' || g || '.jpg', 'JPEG', 640, 480, 50000, "
                "CASE WHEN g %% 100 = 50 THEN md5((g - 1)::text) ELSE md5(g::text) END, "
                "lpad(to_hex(CASE WHEN g %% 100 = 1 THEN ((hashtextextended((g - 1)::text, 7) & 9223372036854775807) # 7) "
                "ELSE (hashtextextended(g::text, 7) & 9223372036854775807) END), 16, '0'), "
                "'thumb', false, '', '', '[]'::jsonb, true, now() FROM generate_series(%s, %s) g",
                [dataset.pk, start, start + count - 1],
            )
            cursor.execute(
                f"INSERT INTO {image_label} (image_id, label_id, created_at) SELECT id, "
                "CASE WHEN id %% 3 = 0 THEN %s ELSE %s END, now() FROM {image} WHERE dataset_id = %s AND id %% 3 <> 2 "
                f"AND id NOT IN (SELECT image_id FROM {image_label})".replace("{image}", image),
                [labels[0].pk, labels[1].pk, dataset.pk],
            )
            cursor.execute(
                f'INSERT INTO {box} (image_id, label_id, "left", top, width, height, created_at) SELECT id, %s, '
                f"10 + id %% 50, 20, 100, 80, now() FROM {image} WHERE dataset_id = %s AND id %% 3 = 2 "
                f"AND id NOT IN (SELECT image_id FROM {box})",
                [labels[2].pk, dataset.pk],
            )
            cursor.execute("ANALYZE")
        Dataset.objects.filter(pk=dataset.pk).update(stats_version=dataset.stats_version + start)

    add_images(1, n)
    dataset.refresh_from_db()
    results: dict[str, float] = {}

    def floor_read() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT il.image_id, il.label_id FROM {image_label} il JOIN {image} i ON i.id = il.image_id "
                "WHERE i.dataset_id = %s",
                [dataset.pk],
            )
            rows = len(cursor.fetchall())
            cursor.execute(
                f'SELECT b.image_id, b.label_id, b."left", b.top, b.width, b.height FROM {box} b '
                f"JOIN {image} i ON i.id = b.image_id WHERE i.dataset_id = %s",
                [dataset.pk],
            )
            rows += len(cursor.fetchall())
            cursor.execute(
                f"SELECT id, source_ref, width, height, format, size, etag, phash, error_code FROM {image} "
                "WHERE dataset_id = %s ORDER BY id",
                [dataset.pk],
            )
            return rows + len(cursor.fetchall())

    def check() -> HealthReport:
        report = HealthReport.objects.create(dataset=dataset, requested_by=user)
        return health.health_report_run(report_id=report.pk)

    results["floor_read_s"], _ = timed(floor_read)
    results["check_s"], report = timed(check)
    near = next(c for c in report.checks if c["code"] == "near_duplicates")
    exact = next(c for c in report.checks if c["code"] == "exact_duplicates")
    print(f"check: {results['check_s']:.2f} s (near groups {len(near['groups'])}, exact groups {len(exact['groups'])})")
    add_images(n + 1, 100)
    dataset.refresh_from_db()
    results["recheck_s"], _ = timed(check)

    results["create_s"], v1 = timed(lambda: versions.version_create(dataset=dataset, user=user, name="v1"))

    def floor_create() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMP TABLE floor_entries AS SELECT source_ref, file_name, format, width, height, size, etag, "
                f"phash, error_code, error_message, problems::text, '[]' AS labels, '[]' AS boxes FROM {image} "
                "WHERE dataset_id = %s",
                [dataset.pk],
            )
            cursor.execute("DROP TABLE floor_entries")

    results["floor_create_s"], _ = timed(floor_create)
    # 10% of the images change: a label moves, a box moves, some images go and some come.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {image_label} SET label_id = %s WHERE label_id = %s AND image_id %% 10 = 0",
            [labels[2].pk, labels[0].pk],
        )
        cursor.execute(f'UPDATE {box} SET "left" = "left" + 5 WHERE image_id % 10 = 5')
        for table in (image_label, box):
            cursor.execute(f"DELETE FROM {table} WHERE image_id % 100 = 7")
        cursor.execute(f"DELETE FROM {image} WHERE dataset_id = %s AND id %% 100 = 7", [dataset.pk])
    add_images(n + 101, n // 100)
    dataset.refresh_from_db()
    v2 = versions.version_create(dataset=dataset, user=user, name="v2")

    def compare(before, after):
        counts = versions.versions_compare_counts(dataset=dataset, before=before, after=after)
        versions.versions_compare_page(dataset=dataset, before=before, after=after)
        return counts

    results["compare_s"], counts = timed(lambda: compare(v1, v2))
    print(f"compare: {counts}")
    dataset.refresh_from_db()
    results["compare_now_s"], _ = timed(lambda: compare(v1, None))

    def floor_compare() -> int:
        entries = VersionEntry._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH a AS (SELECT source_ref, labels, boxes FROM {entries} WHERE version_id = %s), "
                f"b AS (SELECT source_ref, labels, boxes FROM {entries} WHERE version_id = %s) "
                "SELECT count(*) FROM a FULL OUTER JOIN b ON a.source_ref = b.source_ref WHERE a.source_ref IS NULL "
                "OR b.source_ref IS NULL OR a.labels <> b.labels OR a.boxes <> b.boxes",
                [v1.pk, v2.pk],
            )
            return cursor.fetchone()[0]

    results["floor_compare_s"], differing = timed(floor_compare)
    results["ratios"] = {
        "check/floor_read": results["check_s"] / results["floor_read_s"],
        "create/floor_create": results["create_s"] / results["floor_create_s"],
        "compare/floor_compare": results["compare_s"] / results["floor_compare_s"],
    }
    print(json.dumps(results, indent=2))
    print(
        f"targets: check {results['check_s']:.1f} s <= {TARGET_CHECK_S}, create {results['create_s']:.1f} s <= "
        f"{TARGET_CREATE_S}, compare {results['compare_s']:.1f} s <= {TARGET_COMPARE_S} ({differing} differing images)"
    )
    out = REPO / "bench-results"
    out.mkdir(exist_ok=True)
    (out / f"health-{n}.json").write_text(json.dumps(results, indent=2))
    ok = (
        results["check_s"] <= TARGET_CHECK_S
        and results["create_s"] <= TARGET_CREATE_S
        and results["compare_s"] <= TARGET_COMPARE_S
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
