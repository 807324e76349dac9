"""Per-order JD rules (DOMAIN §3–§5): scene, clock end, hours, stages, alerts, window sample.

Everything is a polars expression over whole columns; nothing loops over rows, so the same code
serves one store in a test and every store of a 10 M-row export in one lazy query.

Hours are calendar hours as floats at microsecond precision: ``Δµs / 3_600_000_000``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from aftersales_kit.errors import UsageError
from aftersales_kit.settings import RULE_NAMES, STAGES, Rules

US_PER_HOUR = 3_600_000_000
CHINA = ZoneInfo("Asia/Shanghai")

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
)
#: §5 stage rules on completed orders: rule -> (later, earlier) timestamp; over = strictly greater.
ALERT_SPANS: dict[str, tuple[str, str]] = {
    "audit_over_24h": ("first_audit_time", "apply_time"),
    "return_ship_over_24h": ("return_start", "first_audit_time"),
    "tracking_stale_over_48h": ("logistics_update_time", "return_start"),
    "transit_over_72h": ("sign_time", "return_start"),
    "inbound_over_24h": ("inbound_time", "sign_time"),
    "inbound_over_48h": ("inbound_time", "sign_time"),
    "process_over_24h": ("first_process_time", "inbound_time"),
}
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


@dataclass(frozen=True)
class Window:
    """A window of whole days, both ends inclusive (JD: end = yesterday, 30 days)."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start > self.end:
            msg = (
                f"窗口开始日期晚于结束日期 (window start {self.start} is after end {self.end}); "
                "请检查 --start/--end (check --start/--end)"
            )
            raise UsageError(msg)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_at(self) -> datetime:
        """First instant inside the window."""
        return datetime.combine(self.start, time())

    @property
    def end_before(self) -> datetime:
        """First instant after the window (the window is ``[start_at, end_before)``)."""
        return datetime.combine(self.end + timedelta(days=1), time())

    def previous(self) -> Window:
        """The window of the same length that ends the day before this one starts."""
        end = self.start - timedelta(days=1)
        return Window(start=end - timedelta(days=self.days - 1), end=end)


def default_window(
    *, end: date | None = None, rules: Rules, as_of: datetime | None = None
) -> Window:
    """JD's window: ``end`` (default the day before ``as_of``, i.e. yesterday in China) and the
    ``window_days − 1`` days before it."""
    if end is None:
        now = as_of if as_of is not None else datetime.now(CHINA).replace(tzinfo=None)
        end = now.date() - timedelta(days=1)
    return Window(start=end - timedelta(days=rules.window_days - 1), end=end)


def hours_between(later: pl.Expr, *, earlier: pl.Expr) -> pl.Expr:
    """Calendar hours from ``earlier`` to ``later`` (null when either is null)."""
    return (later - earlier).dt.total_microseconds() / US_PER_HOUR


def _scene_exprs(rules: Rules) -> tuple[pl.Expr, pl.Expr]:
    """(scene name, clock stops at first audit) from the ordered scene table."""
    scene: pl.Expr | None = None
    audit_ended: pl.Expr | None = None
    for rule in rules.scenes:
        match = pl.col(rule.field).is_in(list(rule.values)).fill_null(False)
        is_audit = pl.lit(rule.stop == "first_audit")
        if scene is None:
            scene = pl.when(match).then(pl.lit(rule.scene))
            audit_ended = pl.when(match).then(is_audit)
        else:
            scene = scene.when(match).then(pl.lit(rule.scene))  # type: ignore[attr-defined]
            audit_ended = audit_ended.when(match).then(is_audit)  # type: ignore[union-attr]
    if scene is None or audit_ended is None:
        return pl.col("service_type"), pl.lit(False)
    return (
        scene.otherwise(pl.col("service_type")),  # type: ignore[attr-defined]
        audit_ended.otherwise(pl.lit(False)),  # type: ignore[attr-defined]
    )


