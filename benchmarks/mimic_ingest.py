"""MIMIC-IV ingestion at scale: wall time and peak memory of tables -> subjects.jsonl on a fake labevents.

Generates a MIMIC-shaped fixture (fake values) whose labevents.csv.gz has --rows rows (DuckDB writes it
itself, fast), then runs `pericomp_lib.cohort.mimic.ingest` in a child process once per --memory-limits
value and prints them side by side: wall time, rows/s, peak RSS of the ingesting process (ru_maxrss),
and the ratio of peak RSS to DuckDB's memory limit and to the uncompressed labevents size.

usage: .venv/bin/python benchmarks/mimic_ingest.py --rows 10000000 --subjects 20000 --memory-limits 512MB,2GB
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pericomp_lib.cohort.mimic import ingest
t = time.perf_counter()
r = ingest(sys.argv[1], sys.argv[2], memory_limit=sys.argv[3], threads=int(sys.argv[4]) or None)
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall_s": time.perf_counter() - t, "peak_rss_mb": rss_mb,
                  "subjects": r.n_subjects, "lab_rows": r.n_lab_rows}))
"""


def _uncompressed_mb(path: Path) -> float:
    total = 0
    with gzip.open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            total += len(chunk)
    return total / 2**20


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--subjects", type=int, default=20_000)
    ap.add_argument(
        "--memory-limits", default="512MB,2GB", help="comma-separated DuckDB memory_limit values to compare"
    )
    ap.add_argument("--threads", type=int, default=0, help="DuckDB threads (0: DuckDB's default, all cores)")
    ap.add_argument("--workdir", default=None, help="where to generate (default: a temporary folder, removed after)")
    a = ap.parse_args(argv)
    from pericomp_lib.cohort.mimic import make_fixture, make_large_labevents
    from pericomp_lib.cohort.mimic.ingest import size_mb

    work = Path(a.workdir or tempfile.mkdtemp(prefix="mimic_bench_"))
    try:
        t = time.perf_counter()
        root = make_fixture(work / "mimic", n_subjects=a.subjects, seed=0, with_labs=False)
        lab = make_large_labevents(root, a.rows, n_subjects=a.subjects, threads=a.threads or None)
        gen_s = time.perf_counter() - t
        raw_mb = _uncompressed_mb(lab)
        gz_mb = lab.stat().st_size / 2**20
        print(
            f"labevents: {a.rows:,} rows, {gz_mb:.0f} MB csv.gz ({raw_mb:.0f} MB uncompressed); "
            f"{a.subjects:,} subjects; generated in {gen_s:.1f} s"
        )
        results = []
        for limit in [x.strip() for x in a.memory_limits.split(",") if x.strip()]:
            out = work / f"out_{limit}"
            proc = subprocess.run(
                [sys.executable, "-c", CHILD, str(root), str(out), limit, str(a.threads)],
                capture_output=True,
                text=True,
            )
            if proc.returncode:
                print(proc.stderr[-2000:], file=sys.stderr)
                return proc.returncode
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            r.update(limit=limit, jsonl_mb=(out / "subjects.jsonl").stat().st_size / 2**20)
            results.append(r)
            shutil.rmtree(out, ignore_errors=True)
        print(
            f"\n{'memory_limit':>12} {'wall s':>8} {'rows/s':>12} {'peak RSS MB':>12} {'RSS/limit':>10} "
            f"{'RSS/raw csv':>12} {'jsonl MB':>9}"
        )
        for r in results:
            print(
                f"{r['limit']:>12} {r['wall_s']:>8.1f} {r['lab_rows'] / r['wall_s']:>12,.0f} {r['peak_rss_mb']:>12.0f} "
                f"{r['peak_rss_mb'] / size_mb(r['limit']):>10.2f} {r['peak_rss_mb'] / raw_mb:>12.2f} "
                f"{r['jsonl_mb']:>9.0f}"
            )
        if len(results) > 1:
            a0, b0 = results[0], results[-1]
            print(
                f"\n{b0['limit']} vs {a0['limit']}: wall time x{b0['wall_s'] / a0['wall_s']:.2f}, "
                f"peak RSS x{b0['peak_rss_mb'] / a0['peak_rss_mb']:.2f}"
            )
    finally:
        if not a.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
