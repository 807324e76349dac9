"""Benchmark: loading JD 京麦 ``.xlsx`` downloads (issue 9 "Speed") against fastexcel's raw read.

Not a test. Writes once, under ``benchmarks/.data/load/`` (cached):

- ``jingmai_300000.xlsx``: one store, 300 000 orders from
  ``aftersales_kit.demo.simulate.generate`` written by
  ``aftersales_kit.demo.jd_formats.write_jingmai_xlsx`` (row 1 merged group titles, row 2 headers,
  data from row 3, IDs as text cells), exactly the shape merchants download;
- ``folder_4x75000/``: the same 300 000 orders split into 4 downloads of 75 000 rows and a
  ``stores.toml`` that gives each file its store.

Then times, each case in its own subprocess (``VmHWM`` = that process's peak resident memory,
interpreter and imports included; the timing excludes the imports), ``--repeat`` runs per case
(each a fresh process), median and best printed:

- ``raw_text``: ``fastexcel.read_excel(p).load_sheet(0, header_row=None, dtypes="string")
  .to_polars()``, the read ``aftersales_kit.load`` itself starts from (every cell as text);
- ``raw_typed``: ``load_sheet(0, header_row=1).to_polars()`` (fastexcel's default typed read);
- ``load``: ``aftersales_kit.load.load(p, store_id="1")``: header detection, parsing, validation,
  dedupe, warnings, the canonical frame;
- ``raw_text_eager``: the same text read as an Arrow record batch (``load_sheet(...,
  eager=True)``) then ``pl.from_arrow`` (the same frame, without ``ExcelSheet.to_polars``);
- ``folder_load``: ``load(folder)`` (4 files read in parallel threads, stores from stores.toml);
- ``folder_load_seq``: ``load(file, store_id=…)`` on the 4 files one after another, then
  ``pl.concat`` (what the folder read replaces);
- ``folder_raw_seq``: the ``raw_text`` read of the 4 files one after another.

Targets (issue 9): load ≤ 1.25 × the raw read, peak ≤ 2 GB. ``--profile`` adds a per-step timing
of ``load`` (wrappers around the loader's own functions) and the top of a cProfile.

    .venv/bin/python benchmarks/bench_load.py               # 3 runs per case
    .venv/bin/python benchmarks/bench_load.py --repeat 1 --profile
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data" / "load"
END = date(2026, 3, 30)
ROWS = 300_000
PARTS = 4
SEED = 9
BIG = DATA / f"jingmai_{ROWS}.xlsx"
FOLDER = DATA / f"folder_{PARTS}x{ROWS // PARTS}"
#: Store id of each part of the folder (stores.toml maps file -> store).
PART_STORES = tuple(f"10001{i + 1:02d}" for i in range(PARTS))
PART_FILES = tuple(f"{chr(ord('a') + i)}.xlsx" for i in range(PARTS))
CASES = (
    "raw_text",
    "raw_typed",
    "raw_text_eager",
    "load",
    "folder_raw_seq",
    "folder_load_seq",
    "folder_load",
)
RATIO_TARGET = 1.25
PEAK_LIMIT_MB = 2048


# --- data ------------------------------------------------------------------------------------


def ensure_files() -> None:
    """Write the 300 k-row download and the 4-file folder once (about 1.5 min)."""
    if BIG.exists() and (FOLDER / "stores.toml").exists():
        return
    from aftersales_kit.demo.jd_formats import write_jingmai_xlsx
    from aftersales_kit.demo.simulate import generate

    DATA.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    frame = generate(stores=1, orders=ROWS, end=END, seed=SEED)
    assert frame.height == ROWS, frame.height
    if not BIG.exists():
        write_jingmai_xlsx(frame, BIG)
        print(f"  wrote {BIG.name} ({BIG.stat().st_size / 1e6:.0f} MB)", flush=True)
    FOLDER.mkdir(parents=True, exist_ok=True)
    per = ROWS // PARTS
    lines = []
    for i, (name, sid) in enumerate(zip(PART_FILES, PART_STORES, strict=True)):
        write_jingmai_xlsx(frame.slice(i * per, per), FOLDER / name)
        lines += [f'[stores."{sid}"]', f'files = ["{name}"]', ""]
    (FOLDER / "stores.toml").write_text("\n".join(lines), encoding="utf-8")
    print(f"  generated the files in {time.perf_counter() - started:.0f} s → {DATA}", flush=True)


# --- cases (run in a child process) -------------------------------------------------------------


def raw_text(path: Path) -> int:
    import fastexcel

    return (
        fastexcel.read_excel(path)
        .load_sheet(0, header_row=None, dtypes="string")
        .to_polars()
        .height
    )


def raw_typed(path: Path) -> int:
    import fastexcel

    return fastexcel.read_excel(path).load_sheet(0, header_row=1).to_polars().height


def raw_text_eager(path: Path) -> int:
    import fastexcel
    import polars as pl

    sheet = fastexcel.read_excel(path).load_sheet(0, header_row=None, dtypes="string", eager=True)
    return pl.from_arrow(sheet).height  # type: ignore[union-attr]


def run_case(case: str) -> int:
    """Rows produced by ``case`` (its work is what the child times)."""
    import polars as pl

    from aftersales_kit.load import load

    if case == "raw_text":
        return raw_text(BIG)
    if case == "raw_typed":
        return raw_typed(BIG)
    if case == "load":
        return load(BIG, store_id="1").frame.height
    if case == "raw_text_eager":
        return raw_text_eager(BIG)
    if case == "folder_raw_seq":
        return sum(raw_text(FOLDER / f) for f in PART_FILES)
    if case == "folder_load_seq":
        frames = [
            load(FOLDER / f, store_id=s).frame for f, s in zip(PART_FILES, PART_STORES, strict=True)
        ]
        return pl.concat(frames).height
    if case == "folder_load":
        loaded = load(FOLDER)
        assert sorted(loaded.report.stores) == sorted(PART_STORES), loaded.report.stores
        return loaded.frame.height
    msg = f"unknown case {case}"
    raise SystemExit(msg)


def peak_rss_mb() -> float:
    """``VmHWM`` of this process (``ru_maxrss`` survives ``exec`` on Linux: it would include the
    parent's peak); ``ru_maxrss`` elsewhere."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(case: str) -> None:
    import fastexcel  # noqa: F401  (imports outside the timing)
    import polars  # noqa: F401

    import aftersales_kit.load  # noqa: F401

    started, cpu = time.perf_counter(), time.process_time()
    rows = run_case(case)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(json.dumps({"seconds": seconds, "cpu": cpu, "rows": rows, "peak_mb": peak_rss_mb()}))


def run_child(case: str) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--child", case]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=HERE.parent)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- profile ---------------------------------------------------------------------------------


def profile_steps() -> None:
    """Seconds per step of ``load(BIG)``: wrappers around the loader's own functions (no copy of
    its logic), so nested steps are shown inside their parent; then a cProfile top list."""
    import cProfile
    import pstats

    import fastexcel

    import aftersales_kit.load as ld

    spent: dict[str, list[float]] = {}

    def timed(name: str, fn):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent.setdefault(name, []).append(time.perf_counter() - started)

        return wrapper

    original_load_sheet = fastexcel.ExcelReader.load_sheet

    def load_sheet(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kind = "typed" if kwargs.get("dtypes") != "string" else "text"
        started = time.perf_counter()
        try:
            return original_load_sheet(self, *args, **kwargs)
        finally:
            spent.setdefault(f"    fastexcel load_sheet ({kind})", []).append(
                time.perf_counter() - started
            )

    patches = {
        "_read_raw": "  _read_raw (file -> raw text frame)",
        "_with_header": "    _with_header (header detection)",
        "_numeric_id_columns": "    _numeric_id_columns (typed re-read of ID columns)",
        "_convert_file": "_convert_file (read + clean + parse + checks)",
        "_parse_timestamps": "  _parse_timestamps (UDF, per column)",
        "_combine": "_combine (dedupe)",
        "_order_warnings": "_order_warnings",
        "_value_warnings": "_value_warnings",
    }
    saved = {name: getattr(ld, name) for name in patches}
    for name, label in patches.items():
        setattr(ld, name, timed(label, saved[name]))
    fastexcel.ExcelReader.load_sheet = load_sheet  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        ld.load(BIG, store_id="1")
        total = time.perf_counter() - started
    finally:
        for name, fn in saved.items():
            setattr(ld, name, fn)
        fastexcel.ExcelReader.load_sheet = original_load_sheet  # type: ignore[method-assign]
    print(f"\n  load() steps, one run ({total:.2f} s in all):")
    for label, times in spent.items():
        print(f"    {label:58s} {sum(times):6.2f} s  ({len(times)} call(s))")
    convert = sum(spent[patches["_convert_file"]]) - sum(spent[patches["_read_raw"]])
    print(f"    {'= clean + parse + checks (_convert_file − _read_raw)':58s} {convert:6.2f} s")

    prof = cProfile.Profile()
    prof.enable()
    ld.load(BIG, store_id="1")
    prof.disable()
    print("\n  cProfile of load() (cumulative, top 25):")
    stats = pstats.Stats(prof)
    stats.sort_stats("cumulative").print_stats(25)


# --- main ------------------------------------------------------------------------------------


def _line(case: str, r: dict[str, object]) -> str:
    return (
        f"  {case:17s} median {r['median']:6.2f} s   best {r['best']:6.2f} s   "
        f"CPU {r['cpu']:6.2f} s   peak {r['peak_mb']:5.0f} MB   rows {r['rows']:,}   "
        f"runs {r['runs']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per case")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--profile", action="store_true", help="also time load() step by step")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0
    ensure_files()
    print(
        f"\n== 京麦 .xlsx: {ROWS:,} rows ({BIG.stat().st_size / 1e6:.0f} MB), and {PARTS} files "
        f"× {ROWS // PARTS:,} rows; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} =="
    )
    results: dict[str, dict[str, object]] = {}
    failed = False
    for case in args.cases.split(","):
        runs = [run_child(case) for _ in range(args.repeat)]
        bad = [r for r in runs if "error" in r]
        if bad:
            print(f"  {case:16s} FAILED: {bad[0]['error']}")
            failed = True
            continue
        times = [float(r["seconds"]) for r in runs]  # type: ignore[arg-type]
        results[case] = {
            "median": statistics.median(times),
            "best": min(times),
            "all": times,
            "cpu": statistics.median(float(r["cpu"]) for r in runs),  # type: ignore[arg-type]
            "peak_mb": max(float(r["peak_mb"]) for r in runs),  # type: ignore[arg-type]
            "rows": runs[0]["rows"],
            "runs": len(runs),
        }
        print(_line(case, results[case]), flush=True)
    print(f"  load average now {os.getloadavg()[0]:.1f}")

    def ratio(a: str, b: str) -> None:
        if a in results and b in results:
            med = results[a]["median"] / results[b]["median"]  # type: ignore[operator]
            best = results[a]["best"] / results[b]["best"]  # type: ignore[operator]
            cpu = results[a]["cpu"] / results[b]["cpu"]  # type: ignore[operator]
            print(f"  {a} / {b}: median {med:.2f}×, best {best:.2f}×, CPU {cpu:.2f}×")

    ratio("load", "raw_text")
    ratio("load", "raw_typed")
    ratio("load", "raw_text_eager")
    ratio("raw_text_eager", "raw_text")
    ratio("folder_load", "folder_load_seq")
    ratio("folder_load", "folder_raw_seq")
    # Judged against the fastest raw read of the same file (the Arrow path the loader uses).
    fastest = min(
        (c for c in ("raw_text", "raw_text_eager", "raw_typed") if c in results),
        key=lambda c: float(results[c]["median"]),  # type: ignore[arg-type]
        default=None,
    )
    if "load" in results and fastest is not None:
        r = results["load"]["median"] / results[fastest]["median"]  # type: ignore[operator]
        peak = float(results["load"]["peak_mb"])  # type: ignore[arg-type]
        print(
            f"  target load ≤ {RATIO_TARGET}× the fastest raw read ({fastest}): "
            f"{'met' if r <= RATIO_TARGET else 'NOT met'}"
            f" ({r:.2f}×); peak ≤ {PEAK_LIMIT_MB} MB: "
            f"{'met' if peak <= PEAK_LIMIT_MB else 'NOT met'} ({peak:.0f} MB)"
        )
    if args.profile:
        profile_steps()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
