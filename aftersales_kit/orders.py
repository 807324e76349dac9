"""Per-order JD rules (DOMAIN §3–§5): scene, clock end, hours, stages, alerts, the sample.

Everything is a polars expression over whole columns; nothing loops over rows, so the same code
serves one store in a test and every store of a 10 M-row export in one lazy query. The rule
settings they read live in :mod:`aftersales_kit.rules`; the 考核周期 in
:mod:`aftersales_kit.window`.

Hours are calendar hours as floats at microsecond precision: ``Δµs / 3_600_000_000``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

import polars as pl

from aftersales_kit.rules import (
    AUDITED_STATUSES,
    FAMILY_EXPECTATIONS,
    FAMILY_METHODS,
    KNOWN_STATUSES,
    ON_SITE_STATUSES,
    RULE_NAMES,
    STAGES,
    ExcludedReason,
    Family,
    Rule,
    Rules,
    SceneName,
    SceneRule,
    Stage,
    Stop,
)
from aftersales_kit.schema import COLUMNS
from aftersales_kit.window import Window

if TYPE_CHECKING:
    from polars.expr.whenthen import ChainedThen, Then


US_PER_HOUR = 3_600_000_000


_YES = ("是", "true", "True")


#: Columns ``derive_orders`` adds, in order.
DERIVED_COLUMNS: tuple[str, ...] = (
    "scene",
    "family",
    "return_start",
    "clock_end",
    "is_open",
    "gross_hours",
    "intervention_hours",
    "hours",
    *(f"stage_{s}" for s in STAGES),
    "out_of_order",
    "no_receipt_time",
    "intervention_unbounded",
    *(f"alert_{r}" for r in RULE_NAMES),
    "jd_diff_hours",
    "jd_matched",
)


#: Scenes whose goods are not on their way back when the clock stops (DOMAIN §4): refunds without
#: goods, 闪电退款 (refunded at pickup), replacements at the door, compensation.
NO_RETURN_SCENES: tuple[str, ...] = (
    SceneName.OFFLINE_REPLACEMENT.value,
    SceneName.HOME_REPLACEMENT.value,
    SceneName.FLASH_REFUND.value,
    SceneName.REFUND_ONLY.value,
    SceneName.REFUND_RECEIVED.value,
    SceneName.REFUND_NOT_RECEIVED.value,
    SceneName.PRESALE_REFUND.value,
    SceneName.COMPENSATION.value,
)


#: Columns ``open_order_status`` adds (DOMAIN §5): where the order waits, whose it is, the rule
#: that applies and when it is due.
OPEN_COLUMNS: tuple[str, ...] = (
    "elapsed_hours",
    "stage",
    "team",
    "rule",
    "rule_start",
    "hours_to_breach",
    "breached",
    "due_at",
    "over_60h",
    "will_count",
    "next_action",
    "status_known",
)


def hours_between(later: pl.Expr, *, earlier: pl.Expr) -> pl.Expr:
    """Calendar hours from ``earlier`` to ``later`` (null when either is null)."""
    return (later - earlier).dt.total_microseconds() / US_PER_HOUR


def _scene_match(rule: SceneRule) -> pl.Expr:
    """Any of the row's fields equals one of its values or starts with one of its prefixes."""
    hits: list[pl.Expr] = []
    for name in rule.fields:
        col = pl.col(name)
        if COLUMNS[name] == pl.Boolean:
            if any(v in _YES for v in rule.values):
                hits.append(col.fill_null(False))
            continue
        if rule.values:
            hits.append(col.is_in(list(rule.values)).fill_null(False))
        hits.extend(col.str.starts_with(p).fill_null(False) for p in rule.prefixes)
    return pl.any_horizontal(hits) if hits else pl.lit(False)


def first_match(branches: Iterable[tuple[pl.Expr, pl.Expr]], *, otherwise: pl.Expr) -> pl.Expr:
    """``when(c1).then(v1).when(c2).then(v2)….otherwise(o)``: the value of the first condition that
    holds, ``otherwise`` when none does (or when there are no branches)."""
    chain: Then | ChainedThen | None = None
    for cond, value in branches:
        chain = (pl.when(cond) if chain is None else chain.when(cond)).then(value)
    return otherwise if chain is None else chain.otherwise(otherwise)


def _scene_exprs(rules: Rules) -> tuple[pl.Expr, pl.Expr]:
    """(scene name, clock stops at first audit) from the ordered scene table."""
    matches = [(_scene_match(rule), rule) for rule in rules.scenes]
    scene = first_match(
        ((m, pl.lit(rule.scene)) for m, rule in matches), otherwise=pl.col("service_type")
    )
    audit_ended = first_match(
        ((m, pl.lit(rule.stop == Stop.FIRST_AUDIT)) for m, rule in matches), otherwise=pl.lit(False)
    )
    return scene, audit_ended


#: §4 checkpoints after apply, in order; the clock end (first_process or first_audit) closes.
CHECKPOINTS: tuple[str, ...] = ("first_audit_time", "return_start", "sign_time", "inbound_time")
_APPLY, _AUDIT, _RETURN, _SIGN, _INBOUND, _END = range(6)


