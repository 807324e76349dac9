"""Benchmark: every DOMAIN §7 figure for every store — aftersales_kit (polars) vs DuckDB vs pandas.

Not a test. Generates demo-like data (``aftersales_kit.demo.generate`` in chunks) as parquet under
``benchmarks/.data/`` (cached), then runs each engine in its own subprocess so peak memory
(``VmHWM``) is per engine, checks that all engines agree, and prints times, ratios and memory.

    .venv/bin/python benchmarks/bench_metrics.py               # 1 M and 10 M orders
    .venv/bin/python benchmarks/bench_metrics.py --quick       # 100 k orders, one run each

Every engine starts from the parquet files (reading them is inside every timing) and computes the
same thing: window filter on complete_time, per-order scene / clock end / stages / intervention /
exclusion / alerts, then per store counted, mean, median, P90 (linear), share over 60 h, excluded
counts, stage means, alert counts and per-scene count and mean.

``diagnose`` (ours only, no DuckDB/pandas counterpart) times the full report data of every store:
``aftersales_kit.diagnose.diagnose`` on the same parquet scan — the §7 figures for this and the
previous window, trends, breakdowns, stage means, excess/short board, alert orders, TOP100, open
orders at risk, heatmap, what-if and findings. Its KPIs are checked against ``store_metrics``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import polars as pl

from aftersales_kit.rules import ALERT_SPANS, Window
from aftersales_kit.settings import EXCLUDED_REASONS, RULE_NAMES, STAGES, Rules, load_rules

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
END = date(2026, 3, 30)  # fixed, so the cached data stay valid across days
WINDOW = Window(start=END - timedelta(days=29), end=END)
ENGINES = ("polars", "polars_streaming", "duckdb", "pandas", "diagnose")
#: The report time of the ``diagnose`` run: the morning after the window.
AS_OF = datetime.combine(END + timedelta(days=1), dtime(9))
PEAK_LIMIT_MB = 4096
#: Set by ``run_pandas``: seconds spent in ``pd.read_parquet`` (printed, to show the read share).
READ_SECONDS: list[float] = []
STORES = 50
CHUNK_PER_STORE = 5000  # ≈ 250 k rows per generated chunk: bounded memory while generating
NEEDED = [
    "store_id",
    "service_type",
    "status",
    "approve_result",
    "apply_time",
    "first_audit_time",
    "pickup_time",
    "customer_ship_time",
    "logistics_update_time",
    "sign_time",
    "inbound_time",
    "first_process_time",
    "complete_time",
    "jd_intervened",
    "intervention_start",
    "intervention_end",
]
STAGE_KEYS = (*STAGES, "intervention")
FIGURES = [
    "counted",
    "mean_hours",
    "median_hours",
    "p90_hours",
    "over_60h_share",
    *(f"excluded_{r}" for r in EXCLUDED_REASONS),
    *(f"stage_{s}" for s in STAGE_KEYS),
    *(f"alert_{r}" for r in RULE_NAMES),
]


# --- data -----------------------------------------------------------------------------------------


def ensure_data(rows: int) -> Path:
    """``benchmarks/.data/orders_<rows>/part-*.parquet``, generated once."""
    from aftersales_kit.demo import generate

    folder = DATA / f"orders_{rows}"
    done = folder / "_SUCCESS"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.parquet"):
        old.unlink()
    written, chunk = 0, 0
    started = time.perf_counter()
    while written < rows:
        per_store = max(1, min(CHUNK_PER_STORE, (rows - written) // STORES))
        frame = generate(stores=STORES, orders=per_store, end=END, seed=1000 + chunk)
        frame = frame.head(rows - written).with_columns(
            pl.format("{}-{}", pl.lit(chunk), pl.col("service_id")).alias("service_id")
        )
        frame.write_parquet(folder / f"part-{chunk:04d}.parquet")
        written += frame.height
        chunk += 1
    done.write_text(str(written))
    print(f"  generated {written:,} orders in {time.perf_counter() - started:.0f} s → {folder}")
    return folder


# --- engines ----------------------------------------------------------------------------------


def run_polars(
    folder: Path, rules: Rules, engine: str = "in-memory"
) -> tuple[pl.DataFrame, pl.DataFrame]:
    from aftersales_kit.metrics import store_metrics

    lf = pl.scan_parquet(folder / "*.parquet")
    metrics = store_metrics(lf, window=WINDOW, rules=rules, engine=engine)  # type: ignore[arg-type]
    scenes = (
        metrics.select("store_id", "scenes").explode("scenes").unnest("scenes").drop_nulls("scene")
    )
    return metrics.drop("scenes"), scenes


def _sql_list(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _h(later: str, earlier: str) -> str:
    return f"((epoch_us({later}) - epoch_us({earlier})) / 3600000000.0)"


def duckdb_sql(glob: str, rules: Rules) -> str:
    """The same computation as one DuckDB SQL statement (built from the same rules)."""
    scene = " ".join(
        f"WHEN {s.field} IN ({_sql_list(s.values)}) THEN '{s.scene}'" for s in rules.scenes
    )
    audit = " ".join(
        f"WHEN {s.field} IN ({_sql_list(s.values)}) THEN {str(s.stop == 'first_audit').upper()}"
        for s in rules.scenes
    )
    holiday = (
        " OR ".join(
            f"(apply_time >= TIMESTAMP '{a}' AND apply_time < TIMESTAMP '{b}')"
            for a, b in rules.holidays
        )
        or "FALSE"
    )
    cancel = _sql_list(
        [s.scene for s in rules.scenes if s.missing_stop == "cancelled_before_audit"]
    )
    oldest = datetime.combine(WINDOW.end - timedelta(days=rules.history_days - 1), dtime())
    th = rules.thresholds
    stage_ends = ["c0", "c1", "c2", "c3", "clock_end"]
    stages = ",\n".join(
        f"CASE WHEN valid THEN greatest(coalesce({_h(e, f'p{i}')}, 0), 0) END AS stage_{s}"
        for i, (s, e) in enumerate(zip(STAGES, stage_ends, strict=True))
    )
    alerts = ",\n".join(
        f"count_if(counted AND NOT is_open AND coalesce({_h(a, b)} > {th[r]}, FALSE)) AS alert_{r}"
        for r, (a, b) in ALERT_SPANS.items()
    )
    excluded = ",\n".join(
        f"count_if(excluded_reason = '{r}') AS excluded_{r}" for r in EXCLUDED_REASONS
    )
    stage_means = ",\n".join(f"avg(stage_{s}) FILTER (WHERE counted) AS stage_{s}" for s in STAGES)
    return f"""