def derive_orders(frame: pl.LazyFrame | pl.DataFrame, *, rules: Rules) -> pl.LazyFrame:
    """Every canonical column plus the per-order JD figures (DOMAIN §3–§5).

    Parameters
    ----------
    frame
        Canonical orders (``schema.COLUMNS``), any number of stores.
    rules
        From :func:`aftersales_kit.settings.load_rules`.

    Returns
    -------
    LazyFrame with the input columns and ``DERIVED_COLUMNS``: ``scene``, ``return_start``,
    ``clock_end``, ``is_open``, ``gross_hours``, ``intervention_hours``, ``hours``,
    ``stage_<audit|return_ship|transit|inbound|process>``, ``out_of_order``,
    ``intervention_unbounded``, ``alert_<rule>``.

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
        (
            pl.col("complete_time").is_null()
            & ~pl.col("status").is_in(list(rules.terminal_statuses)).fill_null(False)
        ).alias("is_open"),
    )
    end = pl.col("clock_end")
    valid = (end.is_not_null() & apply.is_not_null() & (end >= apply)).alias("_valid")
    lf = lf.with_columns(valid)
    valid_c = pl.col("_valid")

    # A checkpoint takes part when present and not after the clock end; audit-ended scenes have
    # only the audit checkpoint. prev_i is the latest accepted checkpoint before i: the running max
    # of earlier candidates, because a skipped (out-of-order) one never raises it.
    checkpoints = ("first_audit_time", "return_start", "sign_time", "inbound_time")
    cands = []
    for i, col in enumerate(checkpoints):
        c = pl.col(col)
        take = c.is_not_null() & (c <= end)
        if i > 0:
            take = take & ~pl.col("_audit_ended")
        cands.append(pl.when(take).then(c).alias(f"_c{i}"))
    lf = lf.with_columns(cands)
    prevs = [apply]
    for i in range(len(checkpoints)):
        prevs.append(pl.max_horizontal(prevs[-1], pl.col(f"_c{i}")))
    lf = lf.with_columns([p.alias(f"_p{i}") for i, p in enumerate(prevs)])

    stage_exprs = []
    for i, stage in enumerate(STAGES):
        ends_at = pl.col(f"_c{i}") if i < len(checkpoints) else end
        gap = hours_between(ends_at, earlier=pl.col(f"_p{i}")).clip(lower_bound=0.0).fill_null(0.0)
        stage_exprs.append(pl.when(valid_c).then(gap).alias(f"stage_{stage}"))
    out_of_order = pl.any_horizontal(
        [(pl.col(f"_c{i}") < pl.col(f"_p{i}")).fill_null(False) for i in range(len(checkpoints))]
    )

    flagged = pl.col("jd_intervened").fill_null(False)
    i_start, i_end = pl.col("intervention_start"), pl.col("intervention_end")
    bounded = flagged & i_start.is_not_null() & i_end.is_not_null()
    overlap = hours_between(
        pl.min_horizontal(i_end, end), earlier=pl.max_horizontal(i_start, apply)
    )
    intervention = (
        pl.when(valid_c & bounded & ~pl.col("_audit_ended"))
        .then(overlap.clip(lower_bound=0.0))
        .otherwise(0.0)
    )
    gross = pl.when(valid_c).then(hours_between(end, earlier=apply))
    lf = lf.with_columns(
        gross.alias("gross_hours"),
        intervention.alias("intervention_hours"),
        *stage_exprs,
        (valid_c & out_of_order).alias("out_of_order"),
        (flagged & ~bounded).alias("intervention_unbounded"),
    ).with_columns((pl.col("gross_hours") - pl.col("intervention_hours")).alias("hours"))

    completed = ~pl.col("is_open")
    th = rules.thresholds
    spans = ALERT_SPANS
    alerts = [
        (
            completed & (hours_between(pl.col(a), earlier=pl.col(b)) > th[rule]).fill_null(False)
        ).alias(f"alert_{rule}")
        for rule, (a, b) in spans.items()
    ]
    alerts.append(
        (completed & (pl.col("hours") > th["total_over_60h"]).fill_null(False)).alias(
            "alert_total_over_60h"
        )
    )
    lf = lf.with_columns(alerts)
    names = lf.collect_schema().names()
    keep = [c for c in names if not c.startswith("_") and c not in DERIVED_COLUMNS]
    return lf.select(*keep, *DERIVED_COLUMNS)


def _audit_ended_scenes(rules: Rules) -> list[str]:
    return [s.scene for s in rules.scenes if s.stop == "first_audit"]


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
    cancel_scenes = [s.scene for s in rules.scenes if s.missing_stop == "cancelled_before_audit"]
    no_end = pl.col("clock_end").is_null()
    reason = (
        pl.when(~pl.col("in_window"))
        .then(pl.lit(None, dtype=pl.String))
        .when(holiday)
        .then(pl.lit("holiday"))
        .when((apply < oldest).fill_null(False))
        .then(pl.lit("apply_too_old"))
        .when(no_end & pl.col("scene").is_in(cancel_scenes).fill_null(False))
        .then(pl.lit("cancelled_before_audit"))
        .when(no_end)
        .then(pl.lit("missing_end"))
        .when(pl.col("hours").is_null())
        .then(pl.lit("invalid"))
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
    th = rules.thresholds
    now = pl.lit(as_of, dtype=pl.Datetime("us"))
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
    elapsed = pl.when(stopped).then(pl.col("hours")).otherwise(running)

    audit, ret = pl.col("first_audit_time"), pl.col("return_start")
    sign, inbound = pl.col("sign_time"), pl.col("inbound_time")
    expects_return = pl.col("service_type").is_in(list(rules.return_service_types)).fill_null(
        False
    ) | pl.col("approve_result").is_in(list(rules.return_approve_results)).fill_null(False)
    stage = (
        pl.when(stopped)
        .then(pl.lit("stopped"))
        .when(audit.is_null())
        .then(pl.lit("audit"))
        .when(ret.is_null() & expects_return)
        .then(pl.lit("return_ship"))
        .when(ret.is_not_null() & sign.is_null())
        .then(pl.lit("transit"))
        .when(sign.is_not_null() & inbound.is_null())
        .then(pl.lit("inbound"))
        .otherwise(pl.lit("process"))
    )

    def since(col: pl.Expr) -> pl.Expr:
        return hours_between(now, earlier=col)

    st = pl.col("stage")
    htb = {
        "audit_over_24h": pl.when(st == "audit").then(th["audit_over_24h"] - since(apply)),
        "return_ship_over_24h": pl.when(st == "return_ship").then(
            th["return_ship_over_24h"] - since(audit)
        ),
        "tracking_stale_over_48h": pl.when(
            (st == "transit") & pl.col("logistics_update_time").is_null()
        ).then(th["tracking_stale_over_48h"] - since(ret)),
        "transit_over_72h": pl.when(st == "transit").then(th["transit_over_72h"] - since(ret)),
        "inbound_over_24h": pl.when(st == "inbound").then(th["inbound_over_24h"] - since(sign)),
        "inbound_over_48h": pl.when(st == "inbound").then(th["inbound_over_48h"] - since(sign)),
        "process_over_24h": pl.when((st == "process") & inbound.is_not_null()).then(
            th["process_over_24h"] - since(inbound)
        ),
        # A stopped clock never grows: only an already-broken total can apply.
        "total_over_60h": pl.when(~stopped | (pl.col("elapsed_hours") > th["total_over_60h"])).then(
            th["total_over_60h"] - pl.col("elapsed_hours")
        ),
    }
    lf = (
        orders.lazy()
        .filter(pl.col("is_open"))
        .with_columns(elapsed.alias("elapsed_hours"), stage.alias("stage"))
        .with_columns([e.alias(f"_htb_{r}") for r, e in htb.items()])
    )
    stage_rules = sorted(
        (r for r in RULE_NAMES if r != "total_over_60h"), key=lambda r: -th[r]
    )  # stable sort: ties keep the §5 order
    chosen: pl.Expr | None = None
    for r in [*stage_rules, "total_over_60h"]:
        cond = pl.col(f"_htb_{r}") < 0
        chosen = (pl.when(cond) if chosen is None else chosen.when(cond)).then(pl.lit(r))
    soonest = pl.min_horizontal([pl.col(f"_htb_{r}") for r in RULE_NAMES])
    for r in RULE_NAMES:
        chosen = chosen.when(pl.col(f"_htb_{r}") == soonest).then(pl.lit(r))  # type: ignore[union-attr]
    rule = chosen.otherwise(pl.lit(None, dtype=pl.String))  # type: ignore[union-attr]
    pick: pl.Expr | None = None
    for r in RULE_NAMES:
        cond = pl.col("rule") == r
        pick = (pl.when(cond) if pick is None else pick.when(cond)).then(pl.col(f"_htb_{r}"))
    broken = pl.concat_str(
        [pl.when(pl.col(f"_htb_{r}") < 0).then(pl.lit(r)) for r in RULE_NAMES],
        separator=",",
        ignore_nulls=True,
    )
    lf = (
        lf.with_columns(rule.alias("rule"))
        .with_columns(pick.otherwise(None).alias("hours_to_breach"))  # type: ignore[union-attr]
        .with_columns(
            (pl.col("hours_to_breach") < 0).fill_null(False).alias("breached"),
            pl.when(broken != "").then(broken).alias("rules_broken"),
        )
    )
    names = lf.collect_schema().names()
    keep = [c for c in names if not c.startswith("_") and c not in OPEN_COLUMNS]
    return lf.select(*keep, *OPEN_COLUMNS)


def parse_as_of(text: str | None) -> datetime:
    """``--as-of`` (``YYYY-MM-DD[ HH:MM[:SS]]``, China local time); default now in China."""
    if text is None:
        return datetime.now(CHINA).replace(microsecond=0, tzinfo=None)
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        value = None
    if value is None or value.tzinfo is not None:
        msg = (
            f"--as-of 不是有效时间 (not a valid local date-time): {text!r}; "
            "格式 (format) YYYY-MM-DD HH:MM:SS"
        )
        raise UsageError(msg)
    return value


def _parse_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        msg = f"{option} 不是有效日期 (not a valid date): {text!r}; 格式 (format) YYYY-MM-DD"
        raise UsageError(msg) from None


def parse_window(
    start: str | None, *, end: str | None, rules: Rules, as_of: datetime | None = None
) -> Window:
    """The window of ``--start``/``--end``.

    Neither: JD's default (end = the day before ``as_of``, ``window_days`` long). Only ``--end``:
    the ``window_days`` ending there. Only ``--start``: the ``window_days`` starting there.
    """
    if start is None:
        end_day = None if end is None else _parse_day(end, "--end")
        return default_window(end=end_day, rules=rules, as_of=as_of)
    start_day = _parse_day(start, "--start")
    if end is None:
        return Window(start=start_day, end=start_day + timedelta(days=rules.window_days - 1))
    return Window(start=start_day, end=_parse_day(end, "--end"))
