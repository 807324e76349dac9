"""The frozen types every layer reads: a store's :class:`Diagnosis` and its parts, and the
:class:`Finding` a check raises.

Computed by :mod:`aftersales_kit.diagnose` (and :mod:`aftersales_kit.findings`,
:mod:`aftersales_kit.views`), read by the sections, the mail, the push and the portfolio. These
types know nothing of HTML, xlsx or papermill: :class:`aftersales_kit.api.Diagnosis` wraps the
data with the notebook display and ``to_html`` / ``to_excel``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

import polars as pl

from aftersales_kit.metrics import Kpis
from aftersales_kit.window import Window

#: How far ahead an open service order counts as due soon (the report, the mail, the push, the
#: findings and the daily routine all use this one horizon).
OPEN_HORIZON_HOURS = 24.0
#: Staffing advice only from hours of the day with at least this many applications (DOMAIN §6).
MIN_STAFFING_APPLICATIONS = 20


class FindingKind(enum.StrEnum):
    """Types of diagnosis findings; text.py holds one title and one advice per kind."""

    #: The scene × stage with the most hours above target; the stage is a value.
    SHORT_BOARD = "short_board"
    CONTROLLABLE_SHORT_BOARD = "controllable_short_board"
    CONSUMER_WARNING = "consumer_warning"
    OPEN_BREACHED = "open_breached"
    OPEN_AT_RISK = "open_at_risk"
    OPEN_LONG = "open_long"
    TREND_UP = "trend_up"
    AUDIT_PEAK_STAFFING = "audit_peak_staffing"
    PICKUP_SLOW = "pickup_slow"
    TRACKING_STALE = "tracking_stale"
    TRANSIT_SLOW = "transit_slow"
    INBOUND_SLOW = "inbound_slow"
    PROCESS_SLOW = "process_slow"
    LOW_FIRST_PASS = "low_first_pass"
    LONG_TAIL = "long_tail"
    FLASH_REFUND = "flash_refund"
    SA_TOOL = "sa_tool"
    EXCHANGE_STOCK = "exchange_stock"
    JD_MISMATCH = "jd_mismatch"


@dataclass(frozen=True)
class Finding:
    """One finding: its kind, severity (3 act now, 2 important, 1 worth a look) and values.

    ``values`` are typed (``Hours``, ``Share``, ``Count``, ``Stage`` …, see
    :mod:`aftersales_kit.format`); ``values["variant"]`` names the condition that fired when
    several can fire one kind (text.py has a title per variant).
    """

    kind: FindingKind
    severity: int
    values: Mapping[str, object]


@dataclass(frozen=True)
class ManagerViews:
    """The manager views of one store (DOMAIN §6), over the window's counted orders.

    skus
        ``sku_id, sku_name, count, quality_share, mean_hours, repair_exchange_share,
        over_line_hours`` (Σ max(hours − 60, 0)), largest over-line hours first.
    auditors
        ``auditor, audits, measured, median_audit_hours, over_24h_share, rejection_share,
        reaudit_share``; auto-audits are the ``SA`` row. Audit hours only where 审核时间 =
        商家首次审核时间 and the audit was manual (the name goes with the latest audit).
    processors
        ``processor, orders, measured, median_receipt_to_process_hours``.
    first_audit_rate, first_audit_classes
        一次审核完成率 (share of counted orders with both audit times and no re-audit), overall and
        per service-order class (``order_class, count, known, first_audit_rate``). A proxy of
        一次性沟通完成率.
    auto_share, auto_count, sa_candidates
        The auto-audited share (自动审核类型 set) and the classes audited by hand with ≥ 95 %
        approval and ≥ 30 orders: ``service_type, order_class, manual, approval_share,
        hours_saved`` (the mean's estimated drop if their manual audit hours went to ~0).
    readings, repair
        The readings check: ``scene, reading, mismatched, testable, explained, rule_lines`` and,
        for 维修, the distribution of JD − ours (``count, median, p10, p90``).
    missing
        View → the export header it needs that the store's rows never fill.
    peer_hours
        The category/peer mean the merchant gave (``peer_hours`` in stores.toml).
    staff_masked
        Whether auditor/processor names are masked (``[report] mask_staff``).
    """

    counted: int = 0
    skus: pl.DataFrame = field(default_factory=pl.DataFrame)
    auditors: pl.DataFrame = field(default_factory=pl.DataFrame)
    processors: pl.DataFrame = field(default_factory=pl.DataFrame)
    first_audit_rate: float | None = None
    first_audit_classes: pl.DataFrame = field(default_factory=pl.DataFrame)
    auto_share: float | None = None
    auto_count: int = 0
    sa_candidates: pl.DataFrame = field(default_factory=pl.DataFrame)
    readings: pl.DataFrame = field(default_factory=pl.DataFrame)
    repair: Mapping[str, float | int | None] = field(default_factory=dict)
    missing: Mapping[str, str] = field(default_factory=dict)
    peer_hours: float | None = None
    staff_masked: bool = False
    #: The readings check's match tolerance (as jd_check: 0.01 h, 1 h for whole-hour exports).
    tolerance_hours: float = 0.01


# --- expressions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShortBoard:
    """The scene × stage with the most hours above target (短板)."""

    scene: str
    stage: str
    excess_hours: float
    share_of_excess: float
    controllable_excess_hours: float


WarningState = Literal["triggered", "not_triggered", "cannot_judge"]


@dataclass(frozen=True)
class WarningRisk:
    """Consumer warning (交易咨询页面 "此店铺售后时效较长"): JD's condition and its state.

    ``state``: ``triggered`` (every input given and every condition holds), ``not_triggered``
    (the mean is within the line, or a given star/rank rate already fails the condition), or
    ``cannot_judge`` (the duration condition holds but star or rank rates were not given).
    ``level`` is the same three states in the older words (high / watch / ok) for the email.
    The duration condition uses the published 风向标 figure when one is given (``basis``
    "published"), else ours ("ours": a triggered state is then "预计已触发", to check on 风向标).
    """

    line_hours: float
    mean_over_line: bool
    star: float | None
    aftersales_rank: float | None
    dispute_rank: float | None
    full_condition: bool | None
    level: Literal["high", "watch", "ok"]
    state: WarningState = "not_triggered"
    #: Whose duration figure the condition used: the 风向标 figure the user gave (JD judges on
    #: its own figure) or, without one, ours ("按本工具计算": triggered is then an estimate).
    basis: Literal["published", "ours"] = "ours"
    #: The duration figure the condition used (the published one, else our mean).
    duration_hours: float | None = None
    #: The condition's star and rank-rate limits (rules ``warning_star`` / ``warning_rank``).
    star_limit: float = 3.5
    rank_limit: float = 0.2


@dataclass(frozen=True)
class Staffing:
    """Audit waits by hour of the day (every weekday together), from hours with at least
    :data:`MIN_STAFFING_APPLICATIONS` applications: the slowest and the fastest hours with their
    median audit hours, and whether the slow hours are at night (they wait for the morning)."""

    slow_hours: tuple[int, ...]
    slow_median_hours: float
    fast_hours: tuple[int, ...]
    fast_median_hours: float
    night: bool
    #: Hours of the day with enough applications to judge.
    hours_judged: int


@dataclass(frozen=True)
class FlashRefundCheck:
    """The 闪电退款 what-if's premise checked on the data (DOMAIN §6).

    ``candidates``: counted pickup-family returns with a pickup time (the what-if's orders);
    ``flash_rows``: counted 闪退 orders with both a pickup and a first-processing time;
    ``at_pickup``: those whose first processing lies within 1 h of the pickup. The what-if is
    kept only when there are candidates and more than half of the 闪退 rows are at pickup.
    """

    candidates: int
    flash_rows: int
    at_pickup: int

    @property
    def reason(self) -> Literal["kept", "no_candidates", "no_flash_rows", "not_at_pickup"]:
        if not self.candidates:
            return "no_candidates"
        if not self.flash_rows:
            return "no_flash_rows"
        if self.at_pickup * 2 <= self.flash_rows:
            return "not_at_pickup"
        return "kept"

    @property
    def kept(self) -> bool:
        return self.reason == "kept"


@dataclass(frozen=True)
class JdCheck:
    """Our hours against JD's own per-order figure (售后整体时长(H)) on the counted orders."""

    compared: int
    matched: int
    mean_hours: float | None  # ours, over the compared orders
    mean_jd_hours: float | None
    max_abs_diff_hours: float | None
    #: service_id, hours, jd_hours, diff_hours (ours − JD), cause; largest difference first.
    mismatches: pl.DataFrame

    @property
    def matched_share(self) -> float | None:
        return self.matched / self.compared if self.compared else None


@dataclass(frozen=True)
class Reconciliation:
    """The published 风向标 figure beside ours and JD's per-order mean, with the likely causes of
    a gap (text.py words each cause; the flagged ones first)."""

    published_hours: float
    mean_hours: float | None
    mean_jd_hours: float | None
    gap_hours: float | None  # published − ours
    causes: tuple[str, ...]
    flagged: tuple[str, ...]


@dataclass(frozen=True)
class Tomorrow:
    """Tomorrow's figure with the data as of now: the 考核周期 shifted by one day.

    ``leaving``/``entering``/``movers`` columns: service_id, apply_time, complete_time, hours,
    reason (out_of_window | apply_too_old | enters), effect_hours (this order's part of
    ``delta_hours``; the parts add up to it exactly).
    """

    window: Window
    counted: int
    mean_hours: float | None
    delta_hours: float | None
    leaving: pl.DataFrame
    entering: pl.DataFrame
    movers: pl.DataFrame
    #: reason of the order that moves the figure most (e.g. apply_too_old: one very old order
    #: aging out of the 180-day limit), None when nothing moves.
    largest_reason: str | None
    #: Today's completions are not in the data yet (the download is of yesterday): the open
    #: orders already over the 60 h line that will count, and tomorrow's mean if they all closed
    #: today at their elapsed hours (None when there are none).
    open_over_line: int = 0
    mean_if_closed: float | None = None


@dataclass(frozen=True)
class DataQuality:
    """Data-quality notes of a store's window (duplicates/bad rows are for the whole load)."""

    excluded: Mapping[str, int]
    out_of_order: int
    intervention_unbounded: int
    duplicates_dropped: int = 0
    bad_rows_dropped: int = 0
    load_warnings: int = 0
    #: (column, value, rows) for enumeration values JD does not document (all files loaded).
    unknown_values: tuple[tuple[str, str, int], ...] = ()
    #: Years whose Spring Festival the sample reaches but the holiday table does not cover.
    holiday_years_missing: tuple[int, ...] = ()
    #: (kind, count) of the load warnings (all files loaded), most frequent first: the report
    #: itemises them by kind, never one lump count.
    load_warning_counts: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Diagnosis:
    """All report data of one store for one window.

    Every figure is a field below; frames are polars DataFrames with personal columns masked.
    :func:`aftersales_kit.analyze` returns it wrapped with its views
    (:class:`aftersales_kit.api.Diagnosis`: notebook display, ``to_html``, ``to_excel``).
    docs/API.md has worked examples; docs/METHOD.md the rules behind each number.

    Attributes
    ----------
    store_id, store_name
        The store (店铺ID, 店铺名称).
    window, previous
        The assessment window (考核周期, inclusive dates) and the one of the same length before it.
    as_of
        Report time: open orders are judged as of this moment.
    data_until
        The latest apply/complete time in the store's data.
    kpis, prev_kpis
        ``Kpis`` of the window / previous window: ``counted, mean_hours, median_hours,
        p90_hours, over_60h_share, excluded`` (the JD figure is ``kpis.mean_hours``).
    peer_median_hours, peer_count
        Median of the other stores' mean hours (None with fewer than three peers), and their count.
    target_hours, target_given
        The line of the excess / short-board analysis: the user's target when set
        (``target_given``), else the 60 h consumer-warning line (提示线), which is not a target.
    trend_daily, trend_weekly
        ``date|week_start, counted, mean_hours, …`` per day / week of the window.
    breakdowns
        ``scene, service_type, reason`` and, when the data has them, ``category, sku, auditor,
        carrier`` → frame of ``key, count, share, mean_hours, …, excess_hours`` and stage means.
    stage_means, stage_by_scene
        Mean hours per stage (audit, return_ship, transit, inbound, process, intervention) overall
        and per scene (long form).
    excess, short_board, controllable_short_board
        Hours above the target attributed to scene × stage; the largest cell (短板) and the largest
        merchant-controllable one.
    alerts, alert_orders
        Counted orders breaking each §5 rule (``rule, threshold_hours, count, share``), and
        those orders.
    top100
        The 100 longest counted orders (历史服务单预警).
    open_at_risk
        Open orders that can still be counted and have a rule left to break, soonest first, with
        ``elapsed_hours, stage, rule, breached, hours_to_breach, projected_mean_delta``.
    heatmap, peak_hours
        Applications by weekday × hour with median audit hours; the busiest hours.
    first_pass_rate
        Share of counted orders audited once (None without the data).
    what_if, flash_refund
        Mean hours if a stage met its target, all stages did, without the n longest orders, or
        (``flash_refund_at_pickup``, an upper bound) if every pickup-family return with a pickup
        time stopped at pickup; ``flash_refund`` says whether the data's own 闪退 rows support
        that premise (the row is left out otherwise).
    warning
        ``WarningRisk``: the consumer-warning line, the observed star/ranks and the level.
    findings
        ``Finding`` objects (kind, severity, values), most important first; text.py words them.
    data_quality
        Excluded orders by reason, out-of-order timestamps, duplicates and bad rows dropped.
    observed
        The star / rank rates given (``--star`` …), empty when none.
    checkpoints, jd_check, reconciliation
        Checkpoint coverage; how far our hours match JD's own per-order hours; the comparison
        with the figure 风向标 publishes (``published_hours``).
    classes
        Service-order classes (无理由退换, 质量问题退换 …) with counts and audit figures.
    team_actions
        customer_service / logistics / warehouse → that team's open orders to act on.
    tomorrow
        Tomorrow's projected mean (the window moves one day) and the orders leaving / entering.
    orders
        One row per order of the store: every canonical column plus ``scene, clock_end,
        hours, gross_hours, intervention_hours, stage_<stage>, alert_<rule>, is_open, in_window,
        counted, excluded_reason`` and, for open orders, ``elapsed_hours, stage, rule, breached,
        hours_to_breach, rules_broken, team, next_action, open_at_risk``. The frame every number
        comes from (``orders.filter(counted)["hours"].mean() == kpis.mean_hours``). Only
        :func:`aftersales_kit.analyze` keeps it; the reports leave it empty.
    lang
        Language of the notebook views (``zh`` or ``en``).
    """

    store_id: str
    store_name: str
    window: Window
    previous: Window
    as_of: datetime
    data_until: datetime | None
    kpis: Kpis
    prev_kpis: Kpis
    peer_median_hours: float | None
    peer_count: int
    target_hours: float
    trend_daily: pl.DataFrame
    trend_weekly: pl.DataFrame
    breakdowns: Mapping[str, pl.DataFrame]
    stage_means: pl.DataFrame
    stage_by_scene: pl.DataFrame
    excess: pl.DataFrame
    short_board: ShortBoard | None
    alerts: pl.DataFrame
    alert_orders: pl.DataFrame
    top100: pl.DataFrame
    open_at_risk: pl.DataFrame
    heatmap: pl.DataFrame
    peak_hours: tuple[int, ...]
    first_pass_rate: float | None
    what_if: pl.DataFrame
    warning: WarningRisk
    findings: tuple[Finding, ...]
    data_quality: DataQuality
    observed: Mapping[str, float] = field(default_factory=dict)
    #: The cell with the most merchant-controllable excess hours: where the store itself can act
    #: when the short board is mostly outside its control (carrier transit, customer shipping).
    controllable_short_board: ShortBoard | None = None
    #: checkpoint, orders, share: counted orders that had each checkpoint (stage section).
    checkpoints: pl.DataFrame = field(default_factory=pl.DataFrame)
    jd_check: JdCheck | None = None
    reconciliation: Reconciliation | None = None
    #: order_class, count, share, audit_mean_hours, first_pass_rate (服务单分类).
    classes: pl.DataFrame = field(default_factory=pl.DataFrame)
    #: team -> open orders for that team (customer_service, logistics, warehouse).
    team_actions: Mapping[str, pl.DataFrame] = field(default_factory=dict)
    tomorrow: Tomorrow | None = None
    orders: pl.DataFrame = field(default_factory=pl.DataFrame)
    lang: str = "zh"
    #: hour, applications, median_audit_hours: applications by hour of the day (all weekdays).
    hourly: pl.DataFrame = field(default_factory=pl.DataFrame)
    #: Staffing advice from ``hourly`` (None: no hour has enough applications).
    staffing: Staffing | None = None
    #: Counted 仅退款 and 拒收件 orders: repetitive audits an SA 自动审核 rule can take.
    sa_candidates: int = 0
    #: The 闪电退款 what-if's premise on this data: kept, or why it was left out.
    flash_refund: FlashRefundCheck | None = None
    #: The user set ``target_hours`` (an argument or a rules file): only then is it a 目标;
    #: by default the excess is measured over the 60 h 提示线, which is not a JD target.
    target_given: bool = False
    #: Audited 直赔/补发 orders still 待处理 (DOMAIN §5): their clock stopped at the audit, so
    #: they are not open, but customer service still owes the compensation or the re-shipment.
    compensation_pending: pl.DataFrame = field(default_factory=pl.DataFrame)
    #: DOMAIN §2 "Data as of": the latest timestamp in the store's rows (future ones ignored).
    data_as_of: datetime | None = None
    #: hours from data_as_of to the run's "now" (the given --as-of, else the real clock)
    data_age_hours: float | None = None
    #: what ``as_of`` follows: ``given`` (--as-of), ``now``, ``data`` (an old download's date)
    as_of_source: str = "given"
    #: in a batch: data more than 48 h older than the newest store's (数据过期, not ranked)
    data_stale: bool = False
    #: the earliest apply date in the store's data (download coverage, DOMAIN §6)
    earliest_apply: date | None = None
    #: the window's apply-date limit (window end − history_days + 1): earlier ones never count
    apply_limit: date | None = None
    #: Manager views (DOMAIN §6): SKUs, auditors, processors, 一次审核完成率, SA, readings check.
    views: ManagerViews | None = None

    def open_split(self, *, horizon_hours: float = OPEN_HORIZON_HOURS) -> dict[str, int]:
        """Open service orders split as the report and email word them. Of those that can still
        count: ``over`` (past a warning line: act now), ``soon`` (a line within the horizon),
        ``later`` (a line further ahead), ``no_line`` (their stage has none); ``not_counted``
        (can never count). These five add up to every open order. ``long``: past the 60 h line
        among those that count (pulls the mean up once it counts, not a deadline; overlaps)."""
        risk = self.open_at_risk
        counts = risk.filter(pl.col("will_count"))
        breached = pl.col("breached").fill_null(False)
        left = pl.col("hours_to_breach")
        return {
            "over": counts.filter(breached).height,
            "soon": counts.filter(~breached & (left <= horizon_hours).fill_null(False)).height,
            "later": counts.filter((left > horizon_hours).fill_null(False)).height,
            "no_line": counts.filter(left.is_null()).height,
            "not_counted": risk.height - counts.height,
            "long": counts.filter(pl.col("over_60h")).height,
        }
