"""Findings as data: one small check per kind, run in one loop over one typed context.

Each check takes a :class:`FindingContext` (the figures of one store's diagnosis) and returns a
:class:`Finding` or ``None``; :data:`CHECKS` lists them and :func:`find` runs them all (the shape
of ydata-profiling's alerts). A finding carries typed values only (:mod:`aftersales_kit.format`'s
``Hours``, ``Share``, ``Count`` …); :func:`aftersales_kit.text.finding_text` words it from the
string catalog, one title and one piece of advice per kind. A new finding is one function here
and one catalog entry.

Severity: 3 = act now, 2 = important, 1 = worth a look. Findings are ordered by severity, then
by kind (the order of :class:`FindingKind`). The trigger limits are the toolkit's constants in
:data:`LIMITS` (not a rules-file setting); a caller may pass other :class:`FindingLimits`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import polars as pl

from aftersales_kit.format import (
    Basis,
    Change,
    ClockHours,
    Count,
    Hours,
    HoursLimit,
    LineName,
    Rule,
    Scene,
    Share,
    Stage,
    Star,
)
from aftersales_kit.model import (
    OPEN_HORIZON_HOURS,
    Finding,
    FindingKind,
    JdCheck,
    ShortBoard,
    Staffing,
    WarningRisk,
)
from aftersales_kit.rules import SceneName
from aftersales_kit.rules import Stage as StageName  # format.Stage is the finding value

if TYPE_CHECKING:
    from aftersales_kit.metrics import Kpis
    from aftersales_kit.rules import Rules


_KIND_ORDER = {kind: i for i, kind in enumerate(FindingKind)}


@dataclass(frozen=True)
class FindingLimits:
    """When a finding fires: the toolkit's trigger limits."""

    alert_share: float = 0.05  # a §5 rule broken by at least this share of counted orders
    inbound_mean_hours: float = 12.0  # DOMAIN §5: sign→inbound should average ≤ 12 h
    first_pass_rate: float = 0.80  # 一次性沟通完成率 below this is low
    open_horizon_hours: float = OPEN_HORIZON_HOURS  # open orders breaking a rule within it
    trend_up_share: float = 0.05  # mean up by at least 5 % vs the previous window
    long_tail_share: float = 0.10  # removing the n longest lowers the mean by at least 10 %
    long_tail_min_counted: int = 50  # only when the n longest are a small part of the orders
    flash_refund_hours: float = 1.0  # 闪电退款 what-if worth naming when it saves this much
    repetitive_share: float = 0.20  # 仅退款 + 拒收件 share of counted orders worth the SA tool


LIMITS = FindingLimits()
#: The 60 h line rule: an open order past it pulls the mean up but has missed no deadline.
LINE_RULE = "total_over_60h"


def _hours(value: float | None) -> Hours | None:
    return None if value is None else Hours(value)


def _count(value: int | None) -> Count | None:
    return None if value is None else Count(value)


