"""DOMAIN §7 metrics: hand-computed store figures, the JSON object, the CLI, and properties."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from factory import h, orders_frame
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from aftersales_kit.cli import main
from aftersales_kit.errors import UnknownStoreError
from aftersales_kit.metrics import (
    Kpis,
    kpi_sample,
    kpis_by_store,
    kpis_for,
    kpis_of_sample,
    metrics_columns,
    metrics_json,
    store_metrics,
    store_metrics_lazy,
)
from aftersales_kit.orders import data_traits, derive_orders
from aftersales_kit.rules import STAGES, load_rules
from aftersales_kit.window import Window

RULES = load_rules()
WINDOW = Window(start=date(2026, 3, 1), end=date(2026, 3, 30))


def orders(*rows: dict[str, object]) -> pl.DataFrame:
    """A canonical frame; every row defaults to a completed 仅退款 of store s1 applied at T0."""
    return orders_frame(rows, service_type="仅退款")


def refund(audit: float, total: float, **extra: object) -> dict[str, object]:
    return {"first_audit_time": h(audit), "first_process_time": h(total), **extra}


# Store s1: five counted orders of 10, 20, 60, 40 and 100 hours, plus excluded ones; store s2 has
# only very long orders and must not leak into s1.
STORE_S1 = [
    refund(4, 10),
    refund(30, 20 + 10, jd_intervened=True, intervention_start=h(5), intervention_end=h(15)),
    refund(8, 60, service_type="退货", sign_time=h(20), inbound_time=h(50)),
    refund(10, 40, status="取消", first_process_time=None, first_audit_time=h(40)),
    refund(2, 100, approve_result="闪电退款"),
    # excluded
    refund(
        1,
        2,
        apply_time=datetime(2026, 2, 20),
        first_audit_time=datetime(2026, 2, 20, 1),
        first_process_time=datetime(2026, 2, 20, 2),
    ),  # holiday
    {"status": "取消"},  # cancelled_before_audit
    {"first_process_time": None},  # missing_end
    {"first_process_time": h(-2)},  # invalid
    refund(50, 70, complete_time=datetime(2026, 4, 1)),  # not in the window
]
STORE_S2 = [
    refund(100, 500, store_id="s2", service_id="x1"),
    refund(1, 300, store_id="s2", service_id="x2", complete_time=datetime(2026, 2, 1)),
]


def frame_two_stores() -> pl.DataFrame:
    return pl.concat([orders(*STORE_S1), orders(*STORE_S2)])


EXPECTED_S1 = {
    "store_id": "s1",
    "start": "2026-03-01",
    "end": "2026-03-30",
    "counted": 5,
    "mean_hours": 46.0,
    "median_hours": 40.0,
    "p90_hours": 84.0,  # sorted 10,20,40,60,100: position 3.6 → 60 + 0.6 × 40
    "over_60h_share": 0.2,  # 60 is not over 60
    "excluded": {
        "holiday": 1,
        "apply_too_old": 0,
        "cancelled_before_audit": 1,
        "missing_end": 1,
        "invalid": 1,
    },
    "stages": {
        # audit 4+30+8+40+2; process 6+0+(60-50)+0+98; 退货 without a return start: audit →
        # sign is return_transit (the customer's shipping and the carrier cannot be split,
        # DOMAIN §4), sign → inbound 30
        "audit": 84 / 5,
        "return_ship": 0.0,
        "return_transit": 12 / 5,
        "transit": 0.0,
        "inbound": 30 / 5,
        "process": 114 / 5,
        "intervention": 10 / 5,
    },
    "scenes": {
        "仅退款": {"count": 2, "mean_hours": 15.0},
        "取消": {"count": 1, "mean_hours": 40.0},
        "退货": {"count": 1, "mean_hours": 60.0},
        "闪电退款": {"count": 1, "mean_hours": 100.0},
    },
    "alerts": {
        "audit_over_24h": 2,  # 30 h and 40 h (the excluded 50 h one is out of the window)
        # No row of the data set has a return start: unavailable, null (DOMAIN §5).
        "return_ship_over_24h": None,
        "tracking_stale_over_48h": None,
        "transit_over_72h": None,
        "inbound_over_24h": 1,  # sign h20 → inbound h50
        "inbound_over_48h": 0,
        "process_over_24h": 0,  # inbound h50 → process h60
        "refund_over_24h": 0,  # the 仅退款 orders: audit → refund 6 h and 0 h
        "total_over_60h": 1,
    },
    "jd_check": {"compared": 0, "matched": 0, "mean_jd_hours": None, "max_abs_diff_hours": None},
}


def test_metrics_json_hand_computed() -> None:
    got = metrics_json(frame_two_stores(), store_id="s1", window=WINDOW, rules=RULES)
    assert got == EXPECTED_S1
    assert list(got) == list(EXPECTED_S1)
    stages = got["stages"]
    assert sum(stages[k] for k in STAGES) - (stages["intervention"]) == pytest.approx(
        got["mean_hours"]
    )


def test_scenes_most_orders_first() -> None:
    got = metrics_json(frame_two_stores(), store_id="s1", window=WINDOW, rules=RULES)
    assert list(got["scenes"]) == ["仅退款", "取消", "退货", "闪电退款"]


def test_second_store_does_not_leak() -> None:
    both = store_metrics(frame_two_stores(), window=WINDOW, rules=RULES)
    alone = store_metrics(orders(*STORE_S1), window=WINDOW, rules=RULES)
    assert_frame_equal(both.filter(pl.col("store_id") == "s1"), alone)
    s2 = metrics_json(frame_two_stores(), store_id="s2", window=WINDOW, rules=RULES)
    assert (s2["counted"], s2["mean_hours"], s2["p90_hours"]) == (1, 500.0, 500.0)


def test_store_without_counted_orders_has_null_hours() -> None:
    got = metrics_json(
        orders({"store_id": "s3", "complete_time": datetime(2026, 1, 1)}),
        store_id="s3",
        window=WINDOW,
        rules=RULES,
    )
    assert got["counted"] == 0
    assert [got[k] for k in ("mean_hours", "median_hours", "p90_hours", "over_60h_share")] == [
        None
    ] * 4
    assert got["stages"] == dict.fromkeys((*STAGES, "intervention"))
    assert got["scenes"] == {}
    assert set(got["excluded"].values()) == {0}
    # Without pickup, sign or inbound times in the data set, those rules are unavailable.
    assert got["alerts"] == {
        "audit_over_24h": 0,
        "return_ship_over_24h": None,
        "tracking_stale_over_48h": None,
        "transit_over_72h": None,
        "inbound_over_24h": None,
        "inbound_over_48h": None,
        "process_over_24h": None,
        "refund_over_24h": 0,
        "total_over_60h": 0,
    }


def test_unknown_store_lists_the_stores() -> None:
    with pytest.raises(UnknownStoreError, match=r"s9.*s1, s2"):
        metrics_json(frame_two_stores(), store_id="s9", window=WINDOW, rules=RULES)


def test_store_metrics_shape_and_derived_input() -> None:
    frame = frame_two_stores()
    raw = store_metrics(frame, window=WINDOW, rules=RULES)
    assert raw.columns == metrics_columns()
    assert raw["store_id"].to_list() == ["s1", "s2"]
    pre = store_metrics(derive_orders(frame, rules=RULES), window=WINDOW, rules=RULES)
    assert_frame_equal(raw, pre)


def test_kpis() -> None:
    frame = frame_two_stores()
    kpis = kpis_for(frame, store_id="s1", window=WINDOW, rules=RULES)
    assert kpis == Kpis(
        counted=5,
        mean_hours=46.0,
        median_hours=40.0,
        p90_hours=84.0,
        over_60h_share=0.2,
        excluded=EXPECTED_S1["excluded"],  # type: ignore[arg-type]
    )
    by_store = kpis_by_store(store_metrics(frame, window=WINDOW, rules=RULES))
    assert by_store["s1"] == kpis
    assert by_store["s2"].counted == 1
    with pytest.raises(UnknownStoreError):
        kpis_for(frame, store_id="nope", window=WINDOW, rules=RULES)


# --- CLI ------------------------------------------------------------------------------------------


def test_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "orders.parquet"
    frame_two_stores().write_parquet(path)
    code = main(
        [
            "metrics",
            str(path),
            "--store",
            "s1",
            "--start",
            "2026-03-01",
            "--end",
            "2026-03-30",
            "--as-of",
            "2026-03-31 08:00",
            "--json",
        ]
    )
    assert code == 0
    got = json.loads(capsys.readouterr().out)
    opened = got.pop("open")
    # DOMAIN §7: the command also prints the report time and the store's data_as_of
    assert got.pop("as_of") == "2026-03-31 08:00:00"
    assert got.pop("data_as_of") == frame_two_stores().filter(pl.col("store_id") == "s1").select(
        pl.max_horizontal(pl.col(pl.Datetime).max())
    ).item().isoformat(sep=" ")
    # The command adds the readings check to §7's jd_check: nothing to test without JD's hours.
    readings = got["jd_check"].pop("readings")
    repair = got["jd_check"].pop("repair")
    assert got == EXPECTED_S1
    assert opened == {"as_of": "2026-03-31 08:00:00", "count": 0, "breached": 0}
    assert readings == []
    assert repair == {
        "count": 0,
        "median_jd_minus_ours": None,
        "p10": None,
        "p90": None,
        "testable": False,
    }


def test_cli_default_window_from_as_of_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "orders.parquet"
    frame_two_stores().write_parquet(path)
    assert main(["metrics", str(path), "--store", "s1", "--as-of", "2026-03-31 08:00"]) == 0
    out = capsys.readouterr().out
    assert "2026-03-01 – 2026-03-30" in out
    assert "计入单量 (counted): 5" in out
    assert "46.0 小时" in out


def test_cli_rules_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "orders.parquet"
    frame_two_stores().write_parquet(path)
    rules = tmp_path / "rules.toml"
    rules.write_text("warning_hours = 50\n[thresholds]\naudit_over_24h = 35\n", encoding="utf-8")
    argv = [
        "metrics",
        str(path),
        "--store",
        "s1",
        "--end",
        "2026-03-30",
        "--rules",
        str(rules),
        "--as-of",
        "2026-03-31 08:00",
        "--json",
    ]
    assert main(argv) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["over_60h_share"] == 0.4
    assert got["alerts"]["audit_over_24h"] == 1


def test_cli_unknown_store_and_bad_dates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "orders.parquet"
    frame_two_stores().write_parquet(path)
    assert main(["metrics", str(path), "--store", "zz", "--json"]) == 1
    err = capsys.readouterr().err
    assert "zz" in err and "s1, s2" in err
    with pytest.raises(SystemExit) as info:  # argparse: a usage error
        main(["metrics", str(path), "--store", "s1", "--start", "2026/3/1"])
    assert info.value.code == 2
    assert "--start" in capsys.readouterr().err
    assert (
        main(
            ["metrics", str(path), "--store", "s1", "--start", "2026-03-05", "--end", "2026-03-01"]
        )
        == 2
    )


def test_duplicates_keep_latest_complete_time(tmp_path: Path) -> None:
    from aftersales_kit.load import load

    frame = orders(
        refund(1, 10, service_id="dup", complete_time=datetime(2026, 3, 20)),
        refund(1, 30, service_id="dup", complete_time=datetime(2026, 3, 21)),
        refund(1, 50, service_id="dup", complete_time=None),
        refund(1, 20, service_id="other"),
    )
    path = tmp_path / "orders.parquet"
    frame.write_parquet(path)
    loaded = load(path)
    assert loaded.report.duplicates_dropped == 2
    got = metrics_json(loaded.frame, store_id="s1", window=WINDOW, rules=RULES)
    assert (got["counted"], got["mean_hours"]) == (2, 25.0)


# --- properties -------------------------------------------------------------------------------


@st.composite
def many_store_orders(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(min_value=1, max_value=40))
    rows = []
    for i in range(n):
        start = draw(st.integers(min_value=-40 * 24, max_value=30 * 24))
        audit = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=80)))
        total = draw(st.one_of(st.none(), st.integers(min_value=-5, max_value=150)))
        done = draw(st.integers(min_value=0, max_value=400))
        rows.append(
            {
                "service_id": f"o{i}",
                "store_id": draw(st.sampled_from(["a", "b", "c"])),
                "service_type": draw(st.sampled_from(["退货", "仅退款", "换货"])),
                "status": draw(st.sampled_from(["完成", "取消", "审核关闭"])),
                "apply_time": h(start),
                "first_audit_time": None if audit is None else h(start + audit),
                "first_process_time": None if total is None else h(start + total),
                "complete_time": h(start + done),
            }
        )
    return orders(*rows)


@settings(max_examples=30, deadline=None)
@given(many_store_orders(), st.randoms(use_true_random=False))
def test_invariant_under_row_order(frame: pl.DataFrame, rnd) -> None:  # type: ignore[no-untyped-def]
    order = list(range(frame.height))
    rnd.shuffle(order)
    shuffled = frame[order]
    assert_frame_equal(
        store_metrics(frame, window=WINDOW, rules=RULES),
        store_metrics(shuffled, window=WINDOW, rules=RULES),
        check_exact=False,
        rel_tol=1e-12,
        abs_tol=1e-9,
    )


@settings(max_examples=30, deadline=None)
@given(many_store_orders())
def test_per_store_same_alone_or_with_all(frame: pl.DataFrame) -> None:
    everything = store_metrics(frame, window=WINDOW, rules=RULES)
    for row in everything.iter_rows(named=True):
        store = row["store_id"]
        alone = store_metrics(frame.filter(pl.col("store_id") == store), window=WINDOW, rules=RULES)
        assert_frame_equal(everything.filter(pl.col("store_id") == store), alone)
        if row["counted"]:
            parts = sum(row[f"stage_{k}"] for k in STAGES)
            assert parts - row["stage_intervention"] == pytest.approx(row["mean_hours"])


@st.composite
def orders_with_optional_columns(draw: st.DrawFn) -> pl.DataFrame:
    """Stores whose optional columns (pickup, ship, tracking, sign, inbound, JD hours) are set
    on some rows only, in or out of the window, so a rule's inputs may sit outside it."""
    rows = []
    for i in range(draw(st.integers(min_value=1, max_value=30))):
        start = draw(st.integers(min_value=-60 * 24, max_value=30 * 24))
        row: dict[str, object] = {
            "service_id": f"o{i}",
            "store_id": draw(st.sampled_from(["a", "b", "c", "d"])),
            "service_type": draw(st.sampled_from(["退货", "仅退款", "换货"])),
            "status": draw(st.sampled_from(["完成", "取消"])),
            "apply_time": h(start),
            "first_audit_time": h(start + draw(st.integers(min_value=0, max_value=40))),
            "first_process_time": h(start + draw(st.integers(min_value=41, max_value=150))),
            "complete_time": None,
        }
        for col, offset in (
            ("pickup_time", 41),
            ("customer_ship_time", 42),
            ("logistics_update_time", 43),
            ("sign_time", 60),
            ("inbound_time", 70),
        ):
            if draw(st.booleans()):
                row[col] = h(start + offset)
        if draw(st.booleans()):
            row["jd_hours"] = draw(st.sampled_from([10.0, 10.5, 100.0, 37.25]))
        rows.append(row)
    return orders_frame(rows, service_type="退货")


