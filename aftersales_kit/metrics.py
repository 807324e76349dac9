"""DOMAIN §7 metrics of every store in one lazy query, the §7 JSON object, ``aftersales metrics``.

``store_metrics`` is the single source of the headline figures: the JSON command, the report KPIs
and the benchmark all read its rows, so the numbers cannot drift apart.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Literal

import polars as pl

from aftersales_kit.errors import UnknownStoreError
from aftersales_kit.rules import (
    Window,
    derive_orders,
    open_order_status,
    parse_as_of,
    parse_window,
    window_sample,
)
from aftersales_kit.settings import EXCLUDED_REASONS, RULE_NAMES, STAGES, Rules, load_rules

#: Stage keys of the §7 ``stages`` object (intervention is the mean hours subtracted).
STAGE_KEYS: tuple[str, ...] = (*STAGES, "intervention")
_SCENE_STRUCT = pl.List(
    pl.Struct({"scene": pl.String(), "count": pl.Int64(), "mean_hours": pl.Float64()})
)


@dataclass(frozen=True)
class Kpis:
    """Headline figures of one store and window; hour fields are None without counted orders."""

    counted: int
    mean_hours: float | None
    median_hours: float | None
    p90_hours: float | None
    over_60h_share: float | None
    excluded: Mapping[str, int]


def sample_in_window(
    orders: pl.LazyFrame | pl.DataFrame, *, window: Window, rules: Rules
) -> pl.LazyFrame:
    """In-window rows with the per-order figures and the sample columns.

    Accepts raw canonical orders or :func:`derive_orders` output. Filtering on complete_time
    first means the per-order derivation runs only on the window's rows (about a sixth of a
    180-day export), which is most of the speed of :func:`store_metrics`.
    """
    lf = orders.lazy()
    complete = pl.col("complete_time")
    in_window = (complete >= window.start_at) & (complete < window.end_before)
    lf = lf.filter(in_window)
    if "hours" not in lf.collect_schema().names():
        lf = derive_orders(lf, rules=rules)
    return window_sample(lf, window=window, rules=rules)


def _aggregations(rules: Rules) -> list[pl.Expr]:
    counted = pl.col("counted")
    hours = pl.col("hours").filter(counted)
    aggs = [
        counted.sum().cast(pl.Int64).alias("counted"),
        hours.mean().alias("mean_hours"),
        hours.median().alias("median_hours"),
        hours.quantile(0.9, interpolation="linear").alias("p90_hours"),
        (hours > rules.warning_hours).mean().alias("over_60h_share"),
    ]
    aggs += [
        (pl.col("excluded_reason") == reason).sum().cast(pl.Int64).alias(f"excluded_{reason}")
        for reason in EXCLUDED_REASONS
    ]
    aggs += [pl.col(f"stage_{s}").filter(counted).mean().alias(f"stage_{s}") for s in STAGES]
    aggs.append(pl.col("intervention_hours").filter(counted).mean().alias("stage_intervention"))
    aggs += [
        (pl.col(f"alert_{r}") & counted).sum().cast(pl.Int64).alias(f"alert_{r}")
        for r in RULE_NAMES
    ]
    return aggs


def metrics_columns() -> list[str]:
    """Column order of :func:`store_metrics`."""
    return [
        "store_id",
        "counted",
        "mean_hours",
        "median_hours",
        "p90_hours",
        "over_60h_share",
        *(f"excluded_{r}" for r in EXCLUDED_REASONS),
        *(f"stage_{s}" for s in STAGE_KEYS),
        *(f"alert_{r}" for r in RULE_NAMES),
        "scenes",
    ]


def store_metrics_lazy(
    orders: pl.LazyFrame | pl.DataFrame, *, window: Window, rules: Rules
) -> pl.LazyFrame:
    """The plan behind :func:`store_metrics`, to combine with other plans in one ``collect_all``."""
    lf = orders.lazy()
    stores = lf.select("store_id").unique()
    sample = sample_in_window(lf, window=window, rules=rules)
    main = sample.group_by("store_id").agg(_aggregations(rules))
    scenes = (
        sample.filter(pl.col("counted"))
        .group_by("store_id", "scene")
        .agg(pl.len().cast(pl.Int64).alias("count"), pl.col("hours").mean().alias("mean_hours"))
        .sort("store_id", "count", "scene", descending=[False, True, False])
        .group_by("store_id", maintain_order=True)
        .agg(pl.struct("scene", "count", "mean_hours").alias("scenes"))
    )
    zero_filled = [
        "counted",
        *(f"excluded_{r}" for r in EXCLUDED_REASONS),
        *(f"alert_{r}" for r in RULE_NAMES),
    ]
    return (
        stores.join(main, on="store_id", how="left")
        .join(scenes, on="store_id", how="left")
        .with_columns(
            pl.col(zero_filled).fill_null(0),
            pl.col("scenes").fill_null(pl.lit([], dtype=_SCENE_STRUCT)),
        )
        .select(metrics_columns())
        .sort("store_id")
    )


def store_metrics(
    orders: pl.LazyFrame | pl.DataFrame,
    *,
    window: Window,
    rules: Rules,
    engine: Literal["auto", "in-memory", "streaming"] = "auto",
) -> pl.DataFrame:
    """Every DOMAIN §7 figure, one row per store, all stores in one query.

    Parameters
    ----------
    orders
        Canonical orders or :func:`aftersales_kit.rules.derive_orders` output, any stores.
    window, rules
        The sample window and the rules.
    engine
        polars engine; ``"streaming"`` keeps peak memory lower on large parquet scans.

    Returns
    -------
    DataFrame with ``metrics_columns()``: ``store_id``, ``counted``, ``mean_hours``,
    ``median_hours``, ``p90_hours`` (linear interpolation), ``over_60h_share`` (hours strictly
    above ``rules.warning_hours``), ``excluded_<reason>``, ``stage_<stage>`` and
    ``stage_intervention`` (means over counted orders), ``alert_<rule>`` (counted orders breaking
    the rule) and ``scenes`` (list of ``{scene, count, mean_hours}``, most orders first). Every
    store in ``orders`` has a row, also when nothing of it is in the window.

    Examples
    --------
    >>> store_metrics(frame, window=Window(date(2026, 3, 1), date(2026, 3, 30)), rules=rules)
    """
    return store_metrics_lazy(orders, window=window, rules=rules).collect(engine=engine)


def _finite(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else number


def kpis_from_row(row: Mapping[str, object]) -> Kpis:
    """A :class:`Kpis` from one row of :func:`store_metrics` (as a dict)."""
    return Kpis(
        counted=int(row["counted"]),  # type: ignore[arg-type]
        mean_hours=_finite(row["mean_hours"]),
        median_hours=_finite(row["median_hours"]),
        p90_hours=_finite(row["p90_hours"]),
        over_60h_share=_finite(row["over_60h_share"]),
        excluded=MappingProxyType(
            {r: int(row[f"excluded_{r}"]) for r in EXCLUDED_REASONS}  # type: ignore[call-overload]
        ),
    )


def kpis_by_store(metrics: pl.DataFrame) -> dict[str, Kpis]:
    """``store_id → Kpis`` for every row of a :func:`store_metrics` frame."""
    return {row["store_id"]: kpis_from_row(row) for row in metrics.iter_rows(named=True)}


def kpis_for(
    orders: pl.LazyFrame | pl.DataFrame, *, store_id: str, window: Window, rules: Rules
) -> Kpis:
    """KPIs of one store (raises :class:`UnknownStoreError` when it is not in ``orders``)."""
    return kpis_from_row(_store_row(orders, store_id=store_id, window=window, rules=rules))


def stores_in(orders: pl.LazyFrame | pl.DataFrame) -> list[str]:
    """Sorted store ids present in ``orders``."""
    return (
        (orders.lazy().select(pl.col("store_id").drop_nulls().unique().sort()).collect())
        .to_series()
        .to_list()
    )


def unknown_store_error(store_id: str, *, stores: list[str]) -> UnknownStoreError:
    """The error for a store id that is not in the data, listing the stores found."""
    shown = ", ".join(stores[:50]) + (f" … (+{len(stores) - 50})" if len(stores) > 50 else "")
    msg = (
        f"数据中没有店铺 {store_id} (store {store_id!r} not found in the data); "
        f"找到的店铺 (stores found): {shown or '无 (none)'}"
    )
    return UnknownStoreError(msg)


def _store_row(
    orders: pl.LazyFrame | pl.DataFrame, *, store_id: str, window: Window, rules: Rules
) -> dict[str, object]:
    lf = orders.lazy()
    one = store_metrics(lf.filter(pl.col("store_id") == store_id), window=window, rules=rules)
    if one.height == 0:
        raise unknown_store_error(store_id, stores=stores_in(lf))
    return one.row(0, named=True)


def metrics_row_json(row: Mapping[str, object], *, window: Window) -> dict[str, object]:
    """The DOMAIN §7 object from one :func:`store_metrics` row."""
    counted = int(row["counted"])  # type: ignore[arg-type]
    scenes = row["scenes"] or []
    return {
        "store_id": row["store_id"],
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "counted": counted,
        "mean_hours": _finite(row["mean_hours"]),
        "median_hours": _finite(row["median_hours"]),
        "p90_hours": _finite(row["p90_hours"]),
        "over_60h_share": _finite(row["over_60h_share"]),
        "excluded": {r: int(row[f"excluded_{r}"]) for r in EXCLUDED_REASONS},  # type: ignore[call-overload]
        "stages": {s: _finite(row[f"stage_{s}"]) for s in STAGE_KEYS},
        "scenes": {
            s["scene"]: {"count": int(s["count"]), "mean_hours": float(s["mean_hours"])}
            for s in scenes  # type: ignore[union-attr]
        },
        "alerts": {r: int(row[f"alert_{r}"]) for r in RULE_NAMES},  # type: ignore[call-overload]
    }


def metrics_json(
    frame_or_orders: pl.LazyFrame | pl.DataFrame, *, store_id: str, window: Window, rules: Rules
) -> dict[str, object]:
    """Exactly the DOMAIN §7 object for one store (hour fields null when nothing is counted).

    Raises
    ------
    UnknownStoreError
        ``store_id`` is not in the data; the message lists the stores found.
    """
    row = _store_row(frame_or_orders, store_id=store_id, window=window, rules=rules)
    return metrics_row_json(row, window=window)


def open_summary(
    orders: pl.LazyFrame | pl.DataFrame, *, store_id: str, as_of: datetime, rules: Rules
) -> dict[str, object]:
    """Open orders of a store as of ``as_of``: how many and how many already break a rule."""
    lf = orders.lazy().filter(pl.col("store_id") == store_id)
    if "hours" not in lf.collect_schema().names():
        lf = derive_orders(lf, rules=rules)
    counts = (
        open_order_status(lf, as_of=as_of, rules=rules)
        .select(
            pl.len().cast(pl.Int64).alias("count"),
            pl.col("breached").sum().cast(pl.Int64).alias("breached"),
        )
        .collect()
        .row(0, named=True)
    )
    return {"as_of": as_of.isoformat(sep=" "), **counts}


_LABELS = {
    "holiday": "春节不考核 holiday",
    "apply_too_old": "申请超180天 apply_too_old",
    "cancelled_before_audit": "审核前取消 cancelled_before_audit",
    "missing_end": "缺结束时间 missing_end",
    "invalid": "时间无效 invalid",
    "audit": "审核 audit",
    "return_ship": "取件/寄回 return_ship",
    "transit": "逆向运输 transit",
    "inbound": "签收→入库 inbound",
    "process": "入库→处理 process",
    "intervention": "京东介入扣除 intervention",
}


def summary_text(result: Mapping[str, object]) -> str:
    """A readable bilingual summary of a §7 object (the ``aftersales metrics`` default output)."""
    from aftersales_kit import format as fmt

    lines = [
        f"店铺 (store) {result['store_id']}  窗口 (window) {result['start']} – {result['end']}",
        f"计入单量 (counted): {result['counted']}",
        f"平均时长 (mean): {fmt.hours(result['mean_hours'])}    "  # type: ignore[arg-type]
        f"中位数 (median): {fmt.hours(result['median_hours'])}    "  # type: ignore[arg-type]
        f"P90: {fmt.hours(result['p90_hours'])}",  # type: ignore[arg-type]
        f"超60小时占比 (share over 60 h): {fmt.pct(result['over_60h_share'])}",  # type: ignore[arg-type]
        "剔除 (excluded): " + ", ".join(f"{_LABELS[k]} {v}" for k, v in result["excluded"].items()),  # type: ignore[attr-defined]
        "阶段均值 (stage means):",
    ]
    for key, value in result["stages"].items():  # type: ignore[attr-defined]
        sign = "−" if key == "intervention" and value else ""
        lines.append(f"  {_LABELS[key]}: {sign}{fmt.hours(value)}")
    lines.append("场景 (scenes):")
    for scene, stats in result["scenes"].items():  # type: ignore[attr-defined]
        lines.append(f"  {scene}: {stats['count']} 单 (orders), {fmt.hours(stats['mean_hours'])}")
    lines.append("预警单 (alerts):")
    for rule, count in result["alerts"].items():  # type: ignore[attr-defined]
        lines.append(f"  {rule}: {count}")
    if "open" in result:
        open_ = result["open"]
        lines.append(
            f"未完结单 (open orders, as of {open_['as_of']}): {open_['count']}, "  # type: ignore[index]
            f"已超时 (already breaching a rule): {open_['breached']}"  # type: ignore[index]
        )
    return "\n".join(lines)


def command_metrics(args: argparse.Namespace) -> int:
    """``aftersales metrics DATA... --store ID [--start D] [--end D] [--rules F] [--as-of T]``.

    Prints the DOMAIN §7 object (plus ``open``: open orders as of ``--as-of``) or a summary.
    """
    from aftersales_kit.config import load_config
    from aftersales_kit.load import load

    rules = load_rules(args.rules)
    as_of = parse_as_of(args.as_of)
    window = parse_window(args.start, end=args.end, rules=rules, as_of=as_of)
    loaded = load(
        args.data,
        config=load_config(getattr(args, "config", None)),
        skip_bad_rows=bool(getattr(args, "skip_bad_rows", False)),
    )
    frame = loaded.frame
    if args.store not in loaded.report.stores:
        raise unknown_store_error(args.store, stores=sorted(loaded.report.stores))
    result = metrics_json(frame, store_id=args.store, window=window, rules=rules)
    result["open"] = open_summary(frame, store_id=args.store, as_of=as_of, rules=rules)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(summary_text(result))
    return 0