@dataclass(frozen=True)
class FindingContext:
    """Everything the checks read: one store's figures, already computed by diagnose."""

    rules: Rules
    kpis: Kpis
    prev_kpis: Kpis
    #: stage → mean hours over the counted orders (``Diagnosis.stage_means``).
    stage_hours: Mapping[str, float | None]
    short_board: ShortBoard | None
    controllable_board: ShortBoard | None
    target_hours: float
    #: rule → row of ``Diagnosis.alerts`` (rule, threshold_hours, count, share).
    alerts: Mapping[str, Mapping[str, Any]]
    heatmap: pl.DataFrame
    peak_hours: tuple[int, ...]
    first_pass: float | None
    what_if: pl.DataFrame
    warning: WarningRisk
    open_at_risk: pl.DataFrame
    breakdowns: Mapping[str, pl.DataFrame]
    excess: pl.DataFrame | None = None
    jd_check: JdCheck | None = None
    limits: FindingLimits = field(default=LIMITS)
    #: The user set the target (else the excess is over the 60 h 提示线, not a target).
    target_given: bool = False
    #: Counted 仅退款 and 拒收件 orders: repetitive audits for SA 自动审核 rules.
    sa_candidates: int = 0
    #: Audit waits by hour of the day (hours with enough applications only).
    staffing: Staffing | None = None
    #: Whether the data's own 闪退 rows support the 闪电退款 what-if.

    @property
    def line_name(self) -> LineName:
        """What the excess is measured over: the user's 目标, else the 提示线."""
        return LineName("target" if self.target_given else "warning")

    @property
    def over_line(self) -> bool:
        """The duration is over the consumer-warning line (only then can a short board be 紧急):
        the published 风向标 figure when given (JD's own), else our mean."""
        published = self.warning.duration_hours
        duration = self.mean if published is None else float(published)
        return duration > float(self.rules.warning_hours)

    @property
    def mean(self) -> float:
        """The window's mean hours (checks run only when there is one)."""
        return self.kpis.mean_hours or 0.0

    def stage_mean(self, stage: str) -> Hours | None:
        return _hours(self.stage_hours.get(stage))

    def alert_hit(self, rule: str) -> bool:
        """The rule is broken by at least ``alert_share`` of the counted orders."""
        row = self.alerts.get(rule)
        return bool(row and row["count"] and row["share"] >= self.limits.alert_share)

    def alert_values(self, rule: str) -> dict[str, object]:
        row = self.alerts[rule]
        return {
            "rule": Rule(rule),
            "threshold_hours": HoursLimit(row["threshold_hours"]),
            "count": Count(row["count"]),
            "share": Share(row["share"]),
        }


Check = Callable[[FindingContext], Finding | None]
#: Every check, in the order they run (the result is sorted by severity and kind afterwards).
CHECKS: list[Check] = []


def check(fn: Check) -> Check:
    """Register ``fn`` as a finding check."""
    CHECKS.append(fn)
    return fn


def find(ctx: FindingContext) -> tuple[Finding, ...]:
    """Run every check; most important first. No findings without counted orders."""
    if ctx.kpis.counted == 0 or ctx.kpis.mean_hours is None:
        return ()
    found = [f for f in (c(ctx) for c in CHECKS) if f is not None]
    found.sort(key=lambda f: (-f.severity, _KIND_ORDER[f.kind]))
    return tuple(found)


# --- the checks ----------------------------------------------------------------------------------


@check
def short_board(ctx: FindingContext) -> Finding | None:
    board = ctx.short_board
    if board is None:
        return None
    return Finding(
        FindingKind.SHORT_BOARD,
        _board_severity(ctx),
        {
            "scene": Scene(board.scene),
            "stage": Stage(board.stage),
            "excess_hours": Hours(board.excess_hours),
            "share_of_excess": Share(board.share_of_excess),
            "controllable_excess_hours": Hours(board.controllable_excess_hours),
            "target_hours": HoursLimit(ctx.target_hours),
            "line_name": ctx.line_name,
        },
    )


def _board_severity(ctx: FindingContext) -> int:
    """紧急 (3) only while the mean is over the 提示线: a store under it is not urgent for its
    long orders alone (DOMAIN §6)."""
    return 3 if ctx.over_line else 2


@check
def controllable_short_board(ctx: FindingContext) -> Finding | None:
    """Where the store can act when its short board is mostly outside its control."""
    board, mine = ctx.short_board, ctx.controllable_board
    if board is None or mine is None or (mine.scene, mine.stage) == (board.scene, board.stage):
        return None
    if board.controllable_excess_hours >= board.excess_hours / 2:
        return None
    return Finding(
        FindingKind.CONTROLLABLE_SHORT_BOARD,
        _board_severity(ctx),
        {
            "scene": Scene(mine.scene),
            "stage": Stage(mine.stage),
            "controllable_excess_hours": Hours(mine.controllable_excess_hours),
            "target_hours": HoursLimit(ctx.target_hours),
            "line_name": ctx.line_name,
        },
    )