WITH src AS (
  SELECT {", ".join(NEEDED)} FROM read_parquet('{glob}')
  WHERE complete_time >= TIMESTAMP '{WINDOW.start_at}'
    AND complete_time < TIMESTAMP '{WINDOW.end_before}'
), s AS (
  SELECT *, CASE {scene} ELSE service_type END AS scene,
         CASE {audit} ELSE FALSE END AS audit_ended,
         coalesce(pickup_time, customer_ship_time) AS return_start,
         complete_time IS NULL
           AND NOT coalesce(status IN ({_sql_list(rules.terminal_statuses)}), FALSE) AS is_open
  FROM src
), e AS (
  SELECT *, CASE WHEN audit_ended THEN first_audit_time ELSE first_process_time END AS clock_end
  FROM s
), v AS (
  SELECT *, (clock_end IS NOT NULL AND apply_time IS NOT NULL AND clock_end >= apply_time) AS valid,
    CASE WHEN first_audit_time <= clock_end THEN first_audit_time END AS c0,
    CASE WHEN NOT audit_ended AND return_start <= clock_end THEN return_start END AS c1,
    CASE WHEN NOT audit_ended AND sign_time <= clock_end THEN sign_time END AS c2,
    CASE WHEN NOT audit_ended AND inbound_time <= clock_end THEN inbound_time END AS c3
  FROM e
), p AS (
  SELECT *, apply_time AS p0, greatest(apply_time, c0) AS p1, greatest(apply_time, c0, c1) AS p2,
    greatest(apply_time, c0, c1, c2) AS p3, greatest(apply_time, c0, c1, c2, c3) AS p4
  FROM v
), o AS (
  SELECT *, {stages},
    CASE WHEN valid AND coalesce(jd_intervened, FALSE) AND intervention_start IS NOT NULL
              AND intervention_end IS NOT NULL AND NOT audit_ended
         THEN greatest({
        _h("least(intervention_end, clock_end)", "greatest(intervention_start, apply_time)")
    }, 0)
         ELSE 0.0 END AS intervention_hours,
    CASE WHEN valid THEN {_h("clock_end", "apply_time")} END AS gross_hours
  FROM p
), r AS (
  SELECT *, gross_hours - intervention_hours AS hours,
    CASE WHEN {holiday} THEN 'holiday'
         WHEN apply_time < TIMESTAMP '{oldest}' THEN 'apply_too_old'
         WHEN clock_end IS NULL AND scene IN ({cancel}) THEN 'cancelled_before_audit'
         WHEN clock_end IS NULL THEN 'missing_end'
         WHEN gross_hours IS NULL THEN 'invalid' END AS excluded_reason
  FROM o
), f AS MATERIALIZED (
  SELECT *, excluded_reason IS NULL AS counted FROM r
), agg AS (
  SELECT store_id, count_if(counted) AS counted,
    avg(hours) FILTER (WHERE counted) AS mean_hours,
    median(hours) FILTER (WHERE counted) AS median_hours,
    quantile_cont(hours, 0.9) FILTER (WHERE counted) AS p90_hours,
    avg(CASE WHEN hours > {rules.warning_hours} THEN 1.0 ELSE 0.0 END) FILTER (WHERE counted)
      AS over_60h_share,
    {excluded},
    {stage_means},
    avg(intervention_hours) FILTER (WHERE counted) AS stage_intervention,
    {alerts},
    count_if(counted AND NOT is_open AND hours > {th["total_over_60h"]}) AS alert_total_over_60h
  FROM f GROUP BY store_id
), sc AS (
  SELECT store_id, scene, count(*) AS n, avg(hours) AS m FROM f WHERE counted GROUP BY ALL
), scl AS (
  SELECT store_id, list({{'scene': scene, 'count': n, 'mean_hours': m}}) AS scenes
  FROM sc GROUP BY store_id
)
SELECT agg.*, scl.scenes FROM agg LEFT JOIN scl USING (store_id) ORDER BY store_id
"""


def run_duckdb(folder: Path, rules: Rules) -> tuple[pl.DataFrame, pl.DataFrame]:
    import duckdb

    con = duckdb.connect()
    result = con.sql(duckdb_sql(str(folder / "*.parquet"), rules)).pl()
    scenes = result.select("store_id", "scenes").explode("scenes").unnest("scenes")
    return result.drop("scenes"), scenes.drop_nulls("scene")


def run_pandas(
    folder: Path, rules: Rules, *, pushdown: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """What a pandas user would write: vectorised columns, ``groupby``, no row loops.

    Reads the needed columns of every row, then filters the window in memory. ``pushdown``
    (the opt-in ``pandas_pushdown`` engine) passes the window as pyarrow ``filters`` instead, to
    show how much of pandas' time is reading rows outside the window.
    """
    import numpy as np
    import pandas as pd

    started = time.perf_counter()
    if pushdown:
        window = [
            ("complete_time", ">=", WINDOW.start_at),
            ("complete_time", "<", WINDOW.end_before),
        ]
        df = pd.read_parquet(folder, columns=NEEDED, filters=window)
    else:
        df = pd.read_parquet(folder, columns=NEEDED)
    READ_SECONDS.append(time.perf_counter() - started)
    df = df[(df.complete_time >= WINDOW.start_at) & (df.complete_time < WINDOW.end_before)].copy()

    def hours(later: pd.Series, earlier: pd.Series) -> pd.Series:
        return (later - earlier) / pd.Timedelta(hours=1)

    scene = df.service_type.astype(object).copy()
    audit_ended = pd.Series(False, index=df.index)
    matched = pd.Series(False, index=df.index)
    for s in rules.scenes:
        hit = df[s.field].isin(s.values) & ~matched
        scene[hit] = s.scene
        audit_ended[hit] = s.stop == "first_audit"
        matched |= hit
    df["scene"] = scene
    df["return_start"] = df.pickup_time.fillna(df.customer_ship_time)
    df["is_open"] = df.complete_time.isna() & ~df.status.isin(rules.terminal_statuses)
    end = df.first_process_time.where(~audit_ended, df.first_audit_time)
    valid = end.notna() & df.apply_time.notna() & (end >= df.apply_time)
    cands = [
        df.first_audit_time.where(df.first_audit_time <= end),
        df.return_start.where((df.return_start <= end) & ~audit_ended),
        df.sign_time.where((df.sign_time <= end) & ~audit_ended),
        df.inbound_time.where((df.inbound_time <= end) & ~audit_ended),
        end,
    ]
    prev = df.apply_time
    for stage, cand in zip(STAGES, cands, strict=True):
        gap = hours(cand, prev).clip(lower=0).fillna(0.0)
        df[f"stage_{stage}"] = gap.where(valid)
        prev = pd.concat([prev, cand], axis=1).max(axis=1)
    bounded = (
        df.jd_intervened.fillna(False).astype(bool)
        & df.intervention_start.notna()
        & df.intervention_end.notna()
        & ~audit_ended
    )
    overlap = hours(
        pd.concat([df.intervention_end, end], axis=1).min(axis=1),
        pd.concat([df.intervention_start, df.apply_time], axis=1).max(axis=1),
    ).clip(lower=0)
    df["intervention_hours"] = overlap.where(valid & bounded, 0.0)
    df["hours"] = hours(end, df.apply_time).where(valid) - df.intervention_hours

    holiday = pd.Series(False, index=df.index)
    for a, b in rules.holidays:
        holiday |= (df.apply_time >= a) & (df.apply_time < b)
    oldest = datetime.combine(WINDOW.end - timedelta(days=rules.history_days - 1), dtime())
    cancel = [s.scene for s in rules.scenes if s.missing_stop == "cancelled_before_audit"]
    reason = np.select(
        [
            holiday,
            df.apply_time < oldest,
            end.isna() & df.scene.isin(cancel),
            end.isna(),
            df.hours.isna(),
        ],
        list(EXCLUDED_REASONS),
        default=None,
    )
    df["excluded_reason"] = reason
    df["counted"] = df.excluded_reason.isna()
    th = rules.thresholds
    completed = ~df.is_open
    for rule, (a, b) in ALERT_SPANS.items():
        df[f"alert_{rule}"] = completed & (hours(df[a], df[b]) > th[rule]).fillna(False)
    df["alert_total_over_60h"] = completed & (df.hours > th["total_over_60h"])
    df["over"] = (df.hours > rules.warning_hours).astype(float)

    counted = df[df.counted]
    g = counted.groupby("store_id")
    out = pd.DataFrame(
        {
            "counted": g.size(),
            "mean_hours": g.hours.mean(),
            "median_hours": g.hours.median(),
            "p90_hours": g.hours.quantile(0.9),
            "over_60h_share": g.over.mean(),
        }
    )
    excluded = df.groupby(["store_id", "excluded_reason"]).size().unstack(fill_value=0)
    for r in EXCLUDED_REASONS:
        out[f"excluded_{r}"] = excluded[r] if r in excluded else 0
    means = g[[f"stage_{s}" for s in STAGES] + ["intervention_hours"]].mean()
    for s in STAGES:
        out[f"stage_{s}"] = means[f"stage_{s}"]
    out["stage_intervention"] = means["intervention_hours"]
    sums = g[[f"alert_{r}" for r in RULE_NAMES]].sum()
    for r in RULE_NAMES:
        out[f"alert_{r}"] = sums[f"alert_{r}"]
    out = out.fillna({c: 0 for c in out.columns if c.startswith(("excluded_", "alert_"))})
    scenes = (
        counted.groupby(["store_id", "scene"])
        .hours.agg(["size", "mean"])
        .reset_index()
        .rename(columns={"size": "count", "mean": "mean_hours"})
    )
    return (
        pl.from_pandas(out.reset_index()).sort("store_id"),
        pl.from_pandas(scenes),
    )


def run_polars_streaming(folder: Path, rules: Rules) -> tuple[pl.DataFrame, pl.DataFrame]:
    return run_polars(folder, rules, engine="streaming")


def run_diagnose(folder: Path, rules: Rules) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every store's full report data; returns its KPIs in the metrics layout (for the check)."""
    from aftersales_kit.diagnose import diagnose

    result = diagnose(
        pl.scan_parquet(folder / "*.parquet"), window=WINDOW, rules=rules, as_of=AS_OF
    )
    kpis = pl.DataFrame(
        [
            {
                "store_id": sid,
                "counted": d.kpis.counted,
                "mean_hours": d.kpis.mean_hours,
                "median_hours": d.kpis.median_hours,
                "p90_hours": d.kpis.p90_hours,
                "over_60h_share": d.kpis.over_60h_share,
                **{f"excluded_{r}": d.kpis.excluded[r] for r in EXCLUDED_REASONS},
                "report_rows": sum(
                    f.height
                    for f in (d.alert_orders, d.top100, d.open_at_risk, d.trend_daily, d.heatmap)
                ),
            }
            for sid, d in result.items()
        ]
    ).sort("store_id")
    return kpis, pl.DataFrame()


