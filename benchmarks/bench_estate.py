"""An estate at scale: N small demo stores through ``aftersales batch`` (issue 21 item 5).

Generates ``--stores`` stores × ``--orders`` orders (demo.generate, one canonical parquet), runs
``aftersales batch --workers W`` on it as a subprocess and samples the whole process tree's
resident memory every 0.5 s, then opens ``index.html`` in headless Chromium (network blocked) and
times its load. Prints wall time, per-store time, peak memory (sum over the tree), folder size
(total, per report, shared assets) and the index load time, plus the extrapolation to shards.

    .venv/bin/python benchmarks/bench_estate.py --stores 10000 --orders 40
    .venv/bin/python benchmarks/bench_estate.py --stores 1000 --orders 40 --index-only
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

ROOT = Path(__file__).resolve().parent.parent
END, AS_OF = "2026-03-31", "2026-04-01 09:00"


def ensure_data(stores: int, orders: int) -> Path:
    path = ROOT / "benchmarks" / ".data" / f"estate_{stores}x{orders}" / "orders.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        synthetic(stores, orders).write_parquet(path)
        print(f"data: {stores} stores × {orders} orders in {time.perf_counter() - started:.1f} s")
    return path


def synthetic(stores: int, orders: int) -> pl.DataFrame:
    """``stores`` demo stores: the demo allows at most 899, so larger estates repeat a base set of
    500 with new store ids, names and service-order ids (each copy is its own store)."""
    import polars as pl

    from aftersales_kit.demo import simulate as demo

    base = demo.generate(stores=min(stores, 500), orders=orders, end=END)
    ids = base["store_id"].unique().sort().to_list()
    copies = []
    for copy in range(-(-stores // len(ids))):
        wanted = ids[: stores - copy * len(ids)]
        part = base.filter(pl.col("store_id").is_in(wanted))
        if copy:
            tag = f"{copy:02d}"
            part = part.with_columns(
                (pl.col("store_id") + tag).alias("store_id"),
                (pl.col("store_name") + f" {tag}").alias("store_name"),
                (pl.col("service_id") + tag).alias("service_id"),
            )
        copies.append(part)
    return pl.concat(copies)


class TreeMemory(threading.Thread):
    """Peak resident memory of a process and all its descendants (sampled)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self) -> None:
        import psutil

        root = psutil.Process(self.pid)
        while not self.stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            except psutil.Error:
                return
            time.sleep(0.5)


def run_batch(data: Path, out: Path, *, workers: int, index_only: bool) -> tuple[float, int]:
    argv = [sys.executable, "-m", "aftersales_kit", "batch"]
    argv += ["--index-only"] if index_only else [str(data), "--workers", str(workers)]
    argv += ["--out", str(out), "--end", END, "--as-of", AS_OF]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    mem = TreeMemory(proc.pid)
    mem.start()
    _, err = proc.communicate()
    mem.stop.set()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        print(err[-3000:], file=sys.stderr)
        msg = f"batch failed: rc {proc.returncode}"
        raise SystemExit(msg)
    return wall, mem.peak


def folder_size(out: Path) -> tuple[int, int, int]:
    """(total bytes, mean bytes per report page, shared asset bytes)."""
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    pages = [p.stat().st_size for p in out.glob("*/*.html") if not p.parent.name.startswith("_")]
    shared = sum(p.stat().st_size for p in (out / "_assets").glob("*") if p.is_file())
    return total, (sum(pages) // len(pages)) if pages else 0, shared


def index_load_seconds(index: Path) -> float:
    """Time from navigation to the estate table's first page drawn (file://, network blocked)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route(
            "**/*",
            lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort(),
        )
        started = time.perf_counter()
        page.goto(index.as_uri(), wait_until="load")
        page.wait_for_selector("#estate-table tbody tr")
        wall = time.perf_counter() - started
        seconds = float(page.evaluate("() => window.estateDrawnAt")) / 1000
        print(f"index: first page drawn {seconds:.2f} s after navigation ({wall:.2f} s wall)")
        browser.close()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=40, help="orders per store")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--index-only", action="store_true", help="rebuild and time the index")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONUTF8", "1")
    data = ensure_data(args.stores, args.orders)
    out = args.out or data.parent / "reports"
    wall, peak = run_batch(data, out, workers=args.workers, index_only=args.index_only)
    total, per_page, shared = folder_size(out)
    try:
        load = index_load_seconds(out / "index.html")
    except Exception as exc:  # an index without the estate table (older toolkit) or no browser
        print(f"index load not measured: {type(exc).__name__}: {exc}", file=sys.stderr)
        load = float("nan")
    label = "index only" if args.index_only else f"batch, {args.workers} workers"
    print(f"{args.stores} stores × {args.orders} orders ({label})")
    per_store = wall / args.stores
    print(f"wall {wall:.1f} s · {per_store:.3f} s/store · peak RSS (tree) {peak / 1e9:.2f} GB")
    print(
        f"folder {total / 1e6:.1f} MB · {per_page / 1e3:.0f} KB per report · "
        f"shared assets {shared / 1e6:.2f} MB · index.html "
        f"{(out / 'index.html').stat().st_size / 1e6:.2f} MB, loads in {load:.2f} s"
    )
    if not args.index_only:
        for machines in (1, 4, 10, 20):
            hours = per_store * 10_000 / machines / 3600
            print(f"10,000 stores, {machines:>2} machine(s) like this one (shards): {hours:.2f} h")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
