"""The S3 folder import at several sizes, side by side: does the time per image grow with N?

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/customlabels \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \
    .venv/bin/python tests/bench/bench_import_sizes.py --sizes 1000,10000,100000

Runs bench_import.py once per size (each run with its own floor before and after the import, on the
same S3 server and machine) and prints, per size: the floor's and the import's milliseconds per image,
their ratio (target ≤ 1.10 at 10,000 and 100,000), and the import worker's RSS peak (target ≤ 300 MB
at 100,000, flat in N). The per-size results stay in bench-results/import-N.json; the table goes to
bench-results/import-sizes.json. Exit status 1 when a target is missed, 2 when a run broke.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TARGET_RATIO, TARGET_RATIO_SIZES = 1.10, (10_000, 100_000)
TARGET_RSS_MB, TARGET_RSS_N = 300, 100_000


def row(n: int, result: dict) -> dict:
    run = (result.get("runs") or [{}])[0]
    floor_s = result.get("floor", {}).get("seconds")
    import_s = run.get("import_seconds")
    return {
        "images": n,
        "complete": result.get("complete", False),
        "floor_ms_per_image": round(1000 * floor_s / n, 3) if floor_s else None,
        "import_ms_per_image": round(1000 * import_s / n, 3) if import_s else None,
        "ratio": run.get("ratio"),
        "worker_rss_peak_mb": run.get("worker_rss_peak_mb"),
        "worker": f"{run.get('pool')} -c {run.get('concurrency')}",
    }


def verdicts(rows: list[dict]) -> list[str]:
    missed = []
    for r in rows:
        if r["images"] in TARGET_RATIO_SIZES and (r["ratio"] is None or r["ratio"] > TARGET_RATIO):
            missed.append(f"ratio {r['ratio']} > {TARGET_RATIO} at N={r['images']:,}")
        if r["images"] == TARGET_RSS_N and (r["worker_rss_peak_mb"] or 0) > TARGET_RSS_MB:
            missed.append(f"worker RSS {r['worker_rss_peak_mb']} MB > {TARGET_RSS_MB} MB at N={r['images']:,}")
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated image counts")
    parser.add_argument("--workers", default="threads:4", help="the worker pool, as bench_import.py takes it")
    parser.add_argument("--quiet-wait", default="120", help="passed to bench_import.py")
    parser.add_argument("--redis-db", default="3", help="passed to bench_import.py")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows, broke = [], False
    for n in sizes:
        print(f"=== {n:,} images", flush=True)
        done = subprocess.run(
            [
                sys.executable,
                str(REPO / "tests" / "bench" / "bench_import.py"),
                "--images",
                str(n),
                "--workers",
                args.workers,
                "--quiet-wait",
                args.quiet_wait,
                "--redis-db",
                args.redis_db,
            ],
            cwd=REPO,
        )
        broke |= done.returncode != 0
        path = REPO / "bench-results" / f"import-{n}.json"
        rows.append(row(n, json.loads(path.read_text())) if path.exists() else {"images": n, "complete": False})

    print()
    print(f"The S3 folder import per image ({rows[0].get('worker', '')} worker; floor: plain boto3, 16 threads)")
    print(f"{'images':>10}{'floor ms/img':>14}{'import ms/img':>15}{'ratio':>8}{'RSS MB':>9}")
    for r in rows:
        cells = [r.get("floor_ms_per_image"), r.get("import_ms_per_image"), r.get("ratio"), r.get("worker_rss_peak_mb")]
        text = [
            "-" if c is None else f"{c:.3f}" if i < 2 else f"{c:.2f}" if i == 2 else f"{c:.0f}"
            for i, c in enumerate(cells)
        ]
        print(f"{r['images']:>10,}{text[0]:>14}{text[1]:>15}{text[2]:>8}{text[3]:>9}")
    missed = verdicts(rows)
    for line in missed:
        print(f"MISSED: {line}")
    out = REPO / "bench-results" / "import-sizes.json"
    out.write_text(json.dumps({"rows": rows, "missed": missed}, indent=2))
    if broke:
        return 2
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