RUNNERS = {
    "polars": run_polars,
    "polars_streaming": run_polars_streaming,
    "duckdb": run_duckdb,
    "pandas": run_pandas,
    "pandas_pushdown": lambda folder, rules: run_pandas(folder, rules, pushdown=True),
    "diagnose": run_diagnose,
}
#: Engines computing the §7 figures only (compared with each other); ``diagnose`` is apart.
METRIC_ENGINES = ("polars", "polars_streaming", "duckdb", "pandas", "pandas_pushdown")
KPI_FIGURES = FIGURES[: 5 + len(EXCLUDED_REASONS)]


# --- child process: one engine, timed -------------------------------------------------------


def child(engine: str, folder: Path, out: Path, repeat: int) -> None:
    rules = load_rules()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        metrics, scenes = RUNNERS[engine](folder, rules)
        times.append(time.perf_counter() - started)
    metrics.write_parquet(out / f"{engine}_metrics.parquet")
    scenes.write_parquet(out / f"{engine}_scenes.parquet")
    report = {
        "seconds": min(times),
        "median_seconds": statistics.median(times),
        "all_seconds": times,
        "peak_mb": peak_rss_mb(),
    }
    if READ_SECONDS:
        report["read_seconds"] = min(READ_SECONDS)
    print(json.dumps(report))


