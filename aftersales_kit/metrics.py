"""DOMAIN §7 metrics of every store in one lazy query, the §7 JSON object, ``aftersales metrics``.

``store_metrics`` is the single source of the headline figures: the JSON command, the report KPIs
and the benchmark all read its rows, so the numbers cannot drift apart.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal, NotRequired, TypedDict

import polars as pl

from aftersales_kit.errors import UnknownStoreError
from aftersales_kit.orders import (
    PRESENCE_COLUMNS,
    DataTraits,
    assumed_traits,
    completed_traits,
    data_traits,
    derive_orders,
    jd_whole_aggregation,
    open_order_status,
    presence_aggregations,
    window_sample,
)
from aftersales_kit.rules import EXCLUDED_REASONS, RULE_NAMES, STAGES, Rules
from aftersales_kit.window import Window

#: Stage keys of the §7 ``stages`` object (intervention is the mean hours subtracted).
STAGE_KEYS: tuple[str, ...] = (*STAGES, "intervention")
_SCENE_STRUCT = pl.List(
    pl.Struct({"scene": pl.String(), "count": pl.Int64(), "mean_hours": pl.Float64()})
)


#: One named row of a :func:`store_metrics` frame: its values are typed by the frame's schema,
#: which the static checker cannot see (polars' ``row(named=True)`` is ``dict[str, Any]``).
MetricsRow = Mapping[str, Any]


class SceneJson(TypedDict):
    """One scene of the §7 ``scenes`` object."""

    count: int
    mean_hours: float


class JdCheckJson(TypedDict):
    """The §7 ``jd_check`` object: JD's own per-order hours against ours."""

    compared: int
    matched: int
    mean_jd_hours: float | None
    max_abs_diff_hours: float | None
    #: ``aftersales metrics`` adds the readings check (views.readings_json): per scene, which
    #: alternative clock end explains JD's hours, and 维修's JD − ours distribution.
    readings: NotRequired[list[dict[str, object]]]
    repair: NotRequired[dict[str, object]]


class OpenJson(TypedDict):
    """Open orders of a store as of a time (``aftersales metrics`` adds it as ``open``)."""

    as_of: str
    count: int
    breached: int


class MetricsJson(TypedDict):
    """The DOMAIN §7 object of one store and window."""

    store_id: str
    start: str
    end: str
    counted: int
    mean_hours: float | None
    median_hours: float | None
    p90_hours: float | None
    over_60h_share: float | None
    excluded: dict[str, int]
    stages: dict[str, float | None]
    scenes: dict[str, SceneJson]
    alerts: dict[str, int | None]
    jd_check: JdCheckJson
    open: NotRequired[OpenJson]
    #: the command adds the report time and the store's data_as_of (DOMAIN §7)
    as_of: NotRequired[str]
    data_as_of: NotRequired[str | None]


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
    orders: pl.LazyFrame | pl.DataFrame,
    *,
    window: Window,
    rules: Rules,
    traits: DataTraits | None = None,
) -> pl.LazyFrame:
    """In-window rows with the per-order figures and the sample columns.

    Accepts raw canonical orders or :func:`derive_orders` output. Filtering on the possible
    completion times first means the per-order derivation runs only on rows that can be in the
    window (about a sixth of a 180-day export), which is most of the speed of
    :func:`store_metrics`. ``traits`` default to those of ``orders`` (one extra scan).
    """
    lf = orders.lazy()
    if "hours" in lf.collect_schema().names():
        return window_sample(_may_complete_in(lf, window), window=window, rules=rules)
    if traits is None:
        traits = data_traits(lf)
    derived = derive_orders(_may_complete_in(lf, window), rules=rules, traits=traits)
    return window_sample(derived, window=window, rules=rules)


def _may_complete_in(lf: pl.LazyFrame, window: Window) -> pl.LazyFrame:
    """Rows whose 暂完结 can fall in ``window``: the source's 暂完结时间, or else either possible
    clock end (first audit or first processing, DOMAIN §3) — a superset ``window_sample`` trims."""
    return lf.filter(_may_complete_expr(window))


def _may_complete_expr(window: Window) -> pl.Expr:
    def inside(col: str) -> pl.Expr:
        c = pl.col(col)
        return ((c >= window.start_at) & (c < window.end_before)).fill_null(False)

    complete = pl.col("complete_time")
    derived = complete.is_null() & (inside("first_audit_time") | inside("first_process_time"))
    return inside("complete_time") | derived


