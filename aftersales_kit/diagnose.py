"""Everything a store report and its email show, computed for many stores in one lazy pass.

The report, notebook and email render from a :class:`Diagnosis` without computing anything.
All per-order rules (scene, clock end, stage hours, exclusions, alert flags, open-order status)
come from :mod:`aftersales_kit.orders` and the KPIs from :mod:`aftersales_kit.metrics`; this
module only aggregates them. Personal columns are masked here
(:func:`aftersales_kit.format.mask_personal`), so raw personal data never leaves this module.

Choices where DOMAIN §6 is silent (also in the methodology section of the report):

- **Excess (超目标时长) and the short board (短板).** An order's excess is
  ``hours − target_hours`` when positive. It is attributed to that order's stages *in proportion
  to their stage hours* (``stage / gross_hours``; intervention time reduces every stage alike),
  so the stage parts of an order add up to its excess exactly. The short board is the
  scene × stage cell with the most *controllable* excess hours (DOMAIN §4, §6).
- **Controllable (商家可控, DOMAIN §4).** audit, inbound and process; return_ship only for the
  pickup family (the merchant's audit books the pickup; a customer's own shipping is not); not
  transit, return_transit (寄回及运输: customer and carrier, not separable in an export) or
  intervention. In ``stage_means`` return_ship is marked controllable; the exact controllable
  part is in ``excess.controllable_excess_hours`` and ``ShortBoard.controllable_excess_hours``.
  An ``excess`` row is marked controllable when at least half of its excess hours are.
- **TOP100** = the longest counted orders of the current window (风向标 "历史服务单预警":
  orders already counted), ties broken by service_id.
- **Open orders** (``open_at_risk``) = every open order applied by ``as_of``, placed by DOMAIN
  §5's table (:func:`aftersales_kit.orders.open_order_status`: stage, team, rule,
  ``hours_to_breach`` < 0 past the line, ``due_at``, ``over_60h``, ``will_count``) plus
  ``dispute_risk``. ``projected_mean_delta`` = the change of the current window's mean if an
  order that can count were closed now at its elapsed hours:
  ``(elapsed_hours − mean_hours) / (counted + 1)``.
- **Heatmap** = applications whose apply date lies in the window (the workload, open ones
  included), by weekday (1 = Monday) × hour of apply_time; ``median_audit_hours`` is the median
  of first_audit_time − apply_time over the audited ones. ``peak_hours`` = the (up to) three
  hours of the day with the most applications, busiest first.
- **trend_daily.over_60h** is the share of that day's counted orders over the warning line
  (days without counted orders have ``counted = 0`` and null figures); weeks start on Monday.
- **Breakdowns** keep a null key (column empty for those orders), so counts add up to
  ``counted``; sorted by count, except ``auditor`` (slowest mean audit first) and ``carrier``
  (slowest mean transit first).
- **What-if.** ``stage_meets_target``: each order's hours with that controllable stage capped
  at its stage target; ``all_stages_meet_target``: every controllable stage capped;
  ``without_longest``: the mean without the n longest counted orders for n in 10, 50, 100, each
  lowered to ``counted − 1`` when there are fewer orders (repeated n dropped).
- **Consumer warning (three states).** The duration figure is the published 风向标 hours when
  given (``published_hours``: JD judges on its own figure), else our mean (labelled
  按本工具计算; triggered then reads 预计已触发). ``triggered``: that figure is over the line,
  the star ≤ ``warning_star`` and both star rank rates ≤ ``warning_rank``; ``cannot_judge``:
  the figure is over the line but a star or rank rate was not given (and none given fails);
  ``not_triggered`` otherwise. Never "high" on the duration alone.
- **Open orders** are split (:meth:`Diagnosis.open_split`): past a warning line (act now), due
  within ``open_horizon_hours``, due later, without a line, and never counting; past the 60 h
  line is a long order pulling the mean up, not a deadline. **Team lists**: every open order on
  its team's list (cs, logistics, warehouse), the same rows and order as ``aftersales actions``.
- **Tomorrow** (明天): the window shifted by one day with the data as of now; each leaving or
  entering order's effect is ±(hours − today's mean) / tomorrow's count, so the effects add up to
  the change exactly.
- **Service-order classes** (无理由退换, 质量问题退换, 普通瑕疵退换, 拒收件, other) by keywords
  in the reasons, type and status (:data:`ORDER_CLASSES`), the toolkit's reading of the article.
- **闪电退款 what-if** (an upper bound; JD decides eligibility per order): every counted 退货
  whose return method is of the pickup family (:data:`rules.FAMILY_METHODS`) and has a pickup
  time stops its clock at pickup (``min(hours, pickup_time − apply_time)``). Kept only when
  more than half of the data's own 闪退 rows with both times show the first processing within
  1 h of the pickup (:class:`FlashRefundCheck`); otherwise the report says why it is left out.
- **Findings** carry typed values only (text.py words them); one check per kind in
  :mod:`aftersales_kit.findings`, which also holds their trigger limits (the toolkit's
  constants, not a rules-file setting).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Literal, cast
from zoneinfo import ZoneInfo

import polars as pl

from aftersales_kit import views as manager_views
from aftersales_kit.errors import UsageError
from aftersales_kit.findings import LIMITS, FindingContext, find
from aftersales_kit.format import mask_personal
from aftersales_kit.metrics import (
    Kpis,
    kpi_sample,
    kpis_by_store,
    kpis_of_sample,
    metrics_from_sample,
    peer_median,
    samples_in_windows,
    unknown_store_error,
)
from aftersales_kit.model import (
    MIN_STAFFING_APPLICATIONS,
    DataQuality,
    Diagnosis,
    Finding,
    FlashRefundCheck,
    JdCheck,
    Reconciliation,
    ShortBoard,
    Staffing,
    Tomorrow,
    WarningRisk,
    WarningState,
)
from aftersales_kit.orders import (
    OPEN_COLUMNS,
    ORDER_CLASS_COLUMN,
    ORDER_CLASS_KEYS,
    PRESENCE_COLUMNS,
    RULE_INPUTS,
    TEAMS,
    DataTraits,
    derive_orders,
    hours_between,
    open_order_status,
    order_class,
    traits_aggregations,
    traits_combined,
    traits_from_store_rows,
    window_sample,
)
from aftersales_kit.rules import EXCLUDED_REASONS, STAGES, Family, Rules, SceneName
from aftersales_kit.schema import DATETIME, DATETIME_COLUMNS, latest_timestamp
from aftersales_kit.window import Window, uncovered_spring_festivals

if TYPE_CHECKING:
    from aftersales_kit.load import LoadReport

#: Overall controllability of each stage (DOMAIN §4); return_ship: see the module docstring.
CONTROLLABLE: dict[str, bool] = {
    "audit": True,
    "return_ship": True,
    "return_transit": False,
    "transit": False,
    "inbound": True,
    "process": True,
    "intervention": False,
}
#: Stages a what-if caps at their line: the controllable ones (DOMAIN §4, §6).
LEVER_STAGES: tuple[str, ...] = tuple(s for s in STAGES if CONTROLLABLE[s])
#: breakdown key -> source column; the first three always appear, the rest when the column has data.
BREAKDOWNS: dict[str, str] = {
    "scene": "scene",
    "service_type": "service_type",
    "reason": "reason",
    "category": "category",
    "sku": "sku_name",
    "auditor": "auditor",
    "carrier": "carrier",
}
ALWAYS_BREAKDOWNS = ("scene", "service_type", "reason")
#: breakdown key -> the stage column it is sorted by (slowest first); others sort by count.
BREAKDOWN_SORT_STAGE = {"auditor": "audit", "carrier": "transit"}
WITHOUT_LONGEST: tuple[int, ...] = (10, 50, 100)
#: The 闪电退款 what-if's scene: returns for a refund (换货 and 维修 are not refunds).
FLASH_WHAT_IF_SCENE = SceneName.RETURN.value
#: The data's own 闪退 rows must show the first processing within this many hours of the pickup
#: for the what-if to be kept (its premise: 闪电退款 stops the clock at pickup).
FLASH_PICKUP_TOLERANCE_HOURS = 1.0
#: Checkpoints of the stage chain (DOMAIN §4) and the tracking update; the report says which the
#: data had, because a missing one folds its stage into the next (e.g. no sign time: 逆向物流 and
#: 签收→验收入库 are one span).
CHECKPOINTS: dict[str, tuple[str, ...]] = {
    "first_audit_time": ("first_audit_time",),
    "return_start": ("pickup_time", "customer_ship_time"),
    "logistics_update_time": ("logistics_update_time",),
    "sign_time": ("sign_time",),
    "inbound_time": ("inbound_time",),
    "first_process_time": ("first_process_time",),
}
#: Orders that move tomorrow's figure most, shown in the 明天 section.
TOMORROW_MOVERS = 5
#: JD reconciliation: mismatching orders kept per store (the largest differences).
JD_MISMATCH_ROWS = 200
TOP_N = 100
PEAK_HOURS = 3
#: Hours of the day the staffing advice names: the slowest and the fastest (up to this many).
STAFFING_HOURS = 2
#: Applications from this hour until the morning shift starts (NIGHT_END) are "night".
NIGHT_START, NIGHT_END = 19, 8
MIN_PEERS = 3


_HOUR_US = 3_600_000_000.0


# --- expressions ---------------------------------------------------------------------------------


def _stage(name: str) -> pl.Expr:
    """A stage's hours; an absent stage counts as 0 (DOMAIN §7)."""
    return pl.col(f"stage_{name}").fill_null(0.0)


def _hours_between(end: str, start: str) -> pl.Expr:
    return (pl.col(end) - pl.col(start)).dt.total_microseconds() / _HOUR_US


def _merchant_pickup() -> pl.Expr:
    """Orders whose return pickup the merchant books (the pickup family, DOMAIN §4), so their
    return_ship is controllable; a customer's own shipping is not."""
    return (pl.col("family") == Family.PICKUP.value).fill_null(False)


def _excess_columns(target: float) -> list[pl.Expr]:
    """Per-order excess over target, split over stages in proportion to their hours."""
    excess = (pl.col("hours") - target).clip(lower_bound=0.0)
    gross = pl.col("gross_hours")
    ratio = pl.when(gross > 0).then(excess / gross).otherwise(0.0)
    cols = [excess.alias("excess")]
    for s in STAGES:
        part = _stage(s) * ratio
        cols.append(part.alias(f"excess_{s}"))
        if s == "return_ship":
            ctrl = pl.when(_merchant_pickup()).then(part).otherwise(0.0)
        else:
            ctrl = part if CONTROLLABLE[s] else pl.lit(0.0)
        cols.append(ctrl.alias(f"ctrl_{s}"))
    return cols