def peak_rss_mb() -> float:
    """Peak resident memory of this process.

    ``ru_maxrss`` survives ``exec`` on Linux (a child would report the parent's peak), so read the
    per-address-space high-water mark ``VmHWM`` instead; fall back to ``ru_maxrss`` elsewhere.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_engine(engine: str, folder: Path, out: Path, repeat: int) -> dict[str, object]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        engine,
        "--data",
        str(folder),
        "--out",
        str(out),
        "--repeat",
        str(repeat),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare_diagnose(out: Path, *, reference: str) -> list[str]:
    """Differences between diagnose's KPIs and ``store_metrics`` (empty when they agree)."""
    ref = pl.read_parquet(out / f"{reference}_metrics.parquet").select("store_id", *KPI_FIGURES)
    got = pl.read_parquet(out / "diagnose_metrics.parquet").select("store_id", *KPI_FIGURES)
    if got["store_id"].to_list() != ref["store_id"].to_list():
        return ["diagnose: different stores"]
    problems = []
    for col in KPI_FIGURES:
        a, b = ref[col].cast(pl.Float64), got[col].cast(pl.Float64)
        diff = ((a - b).abs() > 1e-6 * (1 + a.abs())) | (a.is_null() != b.is_null())
        if diff.any():
            problems.append(f"diagnose: {col} differs in {diff.sum()} stores")
    return problems