def samples_in_windows(
    orders: pl.LazyFrame,
    *,
    windows: Sequence[Window],
    rules: Rules,
    traits: DataTraits,
    extra: Sequence[pl.Expr] = (),
) -> list[pl.LazyFrame]:
    """``sample_in_window`` of each window (same rows, order and columns, plus the ``extra``
    per-order columns), with one derivation of the orders that can complete in any of them
    (collected once: overlapping windows, e.g. today and tomorrow, share most rows)."""
    start = min(w.start for w in windows)
    end = max(w.end for w in windows)
    rows = _may_complete_in(orders.lazy(), Window(start=start, end=end))
    # Which rows each window's pre-filter keeps, decided on the source's 暂完结时间 (derive_orders
    # fills complete_time and keeps only its own columns, so the flags are joined back by position).
    flags = [f"_may_complete_{i}" for i in range(len(windows))]
    kept = rows.select(
        _may_complete_expr(w).alias(f) for w, f in zip(windows, flags, strict=True)
    ).collect()
    derived = (
        derive_orders(rows, rules=rules, traits=traits).with_columns(extra).collect().hstack(kept)
    )
    return [
        window_sample(derived.lazy().filter(f).drop(flags), window=w, rules=rules)
        for w, f in zip(windows, flags, strict=True)
    ]


def _kpi_aggregations(rules: Rules) -> list[pl.Expr]:
    """The :class:`Kpis` figures of a window sample, grouped by store_id."""
    counted = pl.col("counted")
    hours = pl.col("hours").filter(counted)
    return [
        counted.sum().cast(pl.Int64).alias("counted"),
        hours.mean().alias("mean_hours"),
        hours.median().alias("median_hours"),
        hours.quantile(0.9, interpolation="linear").alias("p90_hours"),
        (hours > rules.warning_hours).mean().alias("over_60h_share"),
        *(
            (pl.col("excluded_reason") == reason).sum().cast(pl.Int64).alias(f"excluded_{reason}")
            for reason in EXCLUDED_REASONS
        ),
    ]


#: The columns of a window sample the :class:`Kpis` read.
KPI_SAMPLE_COLUMNS: tuple[str, ...] = ("store_id", "counted", "hours", "excluded_reason")


def kpi_sample(orders: pl.LazyFrame, *, window: Window, rules: Rules) -> pl.LazyFrame:
    """The :data:`KPI_SAMPLE_COLUMNS` of ``orders``' sample in ``window``, from any part of the
    rows: a row's hours and sample do not depend on the data traits (they null alerts and set
    the JD match only), so the rows of a part get the values they get among every row."""
    # Every rule assumed available: the alerts are pruned from the plan anyway.
    traits = assumed_traits(jd_whole_hours=False)
    return sample_in_window(orders, window=window, rules=rules, traits=traits).select(
        KPI_SAMPLE_COLUMNS
    )


def kpis_of_sample(sample: pl.LazyFrame, *, stores: pl.LazyFrame, rules: Rules) -> pl.LazyFrame:
    """Only the :class:`Kpis` columns of :func:`store_metrics`, one row per store of ``stores``,
    from a window sample (at least :data:`KPI_SAMPLE_COLUMNS`, e.g. :func:`kpi_sample`)."""
    zero_filled = ["counted", *(f"excluded_{r}" for r in EXCLUDED_REASONS)]
    return (
        stores.join(
            sample.group_by("store_id").agg(_kpi_aggregations(rules)), on="store_id", how="left"
        )
        .with_columns(pl.col(zero_filled).fill_null(0))
        .sort("store_id")
    )


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
    jd = pl.col("jd_hours").filter(counted & pl.col("jd_hours").is_not_null())
    aggs += [
        jd.len().cast(pl.Int64).alias("jd_compared"),
        (pl.col("jd_matched") & counted).sum().cast(pl.Int64).alias("jd_matched"),
        jd.mean().alias("jd_mean_hours"),
        pl.col("jd_diff_hours").filter(counted).abs().max().alias("jd_max_abs_diff_hours"),
    ]
    return aggs


#: The §7 ``jd_check`` object's keys -> store_metrics columns.
JD_CHECK_COLUMNS: dict[str, str] = {
    "compared": "jd_compared",
    "matched": "jd_matched",
    "mean_jd_hours": "jd_mean_hours",
    "max_abs_diff_hours": "jd_max_abs_diff_hours",
}


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
        *JD_CHECK_COLUMNS.values(),
        "scenes",
    ]