def _gap_stage(start: int, end: int) -> Stage:
    """The §4 stage of a gap between two checkpoints that take part (first row that fits).

    first_audit → first_process is process here; :func:`_durations` books it to return_transit
    when the goods come back and no receipt checkpoint took part (``no_receipt_time``).
    """
    if start == _APPLY:
        return Stage.AUDIT
    if end == _RETURN:
        return Stage.RETURN_SHIP
    if start == _RETURN:
        return Stage.TRANSIT
    if start == _AUDIT and end in (_SIGN, _INBOUND):
        # No return start: the customer's shipping and the carrier cannot be told apart.
        return Stage.RETURN_TRANSIT
    if start == _SIGN and end == _INBOUND:
        return Stage.INBOUND
    return Stage.PROCESS


#: What each §5 rule needs in the data set; a rule whose inputs no row of the store has is
#: unavailable for that store.
RULE_INPUTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "audit_over_24h": (),
    "return_ship_over_24h": (("pickup_time", "customer_ship_time"),),
    "tracking_stale_over_48h": (
        ("pickup_time", "customer_ship_time"),
        ("logistics_update_time",),
    ),
    "transit_over_72h": (("pickup_time", "customer_ship_time"), ("sign_time", "inbound_time")),
    "inbound_over_24h": (("sign_time",), ("inbound_time",)),
    "inbound_over_48h": (("sign_time",), ("inbound_time",)),
    "process_over_24h": (("inbound_time",),),
    "refund_over_24h": (),
    "total_over_60h": (),
}
#: Optional columns whose presence in a store's rows decides what can be computed for it.
PRESENCE_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(c for groups in RULE_INPUTS.values() for group in groups for c in group)
)


def _rule_available(rule: str, present: frozenset[str]) -> bool:
    return all(any(c in present for c in group) for group in RULE_INPUTS[rule])


def _jd_whole_expr() -> pl.Expr:
    jd = pl.col("jd_hours")
    return (jd.is_null() | (jd == jd.round(0))).all()


@dataclass(frozen=True)
class DataTraits:
    """Facts about the loaded data that per-order rules depend on (DOMAIN §3, §5).

    ``present``: store -> the :data:`PRESENCE_COLUMNS` some row of that store has; a rule whose
    inputs a store lacks is unavailable for it (null, never 0). ``available``: rule -> whether
    it is available for any store. ``jd_whole_hours``: every 售后整体时长 is a whole number (the
    old export), so reconciliation allows 1 h instead of 0.01 h.
    """

    available: Mapping[str, bool]
    jd_whole_hours: bool
    present: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def available_for(self, store_id: str) -> dict[str, bool]:
        """rule -> available for ``store_id`` (a store not loaded has nothing)."""
        have = self.present.get(store_id, frozenset())
        return {r: _rule_available(r, have) for r in RULE_NAMES}

    def stores_with(self, rule: str) -> list[str]:
        """The stores ``rule`` is available for."""
        return list(self._stores_by_rule[rule])

    @functools.cached_property
    def _stores_by_rule(self) -> dict[str, tuple[str, ...]]:
        # Once per traits: every plan asks per rule, and at 10,000 stores the loop over the
        # stores was seconds of an estate pass.
        return {
            rule: tuple(
                sorted(s for s, have in self.present.items() if _rule_available(rule, have))
            )
            for rule in RULE_INPUTS
        }

    def has(self, column: str) -> pl.Expr:
        """True on the rows of stores where some row has ``column``."""
        return pl.col("store_id").is_in(list(self._stores_by_column.get(column, ())))

    @functools.cached_property
    def _stores_by_column(self) -> dict[str, tuple[str, ...]]:
        return {c: tuple(s for s, v in self.present.items() if c in v) for c in PRESENCE_COLUMNS}

    def rule_available(self, rule: str) -> pl.Expr:
        """True on the rows of stores ``rule`` is available for."""
        if not RULE_INPUTS[rule]:
            return pl.lit(True)
        return pl.col("store_id").is_in(self.stores_with(rule)).fill_null(False)


class _AssumedTraits(DataTraits):
    """Every rule available on every row: for a derivation whose per-store alert figures are
    nulled afterwards from the real traits (:func:`completed_traits`)."""

    def has(self, column: str) -> pl.Expr:
        return pl.lit(True)

    def rule_available(self, rule: str) -> pl.Expr:
        return pl.lit(True)


def assumed_traits(*, jd_whole_hours: bool) -> DataTraits:
    """Traits that take every rule as available for every store (the alerts are computed on
    every row); only for aggregates that are nulled per store from the real traits later."""
    return _AssumedTraits(
        available=MappingProxyType(dict.fromkeys(RULE_NAMES, True)), jd_whole_hours=jd_whole_hours
    )


def jd_whole_aggregation() -> pl.Expr:
    """Per store (grouped by store_id): every 售后整体时长 of its rows is whole (``_jd``)."""
    return _jd_whole_expr().alias("_jd")


def presence_aggregations() -> list[pl.Expr]:
    """Per store (grouped by store_id): whether some row has each :data:`PRESENCE_COLUMNS`."""
    return [(pl.col(c).count() > 0).alias(c) for c in PRESENCE_COLUMNS]


