"""Per-order JD rules (DOMAIN §3–§5): hand-computed scenes, stages, intervention, sample, alerts."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest
from factory import T0, h, orders_frame
from hypothesis import given, settings
from hypothesis import strategies as st

from aftersales_kit.errors import UsageError
from aftersales_kit.orders import DERIVED_COLUMNS, derive_orders, open_order_status, window_sample
from aftersales_kit.rules import RULE_NAMES, STAGES, load_rules
from aftersales_kit.schema import COLUMNS
from aftersales_kit.window import Window, default_window, parse_as_of, parse_window

RULES = load_rules()
WINDOW = Window(start=date(2026, 3, 1), end=date(2026, 3, 30))


def orders(*rows: dict[str, object]) -> pl.DataFrame:
    """A canonical frame; every row defaults to a completed 退货 of store s1 applied at T0."""
    return orders_frame(rows, service_type="退货")


def derived(*rows: dict[str, object]) -> pl.DataFrame:
    return derive_orders(orders(*rows), rules=RULES).collect()


def sample(*rows: dict[str, object], window: Window = WINDOW) -> pl.DataFrame:
    lf = derive_orders(orders(*rows), rules=RULES)
    return window_sample(lf, window=window, rules=RULES).collect()


def stages(row: dict[str, object]) -> tuple[float, ...]:
    return tuple(row[f"stage_{s}"] for s in STAGES)  # type: ignore[misc]


# --- columns ---------------------------------------------------------------------------------


def test_derive_adds_exactly_the_contract_columns() -> None:
    out = derive_orders(orders({}), rules=RULES)
    assert out.collect_schema().names() == [*COLUMNS, *DERIVED_COLUMNS]
    schema = out.collect_schema()
    assert schema["hours"] == pl.Float64
    assert schema["clock_end"] == pl.Datetime("us")
    assert all(schema[f"alert_{r}"] == pl.Boolean for r in RULE_NAMES)


def test_extra_columns_are_kept() -> None:
    frame = orders({}).with_columns(pl.lit("x").alias("备注"))
    names = derive_orders(frame, rules=RULES).collect_schema().names()
    assert names[: len(COLUMNS) + 1] == [*COLUMNS, "备注"]


# --- scenes and clock end ---------------------------------------------------------------------

FULL = {
    "first_audit_time": h(10),
    "pickup_time": h(24),
    "sign_time": h(72),
    "inbound_time": h(78),
    "first_process_time": h(96),
}


@pytest.mark.parametrize(
    ("row", "scene", "hours"),
    [
        ({"status": "取消"}, "取消", 10.0),
        ({"status": "审核不通过"}, "拒绝", 10.0),
        ({"status": "审核关闭"}, "拒绝", 10.0),
        ({"status": "拒绝"}, "拒绝", 10.0),
        ({"approve_result": "闪电退款"}, "闪电退款", 96.0),
        ({"approve_result": "上门换新"}, "线下换新", 96.0),
        ({"approve_result": "线下换新"}, "线下换新", 96.0),
        ({"approve_result": "返修换新"}, "返修换新", 96.0),
        ({"service_type": "换货", "approve_result": "上门取件"}, "换货", 96.0),
        ({"service_type": "仅退款"}, "仅退款", 96.0),
        # the table is ordered: a cancelled 闪电退款 is 取消
        ({"status": "取消", "approve_result": "闪电退款"}, "取消", 10.0),
    ],
)
def test_scene_and_clock_end(row: dict[str, object], scene: str, hours: float) -> None:
    out = derived({**FULL, **row}).row(0, named=True)
    assert out["scene"] == scene
    assert out["hours"] == hours
    assert out["gross_hours"] == hours


def test_audit_ended_scenes_have_only_audit() -> None:
    out = derived({**FULL, "status": "取消"}).row(0, named=True)
    assert out["clock_end"] == h(10)
    assert stages(out) == (10.0, 0.0, 0.0, 0.0, 0.0)
    assert out["out_of_order"] is False


def test_full_chain_stages() -> None:
    out = derived(FULL).row(0, named=True)
    assert out["return_start"] == h(24)
    assert stages(out) == (10.0, 14.0, 48.0, 6.0, 18.0)
    assert out["hours"] == 96.0
    assert out["out_of_order"] is False


def test_customer_ship_time_starts_the_return_when_no_pickup() -> None:
    out = derived({**FULL, "pickup_time": None, "customer_ship_time": h(30)}).row(0, named=True)
    assert out["return_start"] == h(30)
    assert stages(out) == (10.0, 20.0, 42.0, 6.0, 18.0)


def test_pickup_wins_over_customer_ship() -> None:
    out = derived({**FULL, "customer_ship_time": h(30)}).row(0, named=True)
    assert out["return_start"] == h(24)


def test_absent_checkpoints_give_their_time_to_the_next_stage() -> None:
    out = derived(
        {"first_audit_time": h(2), "first_process_time": h(5), "service_type": "仅退款"}
    ).row(0, named=True)
    assert stages(out) == (2.0, 0.0, 0.0, 0.0, 3.0)


def test_checkpoints_after_the_clock_end_do_not_take_part() -> None:
    # 闪电退款 refunds before the goods come back: later checkpoints are normal, not out of order
    out = derived({**FULL, "approve_result": "闪电退款", "first_process_time": h(12)}).row(
        0, named=True
    )
    assert stages(out) == (10.0, 0.0, 0.0, 0.0, 2.0)
    assert out["out_of_order"] is False


def test_out_of_order_checkpoint_is_skipped_and_flagged() -> None:
    out = derived(
        {
            "first_audit_time": h(10),
            "pickup_time": h(30),
            "sign_time": h(20),  # before the pickup: skipped
            "inbound_time": h(40),
            "first_process_time": h(50),
        }
    ).row(0, named=True)
    # pickup → inbound is goods in transit (DOMAIN §4 rewritten), never warehouse time.
    assert stages(out) == (10.0, 20.0, 10.0, 0.0, 10.0)
    assert sum(stages(out)) == out["gross_hours"] == 50.0
    assert out["out_of_order"] is True


def test_audit_before_apply_is_out_of_order() -> None:
    out = derived({"first_audit_time": h(-1), "first_process_time": h(5)}).row(0, named=True)
    # DOMAIN §4 (rewritten): a gap that starts at apply is audit time.
    assert stages(out) == (5.0, 0.0, 0.0, 0.0, 0.0)
    assert out["out_of_order"] is True


def test_equal_timestamps_are_in_order() -> None:
    out = derived({"first_audit_time": h(0), "first_process_time": h(0)}).row(0, named=True)
    assert stages(out) == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert out["hours"] == 0.0
    assert out["out_of_order"] is False


def test_hours_at_microsecond_precision() -> None:
    end = T0 + timedelta(hours=1, microseconds=1)
    out = derived({"first_audit_time": T0, "first_process_time": end}).row(0, named=True)
    assert out["hours"] == 1 + 1 / 3_600_000_000


def test_no_valid_end() -> None:
    out = derived({"first_process_time": None}, {"first_process_time": h(-1)}).to_dicts()
    for row in out:
        assert row["hours"] is None
        assert row["gross_hours"] is None
        assert stages(row) == (None,) * 5
        assert row["out_of_order"] is False


# --- intervention -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "subtracted", "unbounded"),
    [
        ({"intervention_start": h(10), "intervention_end": h(30)}, 20.0, False),  # inside
        ({"intervention_start": h(90), "intervention_end": h(120)}, 10.0, False),  # after end
        ({"intervention_start": h(-10), "intervention_end": h(5)}, 5.0, False),  # before apply
        ({"intervention_start": h(110), "intervention_end": h(120)}, 0.0, False),  # disjoint
        ({"intervention_start": h(10), "intervention_end": None}, 0.0, True),  # no interval
        ({"intervention_start": None, "intervention_end": None}, 0.0, True),
    ],
)
def test_intervention_overlap(row: dict[str, object], subtracted: float, unbounded: bool) -> None:
    out = derived(
        {"first_audit_time": h(1), "first_process_time": h(100), "jd_intervened": True, **row}
    ).row(0, named=True)
    assert out["gross_hours"] == 100.0
    assert out["intervention_hours"] == subtracted
    assert out["hours"] == 100.0 - subtracted
    assert out["intervention_unbounded"] is unbounded


def test_interval_without_flag_subtracts_nothing() -> None:
    out = derived(
        {
            "first_process_time": h(100),
            "jd_intervened": False,
            "intervention_start": h(10),
            "intervention_end": h(30),
        }
    ).row(0, named=True)
    assert (out["intervention_hours"], out["hours"]) == (0.0, 100.0)


def test_audit_ended_scene_subtracts_no_intervention() -> None:
    out = derived(
        {
            "status": "审核不通过",
            "first_audit_time": h(40),
            "jd_intervened": True,
            "intervention_start": h(10),
            "intervention_end": h(30),
        }
    ).row(0, named=True)
    assert (out["intervention_hours"], out["hours"]) == (0.0, 40.0)


# --- open orders --------------------------------------------------------------------------------


def test_is_open() -> None:
    out = derived(
        {"status": "待收货", "complete_time": None},
        {"status": "取消", "complete_time": None},
        {"status": "待处理", "complete_time": h(5)},
        {"status": None, "complete_time": None},
    )
    assert out["is_open"].to_list() == [True, False, False, True]


# --- the sample (口径) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("complete", "in_window"),
    [
        (datetime(2026, 3, 30, 23, 59, 59), True),
        (datetime(2026, 3, 31, 0, 0, 0), False),
        (datetime(2026, 3, 1, 0, 0, 0), True),
        (datetime(2026, 2, 28, 23, 59, 59), False),
        (None, False),
    ],
)
def test_window_edges_to_the_second(complete: datetime | None, in_window: bool) -> None:
    row = {"apply_time": datetime(2026, 2, 27), "first_process_time": datetime(2026, 2, 27, 5)}
    out = sample({**row, "complete_time": complete}).row(0, named=True)
    assert out["in_window"] is in_window
    assert out["counted"] is in_window
    assert out["excluded_reason"] is None


@pytest.mark.parametrize(
    ("apply", "reason"),
    [
        (datetime(2025, 10, 2, 0, 0, 0), None),  # 2026-03-30 − 179 days
        (datetime(2025, 10, 1, 23, 59, 59), "apply_too_old"),
    ],
)
def test_180_day_edge(apply: datetime, reason: str | None) -> None:
    out = sample({"apply_time": apply, "first_process_time": apply + timedelta(hours=1)})
    assert out["excluded_reason"].to_list() == [reason]
    assert out["counted"].to_list() == [reason is None]


def test_history_days_from_rules(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "r.toml"
    path.write_text("history_days = 30\n", encoding="utf-8")
    rules = load_rules(path)
    frame = orders(
        {"apply_time": datetime(2026, 3, 1), "first_process_time": datetime(2026, 3, 1, 1)},
        {"apply_time": datetime(2026, 2, 28, 23), "first_process_time": datetime(2026, 3, 1, 1)},
    )
    lf = derive_orders(frame, rules=rules)
    out = window_sample(lf, window=WINDOW, rules=rules).collect()
    assert out["excluded_reason"].to_list() == [None, "apply_too_old"]


@pytest.mark.parametrize(
    ("apply", "holiday"),
    [
        (datetime(2026, 2, 12, 0, 0, 0), True),
        (datetime(2026, 2, 25, 23, 59, 59), True),
        (datetime(2026, 2, 26, 0, 0, 0), False),  # the window is [from, to)
        (datetime(2026, 2, 11, 23, 59, 59), False),
    ],
)
def test_holiday_window_edges(apply: datetime, holiday: bool) -> None:
    out = sample({"apply_time": apply, "first_process_time": apply + timedelta(hours=3)})
    assert out["excluded_reason"].to_list() == (["holiday"] if holiday else [None])


def test_every_exclusion_reason_and_its_precedence() -> None:
    old_holiday = datetime(2025, 1, 30)  # in the 2025 holiday and older than 180 days
    old = datetime(2025, 6, 1)
    out = sample(
        {"apply_time": datetime(2026, 2, 20), "first_process_time": datetime(2026, 2, 21)},
        {"apply_time": old_holiday, "first_process_time": datetime(2025, 2, 1)},
        {"apply_time": old_holiday, "status": "取消"},  # holiday before cancelled
        {"apply_time": old, "first_process_time": old + timedelta(hours=1)},
        {"apply_time": old, "status": "取消"},  # too old before cancelled
        {"apply_time": old, "first_process_time": None},  # too old before missing end
        {"status": "取消"},  # cancelled without audit
        {"status": "取消", "first_audit_time": h(3)},  # cancelled after audit: counted
        {"status": "审核不通过"},  # rejected without audit: missing end
        {"first_process_time": None},
        {"first_process_time": h(-1)},  # end before apply
        {"apply_time": None, "first_process_time": h(1)},  # no apply: no valid duration
        {"first_process_time": h(1)},
    )
    assert out["excluded_reason"].to_list() == [
        "holiday",
        "holiday",
        "holiday",
        "apply_too_old",
        "apply_too_old",
        "apply_too_old",
        "cancelled_before_audit",
        None,
        "missing_end",
        "missing_end",
        "invalid",
        "invalid",
        None,
    ]
    assert out["counted"].to_list() == [False] * 7 + [True] + [False] * 4 + [True]


def test_not_in_window_has_no_reason() -> None:
    out = sample({"status": "取消", "complete_time": datetime(2026, 4, 2)})
    assert out.select("in_window", "excluded_reason", "counted").row(0) == (False, None, False)


# --- alerts -------------------------------------------------------------------------------------

ALERT_CASES = {
    # rule: (columns that make the gap, in hours from T0, with the threshold gap on the last one)
    "audit_over_24h": {"first_audit_time": 24},
    "return_ship_over_24h": {"first_audit_time": 1, "pickup_time": 25},
    "tracking_stale_over_48h": {"pickup_time": 1, "logistics_update_time": 49},
    "transit_over_72h": {"customer_ship_time": 1, "sign_time": 73},
    "inbound_over_24h": {"sign_time": 1, "inbound_time": 25},
    "process_over_24h": {"inbound_time": 1, "first_process_time": 25},
}


def _alert_row(spec: dict[str, float], extra_seconds: int) -> dict[str, object]:
    row: dict[str, object] = {"first_process_time": h(300)}
    cols = list(spec)
    for col in cols:
        row[col] = h(spec[col])
    row[cols[-1]] = h(spec[cols[-1]]) + timedelta(seconds=extra_seconds)
    return row


@pytest.mark.parametrize("rule", list(ALERT_CASES))
def test_alert_at_and_just_past_threshold(rule: str) -> None:
    spec = ALERT_CASES[rule]
    out = derived(_alert_row(spec, 0), _alert_row(spec, 1))
    assert out[f"alert_{rule}"].to_list() == [False, True]


@pytest.mark.parametrize(("gap", "over_24", "over_48"), [(24, False, False), (48, True, False)])
def test_inbound_alerts_at_threshold(gap: int, over_24: bool, over_48: bool) -> None:
    base = {"sign_time": h(1), "first_process_time": h(300)}
    at = derived({**base, "inbound_time": h(1 + gap)}).row(0, named=True)
    past = derived({**base, "inbound_time": h(1 + gap) + timedelta(seconds=1)}).row(0, named=True)
    assert (at["alert_inbound_over_24h"], at["alert_inbound_over_48h"]) == (over_24, over_48)
    assert past["alert_inbound_over_24h"] is True
    assert past["alert_inbound_over_48h"] is (gap == 48)


def test_total_alert_uses_counted_hours_after_intervention() -> None:
    out = derived(
        {"first_process_time": h(60)},
        {"first_process_time": h(60) + timedelta(seconds=1)},
        {
            "first_process_time": h(70),
            "jd_intervened": True,
            "intervention_start": h(10),
            "intervention_end": h(20),
        },
    )
    assert out["alert_total_over_60h"].to_list() == [False, True, False]


def test_alerts_not_evaluated_without_timestamps_or_on_open_orders() -> None:
    out = derived(
        {"first_process_time": h(100)},  # nothing but apply and process
        {"first_audit_time": h(30), "status": "待处理", "complete_time": None},
    )
    alert_cols = [f"alert_{r}" for r in RULE_NAMES if r != "total_over_60h"]
    assert out.row(0, named=True)["alert_total_over_60h"] is True
    assert not any(out.row(0, named=True)[c] for c in alert_cols)
    assert out.row(1, named=True)["is_open"] is True
    assert not any(out.row(1, named=True)[c] for c in [*alert_cols, "alert_total_over_60h"])


def test_alerts_use_only_checkpoints_of_the_stage_chain() -> None:
    out = derived(
        {
            "first_audit_time": h(1),
            "pickup_time": h(30),
            "sign_time": h(20),
            "inbound_time": h(50),
            "first_process_time": h(60),
        }
    ).row(0, named=True)
    assert out["alert_return_ship_over_24h"] is True  # 29 h
    # The sign before the pickup took no part in the chain: no sign→inbound rule fires, and
    # transit is measured pickup → inbound (20 h).
    assert out["alert_inbound_over_24h"] is False
    assert out["alert_transit_over_72h"] is False
    assert out["stage_transit"] == 20.0
    assert out["stage_inbound"] == 0.0


# --- windows ------------------------------------------------------------------------------------


def test_window_previous_and_default() -> None:
    assert WINDOW.days == 30
    assert WINDOW.previous() == Window(date(2026, 1, 30), date(2026, 2, 28))
    assert default_window(rules=RULES, as_of=datetime(2026, 3, 31, 0, 5)) == WINDOW
    assert default_window(end=date(2026, 3, 30), rules=RULES) == WINDOW
    with pytest.raises(UsageError, match="after end"):
        Window(date(2026, 3, 2), date(2026, 3, 1))


def test_parse_window() -> None:
    as_of = datetime(2026, 3, 31, 9)
    assert parse_window(None, end=None, rules=RULES, as_of=as_of) == WINDOW
    assert parse_window(None, end="2026-03-30", rules=RULES) == WINDOW
    assert parse_window("2026-03-01", end=None, rules=RULES) == WINDOW
    assert parse_window("2026-03-05", end="2026-03-06", rules=RULES) == Window(
        date(2026, 3, 5), date(2026, 3, 6)
    )
    with pytest.raises(UsageError, match="--start"):
        parse_window("2026-13-01", end=None, rules=RULES)
    with pytest.raises(UsageError, match="--end"):
        parse_window(None, end="yesterday", rules=RULES)
    assert parse_as_of("2026-03-31 09:00") == as_of
    with pytest.raises(UsageError, match="--as-of"):
        parse_as_of("now")


# --- open orders at risk ----------------------------------------------------------------------


def test_open_order_status() -> None:
    as_of = h(50)
    frame = orders(
        {"service_id": "audit", "status": "待审核", "complete_time": None},
        {
            "service_id": "ship",
            "status": "待收货",
            "complete_time": None,
            "first_audit_time": h(20),
        },
        {
            "service_id": "refund",
            "service_type": "仅退款",
            "status": "待处理",
            "complete_time": None,
            "first_audit_time": h(5),
        },
        {
            "service_id": "transit",
            "status": "待收货",
            "complete_time": None,
            "first_audit_time": h(1),
            "pickup_time": h(2),
        },
        {
            "service_id": "inbound",
            "status": "待收货",
            "complete_time": None,
            "first_audit_time": h(1),
            "pickup_time": h(2),
            "logistics_update_time": h(3),
            "sign_time": h(24),
        },
        {
            "service_id": "process",
            "status": "待处理",
            "complete_time": None,
            "first_audit_time": h(1),
            "pickup_time": h(2),
            "sign_time": h(3),
            "inbound_time": h(40),
        },
        # DOMAIN §3: a recorded clock end is 暂完结 whatever the status, so it is not open.
        {
            "service_id": "stopped",
            "status": "待客户反馈",
            "complete_time": None,
            "first_audit_time": h(1),
            "first_process_time": h(20),
        },
        {"service_id": "done"},
    )
    lf = derive_orders(frame, rules=RULES)
    out = open_order_status(lf, as_of=as_of, rules=RULES).collect()
    got = {
        r["service_id"]: (
            r["elapsed_hours"],
            r["stage"],
            r["rule"],
            r["breached"],
            r["hours_to_breach"],
            r["rules_broken"],
        )
        for r in out.to_dicts()
    }
    assert got == {
        "audit": (50.0, "audit", "audit_over_24h", True, -26.0, "audit_over_24h"),
        "ship": (50.0, "return_ship", "return_ship_over_24h", True, -6.0, "return_ship_over_24h"),
        "refund": (50.0, "process", "total_over_60h", False, 10.0, None),
        "transit": (50.0, "transit", "tracking_stale_over_48h", False, 0.0, None),
        "inbound": (50.0, "inbound", "inbound_over_24h", True, -2.0, "inbound_over_24h"),
        "process": (50.0, "process", "total_over_60h", False, 10.0, None),
    }


def test_open_order_most_severe_broken_rule_and_intervention() -> None:
    frame = orders(
        {
            "service_id": "a",
            "status": "待收货",
            "complete_time": None,
            "first_audit_time": h(1),
            "pickup_time": h(2),
            "logistics_update_time": h(3),
            "sign_time": h(4),
        },
        {
            "service_id": "b",
            "status": "待审核",
            "complete_time": None,
            "jd_intervened": True,
            "intervention_start": h(10),
            "intervention_end": h(100),
        },
    )
    lf = derive_orders(frame, rules=RULES)
    out = open_order_status(lf, as_of=h(70), rules=RULES).collect()
    a, b = out.to_dicts()
    assert (a["rule"], a["hours_to_breach"]) == ("inbound_over_48h", -18.0)
    assert a["rules_broken"] == "inbound_over_24h,inbound_over_48h,total_over_60h"
    # intervention so far (h10→h70 = 60 h) is not on the merchant's clock
    assert b["elapsed_hours"] == 10.0
    assert (b["rule"], b["hours_to_breach"]) == ("audit_over_24h", -46.0)


# --- properties -------------------------------------------------------------------------------

offset = st.one_of(st.none(), st.integers(min_value=-50 * 3600, max_value=400 * 3600))


@st.composite
def random_orders(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(min_value=1, max_value=25))
    rows = []
    cols = (
        "first_audit_time",
        "pickup_time",
        "customer_ship_time",
        "sign_time",
        "inbound_time",
        "first_process_time",
        "intervention_start",
        "intervention_end",
    )
    for _ in range(n):
        row: dict[str, object] = {
            c: None if (s := draw(offset)) is None else T0 + timedelta(seconds=s) for c in cols
        }
        row["status"] = draw(st.sampled_from(["完成", "取消", "审核不通过", "待处理"]))
        row["approve_result"] = draw(st.sampled_from([None, "闪电退款", "上门换新", "客户发货"]))
        row["jd_intervened"] = draw(st.sampled_from([None, True, False]))
        rows.append(row)
    return orders(*rows)


@settings(max_examples=60, deadline=None)
@given(random_orders())
def test_stages_minus_intervention_equal_hours(frame: pl.DataFrame) -> None:
    out = derive_orders(frame, rules=RULES).collect()
    for row in out.to_dicts():
        if row["hours"] is None:
            assert all(v is None for v in stages(row))
            continue
        assert all(v >= 0 for v in stages(row))
        assert sum(stages(row)) == pytest.approx(row["gross_hours"], abs=1e-9)
        assert sum(stages(row)) - row["intervention_hours"] == pytest.approx(row["hours"], abs=1e-9)
        assert 0 <= row["intervention_hours"] <= row["gross_hours"]
