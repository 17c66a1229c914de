"""Benchmark of the gallery's server time at 1,000 and 100,000 images, against floors measured in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/customlabels .venv/bin/python tests/bench/bench_gallery.py

One run: a fresh PostgreSQL database `<db>_bench_gallery` holding one dataset per size (1,000 and
100,000 images by default, side by side in the same tables), each as an S3-folder import leaves it:
one finished import job, a thumbnail per image, one image in 50 with an error, three labels on a third
of the images each, a bounding box on one image in 20. Then, through Django's test client (every
middleware, the signed-in session, DEBUG off, no test instrumentation), the dataset page:

  all       the gallery's first page                      ?
  label     one label filter                              ?label=<id>
  deep      a page near the end                           ?after=<id>
  labeling  labeling mode                                 ?mode=label
  htmx      the next page as htmx swaps it in             ?after=<id> with HX-Request, HX-Target: gallery
  after write  the whole page, first view after a write (services.dataset_changed, as an import
               chunk or a box change bumps the dataset's stats_version): the counts are recomputed

and two floors, timed in the same rounds:
  empty view   a view that returns an empty response, through the same client and middleware
               (session, user, console bucket): what any signed-in page costs;
  page SQL     the queries the page ran, replayed with a cursor: what the database alone costs.

The requests of every kind and size are interleaved round by round, so other people's load on a
shared machine falls on all of them alike; each figure is the median of --repeats rounds, with the
10th-90th percentile beside it to show the noise. Prints the figures, the 100,000/1,000 ratio per
page and the targets (median <= 15 ms per page at 100,000 images, <= 60 ms for the first view after a
write, ratio <= 1.25), and writes bench-results/gallery.json. --profile writes a pyinstrument report of
each page at the largest size to bench-results/gallery-profile-<page>.txt, and each page's SQL to
gallery-profile-sql.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
import types
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[2]
TARGET_PAGE_MS, TARGET_WRITE_MS, TARGET_RATIO = 15.0, 60.0, 1.25
LABELS = ("cat", "dog", "bird")
PAGES = ("all", "label", "deep", "labeling", "htmx")


def with_db_name(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def seed(*, user, project, n: int):
    """A dataset of n images as an S3-folder import leaves it, written in SQL."""
    from django.db import connection
    from django.utils import timezone

    from datasets.models import Dataset, ImportJob, Label
    from projects import console_storage

    now = timezone.now()
    dataset = Dataset.objects.create(
        project=project, name=f"bench-{n}", status="CREATE_COMPLETE", status_message_code="SUCCESS", arn_suffix=n
    )
    job = ImportJob.objects.create(
        dataset=dataset,
        source=ImportJob.Source.S3_FOLDER,
        parameters={"bucket": "bench", "prefix": "", "auto_label": True},
        status=ImportJob.Status.SUCCEEDED,
        found=n,
        listing_done=True,
        started_at=now,
        finished_at=now,
    )
    labels = [Label.objects.create(dataset=dataset, name=name) for name in LABELS]
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO datasets_image (dataset_id, import_job_id, source_ref, file_name, format, width, height, "
            "size, etag, thumbnail_key, needs_thumbnail, error_code, error_message, problems, is_labeled, created_at) "
            "SELECT %s, %s, 's3://bench/' || (ARRAY['cat','dog','bird'])[1 + g %% 3] || '/img-' || g || '.jpg', "
            "'img-' || g || '.jpg', 'JPEG', 640, 480, 40000, '', %s || g || '.jpg', false, "
            "CASE WHEN g %% 50 = 0 THEN 'ERROR_INVALID_IMAGE' ELSE '' END, "
            "CASE WHEN g %% 50 = 0 THEN 'The image is invalid: it is 32×32 pixels.' ELSE '' END, '[]', true, now() "
            "FROM generate_series(1, %s) g",
            [dataset.pk, job.pk, console_storage.thumbnail_prefix(project.owner_id, dataset.pk), n],
        )
        cur.execute(
            "INSERT INTO datasets_imagelabel (image_id, label_id, created_at) "
            "SELECT i.id, (ARRAY[%s, %s, %s])[1 + (i.id %% 3)], now() FROM datasets_image i WHERE i.dataset_id = %s",
            [*(label.pk for label in labels), dataset.pk],
        )
        cur.execute(
            'INSERT INTO datasets_boundingbox (image_id, label_id, "left", top, width, height, created_at) '
            "SELECT i.id, (ARRAY[%s, %s, %s])[1 + (i.id %% 3)], 10, 10, 100, 80, now() "
            "FROM datasets_image i WHERE i.dataset_id = %s AND i.id %% 20 = 0",
            [*(label.pk for label in labels), dataset.pk],
        )
    return dataset, labels


def empty_view_urlconf():
    """The console's URLconf plus one view that does nothing: the floor of a signed-in request."""
    from django.http import HttpResponse
    from django.urls import include, path

    module = types.ModuleType("bench_gallery_urls")
    module.urlpatterns = [
        path("__bench__/empty/", lambda request: HttpResponse(b"")),
        path("", include("customlabels.urls")),
    ]
    sys.modules[module.__name__] = module
    return module.__name__


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", default="1000,100000", help="dataset sizes, comma-separated")
    parser.add_argument("--repeats", type=int, default=40, help="timed rounds of every page")
    parser.add_argument("--write-repeats", type=int, default=9, help="first views after a write")
    parser.add_argument("--profile", action="store_true", help="write a pyinstrument report of each page")
    parser.add_argument("--no-lock", action="store_true", help="do not wait for other benchmark runs")
    args = parser.parse_args()
    sizes = sorted(int(n) for n in args.images.split(","))

    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/customlabels")
    if not base_url.startswith("postgres"):
        print("bench_gallery needs PostgreSQL in DATABASE_URL", file=sys.stderr)
        return 2
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_import as bi

    lock = None if args.no_lock else bi.bench_lock(base_url)
    db_name = urlsplit(base_url).path.lstrip("/") + "_bench_gallery"
    import psycopg

    with psycopg.connect(with_db_name(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db_name}"')
    os.environ["DATABASE_URL"] = with_db_name(base_url, db_name)
    os.environ["DJANGO_SETTINGS_MODULE"] = "customlabels.settings"
    os.environ["DEBUG"] = "false"
    # DEBUG is off, as in production, where the settings refuse the built-in development key.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    # Static keys, as with rclone or MinIO: URLs are signed by customlabels.sigv4. No request reaches S3.
    os.environ.update(
        AWS_S3_ENDPOINT_URL="http://127.0.0.1:9000",
        AWS_ACCESS_KEY_ID="benchkey",
        AWS_SECRET_ACCESS_KEY="benchsecret",
        AWS_DEFAULT_REGION="us-east-1",
    )
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse
    from django.utils import timezone

    from datasets import services
    from datasets.models import Image
    from datasets.selectors import PAGE_SIZE
    from projects import services as project_services
    from projects.models import ConsoleBucket, Project

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench", password=secrets.token_urlsafe(16))
    ConsoleBucket.objects.create(
        region="us-east-1", name="custom-labels-console-us-east-1-0000000000", created_at=timezone.now()
    )
    project_services.s3_access_grant_set(location="s3://bench/", user=user)
    project = Project.objects.create(owner=user, name="bench", arn_suffix=1)
    t0 = time.perf_counter()
    datasets = {n: seed(user=user, project=project, n=n) for n in sizes}
    with connection.cursor() as cur:
        # What autovacuum does after a bulk insert: statistics and the visibility map.
        cur.execute("VACUUM ANALYZE")
    bi.log(f"seeded {', '.join(f'{n:,}' for n in sizes)} images in {time.perf_counter() - t0:.1f} s")

    # The manifest storage needs collectstatic; the plain one costs the same per {% static %}.
    override_settings(
        ROOT_URLCONF=empty_view_urlconf(),
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
    ).enable()
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    htmx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "gallery"}

    requests: dict[tuple[int, str], tuple[str, dict]] = {}
    for n, (dataset, labels) in datasets.items():
        url = reverse("datasets:detail", args=[dataset.pk])
        ids = list(Image.objects.filter(dataset=dataset).order_by("-id").values_list("id", flat=True)[: PAGE_SIZE + 2])
        deep = f"{url}?after={ids[PAGE_SIZE + 1]}"
        second = f"{url}?after={Image.objects.filter(dataset=dataset).order_by('id').values_list('id', flat=True)[PAGE_SIZE - 1]}"
        requests[(n, "all")] = (url, {})
        requests[(n, "label")] = (f"{url}?label={labels[1].pk}", {})
        requests[(n, "deep")] = (deep, {})
        requests[(n, "labeling")] = (f"{url}?mode=label", {})
        requests[(n, "htmx")] = (second, htmx)

    def get(path: str, headers: dict) -> float:
        start = time.perf_counter()
        response = client.get(path, **headers)
        elapsed = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            raise bi.BenchBroke(f"GET {path} answered {response.status_code}")
        return elapsed

    # Warm up, and check every page shows a full page of thumbnails.
    for (n, page), (path, headers) in requests.items():
        for _ in range(3):
            get(path, headers)
        response = client.get(path, **headers)
        if response.content.count(b"<img ") < min(PAGE_SIZE, n):
            raise bi.BenchBroke(f"the {page} page at {n:,} images shows fewer than {PAGE_SIZE} thumbnails")
    for _ in range(3):
        get("/__bench__/empty/", {})

    # The SQL each page runs, to replay as a floor.
    page_sql: dict[tuple[int, str], list[str]] = {}
    for key, (path, headers) in requests.items():
        with CaptureQueriesContext(connection) as ctx:
            client.get(path, **headers)
        page_sql[key] = [q["sql"] for q in ctx.captured_queries]

    def replay(statements: list[str]) -> float:
        with connection.cursor() as cur:
            start = time.perf_counter()
            for sql in statements:
                cur.execute(sql)
                if cur.description:
                    cur.fetchall()
            return (time.perf_counter() - start) * 1000

    bi.log(f"timing {args.repeats} rounds of {len(requests)} pages")
    times: dict[tuple[int, str], list[float]] = {key: [] for key in requests}
    sql_times: dict[tuple[int, str], list[float]] = {key: [] for key in requests}
    empty: list[float] = []
    for _ in range(args.repeats):
        empty.append(get("/__bench__/empty/", {}))
        for key, (path, headers) in requests.items():
            times[key].append(get(path, headers))
            sql_times[key].append(replay(page_sql[key]))

    bi.log(f"timing {args.write_repeats} first views after a write")
    written: dict[int, list[float]] = {n: [] for n in sizes}
    written_sql: dict[int, list[str]] = {}
    for _ in range(args.write_repeats):
        for n, (dataset, _) in datasets.items():
            services.dataset_changed(dataset_id=dataset.pk)
            written[n].append(get(*requests[(n, "all")]))
    for n, (dataset, _) in datasets.items():
        services.dataset_changed(dataset_id=dataset.pk)
        with CaptureQueriesContext(connection) as ctx:
            client.get(requests[(n, "all")][0])
        written_sql[n] = sorted(
            ({"ms": round(float(q["time"]) * 1000, 2), "sql": q["sql"][:200]} for q in ctx.captured_queries),
            key=lambda q: -q["ms"],
        )[:5]

    if args.profile:
        from pyinstrument import Profiler

        out = REPO / "bench-results"
        out.mkdir(exist_ok=True)
        n = sizes[-1]
        for page in PAGES:
            path, headers = requests[(n, page)]
            profiler = Profiler(interval=0.0002)
            with profiler:
                for _ in range(20):
                    client.get(path, **headers)
            (out / f"gallery-profile-{page}.txt").write_text(profiler.output_text(unicode=True, show_all=False))
        (out / "gallery-profile-sql.txt").write_text(
            "".join(
                f"## {page}: {len(page_sql[(n, page)])} queries\n"
                + "".join(f"{sql}\n\n" for sql in page_sql[(n, page)])
                for page in PAGES
            )
        )
        dataset = datasets[n][0]
        profiler = Profiler(interval=0.0002)
        for _ in range(5):
            services.dataset_changed(dataset_id=dataset.pk)
            with profiler:
                client.get(requests[(n, "all")][0])
        (out / "gallery-profile-after-write.txt").write_text(profiler.output_text(unicode=True, show_all=False))

    def figure(values: list[float]) -> dict:
        return {
            "median_ms": round(statistics.median(values), 2),
            "p10_ms": round(percentile(values, 0.1), 2),
            "p90_ms": round(percentile(values, 0.9), 2),
        }

    empty_fig = figure(empty)
    results: dict = {
        "sizes": sizes,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "code": bi.code_version(),
        "floor_empty_view": empty_fig,
        "pages": {},
        "after_write": {},
    }
    for (n, page), values in times.items():
        fig = figure(values)
        fig["sql_floor"] = figure(sql_times[(n, page)])
        fig["queries"] = len(page_sql[(n, page)])
        fig["ratio_to_empty_view"] = round(fig["median_ms"] / empty_fig["median_ms"], 2)
        results["pages"].setdefault(page, {})[str(n)] = fig
    for n, values in written.items():
        results["after_write"][str(n)] = {**figure(values), "slowest_sql": written_sql[n]}
    small, large = str(sizes[0]), str(sizes[-1])
    checks = []
    for page in PAGES:
        ratio = results["pages"][page][large]["median_ms"] / results["pages"][page][small]["median_ms"]
        results["pages"][page]["ratio"] = round(ratio, 2)
        checks.append(results["pages"][page][large]["median_ms"] <= TARGET_PAGE_MS)
        checks.append(ratio <= TARGET_RATIO)
    write_ratio = results["after_write"][large]["median_ms"] / results["after_write"][small]["median_ms"]
    results["after_write"]["ratio"] = round(write_ratio, 2)
    checks.append(results["after_write"][large]["median_ms"] <= TARGET_WRITE_MS)
    results["targets_met"] = all(checks)

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    print(f"\nGallery server time (median of {args.repeats} rounds, p10-p90 in brackets; ms)")
    print(
        f"  floor: empty view through the same middleware  {empty_fig['median_ms']:6.2f} "
        f"[{empty_fig['p10_ms']:.2f}-{empty_fig['p90_ms']:.2f}]"
    )
    head = "".join(f"{f'{n:,} images':>28}" for n in sizes)
    print(f"  {'page':10}{head}   {large}/{small}  target")
    for page in PAGES:
        row = results["pages"][page]
        cells = "".join(
            f"{row[str(n)]['median_ms']:7.2f} [{row[str(n)]['p10_ms']:5.2f}-{row[str(n)]['p90_ms']:5.2f}] "
            f"sql {row[str(n)]['sql_floor']['median_ms']:4.1f}"
            for n in sizes
        )
        ok = row[large]["median_ms"] <= TARGET_PAGE_MS and row["ratio"] <= TARGET_RATIO
        print(
            f"  {page:10}{cells}   {row['ratio']:6.2f}   <= {TARGET_PAGE_MS:.0f} ms, <= {TARGET_RATIO}  {verdict(ok)}"
        )
    row = results["after_write"]
    cells = "".join(
        f"{row[str(n)]['median_ms']:7.2f} [{row[str(n)]['p10_ms']:5.2f}-{row[str(n)]['p90_ms']:5.2f}]         "
        for n in sizes
    )
    ok = row[large]["median_ms"] <= TARGET_WRITE_MS
    print(f"  {'after write':10}{cells}   {row['ratio']:6.2f}   <= {TARGET_WRITE_MS:.0f} ms  {verdict(ok)}")
    print(
        "  (sql: the page's own queries replayed with a cursor, the database's share; "
        f"after write: the whole page once the dataset's stats_version changed, {args.write_repeats} times)"
    )
    out = REPO / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "gallery.json").write_text(json.dumps(results, indent=2))
    connection.close()
    if lock is not None:
        lock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