def _hour_stats(over: float) -> list[pl.Expr]:
    h = pl.col("hours")
    return [
        pl.len().alias("count"),
        h.mean().alias("mean_hours"),
        h.median().alias("median_hours"),
        h.quantile(0.9, interpolation="linear").alias("p90_hours"),
        (h > over).mean().alias("over_60h_share"),
        pl.col("excess").sum().alias("excess_hours"),
        *[_stage(s).mean().alias(s) for s in STAGES],
    ]


# --- public API ----------------------------------------------------------------------------------


def diagnose(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    window: Window,
    rules: Rules,
    as_of: datetime,
    target_hours: float | None = None,
    observed: Mapping[str, float] | Mapping[str, Mapping[str, float]] | None = None,
    stores: Iterable[str] | None = None,
    load_report: LoadReport | None = None,
    published_hours: float | Mapping[str, float] | None = None,
    orders: bool = False,
) -> dict[str, Diagnosis]:
    """Diagnose the selected stores (default all) of a canonical frame for one window: store_id →
    its :class:`Diagnosis`, in store-id order. Parameters as :func:`diagnose_iter`, which yields
    the same diagnoses one store at a time.

    Examples
    --------
    >>> result = diagnose(frame, window=default_window(rules=rules), rules=rules,
    ...                   as_of=datetime(2026, 3, 31, 9))  # doctest: +SKIP
    >>> result["1000101"].kpis.mean_hours  # doctest: +SKIP
    41.7
    """
    return dict(
        diagnose_iter(
            frame,
            window=window,
            rules=rules,
            as_of=as_of,
            target_hours=target_hours,
            observed=observed,
            stores=stores,
            load_report=load_report,
            published_hours=published_hours,
            orders=orders,
        )
    )


def diagnose_iter(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    window: Window,
    rules: Rules,
    as_of: datetime,
    target_hours: float | None = None,
    observed: Mapping[str, float] | Mapping[str, Mapping[str, float]] | None = None,
    stores: Iterable[str] | None = None,
    load_report: LoadReport | None = None,
    published_hours: float | Mapping[str, float] | None = None,
    orders: bool = False,
) -> Iterator[tuple[str, Diagnosis]]:
    """:func:`diagnose`, one store at a time: ``(store_id, Diagnosis)`` in store-id order, each
    as soon as it is assembled (the estate-wide pass runs at the first ``next``). The batch
    renders the first stores while the rest are assembled; the result is the same.

    Diagnose the selected stores (default all) of a canonical frame for one window.

    Parameters
    ----------
    frame
        Canonical service orders (``load(...).frame``), any number of stores.
    window
        The 30-day window (口径); the previous window of the same length is compared.
    rules
        Thresholds, holidays, scenes, window lengths and targets (:func:`settings.load_rules`).
    as_of
        Report time: open orders are judged as of this moment.
    target_hours
        Target for the excess/short board; default ``rules.target_hours``.
    observed
        Optional store observations ``{"star": 3.4, "aftersales_rank": 0.15, "dispute_rank":
        0.18}`` (rank rates as fractions) for the full consumer-warning condition; one mapping for
        every selected store, or a mapping store_id → such a mapping.
    stores
        Store ids to diagnose; an id not in the data raises :class:`UnknownStoreError`.
    load_report
        The loader's ``LoadReport``, for duplicate/bad-row counts in ``data_quality``.
    published_hours
        The figure 风向标 shows today (``--published-hours``), for the reconciliation and for the
        consumer warning's duration condition (JD judges on its own figure): one value for every
        selected store, or a mapping store_id → value.
    orders
        Keep the per-order frame (:attr:`Diagnosis.orders`, one row per order of the store). Off
        for the reports (they show aggregates only), on in :func:`aftersales_kit.analyze`.

    Yields
    ------
    tuple[str, Diagnosis]
        store_id and its diagnosis, in store-id order.
    """
    target = float(rules.target_hours if target_hours is None else target_hours)
    # The 60 h line is JD's consumer-warning line, not a target (DOMAIN §6): a target is the
    # user's own goal, shown as 目标 only when set (an argument, or a rules file that moves it).
    target_given = target_hours is not None or target != float(rules.warning_hours)
    lf_all = frame.lazy()
    # One pass over every row: the per-store facts (the store list, rule availability and the
    # JD rounding: facts of the whole data set, every store loaded, passed to every derivation
    # of a part of it; the store names and data dates), and the rows the plans use.
    per_store, name_counts, rows_all, previous_sample = _read_once(
        lf_all, window=window, as_of=as_of, rules=rules
    )
    per_store = _with_data_as_of(per_store, lf_all)
    selected = _selected(per_store["store_id"].drop_nulls().sort().to_list(), stores)
    if not selected:
        return

    previous = window.previous()
    lf = lf_all.filter(pl.col("store_id").is_in(selected)) if stores is not None else lf_all
    traits = traits_from_store_rows(per_store)
    store_info = (
        per_store.lazy()
        .join(_store_names(name_counts.lazy()), on="store_id", how="left")
        .select("store_id", "store_name", "data_until", "data_as_of", "earliest_apply")
    )
    if stores is not None:
        store_info = store_info.filter(pl.col("store_id").is_in(selected))
    _, applied, open_or_waiting = _rows_used(window=window, as_of=as_of)
    sample_all, sample_next = samples_in_windows(
        rows_all.lazy(),
        windows=[window, _tomorrow_window(window)],
        rules=rules,
        traits=traits,
        # The derived row (_ROW) identifies an order in both windows' samples (one derivation).
        extra=[order_class().alias(ORDER_CLASS_COLUMN), pl.int_range(pl.len()).alias(_ROW)],
    )
    # Only what the other plans read is kept in memory next to the derived orders.
    rows = rows_all.lazy().filter(open_or_waiting).collect().lazy()
    heat = rows_all.lazy().filter(applied).select(HEATMAP_COLUMNS).collect().lazy()
    del rows_all
    sample = sample_all
    if stores is not None:
        rows, heat, sample, sample_next = (
            f.filter(pl.col("store_id").is_in(selected)) for f in (rows, heat, sample, sample_next)
        )
    # What the plans read of the derived orders is collected first, so that those (every column,
    # ~0.9 GB at 10 M orders) leave memory before the ~40 plans run: the counted orders (left
    # lazy, each plan on them filtered the window's orders again), the window's KPIs of every
    # store (peers need the others' means; from metrics, the one source of them) and quality
    # counts, and tomorrow's counted orders.
    counted, kpis_frame, quality, counted_next = pl.collect_all(
        [
            sample.filter(pl.col("counted")).with_columns(_excess_columns(target)),
            metrics_from_sample(
                per_store.lazy().select("store_id"), sample_all, rules=rules, traits=traits
            ),
            _quality_plan(sample),
            sample_next.filter(pl.col("counted")).select(*_TOMORROW_COLUMNS, _ROW),
        ]
    )
    del sample, sample_all, sample_next
    kpi_now = _kpis(kpis_frame)
    plans = _plans(
        store_info,
        rows,
        heat,
        counted.lazy(),
        counted_next.lazy(),
        window=window,
        rules=rules,
        as_of=as_of,
        traits=traits,
    )
    plans["quality"] = quality.lazy()
    if orders:
        plans["orders"] = _orders_plan(lf, window=window, rules=rules, as_of=as_of, traits=traits)
    plans["prev_kpis"] = kpis_of_sample(
        previous_sample.lazy(), stores=per_store.lazy().select("store_id"), rules=rules
    )
    names = list(plans)
    collected = dict(zip(names, pl.collect_all([plans[n] for n in names]), strict=True))
    kpi_prev = _kpis(collected.pop("prev_kpis"))
    jd_whole = traits.jd_whole_hours
    for key in BREAKDOWNS:
        # Shaped and sorted once for every store (the split keeps each store's row order).
        collected[f"breakdown:{key}"] = _shape_breakdown(collected[f"breakdown:{key}"], key=key)
    parts = {n: _split(df) for n, df in collected.items()}
    empties = {n: df.clear().drop("store_id") for n, df in collected.items()}

    def part(name: str, sid: str) -> pl.DataFrame:
        return parts[name].get(sid, empties[name])

    peers_of = _peer_medians(kpi_now)
    for sid in selected:
        kpis = kpi_now.get(sid) or _empty_kpis()
        peer_median, peer_count = peers_of(sid)
        diagnosis = _assemble(
            sid,
            info=part("stores", sid),
            part=partial(part, sid=sid),
            window=window,
            previous=previous,
            as_of=as_of,
            rules=rules,
            target=target,
            target_given=target_given,
            kpis=kpis,
            prev_kpis=kpi_prev.get(sid) or _empty_kpis(),
            peer_median=peer_median,
            peer_count=peer_count,
            observed=_observed_for(observed, sid),
            load_report=load_report,
            available=traits.available_for(sid),
            present=traits.present.get(sid, frozenset()),
            jd_whole=jd_whole,
            published=_published_for(published_hours, sid),
        )
        if orders:
            # The store column back first: the orders go back into analyze() as they are.
            mine = part("orders", sid).with_columns(pl.lit(sid, dtype=pl.String).alias("store_id"))
            diagnosis = replace(diagnosis, orders=mine.select("store_id", pl.exclude("store_id")))
        yield sid, diagnosis


def _selected(found: list[str], stores: Iterable[str] | None) -> list[str]:
    """The store ids to diagnose (default all found), sorted; an unknown id raises."""
    if stores is None:
        return found
    selected = sorted(dict.fromkeys(str(s) for s in stores))
    missing = [s for s in selected if s not in found]
    if missing:
        raise unknown_store_error(", ".join(missing), stores=found)
    return selected


def _peer_medians(kpi_now: Mapping[str, Kpis]) -> Callable[[str], tuple[float | None, int]]:
    """``sid -> (median, count)`` of the mean hours of the other stores with counted orders
    (the peers of ``sid``; no median below :data:`MIN_PEERS`), sorted once for every store."""
    means = {
        sid: k.mean_hours
        for sid, k in kpi_now.items()
        if k.counted > 0 and k.mean_hours is not None
    }
    ordered = sorted(means.values())
    return lambda sid: peer_median(ordered, means.get(sid), min_peers=MIN_PEERS)


def _published_for(published: float | Mapping[str, float] | None, sid: str) -> float | None:
    if published is None:
        return None
    if isinstance(published, Mapping):
        value = published.get(sid)
        return None if value is None else float(value)
    return float(published)