_WARNING_SEVERITY = {"triggered": 3, "cannot_judge": 2, "not_triggered": 1}


@check
def consumer_warning(ctx: FindingContext) -> Finding | None:
    """Three states (DOMAIN §6); the duration condition alone is never "high risk". The
    condition uses the published 风向标 figure when given: JD judges on its own figure, so a
    triggered state from ours is only "预计已触发" (variant ``triggered_ours``)."""
    warning = ctx.warning
    if not warning.mean_over_line:
        return None

    def rank(value: float | None) -> Share | None:
        return None if value is None else Share(value)

    basis = warning.basis
    variant = (
        "triggered_ours" if warning.state == "triggered" and basis == "ours" else warning.state
    )
    duration = warning.duration_hours
    return Finding(
        FindingKind.CONSUMER_WARNING,
        _WARNING_SEVERITY[warning.state],
        {
            "variant": variant,
            "basis": Basis(basis),
            "mean_hours": Hours(ctx.mean if duration is None else duration),
            "line_hours": HoursLimit(warning.line_hours),
            "star": None if warning.star is None else Star(warning.star),
            "aftersales_rank": rank(warning.aftersales_rank),
            "dispute_rank": rank(warning.dispute_rank),
            "star_limit": Star(ctx.rules.warning_star),
            "rank_limit": Share(ctx.rules.warning_rank),
        },
    )


#: Open orders that can still count (the others are listed as 不计入考核, never a finding).
_COUNTS = pl.col("will_count").fill_null(False)
_BREACHED = pl.col("breached").fill_null(False) & _COUNTS


def _projected(frame: pl.DataFrame) -> Hours:
    return Hours(frame["projected_mean_delta"].fill_null(0.0).sum())


@check
def open_breached(ctx: FindingContext) -> Finding | None:
    """Open orders already over a stage limit: act now."""
    over = ctx.open_at_risk.filter(_BREACHED)
    if not over.height:
        return None
    values = {
        "count": Count(over.height),
        "max_over_hours": Hours(-cast(float, over["hours_to_breach"].min())),
        "projected_mean_delta": _projected(over),
    }
    return Finding(FindingKind.OPEN_BREACHED, 3, values)


@check
def open_at_risk(ctx: FindingContext) -> Finding | None:
    """Open orders about to breach a stage limit within the horizon."""
    horizon = ctx.limits.open_horizon_hours
    within = (pl.col("hours_to_breach") <= horizon).fill_null(False)
    soon = ctx.open_at_risk.filter(_COUNTS & ~_BREACHED & within)
    if not soon.height:
        return None
    values = {
        "count": Count(soon.height),
        "horizon_hours": HoursLimit(horizon),
        "min_left_hours": Hours(cast(float, soon["hours_to_breach"].min())),
    }
    return Finding(FindingKind.OPEN_AT_RISK, 2, values)


@check
def open_long(ctx: FindingContext) -> Finding | None:
    """Open orders past the 60 h line: they pull the mean up, they missed no deadline."""
    long_open = ctx.open_at_risk.filter(_COUNTS & pl.col("over_60h").fill_null(False))
    if not long_open.height:
        return None
    values = {
        "count": Count(long_open.height),
        "line_hours": HoursLimit(ctx.rules.thresholds[LINE_RULE]),
        "projected_mean_delta": _projected(long_open),
    }
    return Finding(FindingKind.OPEN_LONG, 2, values)


@check
def trend_up(ctx: FindingContext) -> Finding | None:
    prev = ctx.prev_kpis.mean_hours
    if not prev or (ctx.mean - prev) / prev < ctx.limits.trend_up_share:
        return None
    values = {
        "mean_hours": Hours(ctx.mean),
        "previous_mean_hours": Hours(prev),
        "change_share": Change((ctx.mean - prev) / prev),
    }
    return Finding(FindingKind.TREND_UP, 2, values)