def compare(out: Path, engines: list[str], *, reference: str) -> list[str]:
    """Differences between engines (empty when all agree within 1e-6)."""
    problems = []
    ref = pl.read_parquet(out / f"{reference}_metrics.parquet").select("store_id", *FIGURES)
    ref_sc = pl.read_parquet(out / f"{reference}_scenes.parquet").sort("store_id", "scene")
    for engine in engines:
        if engine == reference:
            continue
        other = pl.read_parquet(out / f"{engine}_metrics.parquet").select("store_id", *FIGURES)
        if other["store_id"].to_list() != ref["store_id"].to_list():
            problems.append(f"{engine}: different stores")
            continue
        for col in FIGURES:
            a, b = ref[col].cast(pl.Float64), other[col].cast(pl.Float64)
            diff = ((a - b).abs() > 1e-6 * (1 + a.abs())) | (a.is_null() != b.is_null())
            if diff.any():
                problems.append(f"{engine}: {col} differs in {diff.sum()} stores")
        sc = pl.read_parquet(out / f"{engine}_scenes.parquet").sort("store_id", "scene")
        if (
            sc.select("store_id", "scene", pl.col("count").cast(pl.Int64)).rows()
            != ref_sc.select("store_id", "scene", pl.col("count").cast(pl.Int64)).rows()
            or ((sc["mean_hours"] - ref_sc["mean_hours"]).abs() > 1e-6).any()
        ):
            problems.append(f"{engine}: per-scene counts or means differ")
    return problems