def diagnose_store(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    store_id: str,
    window: Window,
    rules: Rules,
    as_of: datetime,
    target_hours: float | None = None,
    observed: Mapping[str, float] | None = None,
    load_report: LoadReport | None = None,
    published_hours: float | None = None,
    orders: bool = False,
) -> Diagnosis:
    """Diagnose one store; raises :class:`UnknownStoreError` listing the stores found."""
    return diagnose(
        frame,
        window=window,
        rules=rules,
        as_of=as_of,
        target_hours=target_hours,
        observed=observed,
        stores=[store_id],
        load_report=load_report,
        published_hours=published_hours,
        orders=orders,
    )[str(store_id)]


# --- the lazy plans ------------------------------------------------------------------------------


#: Canonical columns no per-order plan reads (store names come from every row, apart): not
#: decoded for the rows kept in memory (≈ 0.8 s at 10 M orders, the address above all).
_UNUSED_BY_PLANS = (
    "store_name",
    "address",
    "province",
    "city",
    "buyer_account",
    "amount",
    "refund_amount",
    "quantity",
)

#: Rows per batch of :func:`_read_once`. Each batch's queries are planned anew (the previous
#: window's derivation is a large plan: ~0.1 s per 10 M rows per 100k-row batch), and small
#: batches leave the memory of the rows they keep in fragments the later frames cannot reuse
#: (+0.8 GB peak at 10 M orders with the engine's default batches).
_READ_BATCH_ROWS = 1_000_000

#: The number of an order's row in the derived orders both windows' samples share.
_ROW = "_derived_row"
#: The columns of tomorrow's counted orders the 明天 plans read (with :data:`_ROW`).
_TOMORROW_COLUMNS = ("store_id", "service_id", "scene", "apply_time", "complete_time", "hours")

#: The columns of the heatmap plans (``_heatmap_plan``).
HEATMAP_COLUMNS = ("store_id", "apply_time", "first_audit_time")


def _rows_used(*, window: Window, as_of: datetime) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """Filters for a superset of the rows each per-order plan keeps: those that can complete
    today or tomorrow (``sample_in_window``), the window's applications (``_heatmap_plan``), and
    open orders (``_open_orders``), waiting compensations (``_compensation_plan``) and the
    closed-at-audit ones (``_dispute_risk``). A plan filters such a superset to the same rows, in
    the same order, as the whole scan. The store-level plans read every row apart."""
    both = Window(start=window.start, end=window.end + timedelta(days=1))
    complete, apply = pl.col("complete_time"), pl.col("apply_time")

    def inside(col: str) -> pl.Expr:
        c = pl.col(col)
        return ((c >= both.start_at) & (c < both.end_before)).fill_null(False)

    may_complete = inside("complete_time") | (
        complete.is_null() & (inside("first_audit_time") | inside("first_process_time"))
    )
    applied = apply.dt.date().is_between(window.start, window.end).fill_null(False)
    may_be_open = complete.is_null() & (apply <= as_of)
    status = pl.col("status")
    waiting = (status.is_in(list(PENDING_STATUSES)) & pl.col("first_audit_time").is_not_null()) | (
        (status == "审核关闭") & pl.col("order_id").is_not_null()
    )
    return may_complete, applied, (may_be_open.fill_null(False) | waiting.fill_null(False))


def _plans(
    store_info: pl.LazyFrame,
    rows: pl.LazyFrame,
    heat: pl.LazyFrame,
    counted: pl.LazyFrame,
    counted_next: pl.LazyFrame,
    *,
    window: Window,
    rules: Rules,
    as_of: datetime,
    traits: DataTraits,
) -> dict[str, pl.LazyFrame]:
    """Every aggregate, grouped by store_id, as lazy frames to collect together.

    All in memory: ``store_info``, the store names and data dates; ``rows``, the open and
    waiting orders; ``heat``, the window's applications (``_rows_used``); ``counted``, the
    window's counted orders derived, with their excess hours; ``counted_next``, tomorrow's
    (:data:`_TOMORROW_COLUMNS`).
    """
    # Same line as metrics' over_60h_share, so breakdown shares agree with the KPI.
    over = float(rules.warning_hours)
    return {
        **_trend_plans(store_info, counted, over=over),
        **_breakdown_plans(counted, over=over),
        **_stage_plans(counted),
        **_alert_plans(counted, rules=rules),
        **_top_plan(counted),
        "open": _open_plan(rows, as_of=as_of, rules=rules, traits=traits),
        "compensation": _compensation_plan(rows, as_of=as_of, rules=rules),
        **_heatmap_plan(heat, window=window),
        **_scalars_plan(counted, rules=rules),
        **_checkpoints_plan(counted),
        **_jd_plans(counted),
        **_classes_plan(counted),
        **_tomorrow_plans(counted, counted_next, window=window),
        **manager_views.plans(counted, rules=rules, traits=traits),
    }


def _store_facts(lf: pl.LazyFrame) -> list[pl.Expr]:
    """Per-store aggregations over every row: ``data_until``, ``earliest_apply`` and the latest
    time of each time column (``_latest:<column>``, turned into ``data_as_of`` by
    :func:`_with_data_as_of`)."""
    names = lf.collect_schema().names()
    return [
        pl.max_horizontal(pl.col("apply_time").max(), pl.col("complete_time").max()).alias(
            "data_until"
        ),
        pl.col("apply_time").min().dt.date().alias("earliest_apply"),
        *(pl.col(c).max().alias(f"_latest:{c}") for c in DATETIME_COLUMNS if c in names),
    ]


def _with_data_as_of(per_store: pl.DataFrame, lf: pl.LazyFrame) -> pl.DataFrame:
    """``data_as_of`` per store: its latest timestamp, ignoring any after now (DOMAIN §2).

    A plain maximum per column is one cheap pass; a time after now is rare (a typo in an
    export), so only the columns of the stores that have one are read again, without those
    times. Masking every row in the first pass cost ≈ 1.5 s CPU at 10 M orders.
    """
    now = datetime.now(ZoneInfo("Asia/Shanghai")).replace(microsecond=0, tzinfo=None)
    latest = [c for c in per_store.columns if c.startswith("_latest:")]
    future = {
        c: per_store.filter(pl.col(c) > now)["store_id"].to_list()
        for c in latest
        if per_store.select((pl.col(c) > now).any()).item()
    }
    if future:
        stores = sorted({s for ids in future.values() for s in ids})
        fixed = (
            lf.filter(pl.col("store_id").is_in(stores))
            .group_by("store_id")
            .agg(
                latest_timestamp([c.removeprefix("_latest:")], now=now).max().alias(c)
                for c in future
            )
            .collect()
        )
        per_store = per_store.update(fixed, on="store_id", include_nulls=True)
    as_of = pl.max_horizontal(latest) if latest else pl.lit(None, dtype=DATETIME)
    return per_store.with_columns(as_of.alias("data_as_of")).drop(latest)


def _store_names(counts: pl.LazyFrame) -> pl.LazyFrame:
    """Each store's most frequent name (the smallest among ties), from counts of its (store,
    name) pairs (``_n``): ``mode()`` over every row of a store costs a sort per store."""
    sid = "store_id"
    return (
        counts.group_by(sid, "store_name")
        .agg(pl.col("_n").sum())
        .sort(sid, "_n", "store_name", descending=[False, True, False])
        .group_by(sid, maintain_order=True)
        .agg(pl.col("store_name").first())
    )