def store_metrics_lazy(
    orders: pl.LazyFrame | pl.DataFrame,
    *,
    window: Window,
    rules: Rules,
    traits: DataTraits | None = None,
) -> pl.LazyFrame:
    """The plan behind :func:`store_metrics`, to combine with other plans in one ``collect_all``.

    ``traits`` (default: those of ``orders``, one eager scan) decide which alert rules are
    unavailable: their columns are null for every store (DOMAIN §5, §7).
    """
    lf = orders.lazy()
    if traits is None:
        traits = data_traits(lf)
    stores = lf.select("store_id").unique()
    sample = sample_in_window(lf, window=window, rules=rules, traits=traits)
    return metrics_from_sample(stores, sample, rules=rules, traits=traits)


def metrics_from_sample(
    stores: pl.LazyFrame, sample: pl.LazyFrame, *, rules: Rules, traits: DataTraits
) -> pl.LazyFrame:
    """:func:`store_metrics_lazy` from a window sample already derived (``sample_in_window``'s
    output, possibly collected once and shared with other plans) and the frame of store ids."""
    main, scenes = _sample_aggregates(sample, rules=rules)
    return _store_rows(stores, main, scenes, traits=traits)


def _sample_aggregates(
    sample: pl.LazyFrame, *, rules: Rules, extra: Sequence[pl.Expr] = ()
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(per-store figures plus ``extra`` aggregations, per-store scene list) of a sample."""
    main = sample.group_by("store_id").agg(*_aggregations(rules), *extra)
    scenes = (
        sample.filter(pl.col("counted"))
        .group_by("store_id", "scene")
        .agg(pl.len().cast(pl.Int64).alias("count"), pl.col("hours").mean().alias("mean_hours"))
        .sort("store_id", "count", "scene", descending=[False, True, False])
        .group_by("store_id", maintain_order=True)
        .agg(pl.struct("scene", "count", "mean_hours").alias("scenes"))
    )
    return main, scenes


def _store_rows(
    stores: pl.LazyFrame, main: pl.LazyFrame, scenes: pl.LazyFrame, *, traits: DataTraits
) -> pl.LazyFrame:
    """One row per store of ``stores``: zero counts where nothing is in the window, and an
    alert rule null (never 0) for a store whose rows lack its inputs (DOMAIN §5, §7)."""
    alerts = [f"alert_{r}" for r in RULE_NAMES]
    zero_filled = [
        "counted",
        *(f"excluded_{r}" for r in EXCLUDED_REASONS),
        "jd_compared",
        "jd_matched",
    ]
    return (
        stores.join(main, on="store_id", how="left")
        .join(scenes, on="store_id", how="left")
        .with_columns(
            pl.col(zero_filled).fill_null(0),
            *(
                pl.when(traits.rule_available(r))
                .then(pl.col(f"alert_{r}").fill_null(0))
                .otherwise(None)
                .alias(f"alert_{r}")
                for r in RULE_NAMES
            ),
            pl.col("scenes").fill_null(pl.lit([], dtype=_SCENE_STRUCT)),
        )
        .with_columns(pl.col(alerts).cast(pl.Int64))
        .select(metrics_columns())
        .sort("store_id")
    )


def _store_metrics_raw(
    lf: pl.LazyFrame,
    *,
    window: Window,
    rules: Rules,
    engine: Literal["auto", "in-memory", "streaming"],
) -> pl.DataFrame:
    """:func:`store_metrics` of canonical orders, with the data traits mostly taken from the
    window's own rows instead of a scan of every column of every row first.

    Every store and the 售后整体时长 check come from one scan of two columns. The orders are
    derived as if every rule were available, and the window's rows tell which presence columns
    each store has; only the pairs not seen there are looked up over every row
    (:func:`completed_traits`). The alerts of a store lacking a rule's inputs are then nulled as
    in :func:`store_metrics_lazy`, so the figures are the same (tested against it).
    """
    per_store = lf.group_by("store_id").agg(jd_whole_aggregation()).collect(engine=engine)
    assumed = assumed_traits(jd_whole_hours=bool(per_store["_jd"].all()))
    sample = sample_in_window(lf, window=window, rules=rules, traits=assumed)
    main, scenes = _sample_aggregates(
        sample, rules=rules, extra=[e.name.prefix("_seen_") for e in presence_aggregations()]
    )
    main_df, scenes_df = pl.collect_all([main, scenes], engine=engine)
    seen = per_store.join(
        main_df.select("store_id", pl.col("^_seen_.*$")), on="store_id", how="left"
    )
    seen = seen.select(
        "store_id",
        "_jd",
        *(pl.col(f"_seen_{c}").fill_null(False).alias(c) for c in PRESENCE_COLUMNS),
    )
    traits = completed_traits(lf, seen=seen)
    return _store_rows(
        per_store.lazy().select("store_id"),
        main_df.lazy().select(pl.exclude("^_seen_.*$")),
        scenes_df.lazy(),
        traits=traits,
    ).collect()


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
        Canonical orders or :func:`aftersales_kit.orders.derive_orders` output, any stores.
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
    lf = orders.lazy()
    if "hours" in lf.collect_schema().names():
        return store_metrics_lazy(lf, window=window, rules=rules).collect(engine=engine)
    return _store_metrics_raw(lf, window=window, rules=rules, engine=engine)


def _finite(value: float | None) -> float | None:
    """A float column's value, None for null and NaN."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def peer_median(
    ordered: Sequence[float], own: float | None, *, min_peers: int
) -> tuple[float | None, int]:
    """(median, count) of the other stores' means: ``ordered`` is every store's mean sorted
    ascending, ``own`` this store's (``None``: not among them). No median below ``min_peers``.

    The store's own mean is left out by position, without a copy: at 10,000 stores, listing and
    sorting the others for every store was 10⁸ steps."""
    cut = len(ordered) if own is None else bisect.bisect_left(ordered, own)
    count = len(ordered) - (own is not None)
    if count < min_peers:
        return None, count

    def at(i: int) -> float:
        return ordered[i] if i < cut else ordered[i + 1]

    mid = count // 2
    median = at(mid) if count % 2 else (at(mid - 1) + at(mid)) / 2.0
    return float(median), count