def completed_traits(frame: pl.LazyFrame, *, seen: pl.DataFrame) -> DataTraits:
    """The :class:`DataTraits` of ``frame`` when part of its rows were already looked at.

    ``seen`` has one row per store of ``frame`` (every store) with ``_jd`` over every row and
    :func:`presence_aggregations` over some of its rows. A column seen in a store is present;
    only the (store, column) pairs not seen are looked up over every row, in one scan of those
    columns (none when the part had them all: a full export's window has every column).
    """
    missing = {
        c: seen.filter(~pl.col(c))["store_id"].to_list()
        for c in PRESENCE_COLUMNS
        if not seen[c].all()
    }
    if missing:
        stores = list(dict.fromkeys(s for ids in missing.values() for s in ids))
        rest = (
            frame.filter(pl.col("store_id").is_in(stores))
            .group_by("store_id")
            .agg((pl.col(c).count() > 0).alias(f"_rest_{c}") for c in missing)
            .collect()
        )
        seen = seen.join(rest, on="store_id", how="left").with_columns(
            (pl.col(c) | pl.col(f"_rest_{c}").fill_null(False)).alias(c) for c in missing
        )
    return traits_from_store_rows(seen)


def data_traits(frame: pl.DataFrame | pl.LazyFrame) -> DataTraits:
    """The :class:`DataTraits` of ``frame`` (canonical or derived orders, every store loaded):
    one scan."""
    lf = frame.lazy()
    return traits_from_store_rows(lf.group_by("store_id").agg(traits_aggregations()).collect())


def traits_aggregations() -> list[pl.Expr]:
    """The per-store aggregations :func:`traits_from_store_rows` reads (grouped by store_id): a
    caller scanning every row for other per-store facts adds them to its own group-by."""
    return [
        *(pl.col(c).is_not_null().any() for c in PRESENCE_COLUMNS),
        _jd_whole_expr().alias("_jd"),
    ]


def traits_combined() -> list[pl.Expr]:
    """:func:`traits_aggregations` of every row from their values over parts of the rows
    (grouped by store_id): a caller reading the rows in batches aggregates each batch, then
    combines."""
    return [*(pl.col(c).any() for c in PRESENCE_COLUMNS), pl.col("_jd").all()]


def traits_from_store_rows(per_store: pl.DataFrame) -> DataTraits:
    """The :class:`DataTraits` from one row per store holding :func:`traits_aggregations`."""
    present = {
        str(row["store_id"]): frozenset(c for c in PRESENCE_COLUMNS if row[c])
        for row in per_store.iter_rows(named=True)
    }
    whole = bool(per_store["_jd"].all())
    return DataTraits(
        available=MappingProxyType(
            {r: any(_rule_available(r, have) for have in present.values()) for r in RULE_NAMES}
        ),
        jd_whole_hours=whole,
        present=MappingProxyType(present),
    )


def _present_expr(column: str) -> pl.Expr:
    """Without traits: whether some row of the same store has ``column``."""
    return pl.col(column).is_not_null().any().over("store_id")


def _available_expr(rule: str, traits: DataTraits | None) -> pl.Expr:
    if traits is not None:
        return traits.rule_available(rule)
    groups = [pl.any_horizontal(_present_expr(c) for c in group) for group in RULE_INPUTS[rule]]
    return pl.all_horizontal(groups) if groups else pl.lit(True)


def family_expr() -> pl.Expr:
    """The return-method family (:class:`Family`) of each order, null when not recognised.

    A technician's status decides first; then 返回方式, then 审核结果 (some exports carry the
    approveResult names there), then 是否闪退订单 (闪电退款 is for pickups), then 客户期望.
    """
    branches: list[tuple[pl.Expr, pl.Expr]] = [
        (pl.col("status").is_in(list(ON_SITE_STATUSES)).fill_null(False), pl.lit(Family.ON_SITE))
    ]
    for column in ("return_method", "approve_result"):
        branches += [
            (pl.col(column).is_in(list(names)).fill_null(False), pl.lit(family.value))
            for family, names in ((Family(f), n) for f, n in FAMILY_METHODS.items())
        ]
    branches.append((pl.col("flash_refund").fill_null(False), pl.lit(Family.PICKUP.value)))
    branches += [
        (pl.col("service_type").is_in(list(names)).fill_null(False), pl.lit(Family(f).value))
        for f, names in FAMILY_EXPECTATIONS.items()
    ]
    return first_match(branches, otherwise=pl.lit(None, dtype=pl.String))