def _read_once(
    lf: pl.LazyFrame, *, window: Window, as_of: datetime, rules: Rules
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Every row read once, in batches: the per-store facts (:func:`traits_aggregations`,
    :func:`_store_facts`), the (store, name) counts (``_n``), the rows the plans use
    (:func:`_rows_used`) and the previous window's sample (:func:`kpi_sample`, its KPIs' few
    columns: derived batch by batch, its rows are never kept whole).

    The rows are kept in memory with every column the plans read; the window's orders are
    derived once from them. Left lazy, each of the ~40 plans decoded every column of the whole
    scan again (≈ 5 s CPU each at 10 M orders). As separate queries, the facts, the rows and
    the previous window each decoded the time columns of every row again (the batches save
    ≈ 0.8 s of 4.2 s at 10 M orders from parquet). Batches keep row order, so every plan sees
    the same rows in the same order as on the scan.
    """
    may_complete_now, applied, open_or_waiting = _rows_used(window=window, as_of=as_of)
    kept = pl.exclude(_UNUSED_BY_PLANS)
    facts = [*traits_aggregations(), *_store_facts(lf)]

    def queries(batch: pl.LazyFrame) -> list[pl.LazyFrame]:
        return [
            batch.group_by("store_id").agg(facts),
            batch.filter(pl.col("store_name").is_not_null())
            .group_by("store_id", "store_name")
            .agg(pl.len().alias("_n")),
            batch.filter(may_complete_now | applied | open_or_waiting).select(kept),
            kpi_sample(batch, window=window.previous(), rules=rules),
        ]

    source = lf.select(pl.exclude([c for c in _UNUSED_BY_PLANS if c != "store_name"]))
    parts: list[list[pl.DataFrame]] = [[], [], [], []]
    for batch in source.collect_batches(chunk_size=_READ_BATCH_ROWS):
        for found, part in zip(parts, pl.collect_all(queries(batch.lazy())), strict=True):
            found.append(part)
    if not parts[0]:
        empty = pl.DataFrame(schema=source.collect_schema()).lazy()
        parts = [[p] for p in pl.collect_all(queries(empty))]
    facts_per_batch, counts, rows, previous = (pl.concat(p) for p in parts)
    per_store = facts_per_batch.group_by("store_id").agg(
        *traits_combined(),
        pl.col("data_until").max(),
        pl.col("earliest_apply").min(),
        pl.col("^_latest:.*$").max(),
    )
    return per_store, counts, rows, previous


def _trend_plans(
    store_info: pl.LazyFrame, counted: pl.LazyFrame, *, over: float
) -> dict[str, pl.LazyFrame]:
    """Store names and data dates; counted orders per day and per week."""
    sid = "store_id"
    plans: dict[str, pl.LazyFrame] = {"stores": store_info}

    day = pl.col("complete_time").dt.date()
    plans["trend_daily"] = counted.group_by(sid, day.alias("date")).agg(
        pl.len().cast(pl.Int64).alias("counted"),
        pl.col("hours").mean().alias("mean_hours"),
        pl.col("hours").median().alias("median_hours"),
        (pl.col("hours") > over).mean().alias("over_60h"),
    )
    plans["trend_weekly"] = counted.group_by(
        sid, pl.col("complete_time").dt.truncate("1w").dt.date().alias("week_start")
    ).agg(pl.len().cast(pl.Int64).alias("counted"), pl.col("hours").mean().alias("mean_hours"))
    return plans


def _breakdown_plans(counted: pl.LazyFrame, *, over: float) -> dict[str, pl.LazyFrame]:
    """Hour statistics per value of each breakdown column."""
    sid = "store_id"
    plans: dict[str, pl.LazyFrame] = {}
    for key, col in BREAKDOWNS.items():
        stats = _hour_stats(over)
        if key == "carrier":
            # A carrier's transit is measured only from a pickup or ship time: without one the
            # span is return_transit (customer and carrier together), and 0 would read "fast".
            measured = pl.col("return_start").is_not_null()
            stats = [
                *(e for e in stats if e.meta.output_name() != "transit"),
                _stage("transit").filter(measured).mean().alias("transit"),
            ]
        plans[f"breakdown:{key}"] = counted.group_by(
            sid, pl.col(col).cast(pl.String).alias("key")
        ).agg(*stats)
    return plans


def _stage_plans(counted: pl.LazyFrame) -> dict[str, pl.LazyFrame]:
    """Stage means overall and per scene; excess hours per scene × stage."""
    sid = "store_id"
    plans: dict[str, pl.LazyFrame] = {}
    intervention = -pl.col("intervention_hours").fill_null(0.0).mean()
    stage_cols = [
        *[_stage(s).mean().alias(s) for s in STAGES],
        # Without intervention the stage is 0.0: a negated 0 is -0.0, which the page showed.
        pl.when(intervention == 0).then(0.0).otherwise(intervention).alias("intervention"),
    ]
    plans["stage_means"] = counted.group_by(sid).agg(stage_cols)
    plans["stage_by_scene"] = counted.group_by(sid, "scene").agg(
        pl.len().cast(pl.Int64).alias("count"), *stage_cols
    )
    plans["excess"] = counted.group_by(sid, "scene").agg(
        *[pl.col(f"excess_{s}").sum() for s in STAGES],
        *[pl.col(f"ctrl_{s}").sum() for s in STAGES],
    )
    return plans


def _alert_plans(counted: pl.LazyFrame, *, rules: Rules) -> dict[str, pl.LazyFrame]:
    """Orders breaking each §5 rule: counts, and the orders with their rule names."""
    sid = "store_id"
    plans: dict[str, pl.LazyFrame] = {}
    alert_rules = list(rules.thresholds)
    plans["alerts"] = counted.group_by(sid).agg(
        pl.len().alias("_counted"),
        *[pl.col(f"alert_{r}").fill_null(False).sum().alias(r) for r in alert_rules],
    )
    # Filter before building the rule names: most counted orders break no rule, and string lists
    # over every order cost seconds at 10 M rows.
    flags = [pl.col(f"alert_{r}").fill_null(False) for r in alert_rules]
    rule_names = pl.concat_str(
        [pl.when(flag).then(pl.lit(r)) for flag, r in zip(flags, alert_rules, strict=True)],
        separator=",",
        ignore_nulls=True,
    )
    plans["alert_orders"] = (
        counted.filter(pl.any_horizontal(flags))
        .select(
            sid,
            "service_id",
            "order_id",
            "scene",
            "hours",
            rule_names.alias("rules"),
            "sku_name",
            "apply_time",
            "clock_end",
        )
        .sort(sid, "hours", "service_id", descending=[False, True, False])
    )
    return plans


def _top_plan(counted: pl.LazyFrame) -> dict[str, pl.LazyFrame]:
    """The TOP_N longest counted orders per store."""
    sid = "store_id"
    plans: dict[str, pl.LazyFrame] = {}
    plans["top100"] = mask_personal(
        # Keep only orders that can make a store's TOP_N (ties included) before the exact sort.
        counted.filter(pl.col("hours").rank("min", descending=True).over(sid) <= TOP_N)
        .sort(sid, "hours", "service_id", descending=[False, True, False])
        .with_columns((pl.int_range(pl.len()).over(sid) + 1).cast(pl.Int64).alias("rank"))
        .filter(pl.col("rank") <= TOP_N)
        .select(
            sid,
            "rank",
            "service_id",
            "order_id",
            "scene",
            "service_type",
            "reason",
            "sku_name",
            "apply_time",
            "clock_end",
            "hours",
            *[f"stage_{s}" for s in STAGES],
            pl.col("intervention_hours").fill_null(0.0),
            "customer_name",
            "customer_phone",
        )
    )
    return plans


def _heatmap_plan(lf: pl.LazyFrame, *, window: Window) -> dict[str, pl.LazyFrame]:
    """Applications by weekday × hour, and by hour of the day, with median audit hours."""
    sid = "store_id"
    audit_h = _hours_between("first_audit_time", "apply_time")
    plans: dict[str, pl.LazyFrame] = {}
    apply_day = pl.col("apply_time").dt.date()
    plans["heatmap"] = (
        lf.filter(apply_day.is_between(window.start, window.end))
        .with_columns(
            pl.col("apply_time").dt.weekday().cast(pl.Int8).alias("weekday"),
            pl.col("apply_time").dt.hour().cast(pl.Int8).alias("hour"),
            pl.when(audit_h >= 0).then(audit_h).alias("_audit"),
        )
        .group_by(sid, "weekday", "hour")
        .agg(
            pl.len().cast(pl.Int64).alias("applications"),
            pl.col("_audit").median().alias("median_audit_hours"),
        )
    )
    # Staffing advice reads hours of the day over all weekdays: one weekday × hour cell holds
    # too few applications to say anything (a median of 5 is noise).
    plans["hourly"] = (
        lf.filter(apply_day.is_between(window.start, window.end))
        .with_columns(
            pl.col("apply_time").dt.hour().cast(pl.Int8).alias("hour"),
            pl.when(audit_h >= 0).then(audit_h).alias("_audit"),
        )
        .group_by(sid, "hour")
        .agg(
            pl.len().cast(pl.Int64).alias("applications"),
            pl.col("_audit").median().alias("median_audit_hours"),
        )
        .sort(sid, "hour")
    )
    return plans


def _scalars_plan(counted: pl.LazyFrame, *, rules: Rules) -> dict[str, pl.LazyFrame]:
    """First-pass counts and the what-if means (stage targets, without longest, 闪电退款)."""
    sid = "store_id"
    plans: dict[str, pl.LazyFrame] = {}
    fb = pl.col("feedback_rounds")
    h = pl.col("hours")
    # Only what the merchant controls can meet a line (DOMAIN §6): a customer's own shipping
    # (return_ship outside the pickup family) stays as it is.
    capped = {
        s: (_stage(s) - float(rules.stage_targets[s])).clip(lower_bound=0.0)
        * (_merchant_pickup().cast(pl.Float64) if s == "return_ship" else 1.0)
        for s in LEVER_STAGES
    }
    to_pickup = _hours_between("pickup_time", "apply_time")
    # The pickup family (DOMAIN §2): 闪电退款 refunds at the carrier's pickup (揽收), so only
    # these returns could stop their clock there.
    flash = (
        (pl.col("scene") == FLASH_WHAT_IF_SCENE) & _merchant_pickup() & (to_pickup >= 0)
    ).fill_null(False)
    gap = _hours_between("first_process_time", "pickup_time")
    own_flash = ((pl.col("scene") == SceneName.FLASH_REFUND.value) & gap.is_not_null()).fill_null(
        False
    )
    plans["scalars"] = counted.group_by(sid).agg(
        pl.len().alias("counted"),
        fb.is_not_null().sum().alias("fb_known"),
        (fb == 0).sum().alias("fb_zero"),
        h.mean().alias("actual"),
        *[(h - capped[s]).clip(lower_bound=0.0).mean().alias(f"cap_{s}") for s in LEVER_STAGES],
        (h - pl.sum_horizontal(list(capped.values())))
        .clip(lower_bound=0.0)
        .mean()
        .alias("cap_all"),
        # Without the n longest (at least one order left): the sum less the n largest, where a
        # rank of every order per store cost 5× as much.
        *[
            pl.when(pl.len() > n)
            .then((h.sum() - h.top_k(n).sum()) / (pl.len() - n))
            .otherwise(h.min())
            .alias(f"wl_{n}")
            for n in WITHOUT_LONGEST
        ],
        # 闪电退款 (refund at pickup): every pickup-family return with a pickup time stops there.
        pl.when(flash).then(pl.min_horizontal(h, to_pickup)).otherwise(h).mean().alias("flash"),
        flash.sum().alias("flash_n"),
        # The premise, checked on the data's own 闪退 rows: first processing at the pickup.
        own_flash.sum().alias("flash_rows"),
        (own_flash & (gap.abs() <= FLASH_PICKUP_TOLERANCE_HOURS)).sum().alias("flash_at_pickup"),
        # Repetitive audits the SA tool's 自动审核 rules suit: 仅退款 and 拒收件.
        (
            (pl.col("scene") == SceneName.REFUND_ONLY.value)
            | (pl.col(ORDER_CLASS_COLUMN) == "refused")
        )
        .sum()
        .alias("sa_candidates"),
    )
    return plans


def _checkpoints_plan(counted: pl.LazyFrame) -> dict[str, pl.LazyFrame]:
    """Counted orders that had each checkpoint."""
    sid = "store_id"
    plans: dict[str, pl.LazyFrame] = {}
    plans["checkpoints"] = counted.group_by(sid).agg(
        pl.len().alias("_counted"),
        *[
            pl.any_horizontal([pl.col(c).is_not_null() for c in cols]).sum().alias(name)
            for name, cols in CHECKPOINTS.items()
        ],
    )
    return plans


def _jd_plans(counted: pl.LazyFrame) -> dict[str, pl.LazyFrame]:
    """Our hours against JD's per-order hours: the summary and the largest mismatches."""
    sid = "store_id"
    plans: dict[str, pl.LazyFrame] = {}
    diff = pl.col("hours") - pl.col("jd_hours")
    has_jd = counted.filter(pl.col("jd_hours").is_not_null() & pl.col("hours").is_not_null())
    names = counted.collect_schema().names()
    # rules.derive_orders decides the match (it knows the data-set-wide rounding); before it
    # did, both tolerances are counted and the assembly picks one.
    matched = pl.col("jd_matched").fill_null(False) if "jd_matched" in names else None
    plans["jd"] = has_jd.group_by(sid).agg(
        pl.len().alias("compared"),
        (diff.abs() <= 0.01).sum().alias("within_0"),
        (diff.abs() <= 1.0).sum().alias("within_1"),
        (matched.sum() if matched is not None else pl.lit(None, dtype=pl.UInt32)).alias("matched"),
        pl.col("hours").mean().alias("mean_hours"),
        pl.col("jd_hours").mean().alias("mean_jd_hours"),
        diff.abs().max().alias("max_abs_diff_hours"),
        (pl.col("jd_hours") != pl.col("jd_hours").round(0)).sum().alias("fractional"),
    )
    mismatch = ~matched if matched is not None else diff.abs() > 0.01
    plans["jd_mismatches"] = (
        has_jd.filter(mismatch)
        .select(
            sid,
            "service_id",
            "scene",
            "hours",
            "jd_hours",
            diff.alias("diff_hours"),
            pl.col("jd_intervened"),
        )
        .filter(
            pl.col("diff_hours").abs().rank("ordinal", descending=True).over(sid)
            <= JD_MISMATCH_ROWS
        )
        .sort(sid, pl.col("diff_hours").abs(), "service_id", descending=[False, True, False])
    )
    return plans