@settings(max_examples=60, deadline=None)
@given(orders_with_optional_columns())
def test_traits_from_the_window_equal_traits_from_every_row(frame: pl.DataFrame) -> None:
    """store_metrics takes a store's traits from its window rows first and looks up only what
    they lack: the figures equal those derived with the traits of every row."""
    full = store_metrics_lazy(
        frame, window=WINDOW, rules=RULES, traits=data_traits(frame)
    ).collect()
    assert_frame_equal(store_metrics(frame, window=WINDOW, rules=RULES), full)


@settings(max_examples=60, deadline=None)
@given(orders_with_optional_columns(), st.integers(min_value=1, max_value=7))
def test_kpis_from_a_sample_derived_part_by_part_equal_store_metrics(
    frame: pl.DataFrame, size: int
) -> None:
    """diagnose derives the previous window's sample batch by batch, without the data traits
    (kpi_sample): its KPIs equal store_metrics' of every row."""
    parts = [
        kpi_sample(frame.slice(i, size).lazy(), window=WINDOW, rules=RULES).collect()
        for i in range(0, frame.height, size)
    ]
    stores = frame.lazy().select("store_id").unique()
    by_parts = kpis_of_sample(pl.concat(parts).lazy(), stores=stores, rules=RULES).collect()
    whole = store_metrics(frame, window=WINDOW, rules=RULES).select(by_parts.columns)
    assert_frame_equal(by_parts, whole)
