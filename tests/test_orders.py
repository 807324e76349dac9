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
    assert stages(out) == (10.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert out["out_of_order"] is False


def test_full_chain_stages() -> None:
    out = derived(FULL).row(0, named=True)
    assert out["return_start"] == h(24)
    assert stages(out) == (10.0, 14.0, 0.0, 48.0, 6.0, 18.0)
    assert out["hours"] == 96.0
    assert out["out_of_order"] is False


def test_customer_ship_time_starts_the_return_when_no_pickup() -> None:
    out = derived({**FULL, "pickup_time": None, "customer_ship_time": h(30)}).row(0, named=True)
    assert out["return_start"] == h(30)
    assert stages(out) == (10.0, 20.0, 0.0, 42.0, 6.0, 18.0)


def test_pickup_wins_over_customer_ship() -> None:
    out = derived({**FULL, "customer_ship_time": h(30)}).row(0, named=True)
    assert out["return_start"] == h(24)


def test_absent_checkpoints_give_their_time_to_the_next_stage() -> None:
    out = derived(
        {"first_audit_time": h(2), "first_process_time": h(5), "service_type": "仅退款"}
    ).row(0, named=True)
    assert stages(out) == (2.0, 0.0, 0.0, 0.0, 0.0, 3.0)


def test_checkpoints_after_the_clock_end_do_not_take_part() -> None:
    # 闪电退款 refunds before the goods come back: later checkpoints are normal, not out of order
    out = derived({**FULL, "approve_result": "闪电退款", "first_process_time": h(12)}).row(
        0, named=True
    )
    assert stages(out) == (10.0, 0.0, 0.0, 0.0, 0.0, 2.0)
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
    assert stages(out) == (10.0, 20.0, 0.0, 10.0, 0.0, 10.0)
    assert sum(stages(out)) == out["gross_hours"] == 50.0
    assert out["out_of_order"] is True


def test_audit_before_apply_is_out_of_order() -> None:
    out = derived({"first_audit_time": h(-1), "first_process_time": h(5)}).row(0, named=True)
    # DOMAIN §4 (rewritten): a gap that starts at apply is audit time.
    assert stages(out) == (5.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert out["out_of_order"] is True


def test_equal_timestamps_are_in_order() -> None:
    out = derived({"first_audit_time": h(0), "first_process_time": h(0)}).row(0, named=True)
    assert stages(out) == (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
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
        assert stages(row) == (None,) * len(STAGES)
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


#: DOMAIN §5's open-order table, one open order per row (as_of = T0 + 100 h, apply T0 unless
#: set): (row, expected stage, team, rule, hours left, next action).
OPEN_TABLE: list[tuple[dict[str, object], tuple[object, ...]]] = [
    (
        {"service_id": "confirm", "status": "待用户确认", "first_audit_time": h(1)},
        ("process", "cs", None, None, "confirm_refund"),
    ),
    (
        {"service_id": "awaiting", "status": "待审核"},
        ("audit", "cs", "audit_over_24h", -76.0, "audit"),
    ),
    (
        {"service_id": "reaudit", "status": "待审核", "first_audit_time": h(5)},
        ("audit", "cs", None, None, "audit"),
    ),
    (
        {"service_id": "feedback", "status": "待客户反馈"},
        ("audit", "cs", "audit_over_24h", -76.0, "chase_customer"),
    ),
    (
        {"service_id": "onsite", "status": "上门维修中", "service_type": "维修"},
        ("process", "cs", None, None, "chase_technician"),
    ),
    (
        {
            "service_id": "received",
            "status": "待处理",
            "service_type": "维修",
            "return_method": "客户发货",
            "first_audit_time": h(2),
            "inbound_time": h(90),
        },
        ("process", "warehouse", "process_over_24h", 14.0, "process_repair"),
    ),
    (
        {
            "service_id": "received_no_time",
            "status": "待处理",
            "return_method": "客户发货",
            "first_audit_time": h(2),
        },
        ("process", "warehouse", None, None, "process_goods"),
    ),
    (
        {
            "service_id": "refund",
            "status": "待处理",
            "service_type": "已收货退款",
            "first_audit_time": h(50),
        },
        ("process", "cs", "refund_over_24h", -26.0, "refund"),
    ),
    (
        {
            "service_id": "replacement",
            "status": "待收货",
            "service_type": "换货",
            "return_method": "上门换新",
            "first_audit_time": h(3),
        },
        ("process", "warehouse", None, None, "send_replacement"),
    ),
    (
        {
            "service_id": "signed",
            "status": "待收货",
            "return_method": "上门取件",
            "first_audit_time": h(2),
            "pickup_time": h(10),
            "sign_time": h(60),
        },
        ("inbound", "warehouse", "inbound_over_24h", -16.0, "book_in"),
    ),
    (
        {
            "service_id": "transit",
            "status": "待收货",
            "return_method": "上门取件",
            "first_audit_time": h(2),
            "pickup_time": h(10),
            "waybill_no": "JD0001",
        },
        # no tracking update anywhere in the data: only the 72 h line is watched
        ("transit", "logistics", "transit_over_72h", -18.0, "chase_carrier"),
    ),
    (
        {
            "service_id": "waybill",
            "status": "待收货",
            "return_method": "客户发货",
            "first_audit_time": h(2),
            "waybill_no": "YT0001",
        },
        ("return_transit", "logistics", None, None, "track_waybill"),
    ),
    (
        {
            "service_id": "to_ship",
            "status": "待收货",
            "return_method": "客户发货",
            "first_audit_time": h(2),
        },
        ("return_ship", "cs", "return_ship_over_24h", -74.0, "remind_customer_ship"),
    ),
    (
        {
            "service_id": "to_pickup",
            "status": "待收货",
            "return_method": "上门取件",
            "apply_time": h(75),
            "first_audit_time": h(80),
            "waybill_no": "JD0002",
        },
        # the data has 取件时间: a pickup-family 运单号 without one is a booking, not a parcel
        ("return_ship", "logistics", "return_ship_over_24h", 4.0, "book_pickup"),
    ),
    (
        {
            "service_id": "unknown_method",
            "status": "待收货",
            "service_type": "换货",
            "first_audit_time": h(90),
        },
        ("return_ship", "cs", "return_ship_over_24h", 14.0, "confirm_return_method"),
    ),
    (
        {"service_id": "odd_status", "status": "商家催收待处理"},
        ("audit", "cs", "audit_over_24h", -76.0, "verify_status"),
    ),
    (
        {"service_id": "awaiting_no_status_audit", "status": "待收货", "service_type": "换货"},
        # 待收货 is past audit although the export left the audit time blank: the return rule
        # has no start, so no line
        ("return_ship", "cs", None, None, "confirm_return_method"),
    ),
]


def test_open_orders_follow_the_domain_table() -> None:
    rows = [{"complete_time": None, **row} for row, _ in OPEN_TABLE]
    # a completed order with a receipt time makes the inbound/process rules computable
    rows.append({"service_id": "done", "inbound_time": h(3), "sign_time": h(2)})
    lf = derive_orders(orders(*rows), rules=RULES)
    out = open_order_status(lf, as_of=h(100), rules=RULES).collect()
    got = {
        r["service_id"]: (r["stage"], r["team"], r["rule"], r["hours_to_breach"], r["next_action"])
        for r in out.to_dicts()
    }
    assert got == {row["service_id"]: want for row, want in OPEN_TABLE}
    by_id = {r["service_id"]: r for r in out.to_dicts()}
    assert by_id["awaiting"]["due_at"] == h(24)
    assert by_id["awaiting"]["breached"] is True
    assert by_id["to_pickup"]["due_at"] == h(104)
    assert by_id["to_pickup"]["over_60h"] is False and by_id["awaiting"]["over_60h"] is True
    assert by_id["odd_status"]["status_known"] is False
    assert all(r["will_count"] for r in out.to_dicts())


def test_open_order_that_can_never_count_is_marked() -> None:
    as_of = h(100)
    old = as_of - timedelta(days=200)
    frame = orders(
        {"service_id": "old", "status": "待审核", "complete_time": None, "apply_time": old},
        {"service_id": "new", "status": "待审核", "complete_time": None},
    )
    out = open_order_status(derive_orders(frame, rules=RULES), as_of=as_of, rules=RULES).collect()
    assert dict(zip(out["service_id"], out["will_count"], strict=True)) == {
        "old": False,
        "new": True,
    }


def test_unavailable_rules_never_fire_on_open_orders() -> None:
    # A 京麦 export: no tracking, no sign time. A picked-up parcel is watched by the 72 h line
    # only, and nothing waits on an inbound line.
    frame = orders(
        {
            "service_id": "moving",
            "status": "待收货",
            "return_method": "上门取件",
            "complete_time": None,
            "first_audit_time": h(1),
            "pickup_time": h(2),
        },
        {"service_id": "done", "inbound_time": h(5), "pickup_time": h(3)},
    )
    out = open_order_status(derive_orders(frame, rules=RULES), as_of=h(60), rules=RULES).collect()
    row = out.row(0, named=True)
    assert (row["rule"], row["hours_to_breach"]) == ("transit_over_72h", 14.0)


def test_rule_availability_is_decided_per_store() -> None:
    frame = orders(
        {
            "service_id": "a",
            "store_id": "with",
            "status": "待收货",
            "complete_time": None,
            "first_audit_time": h(1),
            "pickup_time": h(2),
            "sign_time": h(4),
        },
        {"service_id": "a-done", "store_id": "with", "inbound_time": h(5), "sign_time": h(4)},
        {
            "service_id": "b",
            "store_id": "without",
            "status": "待收货",
            "complete_time": None,
            "first_audit_time": h(1),
            "pickup_time": h(2),
            "sign_time": h(4),
        },
    )
    out = open_order_status(derive_orders(frame, rules=RULES), as_of=h(70), rules=RULES).collect()
    rules = dict(zip(out["service_id"], out["rule"], strict=True))
    # store "without" has no 商家收货时间 in any row: its inbound lines cannot be computed
    assert rules == {"a": "inbound_over_48h", "b": None}


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
        # the store's data has 商家收货时间 (a completed order): the inbound lines are computable
        {"service_id": "c", "inbound_time": h(5), "sign_time": h(4)},
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
    a, b = out.filter(pl.col("service_id").is_in(["a", "b"])).sort("service_id").to_dicts()
    # both inbound lines are crossed: the higher one is the rule
    assert (a["rule"], a["hours_to_breach"]) == ("inbound_over_48h", -18.0)
    assert a["over_60h"] is True
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


# --- stages on a 京麦 export (no customer ship time, no sign time) ------------------------------


def test_customer_shipped_return_without_ship_time_is_return_transit() -> None:
    out = derived(
        {
            "return_method": "客户发货",
            "first_audit_time": h(2),
            "inbound_time": h(50),
            "first_process_time": h(60),
        }
    ).row(0, named=True)
    # audit 2 h; audit → 商家收货 (customer's shipping + carrier, not separable) 48 h; process 10 h
    assert stages(out) == (2.0, 0.0, 48.0, 0.0, 0.0, 10.0)
    assert out["family"] == "customer_ship"
    assert out["no_receipt_time"] is False


def test_picked_up_return_splits_pickup_wait_and_transit() -> None:
    out = derived(
        {
            "return_method": "上门取件",
            "first_audit_time": h(2),
            "pickup_time": h(20),
            "inbound_time": h(50),
            "first_process_time": h(60),
        }
    ).row(0, named=True)
    assert stages(out) == (2.0, 18.0, 0.0, 30.0, 0.0, 10.0)


def test_goods_back_without_receipt_time_is_return_transit_and_flagged() -> None:
    out = derived(
        {"return_method": "客户发货", "first_audit_time": h(2), "first_process_time": h(60)},
        {"service_type": "已收货退款", "first_audit_time": h(2), "first_process_time": h(60)},
    ).to_dicts()
    goods, refund = out
    assert stages(goods) == (2.0, 0.0, 58.0, 0.0, 0.0, 0.0)
    assert goods["no_receipt_time"] is True
    # a refund without goods back: audit → refund is processing
    assert stages(refund) == (2.0, 0.0, 0.0, 0.0, 0.0, 58.0)
    assert refund["no_receipt_time"] is False


@pytest.mark.parametrize(
    ("row", "family"),
    [
        ({"return_method": "上门取件"}, "pickup"),
        ({"return_method": "京东快运上门取件"}, "pickup"),
        ({"approve_result": "闪电退款"}, "pickup"),
        ({"return_method": "客户发货"}, "customer_ship"),
        ({"return_method": "快递至门店"}, "customer_ship"),
        ({"return_method": "退款不退货"}, "no_goods"),
        ({"service_type": "未收货退款"}, "no_goods"),
        ({"service_type": "上门维修"}, "on_site"),
        ({"status": "上门检测中", "return_method": "上门取件"}, "on_site"),
        ({"service_type": "换货"}, None),
    ],
)
def test_return_family(row: dict[str, object], family: str | None) -> None:
    assert derived(row)["family"][0] == family


def test_refund_over_24h_counts_on_completed_no_goods_orders() -> None:
    out = derived(
        {"service_type": "已收货退款", "first_audit_time": h(2), "first_process_time": h(30)},
        {"service_type": "退货", "first_audit_time": h(2), "first_process_time": h(30)},
    )
    assert out["alert_refund_over_24h"].to_list() == [True, False]
