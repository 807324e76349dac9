"""Findings as data (issue 13): one small check per kind over one typed context, run in one loop."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import polars as pl
import pytest

from aftersales_kit import format as fmt
from aftersales_kit import text
from aftersales_kit.findings import CHECKS, LIMITS, FindingContext, FindingLimits, find
from aftersales_kit.metrics import Kpis
from aftersales_kit.model import Finding, FindingKind, ShortBoard, WarningRisk
from aftersales_kit.rules import load_rules

RULES = load_rules()
WHAT_IF_SCHEMA = {
    "scenario": pl.String,
    "stage": pl.String,
    "n": pl.Int64,
    "mean_hours": pl.Float64,
    "delta_hours": pl.Float64,
    "scene": pl.String,
}
OPEN_SCHEMA = {
    "rule": pl.String,
    "breached": pl.Boolean,
    "hours_to_breach": pl.Float64,
    "over_60h": pl.Boolean,
    "will_count": pl.Boolean,
    "projected_mean_delta": pl.Float64,
}


def kpis(counted: int = 10, mean: float | None = 40.0) -> Kpis:
    return Kpis(
        counted=counted,
        mean_hours=mean,
        median_hours=mean,
        p90_hours=mean,
        over_60h_share=0.0,
        excluded={},
    )


def context(**changes: Any) -> FindingContext:
    """A store with nothing to report; each test changes what it checks."""
    base = FindingContext(
        rules=RULES,
        kpis=kpis(),
        prev_kpis=kpis(),
        stage_hours=dict.fromkeys(("audit", "return_ship", "transit", "inbound", "process"), 1.0),
        short_board=None,
        controllable_board=None,
        target_hours=60.0,
        alerts={},
        heatmap=pl.DataFrame({"hour": [9], "median_audit_hours": [3.0]}),
        peak_hours=(9,),
        first_pass=None,
        what_if=pl.DataFrame(schema=WHAT_IF_SCHEMA),
        warning=WarningRisk(
            line_hours=60.0,
            mean_over_line=False,
            star=None,
            aftersales_rank=None,
            dispute_rank=None,
            full_condition=None,
            level="ok",
        ),
        open_at_risk=pl.DataFrame(schema=OPEN_SCHEMA),
        breakdowns={},
    )
    return dataclasses.replace(base, **changes)


def alert(rule: str, count: int, share: float, threshold: float = 24.0) -> dict[str, object]:
    return {"rule": rule, "threshold_hours": threshold, "count": count, "share": share}


def test_every_kind_has_one_check_and_a_quiet_store_has_no_findings() -> None:
    assert len(CHECKS) == len(FindingKind)
    assert all(check(context()) is None for check in CHECKS)
    assert find(context()) == ()
    # No counted orders: nothing to say, whatever else the context holds.
    board = ShortBoard("退货", "audit", 10.0, 1.0, 10.0)
    assert find(context(kpis=kpis(0, None), short_board=board)) == ()


def test_one_short_board_kind_with_the_stage_as_a_value() -> None:
    board = ShortBoard("退货", "transit", 50.0, 0.625, 0.0)
    mine = ShortBoard("仅退款", "audit", 12.5, 0.15625, 12.5)
    found = find(context(short_board=board, controllable_board=mine))
    assert [f.kind for f in found] == [
        FindingKind.SHORT_BOARD,
        FindingKind.CONTROLLABLE_SHORT_BOARD,
    ]
    values = found[0].values
    assert values["stage"] == "transit" and isinstance(values["stage"], fmt.Stage)
    assert isinstance(values["excess_hours"], fmt.Hours)
    assert isinstance(values["share_of_excess"], fmt.Share)
    assert isinstance(values["target_hours"], fmt.HoursLimit)
    title = text.finding_text(found[0]).title
    assert title == "短板：退货的逆向物流环节，服务单超出提示线60小时的时长62.5%来自这里"
    # Mostly controllable short board: no second finding.
    controllable = ShortBoard("退货", "transit", 50.0, 0.625, 40.0)
    found = find(context(short_board=controllable, controllable_board=mine))
    assert [f.kind for f in found] == [FindingKind.SHORT_BOARD]


def test_a_short_board_is_urgent_only_while_the_mean_is_over_the_line() -> None:
    board = ShortBoard("退货", "audit", 50.0, 1.0, 50.0)
    (under,) = find(context(kpis=kpis(mean=57.6), prev_kpis=kpis(mean=57.6), short_board=board))
    assert under.severity == 2 and text.finding_text(under).severity == "重要"
    (over,) = find(context(kpis=kpis(mean=64.5), prev_kpis=kpis(mean=64.5), short_board=board))
    assert over.severity == 3 and text.finding_text(over).severity == "紧急"


def test_a_target_is_named_a_target_only_when_the_user_set_it() -> None:
    board = ShortBoard("退货", "audit", 50.0, 1.0, 50.0)
    (default,) = find(context(short_board=board))
    assert default.values["line_name"] == "warning"
    (own,) = find(context(short_board=board, target_hours=48.0, target_given=True))
    assert (
        text.finding_text(own).title
        == "短板：退货的审核环节，服务单超出目标48小时的时长100.0%来自这里"
    )


def test_inbound_title_names_the_condition_that_fired() -> None:
    alerts = {
        "inbound_over_24h": alert("inbound_over_24h", 3, 0.3),
        "inbound_over_48h": alert("inbound_over_48h", 1, 0.1, 48.0),
    }
    (finding,) = find(context(alerts=alerts))
    assert finding.kind is FindingKind.INBOUND_SLOW
    assert finding.values["variant"] == "over_48h"
    assert finding.values["count"] == 1 and isinstance(finding.values["count"], fmt.Count)
    assert text.finding_text(finding).title == "签收超48小时未入库的服务单有1单（10.0%）"
    stages = {"inbound": 13.0}
    (finding,) = find(context(alerts=alerts, stage_hours=stages))
    assert finding.values["variant"] == "mean"


def test_open_orders_split_into_over_soon_and_long() -> None:
    # over a line (2 h), due in 5 h, over 60 h with its line 40 h ahead, due in 30 h, and one
    # far over its line that can never count (applied > 180 days ago).
    frame = pl.DataFrame(
        {
            "rule": ["audit_over_24h"] * 2 + ["transit_over_72h"] + ["audit_over_24h"] * 2,
            "breached": [True, False, False, False, True],
            "hours_to_breach": [-2.0, 5.0, 40.0, 30.0, -900.0],
            "over_60h": [False, False, True, False, True],
            "will_count": [True, True, True, True, False],
            "projected_mean_delta": [0.5, 0.1, 1.5, 0.0, None],
        },
        schema=OPEN_SCHEMA,
    )
    found = {f.kind: f.values for f in find(context(open_at_risk=frame))}
    assert found == {
        FindingKind.OPEN_BREACHED: {
            "count": 1,
            "max_over_hours": 2.0,
            "projected_mean_delta": 0.5,
        },
        FindingKind.OPEN_AT_RISK: {"count": 1, "horizon_hours": 24.0, "min_left_hours": 5.0},
        FindingKind.OPEN_LONG: {"count": 1, "line_hours": 60.0, "projected_mean_delta": 1.5},
    }
    # The horizon is a limit: a wider one catches the order 30 h from its limit too.
    wide = dataclasses.replace(LIMITS, open_horizon_hours=48.0)
    found = {f.kind: f.values for f in find(context(open_at_risk=frame, limits=wide))}
    assert found[FindingKind.OPEN_AT_RISK]["count"] == 3  # 5 h, 30 h and 40 h


@pytest.mark.parametrize(
    ("first_pass", "limit", "fires"), [(0.7, 0.8, True), (0.85, 0.8, False), (0.85, 0.9, True)]
)
def test_limits_decide_when_a_finding_fires(first_pass: float, limit: float, fires: bool) -> None:
    limits = FindingLimits(first_pass_rate=limit)
    found = find(context(first_pass=first_pass, limits=limits))
    assert [f.kind for f in found] == ([FindingKind.LOW_FIRST_PASS] if fires else [])


def test_findings_sort_by_severity_then_kind_and_pickle() -> None:
    board = ShortBoard("仅退款", "audit", 30.0, 1.0, 30.0)
    what_if = pl.DataFrame(
        [("flash_refund_at_pickup", None, 4, 54.5, -10.0, "退货")],
        schema=WHAT_IF_SCHEMA,
        orient="row",
    )
    found = find(
        context(
            kpis=kpis(mean=64.5),
            short_board=board,
            what_if=what_if,
            first_pass=0.5,
            prev_kpis=kpis(mean=20.0),
            sa_candidates=4,
        )
    )
    assert [(f.kind, f.severity) for f in found] == [
        (FindingKind.SHORT_BOARD, 3),
        (FindingKind.TREND_UP, 2),
        (FindingKind.FLASH_REFUND, 2),
        (FindingKind.SA_TOOL, 2),
        (FindingKind.LOW_FIRST_PASS, 1),
    ]
    assert pickle.loads(pickle.dumps(found)) == found
    trend = found[1]
    assert text.finding_text(trend, lang="en").title == (
        "Duration up on the previous period: 20.0 h → 64.5 h (+222.5%)"
    )


def test_finding_kinds_are_strings_and_limits_stay_readable() -> None:
    assert FindingKind.SHORT_BOARD == "short_board"
    assert str(FindingKind.JD_MISMATCH) == "jd_mismatch"
    # The limits are one frozen record (daily.py reads the open-order horizon from it).
    assert LIMITS.open_horizon_hours == 24.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        LIMITS.alert_share = 1.0  # type: ignore[misc]


def test_a_finding_is_a_record_of_typed_values() -> None:
    finding = Finding(FindingKind.SA_TOOL, 2, {"count": fmt.Count(3), "share": fmt.Share(0.3)})
    assert text.finding_text(finding, lang="en").title == (
        "3 repetitive audits (refund only, refused delivery): 30.0% of the counted service orders"
    )
    one = Finding(FindingKind.SA_TOOL, 2, {"count": fmt.Count(1), "share": fmt.Share(0.1)})
    assert text.finding_text(one, lang="en").title.startswith("1 repetitive audit (")