def _classes_plan(counted: pl.LazyFrame) -> dict[str, pl.LazyFrame]:
    """Service-order classes with counts, audit hours and first passes."""
    sid = "store_id"
    audit_h = _hours_between("first_audit_time", "apply_time")
    fb = pl.col("feedback_rounds")
    plans: dict[str, pl.LazyFrame] = {}
    plans["classes"] = (
        counted.with_columns(pl.col(ORDER_CLASS_COLUMN).alias("order_class"))
        .group_by(sid, "order_class")
        .agg(
            pl.len().cast(pl.Int64).alias("count"),
            pl.when(audit_h >= 0).then(audit_h).mean().alias("audit_mean_hours"),
            fb.is_not_null().sum().cast(pl.Int64).alias("feedback_known"),
            (fb == 0).sum().cast(pl.Int64).alias("first_pass"),
        )
    )
    return plans


def _tomorrow_window(window: Window) -> Window:
    return Window(start=window.start + timedelta(days=1), end=window.end + timedelta(days=1))


def _tomorrow_plans(
    counted: pl.LazyFrame, counted_next: pl.LazyFrame, *, window: Window
) -> dict[str, pl.LazyFrame]:
    """Tomorrow's window: its counted orders (``counted_next``), and the orders leaving and
    entering.

    An order is the same derived row (:data:`_ROW`) in both samples; the loader keeps one row
    per (store, service id), so this is the order's identity. Matching on the row number
    instead of the two id strings saves ≈ 0.8 s CPU at 10 M orders.
    """
    sid = "store_id"
    plans: dict[str, pl.LazyFrame] = {}
    tomorrow = _tomorrow_window(window)
    order_cols = list(_TOMORROW_COLUMNS)
    plans["tomorrow"] = counted_next.group_by(sid).agg(
        pl.len().cast(pl.Int64).alias("counted"), pl.col("hours").mean().alias("mean_hours")
    )
    plans["leaving"] = (
        counted.select(*order_cols, _ROW)
        .join(counted_next.select(_ROW), on=_ROW, how="anti")
        .select(
            *order_cols,
            pl.when(pl.col("complete_time") < tomorrow.start_at)
            .then(pl.lit("out_of_window"))
            .otherwise(pl.lit("apply_too_old"))
            .alias("reason"),
        )
    )
    plans["entering"] = (
        counted_next.select(*order_cols, _ROW)
        .join(counted.select(_ROW), on=_ROW, how="anti")
        .select(*order_cols, pl.lit("enters").alias("reason"))
    )
    return plans


def _quality_plan(sample: pl.LazyFrame) -> pl.LazyFrame:
    """Out-of-order timestamps and unbounded interventions in the window."""
    return (
        sample.filter(pl.col("in_window"))
        .group_by("store_id")
        .agg(
            pl.col("out_of_order").fill_null(False).sum().cast(pl.Int64),
            pl.col("intervention_unbounded").fill_null(False).sum().cast(pl.Int64),
        )
    )


#: Words in 客户问题描述 that announce a dispute (DOMAIN §6: half of the warning condition is the
#: 交易纠纷 rank).
DISPUTE_WORDS: tuple[str, ...] = ("投诉", "12315", "差评", "举报", "介入", "律师")