@check
def audit_peak_staffing(ctx: FindingContext) -> Finding | None:
    """Staff to the hours of the day, judged only on hours with enough applications (all
    weekdays together): one weekday × hour cell is too small to advise on."""
    if not ctx.alert_hit("audit_over_24h"):
        return None
    staffing = ctx.staffing
    values: dict[str, object] = {
        **ctx.alert_values("audit_over_24h"),
        "audit_mean_hours": ctx.stage_mean("audit"),
        "peak_hours": ClockHours(ctx.peak_hours),
    }
    if staffing is None:
        values["variant"] = "few"
    else:
        values["variant"] = "night" if staffing.night else "hours"
        values |= {
            "slow_hours": ClockHours(staffing.slow_hours),
            "slow_median_hours": Hours(staffing.slow_median_hours),
            "fast_hours": ClockHours(staffing.fast_hours),
            "fast_median_hours": Hours(staffing.fast_median_hours),
        }
    return Finding(FindingKind.AUDIT_PEAK_STAFFING, 2, values)


@check
def pickup_slow(ctx: FindingContext) -> Finding | None:
    if not ctx.alert_hit("return_ship_over_24h"):
        return None
    values = {
        **ctx.alert_values("return_ship_over_24h"),
        "return_ship_mean_hours": ctx.stage_mean("return_ship"),
    }
    return Finding(FindingKind.PICKUP_SLOW, 2, values)


@check
def tracking_stale(ctx: FindingContext) -> Finding | None:
    if not ctx.alert_hit("tracking_stale_over_48h"):
        return None
    return Finding(FindingKind.TRACKING_STALE, 1, ctx.alert_values("tracking_stale_over_48h"))


@check
def transit_slow(ctx: FindingContext) -> Finding | None:
    if not ctx.alert_hit("transit_over_72h"):
        return None
    carriers = ctx.breakdowns.get("carrier")
    slowest = carriers["key"][0] if carriers is not None and carriers.height else None
    values = {
        **ctx.alert_values("transit_over_72h"),
        "transit_mean_hours": ctx.stage_mean("transit"),
        "slowest_carrier": slowest,
    }
    return Finding(FindingKind.TRANSIT_SLOW, 2, values)


@check
def inbound_slow(ctx: FindingContext) -> Finding | None:
    """The title names the condition that fired: the mean above its limit, else the share of
    orders not booked in after 48 h, else after 24 h."""
    inbound_mean = ctx.stage_hours.get("inbound") or 0.0
    limit = ctx.limits.inbound_mean_hours
    if inbound_mean > limit:
        variant = "mean"
    elif ctx.alert_hit("inbound_over_48h"):
        variant = "over_48h"
    elif ctx.alert_hit("inbound_over_24h"):
        variant = "over_24h"
    else:
        return None
    rule = "inbound_over_24h" if variant == "over_24h" else "inbound_over_48h"
    values = {
        "variant": variant,
        **(ctx.alert_values(rule) if rule in ctx.alerts else {}),
        "inbound_mean_hours": Hours(inbound_mean),
        "inbound_mean_limit_hours": HoursLimit(limit),
        "over_24h_count": _count(ctx.alerts.get("inbound_over_24h", {}).get("count")),
        "over_48h_count": _count(ctx.alerts.get("inbound_over_48h", {}).get("count")),
    }
    return Finding(FindingKind.INBOUND_SLOW, 2, values)


@check
def process_slow(ctx: FindingContext) -> Finding | None:
    if not ctx.alert_hit("process_over_24h"):
        return None
    values = {
        **ctx.alert_values("process_over_24h"),
        "process_mean_hours": ctx.stage_mean("process"),
    }
    return Finding(FindingKind.PROCESS_SLOW, 2, values)


@check
def low_first_pass(ctx: FindingContext) -> Finding | None:
    limit = ctx.limits.first_pass_rate
    if ctx.first_pass is None or ctx.first_pass >= limit:
        return None
    values = {"first_pass_rate": Share(ctx.first_pass), "limit": Share(limit)}
    return Finding(FindingKind.LOW_FIRST_PASS, 1, values)


