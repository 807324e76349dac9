"""Single-report speed: one store of the demo data, ours vs the naive CLI pair, in the same run.

Ours = ``python -m aftersales_kit report --store 1000101`` (what ``make report`` runs), end to end:
interpreter start, kernel, notebook, export, files written. Naive = the ``papermill`` CLI on
``notebooks/store_report.ipynb`` then ``jupyter nbconvert --to html --no-input`` on its output.
Both run REPEAT times, interleaved so they share the machine's load; the medians are compared.
Target (issue 21): ours ≤ 2.5 s wall (median, warm). Prints the figures; exit 1 on a miss.

"Warm" is a second report on the same downloads: the parsed files come from the parse cache
(``aftersales_kit.parse_cache``, here a private folder of this run, filled by the uncounted
warm-up run). Each round also times a "cold" report with the cache off (every download parsed),
printed beside it; the naive pair never has a cache.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from naive import naive_report

ROOT = Path(__file__).resolve().parent.parent
STORE, AS_OF = "1000101", "2026-11-25 09:00:00"
REPEAT = 5
TARGET_S = 2.5


def ours(out: Path, *, cache: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "aftersales_kit",
            "report",
            "--store",
            STORE,
            "--as-of",
            AS_OF,
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, "AFTERSALES_CACHE": cache},
    )
    return time.perf_counter() - started


def naive(data: Path, work: Path) -> float:
    return naive_report(store=STORE, data=data, as_of=AS_OF, work=work)


def main() -> int:
    from aftersales_kit.demo.simulate import ensure_demo

    data = ensure_demo(ROOT / "data" / "demo")  # the data `aftersales report` uses by default
    ours_s: list[float] = []
    cold_s: list[float] = []
    naive_s: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cache = str(work / "parse-cache")
        ours(work / "warmup", cache=cache)  # cold OS caches, fills the parse cache; not counted
        for i in range(REPEAT):
            ours_s.append(ours(work / f"ours-{i}", cache=cache))
            cold_s.append(ours(work / f"cold-{i}", cache="off"))
            naive_s.append(naive(data, work))
    ours_med, naive_med = statistics.median(ours_s), statistics.median(naive_s)
    print(f"store {STORE} of {data}, {REPEAT} runs each, cpus={os.cpu_count()}")
    print(
        f"ours  median {ours_med:.2f} s  (min {min(ours_s):.2f}, runs "
        f"{' '.join(f'{s:.2f}' for s in ours_s)}; target ≤ {TARGET_S:g} s)"
    )
    print(
        f"cold  median {statistics.median(cold_s):.2f} s  (parse cache off: every download "
        f"parsed; runs {' '.join(f'{s:.2f}' for s in cold_s)})"
    )
    print(
        f"naive median {naive_med:.2f} s  (min {min(naive_s):.2f}, runs "
        f"{' '.join(f'{s:.2f}' for s in naive_s)})"
    )
    print(f"speed-up {naive_med / ours_med:.1f}×")
    ok = ours_med <= TARGET_S
    print("PASS" if ok else "MISS")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
