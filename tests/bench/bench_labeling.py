"""Benchmark of labeling at scale (issue: gallery labeling), against a floor measured in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/customlabels .venv/bin/python tests/bench/bench_labeling.py --images 100000

One run: a fresh PostgreSQL database `<db>_bench_labeling` with one dataset of N image rows (three
labels on a third of the images each; the images need not exist in S3 for labeling), then through
Django's test client with the HX-Request header, as the gallery sends them:
  - assign a label to every image matching a filter (all N images): one POST, timed; undone between runs;
  - assign a label to 1,000 selected images: one POST with 1,000 ids, timed;
  - the gallery page in labeling mode with a label filter, and the plain gallery: median server time.
The floor is the same INSERT ... SELECT in raw SQL without Django, so the ratio shows Django's share.
Results are printed and written to bench-results/labeling-N.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchkit  # noqa: E402

TARGET_ALL_S, TARGET_1000_MS, TARGET_PAGE_MS = 2.0, 200.0, 50.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n = args.images

    if error := benchkit.django_on_fresh_database("bench_labeling"):
        print(error, file=sys.stderr)
        return 2
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse
    from django.utils import timezone

    from datasets.models import Dataset, Image, ImageLabel, Label
    from projects.models import ConsoleBucket, Project

    setup_test_environment()
    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import User

    user = User.objects.create_user("bench", password="x")
    ConsoleBucket.objects.create(
        region="us-east-1", name="custom-labels-console-us-east-1-0000000000", created_at=timezone.now()
    )
    project = Project.objects.create(owner=user, name="bench", arn_suffix=1)
    dataset = Dataset.objects.create(project=project, name="bench", status="CREATE_COMPLETE", arn_suffix=1)
    labels = [Label.objects.create(dataset=dataset, name=name) for name in ("cat", "dog", "bird", "new")]

    t0 = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO datasets_image (dataset_id, source_ref, file_name, format, width, height, size, etag, "
            "thumbnail_key, needs_thumbnail, error_code, error_message, problems, is_labeled, created_at) "
            "SELECT %s, 's3://bench/' || (ARRAY['cat','dog','bird'])[1 + g %% 3] || '/img-' || g || '.jpg', "
            "'img-' || g || '.jpg', 'JPEG', 640, 480, 40000, '', '', false, '', '', '[]', true, now() "
            "FROM generate_series(1, %s) g",
            [dataset.pk, n],
        )
        cur.execute(
            "INSERT INTO datasets_imagelabel (image_id, label_id, created_at) "
            "SELECT i.id, (ARRAY[%s, %s, %s])[1 + (i.id %% 3)], now() FROM datasets_image i WHERE i.dataset_id = %s",
            [labels[0].pk, labels[1].pk, labels[2].pk, dataset.pk],
        )
        cur.execute("ANALYZE")
    print(f"seeded {n} images in {time.perf_counter() - t0:.1f}s")

    client = Client(HTTP_HX_REQUEST="true", HTTP_HX_TARGET="gallery")
    client.force_login(user)
    detail = reverse("datasets:detail", args=[dataset.pk])
    assign = reverse("datasets:assign", args=[dataset.pk])
    undo = reverse("datasets:undo", args=[dataset.pk])
    new = labels[3]

    def timed(fn) -> float:
        start = time.perf_counter()
        response = fn()
        elapsed = time.perf_counter() - start
        if response.status_code != 200:
            raise SystemExit(f"request failed: {response.status_code}")
        return elapsed

    # Floor: the same statement in raw SQL, no Django, no rendering.
    floor = []
    for _ in range(args.repeats):
        with connection.cursor() as cur:
            start = time.perf_counter()
            cur.execute(
                "INSERT INTO datasets_imagelabel (image_id, label_id, created_at) "
                "SELECT id, %s, now() FROM datasets_image WHERE dataset_id = %s ON CONFLICT DO NOTHING",
                [new.pk, dataset.pk],
            )
            floor.append(time.perf_counter() - start)
            cur.execute("DELETE FROM datasets_imagelabel WHERE label_id = %s", [new.pk])

    all_runs = []
    for _ in range(args.repeats):
        all_runs.append(
            timed(lambda: client.post(f"{assign}?mode=label", {"all_matching": "1", "assign_label": new.pk}))
        )
        assert ImageLabel.objects.filter(label=new).count() == n
        timed(lambda: client.post(f"{undo}?mode=label"))
        assert not ImageLabel.objects.filter(label=new).exists()

    ids = list(
        Image.objects.filter(dataset=dataset).order_by("id").values_list("id", flat=True)[:: max(1, n // 1000)][:1000]
    )
    sel_runs = []
    for _ in range(args.repeats):
        sel_runs.append(timed(lambda: client.post(f"{assign}?mode=label", {"image": ids, "assign_label": new.pk})))
        assert ImageLabel.objects.filter(label=new).count() == len(ids)
        timed(lambda: client.post(f"{undo}?mode=label"))

    page_label, page_plain = [], []
    for i in range(35):
        t_label = timed(lambda: client.get(f"{detail}?mode=label&label={labels[1].pk}"))
        t_plain = timed(lambda: client.get(detail))
        if i >= 5:
            page_label.append(t_label)
            page_plain.append(t_plain)

    results = {
        "images": n,
        "floor_insert_select_s": statistics.median(floor),
        "assign_all_matching_s": statistics.median(all_runs),
        "assign_1000_selected_ms": statistics.median(sel_runs) * 1000,
        "gallery_label_filter_labeling_mode_ms": statistics.median(page_label) * 1000,
        "gallery_plain_ms": statistics.median(page_plain) * 1000,
    }
    results["assign_all_ratio_to_floor"] = results["assign_all_matching_s"] / results["floor_insert_select_s"]
    print(f"\nLabeling benchmark, {n:,} images (medians of {args.repeats} runs; pages of 30)")
    print(f"  floor: raw INSERT ... SELECT of {n:,} rows       {results['floor_insert_select_s']:.3f} s")
    ok = results["assign_all_matching_s"] <= TARGET_ALL_S
    print(
        f"  assign to all {n:,} matching (one request)   {results['assign_all_matching_s']:.3f} s  "
        f"({results['assign_all_ratio_to_floor']:.2f}x floor)  target <= {TARGET_ALL_S} s  {'PASS' if ok else 'FAIL'}"
    )
    ok = results["assign_1000_selected_ms"] <= TARGET_1000_MS
    print(
        f"  assign to 1,000 selected                   {results['assign_1000_selected_ms']:.1f} ms  target <= {TARGET_1000_MS:.0f} ms  {'PASS' if ok else 'FAIL'}"
    )
    ok = results["gallery_label_filter_labeling_mode_ms"] <= TARGET_PAGE_MS
    print(
        f"  gallery, label filter, labeling mode       {results['gallery_label_filter_labeling_mode_ms']:.1f} ms  target <= {TARGET_PAGE_MS:.0f} ms  {'PASS' if ok else 'FAIL'}"
    )
    print(f"  gallery, all images                        {results['gallery_plain_ms']:.1f} ms")
    out = REPO / "bench-results"
    out.mkdir(exist_ok=True)
    (out / f"labeling-{n}.json").write_text(json.dumps(results, indent=2))
    connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