@check
def flash_refund(ctx: FindingContext) -> Finding | None:
    """闪电退款's upper bound (pickup-family returns stopping at pickup), only while there is
    excess to remove and only when the data's own 闪退 rows support the premise (the what-if
    row exists only then)."""
    if ctx.short_board is None:
        return None
    refund = ctx.what_if.filter(
        (pl.col("scenario") == "flash_refund_at_pickup")
        & (pl.col("delta_hours") <= -ctx.limits.flash_refund_hours)
    ).sort("delta_hours")
    if not refund.height:
        return None
    best = refund.row(0, named=True)
    values = {
        "scene": Scene(best["scene"]),
        "count": Count(best["n"]),
        "mean_hours": Hours(ctx.mean),
        "mean_refund_hours": Hours(best["mean_hours"]),
        "delta_hours": Hours(best["delta_hours"]),
    }
    return Finding(FindingKind.FLASH_REFUND, 2, values)


@check
def sa_tool(ctx: FindingContext) -> Finding | None:
    """SA 自动审核 rules for repetitive audits (仅退款, 拒收件): never bulk rejections, which
    raise 交易纠纷 (half of the consumer-warning condition)."""
    repetitive = int(ctx.sa_candidates)
    share = repetitive / ctx.kpis.counted
    audit_board = ctx.short_board is not None and ctx.short_board.stage == "audit"
    if not (audit_board or ctx.alert_hit("audit_over_24h")):
        return None
    if share < ctx.limits.repetitive_share:
        return None
    values = {
        "count": Count(repetitive),
        "share": Share(share),
        "audit_mean_hours": ctx.stage_mean("audit"),
    }
    return Finding(FindingKind.SA_TOOL, 2, values)


@check
def exchange_stock(ctx: FindingContext) -> Finding | None:
    excess = ctx.excess
    if excess is None or not excess.height:
        return None
    exchange = excess.filter(
        (pl.col("scene") == SceneName.EXCHANGE)
        & pl.col("stage").is_in([StageName.PROCESS.value, StageName.INBOUND.value])
    )
    hours = float(exchange["excess_hours"].sum() or 0.0)
    if hours <= 0:
        return None
    values = {
        "excess_hours": Hours(hours),
        "target_hours": HoursLimit(ctx.target_hours),
        "line_name": ctx.line_name,
    }
    return Finding(FindingKind.EXCHANGE_STOCK, 1, values)


@check
def jd_mismatch(ctx: FindingContext) -> Finding | None:
    jd = ctx.jd_check
    if jd is None or not jd.compared or jd.matched >= jd.compared:
        return None
    values = {
        "count": Count(jd.compared - jd.matched),
        "compared": Count(jd.compared),
        "matched_share": None if jd.matched_share is None else Share(jd.matched_share),
        "mean_hours": _hours(jd.mean_hours),
        "mean_jd_hours": _hours(jd.mean_jd_hours),
    }
    return Finding(FindingKind.JD_MISMATCH, 1, values)


@check
def long_tail(ctx: FindingContext) -> Finding | None:
    """A few very long orders lift the mean (only when they are a small part of the orders)."""
    tail = ctx.what_if.filter(pl.col("scenario") == "without_longest").head(1)
    if ctx.kpis.counted < ctx.limits.long_tail_min_counted or not tail.height:
        return None
    without = tail["mean_hours"][0]
    if without is None or ctx.mean <= 0:
        return None
    drop = (ctx.mean - without) / ctx.mean
    if drop < ctx.limits.long_tail_share:
        return None
    values = {
        "n": Count(tail["n"][0]),
        "mean_hours": Hours(ctx.mean),
        "mean_without_hours": Hours(without),
        "drop_share": Share(drop),
    }
    return Finding(FindingKind.LONG_TAIL, 1, values)


__all__ = [
    "CHECKS",
    "LIMITS",
    "FindingContext",
    "FindingLimits",
    "check",
    "find",
]
