"""Diagnosis data (issue 3, "Metrics and diagnosis data"): hand-computed small frames.

Store S1 (window 2026-03-01 … 2026-03-30, as_of 2026-03-31 10:00, target 60 h) has four counted
orders, stages audit/return_ship/transit/inbound/process in hours:

    A1 退货 上门取件  30/10/20/4/16 = 80 h   auditor 王, carrier 顺丰, feedback 0
    A2 退货 客户发货  40/30/10/10/10 = 100 h auditor 王, carrier 京东, feedback 2
    A3 仅退款         20/0/0/0/4 = 24 h      auditor 李, feedback 0
    A4 仅退款         8/0/0/0/8 = 16 h       auditor 李, feedback null

mean 55, median 52, P90 94 (linear), over 60 h 2/4; previous window: one order of 40 h.
Open: O1 not audited, applied 25 h before as_of; O2 picked up 38 h before as_of, no tracking.
Store S2 is clean: two 仅退款 orders of 3 h and 5 h.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import replace
from datetime import date, datetime, timedelta

import polars as pl
import pytest
from factory import canonical, order
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from aftersales_kit.diagnose import _warning, diagnose, diagnose_store
from aftersales_kit.errors import Problem, UnknownStoreError, UsageError
from aftersales_kit.load import LoadReport
from aftersales_kit.model import Diagnosis, FindingKind, FlashRefundCheck, ShortBoard
from aftersales_kit.rules import load_rules
from aftersales_kit.window import Window

RULES = load_rules()
WINDOW = Window(start=date(2026, 3, 1), end=date(2026, 3, 30))
AS_OF = datetime(2026, 3, 31, 10, 0)
H = timedelta(hours=1)


def done(
    service_id: str,
    apply: datetime,
    stages: tuple[float, float, float, float, float],
    *,
    store: str = "S1",
    **extra: object,
) -> dict[str, object]:
    """A completed order of store S1 whose checkpoints follow the given stage hours."""
    return order(service_id, apply=apply, stages=stages, store=store, **extra)


def s1_rows() -> list[dict[str, object]]:
    mon = datetime(2026, 3, 2, 9, 0)
    return [
        done(
            "A1",
            mon,
            (30, 10, 20, 4, 16),
            approve_result="上门取件",
            auditor="王审核",
            carrier="顺丰",
            feedback_rounds=0,
            customer_name="张三丰",
            customer_phone="13812345678",
            address="北京市朝阳区建国路1号",
        ),
        done(
            "A2",
            mon + 0.5 * H,
            (40, 30, 10, 10, 10),
            approve_result="客户发货",
            auditor="王审核",
            carrier="京东",
            feedback_rounds=2,
        ),
        done(
            "A3",
            datetime(2026, 3, 3, 14, 0),
            (20, 0, 0, 0, 4),
            service_type="仅退款",
            auditor="李审核",
            feedback_rounds=0,
        ),
        done(
            "A4",
            datetime(2026, 3, 4, 9, 15),
            (8, 0, 0, 0, 8),
            service_type="仅退款",
            auditor="李审核",
        ),
        # previous window (2026-01-30 … 2026-02-28): 40 h
        done("P1", datetime(2026, 2, 2, 9, 0), (10, 0, 0, 0, 30), service_type="仅退款"),
        # open, not audited, 25 h old at as_of
        {
            "service_id": "O1",
            "store_id": "S1",
            "service_type": "退货",
            "status": "待审核",
            "apply_time": datetime(2026, 3, 30, 9, 0),
            "customer_name": "李四",
            "customer_phone": "13900001111",
            "sku_name": "商品O1",
        },
        # open, picked up 38 h before as_of, no tracking: tracking_stale breaks in 10 h
        {
            "service_id": "O2",
            "store_id": "S1",
            "service_type": "退货",
            "status": "待收货",
            "approve_result": "上门取件",
            "apply_time": datetime(2026, 3, 29, 10, 0),
            "first_audit_time": datetime(2026, 3, 29, 12, 0),
            "pickup_time": datetime(2026, 3, 29, 20, 0),
        },
        # open but applied more than 180 days before as_of: can never be counted
        {
            "service_id": "O3",
            "store_id": "S1",
            "service_type": "退货",
            "status": "待审核",
            "apply_time": datetime(2025, 9, 1, 9, 0),
        },
    ]


def s2_rows() -> list[dict[str, object]]:
    return [
        done(
            "B1",
            datetime(2026, 3, 10, 10, 0),
            (1, 0, 0, 0, 2),
            store="S2",
            service_type="仅退款",
            feedback_rounds=0,
        ),
        done(
            "B2",
            datetime(2026, 3, 11, 10, 0),
            (2, 0, 0, 0, 3),
            store="S2",
            service_type="仅退款",
            feedback_rounds=0,
        ),
    ]


@pytest.fixture(scope="module")
def result() -> dict[str, Diagnosis]:
    return diagnose(canonical(s1_rows() + s2_rows()), window=WINDOW, rules=RULES, as_of=AS_OF)


@pytest.fixture(scope="module")
def s1(result: dict[str, Diagnosis]) -> Diagnosis:
    return result["S1"]


def test_kpis_vs_previous_window(s1: Diagnosis) -> None:
    assert s1.store_name == "S1店"
    assert s1.previous == Window(start=date(2026, 1, 30), end=date(2026, 2, 28))
    assert (s1.kpis.counted, s1.kpis.mean_hours, s1.kpis.median_hours) == (4, 55.0, 52.0)
    assert s1.kpis.p90_hours == pytest.approx(94.0)
    assert s1.kpis.over_60h_share == 0.5
    assert (s1.prev_kpis.counted, s1.prev_kpis.mean_hours) == (1, 40.0)
    assert s1.target_hours == 60.0
    assert s1.data_until == datetime(2026, 3, 30, 9, 0)  # O1's apply_time is the latest


def test_peer_median_needs_three_other_stores() -> None:
    rows = [
        done(
            f"X{i}",
            datetime(2026, 3, 5, 8, 0),
            (1, 0, 0, 0, h - 1),
            store=f"P{i}",
            service_type="仅退款",
        )
        for i, h in enumerate([10, 20, 30, 40], start=1)
    ]
    four = diagnose(canonical(rows), window=WINDOW, rules=RULES, as_of=AS_OF)
    assert (four["P1"].peer_median_hours, four["P1"].peer_count) == (30.0, 3)
    assert (four["P4"].peer_median_hours, four["P4"].peer_count) == (20.0, 3)
    three = diagnose(canonical(rows[:3]), window=WINDOW, rules=RULES, as_of=AS_OF)
    assert (three["P1"].peer_median_hours, three["P1"].peer_count) == (None, 2)
    # peers come from every store in the data, also when only one is diagnosed
    one = diagnose(canonical(rows), window=WINDOW, rules=RULES, as_of=AS_OF, stores=["P2"])
    assert list(one) == ["P2"]
    assert one["P2"].peer_median_hours == 30.0


def test_breakdowns(s1: Diagnosis) -> None:
    assert set(s1.breakdowns) == {"scene", "service_type", "reason", "sku", "auditor", "carrier"}
    scene = s1.breakdowns["scene"]
    expected = pl.DataFrame(
        {
            "key": ["仅退款", "退货"],
            "count": [2, 2],
            "share": [0.5, 0.5],
            "mean_hours": [20.0, 90.0],
            "median_hours": [20.0, 90.0],
            "p90_hours": [23.2, 98.0],
            "over_60h_share": [0.0, 1.0],
            "excess_hours": [0.0, 60.0],
            "audit": [14.0, 35.0],
            "return_ship": [0.0, 20.0],
            "return_transit": [0.0, 0.0],
            "transit": [0.0, 15.0],
            "inbound": [0.0, 7.0],
            "process": [6.0, 13.0],
        }
    )
    assert_frame_equal(scene, expected, check_exact=False)
    auditor = s1.breakdowns["auditor"]
    assert auditor["key"].to_list() == ["王审核", "李审核"]  # slowest audit first
    assert auditor["audit"].to_list() == [35.0, 14.0]
    carrier = s1.breakdowns["carrier"]
    assert carrier["key"].to_list() == ["顺丰", "京东", None]  # slowest transit first
    # transit only where measured (a return start): the orders without a carrier have none
    assert carrier["transit"].to_list() == [20.0, 10.0, None]
    assert carrier["count"].sum() == 4


def test_stage_means_sum_to_mean(s1: Diagnosis) -> None:
    expected = pl.DataFrame(
        {
            "stage": [
                "audit",
                "return_ship",
                "return_transit",
                "transit",
                "inbound",
                "process",
                "intervention",
            ],
            "hours": [24.5, 10.0, 0.0, 7.5, 3.5, 9.5, 0.0],
            "controllable": [True, True, False, False, True, True, False],
        }
    )
    assert_frame_equal(s1.stage_means, expected)
    assert s1.stage_means["hours"].sum() == pytest.approx(s1.kpis.mean_hours)
    by_scene = s1.stage_by_scene.filter(pl.col("scene") == "退货")
    assert by_scene["hours"].to_list() == [35.0, 20.0, 0.0, 15.0, 7.0, 13.0, 0.0]
    # no intervention: a positive zero, which the page shows as 0.0 (a negated 0 showed "-0.0")
    for hours in (s1.stage_means["hours"][-1], by_scene["hours"][-1]):
        assert math.copysign(1.0, hours) == 1.0
    assert by_scene["count"].to_list() == [2] * 7


def test_short_board_and_controllable_excess(s1: Diagnosis) -> None:
    # A1: excess 20 = 0.25 × its stages; A2: excess 40 = 0.4 × its stages.
    excess = s1.excess
    assert excess["stage"].to_list() == ["audit", "return_ship", "transit", "process", "inbound"]
    assert excess["excess_hours"].to_list() == pytest.approx([23.5, 14.5, 9.0, 8.0, 5.0])
    assert excess["scene"].unique().to_list() == ["退货"]
    # return_ship: only A1's 2.5 h are merchant-booked (上门取件): not mostly controllable
    ret = excess.filter(pl.col("stage") == "return_ship").row(0, named=True)
    assert ret["controllable_excess_hours"] == pytest.approx(2.5)
    assert ret["controllable"] is False
    assert excess.filter(pl.col("stage") == "transit")["controllable_excess_hours"][0] == 0.0
    assert s1.short_board == ShortBoard(
        scene="退货",
        stage="audit",
        excess_hours=pytest.approx(23.5),
        share_of_excess=pytest.approx(23.5 / 60),
        controllable_excess_hours=pytest.approx(23.5),
    )


def test_excess_uses_target_hours_argument() -> None:
    frame = canonical(s1_rows())
    d = diagnose_store(
        frame, store_id="S1", window=WINDOW, rules=RULES, as_of=AS_OF, target_hours=90.0
    )
    assert d.target_hours == 90.0
    # only A2 is over 90 h: 10 h × (40, 30, 10, 10, 10) / 100
    assert d.excess["excess_hours"].to_list() == pytest.approx([4.0, 3.0, 1.0, 1.0, 1.0])
    assert d.short_board is not None and d.short_board.stage == "audit"
    assert d.short_board.share_of_excess == pytest.approx(0.4)


def test_alerts_and_alert_orders(s1: Diagnosis) -> None:
    counts = dict(zip(s1.alerts["rule"], s1.alerts["count"], strict=True))
    assert counts == {
        "audit_over_24h": 2,
        "return_ship_over_24h": 1,
        # No logistics_update_time anywhere in the data: unavailable (null), never 0 (issue 9).
        "tracking_stale_over_48h": None,
        "transit_over_72h": 0,
        "inbound_over_24h": 0,
        "inbound_over_48h": 0,
        "process_over_24h": 0,
        "refund_over_24h": 0,  # A3, A4: audit → refund 4 h and 8 h
        "total_over_60h": 2,
    }
    needs = dict(zip(s1.alerts["rule"], s1.alerts["needs"], strict=True))
    # Only the input really missing: the data has pickup and customer ship times (E12).
    assert needs["tracking_stale_over_48h"] == "logistics_update_time"
    assert s1.alerts["available"].to_list() == [
        True,
        True,
        False,
        True,
        True,
        True,
        True,
        True,
        True,
    ]
    assert s1.alerts["share"][0] == 0.5
    assert s1.alerts["threshold_hours"][0] == 24.0
    assert s1.alert_orders["service_id"].to_list() == ["A2", "A1"]
    assert s1.alert_orders["rules"].to_list() == [
        "audit_over_24h,return_ship_over_24h,total_over_60h",
        "audit_over_24h,total_over_60h",
    ]
    assert s1.alert_orders.columns == [
        "service_id",
        "order_id",
        "scene",
        "hours",
        "rules",
        "sku_name",
        "apply_time",
        "clock_end",
    ]


def test_top100_ordering_and_masking(s1: Diagnosis) -> None:
    top = s1.top100
    assert top["rank"].to_list() == [1, 2, 3, 4]
    assert top["service_id"].to_list() == ["A2", "A1", "A3", "A4"]
    assert top["hours"].to_list() == [100.0, 80.0, 24.0, 16.0]
    a1 = top.row(1, named=True)
    assert (a1["stage_audit"], a1["stage_return_ship"], a1["stage_process"]) == (30.0, 10.0, 16.0)
    assert (a1["customer_name"], a1["customer_phone"]) == ("张**", "138****5678")
    assert "address" not in top.columns
    assert top.columns[:3] == ["rank", "service_id", "order_id"]


def test_open_at_risk_as_of(s1: Diagnosis) -> None:
    risk = s1.open_at_risk
    # O3 applied > 180 days ago: listed (most overdue), but it can never count
    assert risk["service_id"].to_list() == ["O3", "O1", "O2"]
    o3, o1, o2 = risk.rows(named=True)
    assert (o3["will_count"], o3["projected_mean_delta"]) == (False, None)
    assert (o1["will_count"], o2["will_count"]) == (True, True)
    assert (o1["stage"], o1["rule"], o1["breached"]) == ("audit", "audit_over_24h", True)
    assert (o1["elapsed_hours"], o1["hours_to_breach"]) == (25.0, -1.0)
    assert o1["projected_mean_delta"] == pytest.approx((25 - 55) / 5)
    assert (o1["customer_name"], o1["customer_phone"]) == ("李*", "139****1111")
    # No tracking update anywhere in the data: the 48 h tracking line is unavailable and never
    # fires; the parcel is watched by the 72 h line (picked up 38 h ago).
    assert (o2["stage"], o2["team"], o2["rule"], o2["breached"]) == (
        "transit",
        "logistics",
        "transit_over_72h",
        False,
    )
    assert (o2["elapsed_hours"], o2["hours_to_breach"]) == (48.0, 34.0)
    assert o2["projected_mean_delta"] == pytest.approx((48 - 55) / 5)


def test_heatmap_and_peak_hours(s1: Diagnosis) -> None:
    hm = s1.heatmap
    assert hm.height == 7 * 24
    assert hm["applications"].sum() == 6  # A1–A4, O1, O2 applied in the window
    cell = hm.filter((pl.col("weekday") == 1) & (pl.col("hour") == 9)).row(0, named=True)
    assert (cell["applications"], cell["median_audit_hours"]) == (3, 35.0)  # A1, A2, O1
    sunday = hm.filter((pl.col("weekday") == 7) & (pl.col("hour") == 10)).row(0, named=True)
    assert (sunday["applications"], sunday["median_audit_hours"]) == (1, 2.0)  # O2
    assert s1.peak_hours == (9, 10, 14)


def test_trend(s1: Diagnosis) -> None:
    daily = s1.trend_daily
    assert daily.height == 30 and daily["counted"].sum() == 4
    assert daily.columns == ["date", "counted", "mean_hours", "median_hours", "over_60h"]
    mar5 = daily.filter(pl.col("date") == date(2026, 3, 5)).row(0, named=True)
    assert (mar5["counted"], mar5["mean_hours"], mar5["over_60h"]) == (2, 48.0, 0.5)  # A4, A1
    assert daily.filter(pl.col("date") == date(2026, 3, 1))["mean_hours"][0] is None
    weekly = s1.trend_weekly
    assert weekly["week_start"][0] == date(2026, 2, 23)
    assert weekly.filter(pl.col("week_start") == date(2026, 3, 2)).row(0) == (
        date(2026, 3, 2),
        4,
        55.0,
    )


def test_first_pass_rate(result: dict[str, Diagnosis]) -> None:
    assert result["S1"].first_pass_rate == pytest.approx(2 / 3)  # A4 unknown
    assert result["S2"].first_pass_rate == 1.0
    rows = [done("C1", datetime(2026, 3, 10, 10), (1, 0, 0, 0, 1), store="S3")]
    d = diagnose(canonical(rows), window=WINDOW, rules=RULES, as_of=AS_OF)["S3"]
    assert d.first_pass_rate is None


def test_what_if(s1: Diagnosis) -> None:
    expected = pl.DataFrame(
        {
            "scenario": [
                "actual",
                *["stage_meets_target"] * 4,
                "all_stages_meet_target",
                "without_longest",
            ],
            # Only controllable stages meet a line (DOMAIN §6): A2's 30 h return_ship is the
            # customer's own shipping (客户发货) and stays; A1's pickup wait is 10 h, under 24.
            "stage": [None, "audit", "return_ship", "inbound", "process"] + [None] * 2,
            "n": [None, None, None, None, None, None, 3],
            "mean_hours": [55.0, 49.5, 55.0, 55.0, 55.0, 49.5, 16.0],
            "delta_hours": [0.0, -5.5, 0.0, 0.0, 0.0, -5.5, -39.0],
            "scene": [None] * 7,
        },
        schema={
            "scenario": pl.String,
            "stage": pl.String,
            "n": pl.Int64,
            "mean_hours": pl.Float64,
            "delta_hours": pl.Float64,
            "scene": pl.String,
        },
    )
    assert_frame_equal(s1.what_if, expected)
    # A1 is a pickup return with a pickup time, but the data has no 闪退 row to show that a
    # 闪电退款 stops at pickup: the 闪电退款 estimate is left out, and the report says why.
    assert s1.flash_refund == FlashRefundCheck(candidates=1, flash_rows=0, at_pickup=0)
    assert s1.flash_refund.reason == "no_flash_rows"


def test_warning_levels() -> None:
    # Issue 10 claim 1: three states; the duration alone is never "high".
    assert _warning(55.0, observed={}, rules=RULES).state == "not_triggered"
    no_obs = _warning(61.0, observed={}, rules=RULES)
    assert (no_obs.mean_over_line, no_obs.full_condition, no_obs.state, no_obs.level) == (
        True,
        None,
        "cannot_judge",
        "watch",
    )
    bad = {"star": 3.5, "aftersales_rank": 0.2, "dispute_rank": 0.1}
    full = _warning(61.0, observed=bad, rules=RULES)
    assert (full.full_condition, full.state, full.level, full.star) == (
        True,
        "triggered",
        "high",
        3.5,
    )
    good_star = _warning(61.0, observed={**bad, "star": 4.2}, rules=RULES)
    assert (good_star.full_condition, good_star.state, good_star.level) == (
        False,
        "not_triggered",
        "ok",
    )
    # A given star above 3.5 already decides it, even with the ranks missing.
    assert _warning(61.0, observed={"star": 4.2}, rules=RULES).state == "not_triggered"
    assert _warning(61.0, observed={"star": 3.0}, rules=RULES).state == "cannot_judge"
    at_line = _warning(60.0, observed=bad, rules=RULES)  # "over" is strictly greater
    assert (at_line.mean_over_line, at_line.full_condition, at_line.state) == (
        False,
        False,
        "not_triggered",
    )
    none = _warning(None, observed={}, rules=RULES)
    assert (none.mean_over_line, none.level) == (False, "ok")


def test_observed_through_diagnose() -> None:
    rows = [done("W1", datetime(2026, 3, 10, 10), (30, 0, 0, 0, 40), store="W")]
    frame = canonical(rows)
    obs = {"star": 3.0, "aftersales_rank": 0.1, "dispute_rank": 0.15}
    d = diagnose_store(frame, store_id="W", window=WINDOW, rules=RULES, as_of=AS_OF, observed=obs)
    assert (d.warning.full_condition, d.warning.level, d.warning.line_hours) == (True, "high", 60.0)
    per_store = diagnose(frame, window=WINDOW, rules=RULES, as_of=AS_OF, observed={"W": obs})
    assert per_store["W"].warning.full_condition is True
    with pytest.raises(UsageError, match="dispute_rank"):
        diagnose(frame, window=WINDOW, rules=RULES, as_of=AS_OF, observed={"dispute_rank": 20})


def test_findings_slow_audit_store(s1: Diagnosis) -> None:
    kinds = [f.kind for f in s1.findings]
    # Under the 60 h line (55 h) the short board is not urgent (DOMAIN §6); no 闪电退款 estimate
    # without 闪退 rows to support it.
    assert kinds == [
        FindingKind.OPEN_BREACHED,
        FindingKind.SHORT_BOARD,
        # O2's only line is 72 h after pickup (34 h left): nothing is due within 24 h
        FindingKind.TREND_UP,
        FindingKind.AUDIT_PEAK_STAFFING,
        FindingKind.PICKUP_SLOW,
        FindingKind.SA_TOOL,
        FindingKind.LOW_FIRST_PASS,
    ]
    severities = [f.severity for f in s1.findings]
    assert severities == sorted(severities, reverse=True)
    by_kind = {f.kind: f.values for f in s1.findings}
    assert by_kind[FindingKind.SHORT_BOARD]["stage"] == "audit"
    assert by_kind[FindingKind.SHORT_BOARD]["excess_hours"] == pytest.approx(23.5)
    assert by_kind[FindingKind.AUDIT_PEAK_STAFFING]["count"] == 2
    assert by_kind[FindingKind.AUDIT_PEAK_STAFFING]["peak_hours"] == (9, 10, 14)
    # 6 applications: no hour of the day has 20, so no staffing figures at all (E10).
    assert by_kind[FindingKind.AUDIT_PEAK_STAFFING]["variant"] == "few"
    assert s1.staffing is None
    # Already over: O1, 1 h past the audit line; O3 is further over but can never count.
    assert by_kind[FindingKind.OPEN_BREACHED]["count"] == 1
    assert by_kind[FindingKind.OPEN_BREACHED]["max_over_hours"] == pytest.approx(1.0)
    assert FindingKind.OPEN_AT_RISK not in by_kind
    assert by_kind[FindingKind.TREND_UP]["change_share"] == pytest.approx(15 / 40)
    # The mean (55 h) is within the 60 h line: no consumer-warning finding at all.
    assert by_kind[FindingKind.SA_TOOL]["count"] == 2  # A3, A4 (仅退款)
    # values only: no sentences
    for f in s1.findings:
        assert all(not isinstance(v, str) or " " not in v for v in f.values.values())


def test_clean_store_has_no_findings_and_no_leak(result: dict[str, Diagnosis]) -> None:
    s2 = result["S2"]
    assert s2.findings == ()
    assert (s2.kpis.counted, s2.kpis.mean_hours) == (2, 4.0)
    assert s2.short_board is None and s2.excess.height == 0
    assert s2.top100["service_id"].to_list() == ["B2", "B1"]
    assert s2.open_at_risk.height == 0
    assert s2.alert_orders.height == 0
    assert s2.heatmap["applications"].sum() == 2
    assert set(s2.breakdowns) == {"scene", "service_type", "reason", "sku"}
    assert s2.prev_kpis.counted == 0 and s2.prev_kpis.mean_hours is None
    assert s2.warning.level == "ok"


def test_data_quality_counts() -> None:
    rows = [
        *s2_rows(),
        # in window but applied > 180 days before the window end
        done("B3", datetime(2025, 9, 1, 10), (1, 0, 0, 0, 5000), store="S2"),
        # flagged intervention without an interval
        done("B4", datetime(2026, 3, 12, 10), (1, 0, 0, 0, 1), store="S2", jd_intervened=True),
    ]

    report = LoadReport(
        files=[],
        rows=len(rows),
        duplicates_dropped=3,
        bad_rows_dropped=1,
        stores={"S2": len(rows)},
        errors=[],
        warnings=[
            Problem("a.xlsx", 2, "sign_time", None, "w")
        ],  # only the first of each kind is kept ...
        warning_counts={"sign_before_pickup": 25, "audit_before_apply": 2},  # ... not the totals
    )
    d = diagnose(canonical(rows), window=WINDOW, rules=RULES, as_of=AS_OF, load_report=report)["S2"]
    dq = d.data_quality
    assert dq.excluded["apply_too_old"] == 1 and sum(dq.excluded.values()) == 1
    assert (dq.intervention_unbounded, dq.out_of_order) == (1, 0)
    assert (dq.duplicates_dropped, dq.bad_rows_dropped, dq.load_warnings) == (3, 1, 27)


def test_unknown_store_lists_stores_found() -> None:
    frame = canonical(s1_rows() + s2_rows())
    with pytest.raises(UnknownStoreError, match=r"S9.*S1, S2"):
        diagnose_store(frame, store_id="S9", window=WINDOW, rules=RULES, as_of=AS_OF)


def test_diagnosis_pickles(s1: Diagnosis) -> None:
    back = pickle.loads(pickle.dumps(s1))
    assert back.kpis == s1.kpis
    assert back.findings == s1.findings
    assert_frame_equal(back.top100, s1.top100)
    assert back.breakdowns.keys() == s1.breakdowns.keys()


def test_single_store_matches_all_stores(result: dict[str, Diagnosis]) -> None:
    alone = diagnose_store(
        canonical(s1_rows() + s2_rows()), store_id="S1", window=WINDOW, rules=RULES, as_of=AS_OF
    )
    both = result["S1"]
    assert alone.kpis == both.kpis
    assert_frame_equal(alone.what_if, both.what_if)
    assert_frame_equal(alone.breakdowns["scene"], both.breakdowns["scene"])
    assert_frame_equal(alone.open_at_risk, both.open_at_risk)


stage_hours = st.integers(min_value=0, max_value=60)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=60),
            stage_hours,
            stage_hours,
            stage_hours,
            stage_hours,
            st.sampled_from(["退货", "换货", "仅退款"]),
            st.sampled_from([None, "质量问题", "七天无理由"]),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_property_breakdowns_and_what_if(orders: list[tuple]) -> None:
    rows = [
        done(
            f"H{i}",
            datetime(2026, 3, 1, 0) + (i * 7) * H,
            (a, r, t, b, p),
            store="H",
            service_type=kind,
            reason=reason,
            approve_result="上门取件",
        )
        for i, (a, r, t, b, p, kind, reason) in enumerate(orders)
    ]
    frame = canonical(rows)
    d = diagnose(frame, window=WINDOW, rules=RULES, as_of=AS_OF)["H"]
    counted = d.kpis.counted
    for table in d.breakdowns.values():
        assert table["count"].sum() == counted
        assert table["share"].sum() == pytest.approx(1.0)
    assert d.stage_means["hours"].sum() == pytest.approx(d.kpis.mean_hours)
    assert (d.what_if["mean_hours"] <= d.kpis.mean_hours + 1e-9).all()
    total_excess = d.excess["excess_hours"].sum()
    assert total_excess == pytest.approx(d.breakdowns["scene"]["excess_hours"].sum())
    assert d.top100["hours"].is_sorted(descending=True)


def test_no_raw_personal_data_in_any_frame(s1: Diagnosis) -> None:
    raw = {"张三丰", "13812345678", "北京市朝阳区建国路1号", "李四", "13900001111"}
    frames = [v for v in vars(s1).values() if isinstance(v, pl.DataFrame)]
    frames += list(s1.breakdowns.values())
    frames += list(s1.team_actions.values())
    assert s1.tomorrow is not None
    frames += [s1.tomorrow.leaving, s1.tomorrow.entering, s1.tomorrow.movers]
    assert len(frames) == 28  # 16 fields + 6 breakdowns + 3 teams + 3 tomorrow
    for df in frames:
        for col in df.select(pl.col(pl.String)).columns:
            assert not set(df[col].drop_nulls().to_list()) & raw, col


def test_the_short_board_is_never_carrier_time() -> None:
    # C1 退货 (customer ships): 120 h, excess 60 = 0.5 × (10, 5, 100, 2, 3);
    # C2 仅退款: 80 h, excess 20 = 0.25 × (50, 0, 0, 0, 30). The largest excess is C1's carrier
    # transit (50 h), which the merchant does not control (DOMAIN §4): the board is C2's audit.
    rows = [
        done("C1", datetime(2026, 3, 2, 9, 0), (10, 5, 100, 2, 3), approve_result="客户发货"),
        done("C2", datetime(2026, 3, 3, 9, 0), (50, 0, 0, 0, 30), service_type="仅退款"),
    ]
    d = diagnose_store(canonical(rows), store_id="S1", window=WINDOW, rules=RULES, as_of=AS_OF)
    board = ShortBoard(
        scene="仅退款",
        stage="audit",
        excess_hours=pytest.approx(12.5),
        share_of_excess=pytest.approx(12.5 / 80),
        controllable_excess_hours=pytest.approx(12.5),
    )
    assert d.short_board == board
    assert d.controllable_short_board == board
    transit = d.excess.filter(pl.col("stage") == "transit").row(0, named=True)
    assert (transit["excess_hours"], transit["controllable"]) == (pytest.approx(50.0), False)
    found = {f.kind: f for f in d.findings}
    assert found[FindingKind.SHORT_BOARD].values["stage"] == "audit"


def test_no_controllable_finding_when_the_short_board_is_controllable(s1: Diagnosis) -> None:
    assert s1.controllable_short_board == s1.short_board  # audit: both the same cell
    assert FindingKind.CONTROLLABLE_SHORT_BOARD not in {f.kind for f in s1.findings}


def test_findings_use_the_target_hours_argument() -> None:
    d = diagnose_store(
        canonical(s1_rows()),
        store_id="S1",
        window=WINDOW,
        rules=RULES,
        as_of=AS_OF,
        target_hours=90.0,
    )
    board = next(f for f in d.findings if f.kind == FindingKind.SHORT_BOARD)
    assert board.values["target_hours"] == 90.0


def test_data_as_of_ignores_times_after_now_per_store() -> None:
    """data_as_of is each store's latest time not after now: a typo'd future time in one
    column of one store is skipped there (its other columns still count), the others keep
    their plain latest."""
    future = datetime(2099, 1, 1, 8, 0)
    rows = [
        done("a1", datetime(2026, 3, 10, 9), (2.0, 0, 0, 0, 3.0), store="A"),
        done(
            "a2", datetime(2026, 3, 12, 9), (1.0, 0, 0, 0, 1.0), store="A", last_audit_time=future
        ),
        done("b1", datetime(2026, 3, 11, 9), (4.0, 0, 0, 0, 2.0), store="B"),
    ]
    result = diagnose(canonical(rows), window=WINDOW, rules=load_rules(), as_of=AS_OF)
    # A: a2's processing at 03-12 11:00 is its latest real time; B: b1's at 03-11 15:00.
    assert result["A"].data_as_of == datetime(2026, 3, 12, 11)
    assert result["B"].data_as_of == datetime(2026, 3, 11, 15)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.sampled_from([0.5, 10.0, 10.0, 24.0, 61.5, 100.0])),
        min_size=0,
        max_size=9,
    )
)
def test_peer_medians_equal_the_median_of_the_others(means: list[float | None]) -> None:
    """Sorted once, a store's own mean left out by position: the same as the median of every
    other store's mean (ties and stores without counted orders included)."""
    import statistics

    from aftersales_kit.diagnose import MIN_PEERS, _empty_kpis, _peer_medians

    kpis = {
        f"S{i}": replace(_empty_kpis(), counted=0 if m is None else 3, mean_hours=m)
        for i, m in enumerate(means)
    }
    peers_of = _peer_medians(kpis)
    for sid in kpis:
        others = [k.mean_hours for o, k in kpis.items() if o != sid and k.mean_hours is not None]
        median = statistics.median(others) if len(others) >= MIN_PEERS else None
        assert peers_of(sid) == (median, len(others))