def kpis_from_row(row: MetricsRow) -> Kpis:
    """A :class:`Kpis` from one row of :func:`store_metrics` (as a dict)."""
    return Kpis(
        counted=int(row["counted"]),
        mean_hours=_finite(row["mean_hours"]),
        median_hours=_finite(row["median_hours"]),
        p90_hours=_finite(row["p90_hours"]),
        over_60h_share=_finite(row["over_60h_share"]),
        excluded=MappingProxyType({r: int(row[f"excluded_{r}"]) for r in EXCLUDED_REASONS}),
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
) -> MetricsRow:
    lf = orders.lazy()
    # Traits of every store loaded: a rule is available when any store has its inputs.
    one = store_metrics_lazy(
        lf.filter(pl.col("store_id") == store_id),
        window=window,
        rules=rules,
        traits=data_traits(lf),
    ).collect()
    if one.height == 0:
        raise unknown_store_error(store_id, stores=stores_in(lf))
    return one.row(0, named=True)


def metrics_row_json(row: MetricsRow, *, window: Window) -> MetricsJson:
    """The DOMAIN §7 object from one :func:`store_metrics` row."""
    jd = JD_CHECK_COLUMNS
    return {
        "store_id": row["store_id"],
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "counted": int(row["counted"]),
        "mean_hours": _finite(row["mean_hours"]),
        "median_hours": _finite(row["median_hours"]),
        "p90_hours": _finite(row["p90_hours"]),
        "over_60h_share": _finite(row["over_60h_share"]),
        "excluded": {r: int(row[f"excluded_{r}"]) for r in EXCLUDED_REASONS},
        "stages": {s: _finite(row[f"stage_{s}"]) for s in STAGE_KEYS},
        "scenes": {
            s["scene"]: {"count": int(s["count"]), "mean_hours": float(s["mean_hours"])}
            for s in row["scenes"] or []
        },
        "alerts": {r: _count(row[f"alert_{r}"]) for r in RULE_NAMES},
        "jd_check": {
            "compared": _count(row[jd["compared"]]) or 0,
            "matched": _count(row[jd["matched"]]) or 0,
            "mean_jd_hours": _finite(row[jd["mean_jd_hours"]]),
            "max_abs_diff_hours": _finite(row[jd["max_abs_diff_hours"]]),
        },
    }


def _count(value: int | None) -> int | None:
    """A count, or None for an unavailable rule."""
    return None if value is None else int(value)


def metrics_json(
    frame_or_orders: pl.LazyFrame | pl.DataFrame, *, store_id: str, window: Window, rules: Rules
) -> MetricsJson:
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
) -> OpenJson:
    """Open orders of a store as of ``as_of``: how many and how many already break a rule.

    As the report: an order applied after ``as_of`` did not exist then, so it is not open.
    """
    lf = orders.lazy().filter((pl.col("store_id") == store_id) & (pl.col("apply_time") <= as_of))
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
    return {
        "as_of": as_of.isoformat(sep=" "),
        "count": counts["count"],
        "breached": counts["breached"],
    }