def derive_orders(
    frame: pl.LazyFrame | pl.DataFrame, *, rules: Rules, traits: DataTraits | None = None
) -> pl.LazyFrame:
    """Every canonical column plus the per-order JD figures (DOMAIN §3–§5).

    Parameters
    ----------
    frame
        Canonical orders (``schema.COLUMNS``), any number of stores: rule availability (§5) is
        decided per store over its rows, so pass every row of the stores (or their traits).
    rules
        From :func:`aftersales_kit.rules.load_rules`.
    traits
        Data-set facts computed on every store loaded (:func:`data_traits`); by default they are
        computed over ``frame`` itself. Pass them when ``frame`` is a filtered part.

    Returns
    -------
    LazyFrame with the input columns (``complete_time`` filled with the clock end where the source
    has no 暂完结时间) and ``DERIVED_COLUMNS``: ``scene``, ``family`` (the return-method family,
    DOMAIN §2), ``return_start``, ``clock_end``, ``is_open``, ``gross_hours``,
    ``intervention_hours``, ``hours``, ``stage_<audit|return_ship|return_transit|transit|inbound|
    process>``, ``out_of_order``, ``no_receipt_time`` (goods came back with no receipt time: the
    audit → processing span is return_transit), ``intervention_unbounded``, ``alert_<rule>`` (null
    for a store that lacks the rule's inputs), ``jd_diff_hours``, ``jd_matched``.

    Examples
    --------
    >>> derive_orders(frame, rules=load_rules()).select("service_id", "scene", "hours").collect()
    """
    lf = frame.lazy()
    scene, audit_ended = _scene_exprs(rules)
    apply = pl.col("apply_time")
    lf = lf.with_columns(
        scene.alias("scene"),
        family_expr().alias("family"),
        audit_ended.alias("_audit_ended"),
        pl.coalesce("pickup_time", "customer_ship_time").alias("return_start"),
    ).with_columns(
        # The goods travel back before processing (DOMAIN §4): not a refund without goods, a
        # 闪电退款 (refunded at pickup), a replacement at the door or a technician's visit.
        (
            ~pl.col("scene").is_in(list(NO_RETURN_SCENES)).fill_null(False)
            & ~pl.col("family")
            .is_in([Family.NO_GOODS.value, Family.ON_SITE.value])
            .fill_null(False)
        ).alias("_goods_back"),
        pl.when(pl.col("_audit_ended"))
        .then(pl.col("first_audit_time"))
        .otherwise(pl.col("first_process_time"))
        .alias("clock_end"),
    )
    # 暂完结: the source's time where it has one, else the moment the clock stopped.
    lf = lf.with_columns(pl.coalesce("complete_time", "clock_end").alias("complete_time"))
    end = pl.col("clock_end")
    lf = lf.with_columns(
        (
            pl.col("complete_time").is_null()
            & ~pl.col("status").is_in(list(rules.terminal_statuses)).fill_null(False)
        ).alias("is_open"),
        (end.is_not_null() & apply.is_not_null() & (end >= apply)).alias("_valid"),
    )
    lf = _stage_chain(lf)
    lf = _durations(lf)
    lf = _alerts(lf, rules=rules, traits=traits)
    lf = _jd_check(lf, traits=traits)
    names = lf.collect_schema().names()
    keep = [c for c in names if not c.startswith("_") and c not in DERIVED_COLUMNS]
    return lf.select(*keep, *DERIVED_COLUMNS)


def _stage_chain(lf: pl.LazyFrame) -> pl.LazyFrame:
    """§4: which checkpoints take part, and where each gap starts.

    A checkpoint takes part (``_t<i>``) when present, not after the clock end and not before the
    previous one that took part (else ``_ooo<i>``: out of order); audit-ended scenes have only the
    audit checkpoint. ``_pt<i>`` / ``_pk<i>`` are the time and index of the checkpoint that a gap
    ending at ``i`` starts from (``i`` = 5 is the clock end); the pair decides the gap's stage.
    """
    end = pl.col("clock_end")
    lf = lf.with_columns(pl.col("apply_time").alias("_pt1"), pl.lit(_APPLY).alias("_pk1"))
    for i, name in enumerate(CHECKPOINTS, start=1):
        c = pl.col(name)
        present = c.is_not_null() & (c <= end)
        if i > _AUDIT:
            present = present & ~pl.col("_audit_ended")
        take = (present & (c >= pl.col(f"_pt{i}"))).fill_null(False)
        lf = lf.with_columns(
            take.alias(f"_t{i}"), (present.fill_null(False) & ~take).alias(f"_ooo{i}")
        ).with_columns(
            pl.when(pl.col(f"_t{i}")).then(c).otherwise(pl.col(f"_pt{i}")).alias(f"_pt{i + 1}"),
            pl.when(pl.col(f"_t{i}"))
            .then(pl.lit(i))
            .otherwise(pl.col(f"_pk{i}"))
            .alias(f"_pk{i + 1}"),
        )
    return lf


