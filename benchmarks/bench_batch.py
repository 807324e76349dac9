"""Batch speed: 100 stores × 1 000 orders, amortized per store vs the naive CLI loop.

Naive = per store, the ``papermill`` CLI then ``jupyter nbconvert --to html`` (measured on a few
stores in the same run). Batch = ``aftersales batch --force`` over all stores. Targets (issue 21):
≤ 0.15 s per store amortized and ≥ 60× faster than naive. Prints the figures; exit 1 on a miss.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from naive import naive_report

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / ".data" / "batch_100x1000"
STORES, ORDERS, END, AS_OF = 100, 1000, "2026-03-31", "2026-04-01 09:00"
NAIVE_SAMPLE = 3
PER_STORE_TARGET_S = 0.15
RATIO_TARGET = 60.0


def ensure_data() -> Path:
    from aftersales_kit.demo import simulate as demo

    parquet = DATA / demo.CANONICAL_DIR / demo.PARQUET_NAME
    if not parquet.exists():
        demo.write_demo(DATA, stores=STORES, orders=ORDERS, end=END)
    return parquet


def naive(parquet: Path, stores: list[str], work: Path) -> float:
    total = sum(
        naive_report(store=store, data=parquet, as_of=AS_OF, work=work, end=END) for store in stores
    )
    return total / len(stores)


def main() -> int:
    parquet = ensure_data()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        per_naive = naive(parquet, ["1000101", "1000102", "1000103"][:NAIVE_SAMPLE], work)
        started = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "aftersales_kit",
                "batch",
                str(parquet),
                "--out",
                str(work / "reports"),
                "--end",
                END,
                "--as-of",
                AS_OF,
                "--force",
            ],
            capture_output=True,
            text=True,
        )
        total = time.perf_counter() - started
    print(proc.stderr.strip().splitlines()[-3:] if proc.stderr else "")
    per_batch = total / STORES
    ratio = per_naive / per_batch
    print(f"stores={STORES} orders/store={ORDERS} workers={os.cpu_count()}")
    verdict = "PASS" if per_batch <= PER_STORE_TARGET_S else "MISS"
    print(
        f"batch total {total:.1f} s, amortized {per_batch:.3f} s/store "
        f"(target ≤ {PER_STORE_TARGET_S:g}: {verdict})"
    )
    print(f"naive {per_naive:.2f} s/store over {NAIVE_SAMPLE} stores")
    print(
        f"speed-up {ratio:.1f}× (target ≥ {RATIO_TARGET:g}×: "
        f"{'PASS' if ratio >= RATIO_TARGET else 'MISS'})"
    )
    ok = proc.returncode == 0 and per_batch <= PER_STORE_TARGET_S and ratio >= RATIO_TARGET
    print("PASS" if ok else "MISS")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