def _dispute_risk(lf: pl.LazyFrame, *, rows: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """``dispute_risk`` of ``rows`` (default every row of ``lf``): the customer's text threatens a
    dispute, or an earlier service order of ``lf`` on the same 订单号 + 商品编号 was closed at
    audit (审核关闭) and the customer applied again."""
    keys = ["store_id", "order_id", "sku_id"]
    closed = (
        lf.filter((pl.col("status") == "审核关闭") & pl.col("order_id").is_not_null())
        .group_by(keys)
        .agg(pl.col("apply_time").min().alias("_closed_first"))
    )
    words = pl.col("description").str.contains("|".join(DISPUTE_WORDS)).fill_null(False)
    again = (pl.col("_closed_first") < pl.col("apply_time")).fill_null(False)
    return (
        (lf if rows is None else rows)
        .join(closed, on=keys, how="left", nulls_equal=True)
        .with_columns((words | again).alias("dispute_risk"))
        .drop("_closed_first")
    )


def _open_orders(
    lf: pl.LazyFrame, *, as_of: datetime, rules: Rules, traits: DataTraits
) -> pl.LazyFrame:
    """Every open order applied by ``as_of`` with its §5 status and dispute flag."""
    # An open order has no complete_time: filtering first keeps the derivation small.
    maybe_open = lf.filter(pl.col("complete_time").is_null() & (pl.col("apply_time") <= as_of))
    status = open_order_status(
        derive_orders(maybe_open, rules=rules, traits=traits),
        as_of=as_of,
        rules=rules,
        traits=traits,
    )
    # Flagged on the maybe-open rows only: the closed orders they are matched with come from lf.
    flagged = _dispute_risk(lf, rows=maybe_open).select("store_id", "service_id", "dispute_risk")
    return status.join(flagged, on=["store_id", "service_id"], how="left").with_columns(
        pl.col("dispute_risk").fill_null(False)
    )


#: The order of open orders everywhere (report, team lists, xlsx, push, ``actions``): the
#: soonest due first (most overdue on top), orders without a line last, then the oldest.
OPEN_ORDER_SORT: tuple[tuple[str, bool], ...] = (
    ("hours_to_breach", False),
    ("elapsed_hours", True),
    ("service_id", False),
)


def sort_open(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame``'s open orders in :data:`OPEN_ORDER_SORT` order."""
    cols, desc = zip(*OPEN_ORDER_SORT, strict=True)
    return frame.sort(list(cols), descending=list(desc), nulls_last=True)


def _open_plan(
    lf: pl.LazyFrame, *, as_of: datetime, rules: Rules, traits: DataTraits
) -> pl.LazyFrame:
    """Every open order (DOMAIN §5), personal data masked."""
    cols, desc = zip(*OPEN_ORDER_SORT, strict=True)
    return mask_personal(
        _open_orders(lf, as_of=as_of, rules=rules, traits=traits)
        .select("store_id", *(c for c in _OPEN_COLUMNS if c != "projected_mean_delta"))
        .sort(["store_id", *cols], descending=[False, *desc], nulls_last=True)
    )


#: 服务单状态 values of an audited order whose merchant still has something to do.
PENDING_STATUSES: tuple[str, ...] = ("待处理", "待处理领取")
_COMPENSATION_COLUMNS = (
    "service_id",
    "order_id",
    "scene",
    "service_type",
    "status",
    "return_method",
    "apply_time",
    "first_audit_time",
    "elapsed_hours",
    "next_action",
    "sku_name",
)


def _compensation_plan(lf: pl.LazyFrame, *, as_of: datetime, rules: Rules) -> pl.LazyFrame:
    """Audited 直赔/补发 orders still waiting for the merchant (listed apart, no warning line):
    待发放赔付 for 直赔, 待补发 for 补发."""
    waiting = lf.filter(
        pl.col("status").is_in(list(PENDING_STATUSES))
        & pl.col("first_audit_time").is_not_null()
        & (pl.col("apply_time") <= as_of)
    )
    reship = (
        (pl.col("return_method") == "补发商品")
        | (pl.col("approve_result") == "补发商品")
        | (pl.col("service_type") == "补发商品")
    ).fill_null(False)
    derived = derive_orders(waiting, rules=rules).filter(
        pl.col("scene") == SceneName.COMPENSATION.value
    )
    return (
        derived.with_columns(
            hours_between(
                pl.lit(as_of, dtype=pl.Datetime("us")), earlier=pl.col("first_audit_time")
            ).alias("elapsed_hours"),
            pl.when(reship)
            .then(pl.lit("reship"))
            .otherwise(pl.lit("pay_compensation"))
            .alias("next_action"),
        )
        .select("store_id", *_COMPENSATION_COLUMNS)
        .sort("store_id", "first_audit_time", "service_id")
    )


#: The open-order status columns of :attr:`Diagnosis.orders` (null on orders that are not open).
ORDER_STATUS_COLUMNS = (*OPEN_COLUMNS, "dispute_risk")


def _orders_plan(
    lf: pl.LazyFrame, *, window: Window, rules: Rules, as_of: datetime, traits: DataTraits
) -> pl.LazyFrame:
    """Every order with its per-order figures, the window sample and the open-order status.

    The same derivations as the aggregates (``derive_orders`` → ``window_sample``,
    ``open_order_status``), so ``counted`` rows reproduce the KPIs and ``is_open`` rows with a
    ``stage`` are the report's open orders.
    """
    derived = window_sample(
        derive_orders(lf, rules=rules, traits=traits), window=window, rules=rules
    )
    status = _open_orders(lf, as_of=as_of, rules=rules, traits=traits).select(
        "store_id", "service_id", *ORDER_STATUS_COLUMNS
    )
    return mask_personal(
        derived.join(status, on=["store_id", "service_id"], how="left", nulls_equal=False)
        .with_columns(pl.col("stage").is_not_null().alias("open_at_risk"))
        .sort("store_id", "apply_time", "service_id", nulls_last=True)
    )


def _split(df: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {
        str(key[0]): part
        for key, part in df.partition_by("store_id", as_dict=True, include_key=False).items()
    }


# --- per-store assembly --------------------------------------------------------------------------


def _assemble(
    sid: str,
    *,
    info: pl.DataFrame,
    part: Callable[[str], pl.DataFrame],
    window: Window,
    previous: Window,
    as_of: datetime,
    rules: Rules,
    target: float,
    target_given: bool = False,
    kpis: Kpis,
    prev_kpis: Kpis,
    peer_median: float | None,
    peer_count: int,
    observed: Mapping[str, float],
    load_report: LoadReport | None,
    available: Mapping[str, bool],
    present: frozenset[str],
    jd_whole: bool,
    published: float | None,
) -> Diagnosis:
    store_name = info["store_name"][0] if info.height and info["store_name"][0] else sid
    data_until = info["data_until"][0] if info.height else None
    data_as_of = info["data_as_of"][0] if info.height else None
    scalars = part("scalars")
    stage_means = _stage_means(part("stage_means"))
    excess = _excess_frame(part("excess"))
    # The short board is chosen among what the merchant controls (DOMAIN §4, §6): carrier and
    # customer time is shown, labelled 不可控, but is never the board or the lever.
    controllable_board = _short_board(excess, by="controllable_excess_hours")
    short_board = controllable_board
    alerts = _alerts_frame(
        part("alerts"),
        rules=rules,
        available=available,
        present={c: c in present for c in PRESENCE_COLUMNS},
    )
    open_at_risk = _with_projection(part("open"), kpis)
    jd_check = _jd_check(part("jd"), part("jd_mismatches"), whole=jd_whole)
    tomorrow = _tomorrow(
        part("tomorrow"),
        part("leaving"),
        part("entering"),
        window=window,
        kpis=kpis,
        open_orders=open_at_risk,
        line=float(rules.warning_hours),
    )
    heatmap = _heatmap(part("heatmap"))
    peak_hours = _peak_hours(heatmap)
    first_pass = _first_pass(scalars)
    what_if = _what_if(scalars)
    classes = _classes(part("classes"))
    warning = _warning(kpis.mean_hours, observed=observed, rules=rules, published=published)
    breakdowns = _breakdowns(part)
    quality = _quality(
        part("quality"),
        kpis,
        load_report,
        holiday_years_missing=uncovered_spring_festivals(window, rules=rules),
    )
    diagnosis = Diagnosis(
        store_id=sid,
        store_name=store_name,
        window=window,
        previous=previous,
        as_of=as_of,
        data_until=data_until,
        data_as_of=data_as_of,
        data_age_hours=None if data_as_of is None else (as_of - data_as_of).total_seconds() / 3600,
        earliest_apply=info["earliest_apply"][0] if info.height else None,
        apply_limit=window.end - timedelta(days=int(rules.history_days) - 1),
        kpis=kpis,
        prev_kpis=prev_kpis,
        peer_median_hours=peer_median,
        peer_count=peer_count,
        target_hours=target,
        target_given=target_given,
        flash_refund=_flash_check(scalars),
        sa_candidates=int(scalars["sa_candidates"][0] or 0) if scalars.height else 0,
        hourly=part("hourly"),
        staffing=_staffing(part("hourly")),
        trend_daily=_fill_days(part("trend_daily"), window),
        trend_weekly=_fill_weeks(part("trend_weekly"), window),
        breakdowns=breakdowns,
        stage_means=stage_means,
        stage_by_scene=_stage_by_scene(part("stage_by_scene")),
        excess=excess,
        short_board=short_board,
        controllable_short_board=controllable_board,
        alerts=alerts,
        alert_orders=part("alert_orders"),
        top100=part("top100"),
        open_at_risk=open_at_risk,
        heatmap=heatmap,
        peak_hours=peak_hours,
        first_pass_rate=first_pass,
        what_if=what_if,
        warning=warning,
        findings=(),  # below, from the figures
        data_quality=quality,
        observed=dict(observed),
        checkpoints=_checkpoints(part("checkpoints")),
        jd_check=jd_check,
        reconciliation=_reconcile(
            published,
            kpis=kpis,
            jd_check=jd_check,
            window=window,
            as_of=as_of,
            data_until=data_until,
        ),
        classes=classes,
        team_actions=_team_actions(open_at_risk),
        tomorrow=tomorrow,
        compensation_pending=part("compensation"),
        views=manager_views.assemble(part, rules=rules),
    )
    return replace(diagnosis, findings=_find(diagnosis, rules=rules))


def _find(d: Diagnosis, *, rules: Rules) -> tuple[Finding, ...]:
    """The findings of an assembled diagnosis (every check reads its figures)."""
    return find(
        FindingContext(
            rules=rules,
            kpis=d.kpis,
            prev_kpis=d.prev_kpis,
            stage_hours=dict(zip(d.stage_means["stage"], d.stage_means["hours"], strict=True)),
            short_board=d.short_board,
            controllable_board=d.controllable_short_board,
            target_hours=d.target_hours,
            alerts={r["rule"]: r for r in d.alerts.iter_rows(named=True)},
            heatmap=d.heatmap,
            peak_hours=d.peak_hours,
            first_pass=d.first_pass_rate,
            what_if=d.what_if,
            warning=d.warning,
            open_at_risk=d.open_at_risk,
            breakdowns=d.breakdowns,
            excess=d.excess,
            jd_check=d.jd_check,
            limits=LIMITS,
            target_given=d.target_given,
            sa_candidates=d.sa_candidates,
            staffing=d.staffing,
        )
    )


def _fill_days(df: pl.DataFrame, window: Window) -> pl.DataFrame:
    days = pl.DataFrame({"date": pl.date_range(window.start, window.end, "1d", eager=True)})
    out = days.join(df, on="date", how="left")
    return out.with_columns(pl.col("counted").fill_null(0)).sort("date")


def _fill_weeks(df: pl.DataFrame, window: Window) -> pl.DataFrame:
    first = window.start - timedelta(days=window.start.weekday())
    weeks = pl.DataFrame({"week_start": pl.date_range(first, window.end, "1w", eager=True)})
    out = weeks.join(df, on="week_start", how="left")
    return out.with_columns(pl.col("counted").fill_null(0)).sort("week_start")


_BREAKDOWN_COLUMNS = (
    "key",
    "count",
    "share",
    "mean_hours",
    "median_hours",
    "p90_hours",
    "over_60h_share",
    "excess_hours",
    *STAGES,
)


def _breakdowns(part: Callable[[str], pl.DataFrame]) -> dict[str, pl.DataFrame]:
    out: dict[str, pl.DataFrame] = {}
    for key in BREAKDOWNS:
        df = part(f"breakdown:{key}")
        if key not in ALWAYS_BREAKDOWNS and df["key"].drop_nulls().len() == 0:
            continue
        out[key] = df
    return out


def _shape_breakdown(df: pl.DataFrame, *, key: str) -> pl.DataFrame:
    """A breakdown of every store: its columns, the share, and each store's rows in report order
    (slowest first for the auditor and carrier tables, else most orders first)."""
    df = df.with_columns(
        pl.col("count").cast(pl.Int64),
        # Every counted order has a key (null too), so the counts add up to the store's.
        (pl.col("count") / pl.col("count").sum().over("store_id")).alias("share"),
    ).select("store_id", *_BREAKDOWN_COLUMNS)
    first = BREAKDOWN_SORT_STAGE.get(key) or "count"
    return df.sort("store_id", first, "key", descending=[False, True, False], nulls_last=True)


def _stage_means(df: pl.DataFrame) -> pl.DataFrame:
    names = [*STAGES, "intervention"]
    hours = [float(df[s][0]) if df.height else None for s in names]
    return pl.DataFrame(
        {"stage": names, "hours": hours, "controllable": [CONTROLLABLE[s] for s in names]},
        schema={"stage": pl.String, "hours": pl.Float64, "controllable": pl.Boolean},
    )


def _stage_by_scene(df: pl.DataFrame) -> pl.DataFrame:
    long = df.unpivot(
        index=["scene", "count"],
        on=[*STAGES, "intervention"],
        variable_name="stage",
        value_name="hours",
    )
    order = {s: i for i, s in enumerate([*STAGES, "intervention"])}
    return (
        long.with_columns(pl.col("stage").replace_strict(order, return_dtype=pl.Int8).alias("_o"))
        .sort("scene", "_o")
        .select("scene", "stage", "hours", pl.col("count").cast(pl.Int64))
    )


def _excess_frame(df: pl.DataFrame) -> pl.DataFrame:
    rows = []
    for rec in df.iter_rows(named=True):
        for s in STAGES:
            hours = float(rec[f"excess_{s}"] or 0.0)
            ctrl = float(rec[f"ctrl_{s}"] or 0.0)
            if hours > 0:
                rows.append((rec["scene"], s, hours, ctrl >= hours / 2, ctrl))
    schema = {
        "scene": pl.String,
        "stage": pl.String,
        "excess_hours": pl.Float64,
        "controllable": pl.Boolean,
        "controllable_excess_hours": pl.Float64,
    }
    out = pl.DataFrame(rows, schema=schema, orient="row")
    return out.sort(["excess_hours", "scene", "stage"], descending=[True, False, False])


def _short_board(excess: pl.DataFrame, *, by: str = "excess_hours") -> ShortBoard | None:
    """The scene × stage with the most ``by`` hours (all excess, or its controllable part)."""
    ranked = excess.filter(pl.col(by) > 0).sort(
        [by, "scene", "stage"], descending=[True, False, False]
    )
    if ranked.height == 0:
        return None
    total = float(excess["excess_hours"].sum())
    top = ranked.row(0, named=True)
    return ShortBoard(
        scene=top["scene"],
        stage=top["stage"],
        excess_hours=top["excess_hours"],
        share_of_excess=top["excess_hours"] / total,
        controllable_excess_hours=top["controllable_excess_hours"],
    )


def _alerts_frame(
    df: pl.DataFrame,
    *,
    rules: Rules,
    available: Mapping[str, bool] | None = None,
    present: Mapping[str, bool] | None = None,
) -> pl.DataFrame:
    """Counted orders per rule; ``count``/``share`` null when the rule is unavailable (its inputs
    are absent from the whole data set: "needs logistics data", never 0). ``needs`` names only
    the inputs really missing: the columns of each input none of whose columns has data in the
    store (``present``: column → any value)."""
    counted = int(df["_counted"][0]) if df.height else 0
    names = list(rules.thresholds)
    ok = [bool((available or {}).get(r, True)) for r in names]

    def missing(rule: str) -> str:
        groups = RULE_INPUTS.get(rule, ())
        absent = [g for g in groups if present is None or not any(present.get(c) for c in g)]
        return ",".join(c for group in absent for c in group)

    counts = [
        (int(df[r][0]) if df.height else 0) if on else None for r, on in zip(names, ok, strict=True)
    ]
    return pl.DataFrame(
        {
            "rule": names,
            "threshold_hours": [float(rules.thresholds[r]) for r in names],
            "count": counts,
            "share": [c / counted if counted and c is not None else None for c in counts],
            "available": ok,
            "needs": [None if on else missing(r) for r, on in zip(names, ok, strict=True)],
        },
        schema={
            "rule": pl.String,
            "threshold_hours": pl.Float64,
            "count": pl.Int64,
            "share": pl.Float64,
            "available": pl.Boolean,
            "needs": pl.String,
        },
    )


def _checkpoints(df: pl.DataFrame) -> pl.DataFrame:
    counted = int(df["_counted"][0]) if df.height else 0
    names = list(CHECKPOINTS)
    orders = [int(df[c][0]) if df.height else 0 for c in names]
    return pl.DataFrame(
        {
            "checkpoint": names,
            "orders": orders,
            "share": [o / counted if counted else None for o in orders],
        },
        schema={"checkpoint": pl.String, "orders": pl.Int64, "share": pl.Float64},
    )


_MISMATCH_SCHEMA = {
    "service_id": pl.String,
    "scene": pl.String,
    "hours": pl.Float64,
    "jd_hours": pl.Float64,
    "diff_hours": pl.Float64,
    "cause": pl.String,
}


def _jd_check(df: pl.DataFrame, mismatches: pl.DataFrame, *, whole: bool) -> JdCheck | None:
    """JD's per-order hours against ours (DOMAIN §3): matched within 0.01 h, or 1 h when every
    jd_hours of the data set is whole (the old export rounds)."""
    if not df.height or not df["compared"][0]:
        return None
    rec = df.row(0, named=True)
    tolerance = 1.0 if whole else 0.01
    if rec["matched"] is not None:
        matched = int(rec["matched"])
    else:
        matched = int(rec["within_1"] if whole else rec["within_0"])
        mismatches = mismatches.filter(pl.col("diff_hours").abs() > tolerance)
    # JD lower than ours: JD subtracted time the export does not show (an intervention); JD
    # higher: JD's clock ran longer (a later end, e.g. a different scene or a re-processing).
    cause = (
        pl.when(pl.col("diff_hours") > 0)
        .then(pl.lit("jd_subtracted"))
        .otherwise(pl.lit("jd_later_end"))
    )
    listed = mismatches.with_columns(cause.alias("cause")).select(list(_MISMATCH_SCHEMA))
    return JdCheck(
        compared=int(rec["compared"]),
        matched=matched,
        mean_hours=rec["mean_hours"],
        mean_jd_hours=rec["mean_jd_hours"],
        max_abs_diff_hours=rec["max_abs_diff_hours"],
        mismatches=listed.cast(_MISMATCH_SCHEMA),  # type: ignore[arg-type]
    )


#: Likely causes of a gap to the published 风向标 figure, in the order the report lists them.
PUBLISHED_CAUSES = ("day_boundary", "intervention", "before_refresh", "missing_orders")
#: 风向标 refreshes its figures in the morning; a download before this hour may be a day behind.
REFRESH_HOUR = 9


def _reconcile(
    published: float | None,
    *,
    kpis: Kpis,
    jd_check: JdCheck | None,
    window: Window,
    as_of: datetime,
    data_until: datetime | None,
) -> Reconciliation | None:
    if published is None:
        return None
    mean = kpis.mean_hours
    flagged = []
    if window.end != as_of.date() - timedelta(days=1):
        flagged.append("day_boundary")  # JD's 考核周期 ends yesterday
    if jd_check is not None and jd_check.mismatches.filter(pl.col("diff_hours") > 0).height:
        flagged.append("intervention")
    if as_of.hour < REFRESH_HOUR:
        flagged.append("before_refresh")
    if data_until is None or data_until < window.end_before - timedelta(hours=12):
        flagged.append("missing_orders")  # the download stops well before the window's end
    return Reconciliation(
        published_hours=float(published),
        mean_hours=mean,
        mean_jd_hours=None if jd_check is None else jd_check.mean_jd_hours,
        gap_hours=None if mean is None else float(published) - mean,
        causes=tuple(flagged) + tuple(c for c in PUBLISHED_CAUSES if c not in flagged),
        flagged=tuple(flagged),
    )


_TOMORROW_SCHEMA = pl.Schema(
    {
        "service_id": pl.String(),
        "scene": pl.String(),
        "apply_time": pl.Datetime("us"),
        "complete_time": pl.Datetime("us"),
        "hours": pl.Float64(),
        "reason": pl.String(),
        "effect_hours": pl.Float64(),
    }
)


def _tomorrow(
    stats: pl.DataFrame,
    leaving: pl.DataFrame,
    entering: pl.DataFrame,
    *,
    window: Window,
    kpis: Kpis,
    open_orders: pl.DataFrame | None = None,
    line: float = 60.0,
) -> Tomorrow:
    """Tomorrow's mean and each moving order's exact part of the change.

    With today's mean m over n orders and tomorrow's n′ = n − leaving + entering, the change is
    Σ_entering (h − m)/n′ − Σ_leaving (h − m)/n′, so each order's effect is ±(h − m)/n′.
    ``mean_if_closed`` = (n′ × tomorrow's mean + Σ elapsed) / (n′ + k) over the k open orders
    past ``line`` that can still count (closed today, they enter tomorrow's window).
    """
    shifted = Window(start=window.start + timedelta(days=1), end=window.end + timedelta(days=1))
    counted = int(stats["counted"][0]) if stats.height else 0
    mean = float(stats["mean_hours"][0]) if counted else None
    today = kpis.mean_hours
    empty = pl.DataFrame(schema=_TOMORROW_SCHEMA)
    if not counted or today is None:
        sign_leave = sign_enter = pl.lit(None, dtype=pl.Float64)
    else:
        sign_leave = -(pl.col("hours") - today) / counted
        sign_enter = (pl.col("hours") - today) / counted

    def shape(df: pl.DataFrame, effect: pl.Expr) -> pl.DataFrame:
        if not df.height:
            return empty
        out = df.with_columns(effect.alias("effect_hours")).select(list(_TOMORROW_SCHEMA))
        return out.sort(pl.col("effect_hours").abs(), "service_id", descending=[True, False])

    leave = shape(leaving, sign_leave)
    enter = shape(entering, sign_enter)
    both = pl.concat([leave, enter])
    movers = (
        both.filter(pl.col("effect_hours").is_not_null())
        .sort(pl.col("effect_hours").abs(), "service_id", descending=[True, False])
        .head(TOMORROW_MOVERS)
        if both.height
        else empty
    )
    delta = None if mean is None or today is None else mean - today
    largest = movers["reason"][0] if movers.height and delta is not None else None
    over_line, mean_if_closed = _closed_today(open_orders, counted=counted, mean=mean, line=line)
    return Tomorrow(
        window=shifted,
        counted=counted,
        mean_hours=mean,
        delta_hours=delta,
        leaving=leave,
        entering=enter,
        movers=movers,
        largest_reason=largest,
        open_over_line=over_line,
        mean_if_closed=mean_if_closed,
    )


def _closed_today(
    open_orders: pl.DataFrame | None, *, counted: int, mean: float | None, line: float
) -> tuple[int, float | None]:
    """The open orders past ``line`` that can count, and tomorrow's mean if they closed today."""
    if open_orders is None or not open_orders.height or "elapsed_hours" not in open_orders.columns:
        return 0, None
    over = open_orders.filter(pl.col("elapsed_hours") > line)
    if "will_count" in over.columns:  # an order that can never count stays out (DOMAIN §5)
        over = over.filter(pl.col("will_count").fill_null(True))
    if not over.height:
        return 0, None
    elapsed = float(over["elapsed_hours"].sum())
    total = (mean or 0.0) * counted + elapsed
    return over.height, total / (counted + over.height)


def _classes(df: pl.DataFrame) -> pl.DataFrame:
    """Counted orders per service-order class, in the article's order, with audit time and
    一次性沟通完成率 (share of orders never sent to 待客户反馈, among those with the count)."""
    total = int(df["count"].sum()) if df.height else 0
    order = {k: i for i, k in enumerate(ORDER_CLASS_KEYS)}
    return (
        df.with_columns(
            (pl.col("count") / total if total else pl.lit(None, dtype=pl.Float64)).alias("share"),
            pl.when(pl.col("feedback_known") > 0)
            .then(pl.col("first_pass") / pl.col("feedback_known"))
            .alias("first_pass_rate"),
            pl.col("order_class").replace_strict(order, return_dtype=pl.Int8).alias("_o"),
        )
        .sort("_o")
        .select(
            "order_class",
            pl.col("count").cast(pl.Int64),
            pl.col("share").cast(pl.Float64),
            pl.col("audit_mean_hours").cast(pl.Float64),
            pl.col("first_pass_rate").cast(pl.Float64),
        )
    )


_TEAM_COLUMNS = (
    "service_id",
    "order_id",
    "scene",
    "status",
    "return_method",
    "waybill_no",
    "carrier",
    "stage",
    "elapsed_hours",
    "rule",
    "breached",
    "hours_to_breach",
    "due_at",
    "over_60h",
    "will_count",
    "dispute_risk",
    "next_action",
    "sku_name",
)


def _team_actions(open_orders: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """One list per team (cs, logistics, warehouse) of the same rows as the open-order list
    and ``aftersales actions``, in the same order; orders that can never count stay on them
    (``will_count`` false: 不计入考核)."""
    ordered = sort_open(open_orders)
    return {team: ordered.filter(pl.col("team") == team).select(_TEAM_COLUMNS) for team in TEAMS}


_OPEN_COLUMNS = (
    "service_id",
    "order_id",
    "scene",
    "service_type",
    "status",
    "return_method",
    "waybill_no",
    "carrier",
    "apply_time",
    "elapsed_hours",
    "stage",
    "team",
    "rule",
    "rule_start",
    "breached",
    "hours_to_breach",
    "due_at",
    "over_60h",
    "will_count",
    "dispute_risk",
    "status_known",
    "projected_mean_delta",
    "next_action",
    "sku_name",
    "customer_name",
    "customer_phone",
)


def _with_projection(df: pl.DataFrame, kpis: Kpis) -> pl.DataFrame:
    if kpis.mean_hours is None:
        delta = pl.lit(None, dtype=pl.Float64)
    else:
        # Only an order that can count moves the figure.
        delta = pl.when(pl.col("will_count")).then(
            (pl.col("elapsed_hours") - kpis.mean_hours) / (kpis.counted + 1)
        )
    return df.with_columns(delta.alias("projected_mean_delta")).select(_OPEN_COLUMNS)


def _heatmap(df: pl.DataFrame) -> pl.DataFrame:
    grid = pl.DataFrame(
        {
            "weekday": [d for d in range(1, 8) for _ in range(24)],
            "hour": [h for _ in range(1, 8) for h in range(24)],
        },
        schema={"weekday": pl.Int8, "hour": pl.Int8},
    )
    return (
        grid.join(df, on=["weekday", "hour"], how="left")
        .with_columns(pl.col("applications").fill_null(0))
        .sort("weekday", "hour")
    )


def _peak_hours(heatmap: pl.DataFrame) -> tuple[int, ...]:
    by_hour = (
        heatmap.group_by("hour")
        .agg(pl.col("applications").sum())
        .filter(pl.col("applications") > 0)
        .sort(["applications", "hour"], descending=[True, False])
        .head(PEAK_HOURS)
    )
    return tuple(int(h) for h in by_hour["hour"])


def _staffing(hourly: pl.DataFrame) -> Staffing | None:
    """The slowest and fastest hours of the day by median audit, among hours with enough
    applications; None when fewer than two hours have enough (nothing to compare)."""
    judged = hourly.filter(
        (pl.col("applications") >= MIN_STAFFING_APPLICATIONS)
        & pl.col("median_audit_hours").is_not_null()
    )
    if judged.height < 2:  # one hour has nothing to compare with
        return None
    # The slowest hours (up to STAFFING_HOURS, always leaving one) against the fastest others.
    ranked = judged.sort(["median_audit_hours", "hour"], descending=[True, False])
    slow = ranked.head(min(STAFFING_HOURS, judged.height - 1))
    fast = ranked.tail(judged.height - slow.height).sort(["median_audit_hours", "hour"])
    fast = fast.head(STAFFING_HOURS)
    slow_hours = tuple(int(h) for h in slow["hour"])
    return Staffing(
        slow_hours=slow_hours,
        slow_median_hours=float(slow["median_audit_hours"][0]),
        fast_hours=tuple(int(h) for h in fast["hour"]),
        fast_median_hours=float(fast["median_audit_hours"][0]),
        night=all(h >= NIGHT_START or h < NIGHT_END for h in slow_hours),
        hours_judged=judged.height,
    )


def _first_pass(scalars: pl.DataFrame) -> float | None:
    if scalars.height == 0 or not scalars["fb_known"][0]:
        return None
    return float(scalars["fb_zero"][0]) / float(scalars["fb_known"][0])


def _what_if(scalars: pl.DataFrame) -> pl.DataFrame:
    schema = {
        "scenario": pl.String,
        "stage": pl.String,
        "n": pl.Int64,
        "mean_hours": pl.Float64,
        "delta_hours": pl.Float64,
        "scene": pl.String,
    }
    if scalars.height == 0:
        return pl.DataFrame([("actual", None, None, None, None, None)], schema=schema, orient="row")
    rec = scalars.row(0, named=True)
    actual = rec["actual"]
    rows: list[tuple[object, ...]] = [("actual", None, None, actual, 0.0, None)]
    rows += [
        ("stage_meets_target", s, None, rec[f"cap_{s}"], rec[f"cap_{s}"] - actual, None)
        for s in LEVER_STAGES
    ]
    rows.append(
        ("all_stages_meet_target", None, None, rec["cap_all"], rec["cap_all"] - actual, None)
    )
    seen: set[int] = set()
    for n in WITHOUT_LONGEST:
        real = min(n, int(rec["counted"]) - 1)
        if real < 1 or real in seen:
            continue
        seen.add(real)
        rows.append(("without_longest", None, real, rec[f"wl_{n}"], rec[f"wl_{n}"] - actual, None))
    if _flash_check(scalars).kept:
        value = rec["flash"]
        n = int(rec["flash_n"])
        rows.append(("flash_refund_at_pickup", None, n, value, value - actual, FLASH_WHAT_IF_SCENE))
    return pl.DataFrame(rows, schema=schema, orient="row")


def _flash_check(scalars: pl.DataFrame) -> FlashRefundCheck:
    """Whether the 闪电退款 what-if is kept: candidates, and the data's own 闪退 rows at pickup."""
    if scalars.height == 0:
        return FlashRefundCheck(candidates=0, flash_rows=0, at_pickup=0)
    rec = scalars.row(0, named=True)
    return FlashRefundCheck(
        candidates=int(rec.get("flash_n") or 0),
        flash_rows=int(rec.get("flash_rows") or 0),
        at_pickup=int(rec.get("flash_at_pickup") or 0),
    )


def _observed_for(
    observed: Mapping[str, float] | Mapping[str, Mapping[str, float]] | None, sid: str
) -> dict[str, float]:
    if not observed:
        return {}
    own = observed.get(sid)
    if isinstance(own, Mapping):
        return _checked_observed(own)
    if any(isinstance(v, Mapping) for v in observed.values()):
        return {}
    return _checked_observed(cast("Mapping[str, float]", observed))  # no value is a mapping


def _checked_observed(chosen: Mapping[str, float | None]) -> dict[str, float]:
    """The known observations of one store, range-checked; a None value is left out."""
    out: dict[str, float] = {}
    for key, value in chosen.items():
        if key not in ("star", "aftersales_rank", "dispute_rank"):
            msg = (
                f"未知的观测指标 {key!r} (unknown observed key); "
                "可用 (allowed): star, aftersales_rank, dispute_rank"
            )
            raise UsageError(msg)
        if value is None:
            continue
        number = float(value)
        high = 5.0 if key == "star" else 1.0
        if math.isnan(number) or not 0.0 <= number <= high:
            msg = (
                f"观测指标 {key} = {value!r} 超出范围 (out of range 0–{high:g}); "
                "排名比例用小数表示, 如 0.15 (rank rates are fractions)"
            )
            raise UsageError(msg)
        out[key] = number
    return out


def _warning(
    mean: float | None,
    *,
    observed: Mapping[str, float],
    rules: Rules,
    published: float | None = None,
) -> WarningRisk:
    """JD's consumer-warning condition in three states (DOMAIN §6): never "high risk" on the
    duration alone. JD judges on its own figure: the published 风向标 hours when given, else
    ours (then labelled 按本工具计算)."""
    line = float(rules.warning_hours)
    duration = mean if published is None else float(published)
    over = duration is not None and duration > line
    star = observed.get("star")
    a_rank = observed.get("aftersales_rank")
    d_rank = observed.get("dispute_rank")
    limit = float(rules.warning_rank)
    # Each condition: True / False, or None when its input was not given.
    conditions = [
        over,
        None if star is None else star <= float(rules.warning_star),
        None if a_rank is None else a_rank <= limit,
        None if d_rank is None else d_rank <= limit,
    ]
    full: bool | None = None
    if all(c is not None for c in conditions[1:]):
        full = all(conditions)
    state: WarningState
    if not over or any(c is False for c in conditions):
        state = "not_triggered"
    elif full:
        state = "triggered"
    else:
        state = "cannot_judge"
    levels: dict[str, Literal["high", "watch", "ok"]] = {
        "triggered": "high",
        "cannot_judge": "watch",
        "not_triggered": "ok",
    }
    return WarningRisk(
        line_hours=line,
        mean_over_line=over,
        star=star,
        aftersales_rank=a_rank,
        dispute_rank=d_rank,
        full_condition=full,
        level=levels[state],
        state=state,
        basis="ours" if published is None else "published",
        duration_hours=duration,
        star_limit=float(rules.warning_star),
        rank_limit=limit,
    )


def _quality(
    df: pl.DataFrame,
    kpis: Kpis,
    load_report: LoadReport | None,
    *,
    holiday_years_missing: tuple[int, ...] = (),
) -> DataQuality:
    excluded = {r: int(kpis.excluded.get(r, 0)) for r in EXCLUDED_REASONS}
    excluded.update({r: int(v) for r, v in kpis.excluded.items() if r not in excluded})
    # warnings keeps only the first few Problems of each kind; warning_counts has the totals.
    if load_report is None:
        return _data_quality(df, excluded, holiday_years_missing=holiday_years_missing)
    counts = load_report.warning_counts
    warnings = sum(counts.values()) if counts else len(load_report.warnings)
    return _data_quality(
        df,
        excluded,
        duplicates_dropped=load_report.duplicates_dropped,
        bad_rows_dropped=load_report.bad_rows_dropped,
        load_warnings=warnings,
        unknown_values=load_report.unknown_values,
        holiday_years_missing=holiday_years_missing,
        load_warning_counts=tuple(
            sorted(((str(k), int(v)) for k, v in counts.items() if v), key=lambda kv: -kv[1])
        ),
    )


def _data_quality(
    df: pl.DataFrame,
    excluded: dict[str, int],
    *,
    duplicates_dropped: int = 0,
    bad_rows_dropped: int = 0,
    load_warnings: int = 0,
    unknown_values: Mapping[str, Mapping[str, int]] | None = None,
    holiday_years_missing: tuple[int, ...] = (),
    load_warning_counts: tuple[tuple[str, int], ...] = (),
) -> DataQuality:
    return DataQuality(
        excluded=excluded,
        out_of_order=int(df["out_of_order"][0]) if df.height else 0,
        intervention_unbounded=int(df["intervention_unbounded"][0]) if df.height else 0,
        duplicates_dropped=int(duplicates_dropped),
        bad_rows_dropped=int(bad_rows_dropped),
        load_warnings=int(load_warnings),
        unknown_values=tuple(
            (column, value, rows)
            for column, values in (unknown_values or {}).items()
            for value, rows in values.items()
        ),
        holiday_years_missing=holiday_years_missing,
        load_warning_counts=load_warning_counts,
    )


# --- helpers -------------------------------------------------------------------------------------


def _kpis(metrics: pl.DataFrame) -> dict[str, Kpis]:
    """Kpis per store; ``excluded`` as a plain dict so a Diagnosis pickles."""
    return {
        str(sid): replace(k, excluded=dict(k.excluded)) for sid, k in kpis_by_store(metrics).items()
    }


def _empty_kpis() -> Kpis:
    return Kpis(
        counted=0,
        mean_hours=None,
        median_hours=None,
        p90_hours=None,
        over_60h_share=None,
        excluded=dict.fromkeys(EXCLUDED_REASONS, 0),
    )


__all__ = ["CONTROLLABLE", "diagnose", "diagnose_store"]