def _durations(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Stage hours from the chain, gross hours, intervention and counted hours."""
    end = pl.col("clock_end")
    apply = pl.col("apply_time")
    valid = pl.col("_valid")
    last = len(CHECKPOINTS)
    # Every gap that can exist, (start index, end index), booked to its §4 stage.
    gaps: dict[str, list[pl.Expr]] = {s: [] for s in STAGES}
    for i in range(1, _END + 1):
        ends_at = end if i == _END else pl.col(CHECKPOINTS[i - 1])
        taken = pl.lit(True) if i == _END else pl.col(f"_t{i}")
        hours = hours_between(ends_at, earlier=pl.col(f"_pt{i}")).clip(lower_bound=0.0)
        for k in range(i):
            here = taken & (pl.col(f"_pk{i}") == k)
            if (k, i) == (_AUDIT, _END):
                # Audit straight to processing with goods on their way back: the return's
                # shipping and transit hide in the span, which is not processing time.
                no_receipt = here & pl.col("_goods_back")
                gaps[Stage.RETURN_TRANSIT].append(pl.when(no_receipt).then(hours).otherwise(0.0))
                gaps[Stage.PROCESS].append(pl.when(here & ~no_receipt).then(hours).otherwise(0.0))
                continue
            gaps[_gap_stage(k, i)].append(pl.when(here).then(hours).otherwise(0.0))
    stage_exprs = [
        pl.when(valid).then(pl.sum_horizontal(gaps[s]).fill_null(0.0)).alias(f"stage_{s}")
        for s in STAGES
    ]
    out_of_order = pl.any_horizontal(pl.col(f"_ooo{i}") for i in range(1, last + 1))

    flagged = pl.col("jd_intervened").fill_null(False)
    i_start, i_end = pl.col("intervention_start"), pl.col("intervention_end")
    bounded = flagged & i_start.is_not_null() & i_end.is_not_null()
    overlap = hours_between(
        pl.min_horizontal(i_end, end), earlier=pl.max_horizontal(i_start, apply)
    )
    intervention = (
        pl.when(valid & bounded & ~pl.col("_audit_ended"))
        .then(overlap.clip(lower_bound=0.0))
        .otherwise(0.0)
    )
    gross = pl.when(valid).then(hours_between(end, earlier=apply))
    return lf.with_columns(
        gross.alias("gross_hours"),
        intervention.alias("intervention_hours"),
        *stage_exprs,
        (valid & out_of_order).alias("out_of_order"),
        (
            valid
            & pl.col("_goods_back")
            & (pl.col(f"_pk{_END}") == _AUDIT)
            & ~pl.col("_audit_ended")
        ).alias("no_receipt_time"),
        (flagged & ~bounded).alias("intervention_unbounded"),
    ).with_columns((pl.col("gross_hours") - pl.col("intervention_hours")).alias("hours"))


def _taken(i: int) -> pl.Expr:
    """Checkpoint ``i``'s time when it took part in the stage chain, else null."""
    return pl.when(pl.col(f"_t{i}")).then(pl.col(CHECKPOINTS[i - 1]))


def _alerts(lf: pl.LazyFrame, *, rules: Rules, traits: DataTraits | None) -> pl.LazyFrame:
    """§5 rules on completed orders, from the stage chain only; null when unavailable."""
    th = rules.thresholds
    audit, ret, sign, inbound = _taken(_AUDIT), _taken(_RETURN), _taken(_SIGN), _taken(_INBOUND)
    end = pl.col("clock_end")
    update = pl.col("logistics_update_time")
    update_in_chain = pl.when((update >= ret) & (update <= end)).then(update)
    process_end = pl.when(~pl.col("_audit_ended")).then(end)
    no_goods = (pl.col("family") == Family.NO_GOODS.value).fill_null(False)
    spans = {
        "audit_over_24h": (audit, pl.col("apply_time")),
        "return_ship_over_24h": (ret, audit),
        "tracking_stale_over_48h": (update_in_chain, ret),
        "transit_over_72h": (pl.coalesce(sign, inbound), ret),
        "inbound_over_24h": (inbound, sign),
        "inbound_over_48h": (inbound, sign),
        "process_over_24h": (process_end, inbound),
        "refund_over_24h": (pl.when(no_goods).then(process_end), audit),
    }
    completed = ~pl.col("is_open")
    exprs = []
    for rule in RULE_NAMES:
        if rule == Rule.TOTAL_OVER_60H:
            over = pl.col("hours") > th[rule]
        else:
            later, earlier = spans[rule]
            over = hours_between(later, earlier=earlier) > th[rule]
        fired = completed & over.fill_null(False)
        exprs.append(pl.when(_available_expr(rule, traits)).then(fired).alias(f"alert_{rule}"))
    return lf.with_columns(exprs)


#: |ours − JD| within which an order matches JD's 售后整体时长(H) (DOMAIN §3).
JD_MATCH_HOURS = 0.01


#: The same when every jd_hours of the data set is whole (the old export rounds to hours).
JD_MATCH_WHOLE_HOURS = 1.0


def _jd_check(lf: pl.LazyFrame, *, traits: DataTraits | None) -> pl.LazyFrame:
    """Ours − JD's 售后整体时长(H) per order, and whether they match (DOMAIN §3)."""
    jd = pl.col("jd_hours")
    all_whole = _jd_whole_expr() if traits is None else pl.lit(traits.jd_whole_hours)
    tolerance = pl.when(all_whole).then(JD_MATCH_WHOLE_HOURS).otherwise(JD_MATCH_HOURS)
    diff = pl.col("hours") - jd
    return lf.with_columns(diff.alias("jd_diff_hours")).with_columns(
        pl.when(pl.col("jd_diff_hours").is_not_null())
        .then(pl.col("jd_diff_hours").abs() <= tolerance + 1e-9)
        .alias("jd_matched")
    )


def _audit_ended_scenes(rules: Rules) -> list[str]:
    return [s.scene for s in rules.scenes if s.stop == Stop.FIRST_AUDIT]


def window_sample(orders: pl.LazyFrame, *, window: Window, rules: Rules) -> pl.LazyFrame:
    """Add the sample (口径) of ``window``: ``in_window``, ``excluded_reason``, ``counted``.

    ``in_window``: complete_time in ``[start 00:00, end+1 00:00)``. An in-window order is counted
    unless one reason applies; the first of holiday, apply_too_old (apply date before
    ``end − (history_days − 1)``), cancelled_before_audit, missing_end, invalid is recorded.
    An order without apply_time has no valid duration and lands in ``invalid``.
    """
    complete = pl.col("complete_time")
    apply = pl.col("apply_time")
    in_window = ((complete >= window.start_at) & (complete < window.end_before)).fill_null(False)
    holiday = pl.lit(False)
    for start, end in rules.holidays:
        holiday = holiday | ((apply >= start) & (apply < end)).fill_null(False)
    oldest = datetime.combine(window.end - timedelta(days=rules.history_days - 1), time())
    cancel_scenes = [
        s.scene for s in rules.scenes if s.missing_stop == ExcludedReason.CANCELLED_BEFORE_AUDIT
    ]
    no_end = pl.col("clock_end").is_null()
    reason = (
        pl.when(~pl.col("in_window"))
        .then(pl.lit(None, dtype=pl.String))
        .when(holiday)
        .then(pl.lit(ExcludedReason.HOLIDAY))
        .when((apply < oldest).fill_null(False))
        .then(pl.lit(ExcludedReason.APPLY_TOO_OLD))
        .when(no_end & pl.col("scene").is_in(cancel_scenes).fill_null(False))
        .then(pl.lit(ExcludedReason.CANCELLED_BEFORE_AUDIT))
        .when(no_end)
        .then(pl.lit(ExcludedReason.MISSING_END))
        .when(pl.col("hours").is_null())
        .then(pl.lit(ExcludedReason.INVALID))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return (
        orders.lazy()
        .with_columns(in_window.alias("in_window"))
        .with_columns(reason.alias("excluded_reason"))
        .with_columns((pl.col("in_window") & pl.col("excluded_reason").is_null()).alias("counted"))
    )


class Team(StrEnum):
    """Who acts on an open order (DOMAIN §5)."""

    CS = "cs"  # customer service: audits, customers, refunds without goods, service providers
    LOGISTICS = "logistics"  # pickups and parcels on their way
    WAREHOUSE = "warehouse"  # receiving, booking in, processing goods, sending new items


TEAMS: tuple[str, ...] = tuple(t.value for t in Team)


@dataclass(frozen=True)
class _Row:
    """One row of the §5 open-order table: stage, team, next action and the rules it watches."""

    name: str
    stage: Stage
    team: Team
    action: str
    rules: tuple[Rule, ...] = ()


#: DOMAIN §5's open-order table, tried top to bottom (conditions in :func:`_row_conditions`).
OPEN_ROWS: tuple[_Row, ...] = (
    _Row("user_confirm", Stage.PROCESS, Team.CS, "confirm_refund"),
    _Row("awaiting_audit", Stage.AUDIT, Team.CS, "audit", (Rule.AUDIT_OVER_24H,)),
    _Row("customer_feedback", Stage.AUDIT, Team.CS, "chase_customer", (Rule.AUDIT_OVER_24H,)),
    _Row("on_site", Stage.PROCESS, Team.CS, "chase_technician"),
    _Row("goods_in", Stage.PROCESS, Team.WAREHOUSE, "process_goods", (Rule.PROCESS_OVER_24H,)),
    _Row("refund", Stage.PROCESS, Team.CS, "refund", (Rule.REFUND_OVER_24H,)),
    _Row("replacement", Stage.PROCESS, Team.WAREHOUSE, "send_replacement"),
    _Row(
        "signed",
        Stage.INBOUND,
        Team.WAREHOUSE,
        "book_in",
        (Rule.INBOUND_OVER_24H, Rule.INBOUND_OVER_48H),
    ),
    _Row(
        "in_transit",
        Stage.TRANSIT,
        Team.LOGISTICS,
        "chase_carrier",
        (Rule.TRACKING_STALE_OVER_48H, Rule.TRANSIT_OVER_72H),
    ),
    _Row("waybill", Stage.RETURN_TRANSIT, Team.LOGISTICS, "track_waybill"),
    _Row(
        "customer_to_ship",
        Stage.RETURN_SHIP,
        Team.CS,
        "remind_customer_ship",
        (Rule.RETURN_SHIP_OVER_24H,),
    ),
    _Row(
        "to_pick_up", Stage.RETURN_SHIP, Team.LOGISTICS, "book_pickup", (Rule.RETURN_SHIP_OVER_24H,)
    ),
    _Row(
        "method_unknown",
        Stage.RETURN_SHIP,
        Team.CS,
        "confirm_return_method",
        (Rule.RETURN_SHIP_OVER_24H,),
    ),
    _Row("not_audited", Stage.AUDIT, Team.CS, "audit", (Rule.AUDIT_OVER_24H,)),
)
#: The action of an open order whose 服务单状态 is not one JD-EXPORTS.md lists.
VERIFY_STATUS_ACTION = "verify_status"
#: 维修 in the warehouse: its own wording (never record a 处理结果 before it is true).
REPAIR_ACTION = "process_repair"


def _goods_back() -> pl.Expr:
    return ~pl.col("scene").is_in(list(NO_RETURN_SCENES)).fill_null(False) & ~pl.col(
        "family"
    ).is_in([Family.NO_GOODS.value, Family.ON_SITE.value]).fill_null(False)


def _row_conditions(traits: DataTraits) -> list[pl.Expr]:
    """The condition of each :data:`OPEN_ROWS` row; statuses count only when JD lists them."""
    status = pl.col("status")
    known = status.is_in(list(KNOWN_STATUSES)).fill_null(True)

    def is_status(*values: str) -> pl.Expr:
        return status.is_in(list(values)).fill_null(False) & known

    family = pl.col("family")

    def is_family(f: Family) -> pl.Expr:
        return (family == f.value).fill_null(False)

    audited = (
        pl.col("first_audit_time").is_not_null()
        | pl.col("last_audit_time").is_not_null()
        | is_status(*AUDITED_STATUSES)
    )
    waybill = pl.col("waybill_no").is_not_null()
    started = pl.col("return_start").is_not_null()
    inbound = pl.col("inbound_time").is_not_null()
    # A pickup-family order with a 运单号 counts as moving only when the data cannot say
    # whether the pickup happened (the store's rows have no 取件时间 at all).
    no_pickup_column = ~traits.has("pickup_time")
    conditions = {
        "user_confirm": is_status("待用户确认", "提交退款申请"),
        "awaiting_audit": is_status("待审核", "待审核领取"),
        "customer_feedback": is_status("待客户反馈", "客户已反馈", "待审核和待客户反馈"),
        "on_site": is_family(Family.ON_SITE),
        "goods_in": inbound | (is_status("待处理", "待处理领取") & _goods_back()),
        "refund": audited & is_family(Family.NO_GOODS),
        "replacement": audited
        & pl.col("scene")
        .is_in([SceneName.OFFLINE_REPLACEMENT.value, SceneName.HOME_REPLACEMENT.value])
        .fill_null(False),
        "signed": pl.col("sign_time").is_not_null() & ~inbound,
        "in_transit": started,
        "waybill": audited
        & waybill
        & (
            is_family(Family.CUSTOMER_SHIP)
            | family.is_null()
            | (is_family(Family.PICKUP) & no_pickup_column)
        ),
        "customer_to_ship": audited & is_family(Family.CUSTOMER_SHIP) & ~waybill,
        "to_pick_up": audited & is_family(Family.PICKUP),
        "method_unknown": audited & family.is_null() & ~waybill,
        "not_audited": pl.lit(True),
    }
    return [conditions[row.name] for row in OPEN_ROWS]


def _rule_starts() -> dict[Rule, pl.Expr]:
    """Where each open-order rule's hours start (审核时间 stands in for a blank first audit)."""
    audit = pl.coalesce("first_audit_time", "last_audit_time")
    return {
        Rule.AUDIT_OVER_24H: pl.col("apply_time"),
        Rule.RETURN_SHIP_OVER_24H: audit,
        Rule.TRACKING_STALE_OVER_48H: pl.col("return_start"),
        Rule.TRANSIT_OVER_72H: pl.col("return_start"),
        Rule.INBOUND_OVER_24H: pl.col("sign_time"),
        Rule.INBOUND_OVER_48H: pl.col("sign_time"),
        Rule.PROCESS_OVER_24H: pl.col("inbound_time"),
        Rule.REFUND_OVER_24H: audit,
    }


def open_order_status(
    orders: pl.LazyFrame,
    *,
    as_of: datetime,
    rules: Rules,
    traits: DataTraits | None = None,
) -> pl.LazyFrame:
    """Open orders (``is_open``) as of ``as_of`` placed by DOMAIN §5's table.

    Adds ``elapsed_hours`` (as_of − apply_time minus JD intervention so far), ``stage``,
    ``team`` (cs, logistics, warehouse), ``rule`` (the highest line of the row already crossed,
    else the nearest ahead; null when the row watches none or the store lacks its inputs),
    ``rule_start``, ``hours_to_breach`` (threshold − hours since the rule's start; negative: over
    the line), ``breached``, ``due_at`` (start + threshold), ``over_60h``, ``will_count`` (false
    when the order can never count: applied before tomorrow's 180-day limit, or 春节-exempt),
    ``next_action`` (a stable code, text.py ``action.<code>``) and ``status_known``.

    An order whose 服务单状态 JD does not list is placed by its checkpoints alone, goes to
    customer service and gets ``verify_status``. ``traits`` (default: those of ``orders``)
    decide per store which rules can be computed.
    """
    if traits is None:
        traits = data_traits(orders)
    now = pl.lit(as_of, dtype=pl.Datetime("us"))
    th = rules.thresholds
    conditions = _row_conditions(traits)
    row = first_match(
        ((cond, pl.lit(i, dtype=pl.Int8)) for i, cond in enumerate(conditions)),
        otherwise=pl.lit(len(OPEN_ROWS) - 1, dtype=pl.Int8),
    )

    def pick(values: Iterable[str]) -> pl.Expr:
        mapping = dict(enumerate(values))
        return pl.col("_row").replace_strict(mapping, return_dtype=pl.String)

    starts = _rule_starts()
    htb: dict[Rule, pl.Expr] = {}
    for rule, start in starts.items():
        rows = [i for i, r in enumerate(OPEN_ROWS) if rule in r.rules]
        applies = pl.col("_row").is_in(rows) & _available_expr(rule, traits)
        if rule == Rule.TRACKING_STALE_OVER_48H:
            applies = applies & pl.col("logistics_update_time").is_null()
        if rule == Rule.AUDIT_OVER_24H:
            # A re-audit (审核 already done once) watches no line.
            applies = applies & pl.coalesce("first_audit_time", "last_audit_time").is_null()
        htb[rule] = pl.when(applies).then(th[rule] - hours_between(now, earlier=start))
    earliest = datetime.combine(as_of.date() - timedelta(days=rules.history_days - 1), time())
    holiday = pl.lit(False)
    for h_start, h_end in rules.holidays:
        holiday = holiday | ((pl.col("apply_time") >= h_start) & (pl.col("apply_time") < h_end))
    known = pl.col("status").is_in(list(KNOWN_STATUSES)).fill_null(True)
    repair = (pl.col("scene") == SceneName.REPAIR.value).fill_null(False)
    action = pick(r.action for r in OPEN_ROWS)
    lf = (
        orders.lazy()
        .filter(pl.col("is_open"))
        .with_columns(
            row.alias("_row"),
            _elapsed_hours(rules, now=now).alias("elapsed_hours"),
            known.alias("status_known"),
        )
        .with_columns(
            pick(r.stage for r in OPEN_ROWS).alias("stage"),
            pl.when(pl.col("status_known"))
            .then(pick(r.team for r in OPEN_ROWS))
            .otherwise(pl.lit(Team.CS.value))
            .alias("team"),
            pl.when(~pl.col("status_known"))
            .then(pl.lit(VERIFY_STATUS_ACTION))
            .when((action == "process_goods") & repair)
            .then(pl.lit(REPAIR_ACTION))
            .otherwise(action)
            .alias("next_action"),
            *(e.alias(f"_htb_{r}") for r, e in htb.items()),
            (pl.col("elapsed_hours") > th[Rule.TOTAL_OVER_60H]).fill_null(False).alias("over_60h"),
            ((pl.col("apply_time") >= earliest) & ~holiday).fill_null(False).alias("will_count"),
        )
    )
    lf = _with_rule(lf, thresholds=th, rules=list(htb))
    start = first_match(
        ((pl.col("rule") == r.value, starts[r]) for r in htb),
        otherwise=pl.lit(None, dtype=pl.Datetime("us")),
    )
    threshold = first_match(
        ((pl.col("rule") == r.value, pl.lit(float(th[r]))) for r in htb),
        otherwise=pl.lit(None, dtype=pl.Float64),
    )
    lf = lf.with_columns(start.alias("rule_start")).with_columns(
        (
            pl.col("rule_start")
            + pl.duration(microseconds=(threshold * US_PER_HOUR).cast(pl.Int64))
        ).alias("due_at")
    )
    names = lf.collect_schema().names()
    keep = [c for c in names if not c.startswith("_") and c not in OPEN_COLUMNS]
    return lf.select(*keep, *OPEN_COLUMNS)


def _elapsed_hours(rules: Rules, *, now: pl.Expr) -> pl.Expr:
    """Hours so far minus JD intervention so far (an open order's clock is still running)."""
    apply = pl.col("apply_time")
    audit_ended = pl.col("scene").is_in(_audit_ended_scenes(rules)).fill_null(False)
    flagged = pl.col("jd_intervened").fill_null(False)
    i_start, i_end = pl.col("intervention_start"), pl.col("intervention_end")
    bounded = flagged & i_start.is_not_null() & i_end.is_not_null() & ~audit_ended
    so_far = hours_between(pl.min_horizontal(i_end, now), earlier=pl.max_horizontal(i_start, apply))
    return hours_between(now, earlier=apply) - pl.when(bounded).then(
        so_far.clip(lower_bound=0.0)
    ).otherwise(0.0)


def _with_rule(
    lf: pl.LazyFrame, *, thresholds: Mapping[str, float], rules: list[Rule]
) -> pl.LazyFrame:
    """``rule`` (the highest line crossed, else the nearest ahead), ``hours_to_breach``,
    ``breached``."""
    crossed_first = sorted(rules, key=lambda r: -thresholds[r])  # stable: ties keep §5 order
    soonest = pl.min_horizontal([pl.col(f"_htb_{r}") for r in rules])
    rule = first_match(
        [
            *((pl.col(f"_htb_{r}") < 0, pl.lit(r.value)) for r in crossed_first),
            *((pl.col(f"_htb_{r}") == soonest, pl.lit(r.value)) for r in rules),
        ],
        otherwise=pl.lit(None, dtype=pl.String),
    )
    pick = first_match(
        ((pl.col("rule") == r.value, pl.col(f"_htb_{r}")) for r in rules),
        otherwise=pl.lit(None, dtype=pl.Float64),
    )
    return (
        lf.with_columns(rule.alias("rule"))
        .with_columns(pick.alias("hours_to_breach"))
        .with_columns((pl.col("hours_to_breach") < 0).fill_null(False).alias("breached"))
    )


#: The article's service-order classes (服务单分类), first match wins; keywords are searched in
#: 一级/二级申请原因, 客户期望 and 服务单状态. Specific classes come first: a 质量问题 reason with a
#: 划痕 detail is an ordinary defect. Orders matching none are "other".
ORDER_CLASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("refused", ("拒收",)),
    ("defect", ("瑕疵", "划痕", "色差", "污渍", "少件", "漏发", "错发", "与描述不符", "包装")),
    ("quality", ("质量", "故障", "损坏", "破损", "坏了", "不工作", "性能")),
    ("no_reason", ("无理由", "不想要", "拍错", "多拍", "买错", "不喜欢")),
)
#: The column ``diagnose`` adds to the derived window orders (:func:`order_class`, computed once
#: for the plans that read it: scalars, classes and the manager views).
ORDER_CLASS_COLUMN = "_order_class"
ORDER_CLASS_KEYS: tuple[str, ...] = (*(k for k, _ in ORDER_CLASSES), "other")


def order_class() -> pl.Expr:
    """The article's service-order class (服务单分类) from the reasons, type and status."""
    text = pl.concat_str(
        [pl.col(c).cast(pl.String) for c in ("reason", "reason_detail", "service_type", "status")],
        separator="|",
        ignore_nulls=True,
    )
    return first_match(
        (
            (text.str.contains("|".join(words)).fill_null(False), pl.lit(key))
            for key, words in ORDER_CLASSES
        ),
        otherwise=pl.lit("other"),
    )
