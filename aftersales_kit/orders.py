"""Per-order JD rules (DOMAIN §3–§5): scene, clock end, hours, stages, alerts, the sample.

Everything is a polars expression over whole columns; nothing loops over rows, so the same code
serves one store in a test and every store of a 10 M-row export in one lazy query. The rule
settings they read live in :mod:`aftersales_kit.rules`; the 考核周期 in
:mod:`aftersales_kit.window`.

Hours are calendar hours as floats at microsecond precision: ``Δµs / 3_600_000_000``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING

import polars as pl

from aftersales_kit.rules import (
    RULE_NAMES,
    STAGES,
    ExcludedReason,
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
    "return_start",
    "clock_end",
    "is_open",
    "gross_hours",
    "intervention_hours",
    "hours",
    *(f"stage_{s}" for s in STAGES),
    "out_of_order",
    "intervention_unbounded",
    *(f"alert_{r}" for r in RULE_NAMES),
    "jd_diff_hours",
    "jd_matched",
)


#: Scenes whose open orders never wait for goods to come back (DOMAIN §3, issue 10 claim 5).
NO_RETURN_SCENES: tuple[str, ...] = (
    SceneName.OFFLINE_REPLACEMENT.value,
    SceneName.FLASH_REFUND.value,
    SceneName.REFUND_ONLY.value,
    SceneName.COMPENSATION.value,
)


#: Columns ``window_sample`` adds.
SAMPLE_COLUMNS: tuple[str, ...] = ("in_window", "excluded_reason", "counted")


#: Columns ``open_order_status`` adds.
OPEN_COLUMNS: tuple[str, ...] = (
    "elapsed_hours",
    "stage",
    "rule",
    "breached",
    "hours_to_breach",
    "rules_broken",
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
    """The §4 stage of a gap between two checkpoints that take part (first row that fits)."""
    if start == _APPLY:
        return Stage.AUDIT
    if end == _RETURN:
        return Stage.RETURN_SHIP
    if start == _RETURN:
        return Stage.TRANSIT
    if start == _AUDIT and end in (_SIGN, _INBOUND):
        return Stage.RETURN_SHIP
    if start == _SIGN and end == _INBOUND:
        return Stage.INBOUND
    return Stage.PROCESS


#: What each §5 rule needs in the data set; a rule whose inputs no loaded row has is unavailable.
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
    "total_over_60h": (),
}


def _available_expr(rule: str) -> pl.Expr:
    """True when every input group of ``rule`` has a value somewhere in the whole frame."""
    groups = [
        pl.any_horizontal(pl.col(c).is_not_null().any() for c in group)
        for group in RULE_INPUTS[rule]
    ]
    return pl.all_horizontal(groups) if groups else pl.lit(True)


def _jd_whole_expr() -> pl.Expr:
    jd = pl.col("jd_hours")
    return (jd.is_null() | (jd == jd.round(0))).all()


@dataclass(frozen=True)
class DataTraits:
    """Facts about the whole data set that per-order rules depend on (DOMAIN §3, §5).

    ``available``: rule -> whether any loaded row has the rule's inputs (else the rule is
    unavailable, null). ``jd_whole_hours``: every 售后整体时长 is a whole number (the old export),
    so reconciliation allows 1 h instead of 0.01 h.
    """

    available: Mapping[str, bool]
    jd_whole_hours: bool


def data_traits(frame: pl.DataFrame | pl.LazyFrame) -> DataTraits:
    """The :class:`DataTraits` of ``frame`` (canonical orders, every store loaded): one scan.

    :func:`derive_orders` output works too: its unavailable rules are the all-null alerts.
    """
    lf = frame.lazy()
    if "hours" in lf.collect_schema().names():
        available = [pl.col(f"alert_{r}").is_not_null().any().alias(r) for r in RULE_NAMES]
    else:
        available = [_available_expr(r).alias(r) for r in RULE_NAMES]
    row = lf.select(*available, _jd_whole_expr().alias("_jd")).collect().row(0, named=True)
    return DataTraits(
        available=MappingProxyType({r: bool(row[r]) for r in RULE_NAMES}),
        jd_whole_hours=bool(row["_jd"]),
    )


def derive_orders(
    frame: pl.LazyFrame | pl.DataFrame, *, rules: Rules, traits: DataTraits | None = None
) -> pl.LazyFrame:
    """Every canonical column plus the per-order JD figures (DOMAIN §3–§5).

    Parameters
    ----------
    frame
        Canonical orders (``schema.COLUMNS``), any number of stores: rule availability (§5) is
        decided over the whole frame, so pass every store loaded.
    rules
        From :func:`aftersales_kit.rules.load_rules`.
    traits
        Data-set facts computed on every store loaded (:func:`data_traits`); by default they are
        computed over ``frame`` itself. Pass them when ``frame`` is a filtered part.

    Returns
    -------
    LazyFrame with the input columns (``complete_time`` filled with the clock end where the source
    has no 暂完结时间) and ``DERIVED_COLUMNS``: ``scene``, ``return_start``, ``clock_end``,
    ``is_open``, ``gross_hours``, ``intervention_hours``, ``hours``,
    ``stage_<audit|return_ship|transit|inbound|process>``, ``out_of_order``,
    ``intervention_unbounded``, ``alert_<rule>`` (null when the rule is unavailable),
    ``jd_diff_hours``, ``jd_matched``.

    Examples
    --------
    >>> derive_orders(frame, rules=load_rules()).select("service_id", "scene", "hours").collect()
    """
    lf = frame.lazy()
    scene, audit_ended = _scene_exprs(rules)
    apply = pl.col("apply_time")
    lf = lf.with_columns(
        scene.alias("scene"),
        audit_ended.alias("_audit_ended"),
        pl.coalesce("pickup_time", "customer_ship_time").alias("return_start"),
    ).with_columns(
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
            gaps[_gap_stage(k, i)].append(
                pl.when(taken & (pl.col(f"_pk{i}") == k)).then(hours).otherwise(0.0)
            )
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
    spans = {
        "audit_over_24h": (audit, pl.col("apply_time")),
        "return_ship_over_24h": (ret, audit),
        "tracking_stale_over_48h": (update_in_chain, ret),
        "transit_over_72h": (pl.coalesce(sign, inbound), ret),
        "inbound_over_24h": (inbound, sign),
        "inbound_over_48h": (inbound, sign),
        "process_over_24h": (process_end, inbound),
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
        available = _available_expr(rule) if traits is None else pl.lit(traits.available[rule])
        exprs.append(pl.when(available).then(fired).alias(f"alert_{rule}"))
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


def open_order_status(orders: pl.LazyFrame, *, as_of: datetime, rules: Rules) -> pl.LazyFrame:
    """Open orders (``is_open``) as of ``as_of`` with the §5 open-order rules.

    Adds ``elapsed_hours`` (as_of − apply_time minus JD intervention so far; the fixed ``hours``
    when the clock already stopped), ``stage`` (audit, return_ship, transit, inbound, process, or
    ``stopped`` when the clock end is already recorded), ``rule`` (the rule broken, else the one
    that will break next; null when none can), ``breached``, ``hours_to_breach`` (threshold minus
    time spent; negative = hours already over) and ``rules_broken`` (comma-joined, null if none).

    When several rules are broken, ``rule`` is the broken stage rule with the highest threshold
    (e.g. inbound_over_48h over inbound_over_24h), else total_over_60h.
    """
    now = pl.lit(as_of, dtype=pl.Datetime("us"))
    htb = _hours_to_breach(rules.thresholds, now=now)
    lf = (
        orders.lazy()
        .filter(pl.col("is_open"))
        .with_columns(
            _elapsed_hours(rules, now=now).alias("elapsed_hours"),
            _open_stage(rules).alias("stage"),
        )
        .with_columns([e.alias(f"_htb_{r}") for r, e in htb.items()])
    )
    lf = _with_rule(lf, thresholds=rules.thresholds)
    names = lf.collect_schema().names()
    keep = [c for c in names if not c.startswith("_") and c not in OPEN_COLUMNS]
    return lf.select(*keep, *OPEN_COLUMNS)


def _elapsed_hours(rules: Rules, *, now: pl.Expr) -> pl.Expr:
    """Hours so far minus JD intervention so far; the fixed ``hours`` once the clock stopped."""
    apply = pl.col("apply_time")
    audit_ended = pl.col("scene").is_in(_audit_ended_scenes(rules)).fill_null(False)
    flagged = pl.col("jd_intervened").fill_null(False)
    i_start, i_end = pl.col("intervention_start"), pl.col("intervention_end")
    bounded = flagged & i_start.is_not_null() & i_end.is_not_null() & ~audit_ended
    so_far = hours_between(pl.min_horizontal(i_end, now), earlier=pl.max_horizontal(i_start, apply))
    running = hours_between(now, earlier=apply) - pl.when(bounded).then(
        so_far.clip(lower_bound=0.0)
    ).otherwise(0.0)
    stopped = pl.col("hours").is_not_null()
    return pl.when(stopped).then(pl.col("hours")).otherwise(running)


def _open_stage(rules: Rules) -> pl.Expr:
    """The stage an open order waits in, or ``stopped`` when its clock end is recorded."""
    audit, ret = pl.col("first_audit_time"), pl.col("return_start")
    sign, inbound = pl.col("sign_time"), pl.col("inbound_time")
    return_ways = list(rules.return_approve_results)
    # An open 上门换新/线下换新 order waits for the merchant to send the new item, a 闪电退款 or
    # refund-only one for the refund: none waits for goods to come back.
    expects_return = (
        pl.col("service_type").is_in(list(rules.return_service_types)).fill_null(False)
        | pl.col("approve_result").is_in(return_ways).fill_null(False)
        | pl.col("return_method").is_in(return_ways).fill_null(False)
    ) & ~pl.col("scene").is_in(list(NO_RETURN_SCENES)).fill_null(False)
    return (
        pl.when(pl.col("hours").is_not_null())
        .then(pl.lit("stopped"))
        .when(audit.is_null())
        .then(pl.lit(Stage.AUDIT))
        .when(ret.is_null() & expects_return)
        .then(pl.lit(Stage.RETURN_SHIP))
        .when(ret.is_not_null() & sign.is_null())
        .then(pl.lit(Stage.TRANSIT))
        .when(sign.is_not_null() & inbound.is_null())
        .then(pl.lit(Stage.INBOUND))
        .otherwise(pl.lit(Stage.PROCESS))
    )


def _hours_to_breach(th: Mapping[str, float], *, now: pl.Expr) -> dict[Rule, pl.Expr]:
    """Per rule: its threshold minus the time spent where it can still apply, else null."""
    apply, audit, ret = pl.col("apply_time"), pl.col("first_audit_time"), pl.col("return_start")
    sign, inbound = pl.col("sign_time"), pl.col("inbound_time")
    stopped = pl.col("hours").is_not_null()
    elapsed = pl.col("elapsed_hours")

    def since(col: pl.Expr) -> pl.Expr:
        return hours_between(now, earlier=col)

    def left(rule: Rule, col: pl.Expr) -> pl.Expr:
        return th[rule] - since(col)

    st = pl.col("stage")
    total = Rule.TOTAL_OVER_60H
    return {
        Rule.AUDIT_OVER_24H: pl.when(st == Stage.AUDIT).then(left(Rule.AUDIT_OVER_24H, apply)),
        Rule.RETURN_SHIP_OVER_24H: pl.when(st == Stage.RETURN_SHIP).then(
            left(Rule.RETURN_SHIP_OVER_24H, audit)
        ),
        Rule.TRACKING_STALE_OVER_48H: pl.when(
            (st == Stage.TRANSIT) & pl.col("logistics_update_time").is_null()
        ).then(left(Rule.TRACKING_STALE_OVER_48H, ret)),
        Rule.TRANSIT_OVER_72H: pl.when(st == Stage.TRANSIT).then(left(Rule.TRANSIT_OVER_72H, ret)),
        Rule.INBOUND_OVER_24H: pl.when(st == Stage.INBOUND).then(left(Rule.INBOUND_OVER_24H, sign)),
        Rule.INBOUND_OVER_48H: pl.when(st == Stage.INBOUND).then(left(Rule.INBOUND_OVER_48H, sign)),
        Rule.PROCESS_OVER_24H: pl.when((st == Stage.PROCESS) & inbound.is_not_null()).then(
            left(Rule.PROCESS_OVER_24H, inbound)
        ),
        # A stopped clock never grows: only an already-broken total can apply.
        total: pl.when(~stopped | (elapsed > th[total])).then(th[total] - elapsed),
    }


def _with_rule(lf: pl.LazyFrame, *, thresholds: Mapping[str, float]) -> pl.LazyFrame:
    """``rule`` (broken, else soonest), ``hours_to_breach``, ``breached``, ``rules_broken``."""
    total = Rule.TOTAL_OVER_60H.value
    stage_rules = sorted(
        (r for r in RULE_NAMES if r != total), key=lambda r: -thresholds[r]
    )  # stable sort: ties keep the §5 order
    soonest = pl.min_horizontal([pl.col(f"_htb_{r}") for r in RULE_NAMES])
    rule = first_match(
        [
            *((pl.col(f"_htb_{r}") < 0, pl.lit(r)) for r in [*stage_rules, total]),
            *((pl.col(f"_htb_{r}") == soonest, pl.lit(r)) for r in RULE_NAMES),
        ],
        otherwise=pl.lit(None, dtype=pl.String),
    )
    pick = first_match(
        ((pl.col("rule") == r, pl.col(f"_htb_{r}")) for r in RULE_NAMES), otherwise=pl.lit(None)
    )
    broken = pl.concat_str(
        [pl.when(pl.col(f"_htb_{r}") < 0).then(pl.lit(r)) for r in RULE_NAMES],
        separator=",",
        ignore_nulls=True,
    )
    return (
        lf.with_columns(rule.alias("rule"))
        .with_columns(pick.alias("hours_to_breach"))
        .with_columns(
            (pl.col("hours_to_breach") < 0).fill_null(False).alias("breached"),
            pl.when(broken != "").then(broken).alias("rules_broken"),
        )
    )