def _line(engine: str, r: dict[str, object]) -> str:
    line = (
        f"  {engine:16s} best {r['seconds']:7.2f} s   median {r['median_seconds']:7.2f} s   "
        f"peak {r['peak_mb']:6.0f} MB"
    )
    if "read_seconds" in r:
        line += f"   (read_parquet {r['read_seconds']:.2f} s)"
    return line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e6,1e7", help="comma-separated order counts")
    parser.add_argument("--quick", action="store_true", help="100 k orders, one run per engine")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per engine (best and median are printed)"
    )
    parser.add_argument("--child")
    parser.add_argument("--data")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        child(args.child, Path(args.data), Path(args.out), args.repeat)
        return 0
    if args.quick:
        args.sizes, args.repeat = "1e5", 1

    engines = args.engines.split(",")
    failed = False
    for size in (int(float(s)) for s in args.sizes.split(",")):
        print(f"\n== {size:,} orders, window {WINDOW.start} – {WINDOW.end}, all stores ==")
        folder = ensure_data(size)
        out = DATA / f"results_{size}"
        out.mkdir(exist_ok=True)
        results = {}
        for engine in engines:
            results[engine] = run_engine(engine, folder, out, args.repeat)
            r = results[engine]
            if "error" in r:
                print(f"  {engine:16s} FAILED: {r['error']}")
                failed = True
            else:
                print(_line(engine, r), flush=True)
        ok = [e for e in engines if "error" not in results[e]]
        ours = [e for e in ok if e.startswith("polars")]
        if ours:
            best = min(ours, key=lambda e: results[e]["seconds"])
            base = results[best]["seconds"]
            base_med = results[best]["median_seconds"]
            peak = results[best]["peak_mb"]
            limit = f"target ≤ {PEAK_LIMIT_MB} MB"
            print(f"  ours = {best}: {base:.2f} s, peak {peak:.0f} MB ({limit})")
            for engine in ok:
                if engine in ("duckdb", "pandas", "pandas_pushdown"):
                    ratio = results[engine]["seconds"] / base
                    ratio_med = results[engine]["median_seconds"] / base_med
                    target = "≥ 1×" if engine == "duckdb" else "≥ 20×"
                    print(
                        f"  {engine} time / ours: best {ratio:.2f}×, median {ratio_med:.2f}× "
                        f"(target {target})"
                    )
            problems = compare(out, [e for e in ok if e in METRIC_ENGINES], reference=ours[0])
            if "diagnose" in ok:
                problems += compare_diagnose(out, reference=ours[0])
            print("  agreement:", "all engines agree (1e-6)" if not problems else problems)
            failed |= bool(problems)
        if "diagnose" in ok:
            peak = results["diagnose"]["peak_mb"]
            verdict = "ok" if peak <= PEAK_LIMIT_MB else "OVER"
            print(f"  diagnose (ours only): peak {peak:.0f} MB, {verdict} vs {PEAK_LIMIT_MB} MB")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
