"""The estate pass: peer medians, the clock's newest store, groups, the file and its reuse."""

from __future__ import annotations

import statistics
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aftersales_kit import estate
from aftersales_kit.config import StoreEntry
from aftersales_kit.render import report
from aftersales_kit.rules import load_rules
from aftersales_kit.window import parse_window


@given(
    means=st.dictionaries(
        st.text(min_size=1, max_size=4),
        st.floats(min_value=0, max_value=500, allow_nan=False),
        max_size=30,
    )
)
def test_peer_median_is_the_median_of_every_other_store(means: dict[str, float]) -> None:
    got = estate.peer_medians(means, min_peers=3)
    for sid, mean in means.items():
        others = [v for k, v in means.items() if k != sid]
        median, count = got[sid]
        assert count == len(others)
        if len(others) < 3:
            assert median is None
        else:
            assert median == pytest.approx(statistics.median(others))
        del mean


def test_peer_medians_by_hand() -> None:
    got = estate.peer_medians({"a": 10.0, "b": 20.0, "c": 30.0, "d": 50.0}, min_peers=3)
    assert got == {"a": (30.0, 3), "b": (30.0, 3), "c": (20.0, 3), "d": (20.0, 3)}


def test_groups_come_from_the_stores_tables() -> None:
    entries = {
        "1": StoreEntry("1", extra={"brand": "甲", "manager": "张三", "star": 4.0}),
        "2": StoreEntry("2", extra={"star": 4.0}),
        "3": StoreEntry("3", extra={"manager": "李四"}),
    }
    assert estate.groups_of(entries) == {
        "1": {"brand": "甲", "manager": "张三"},
        "3": {"manager": "李四"},
    }


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    from aftersales_kit.demo import simulate as demo

    return demo.generate(stores=5, orders=120, end=date(2026, 3, 31))


def test_estate_matches_the_diagnoses_and_is_reused_until_the_data_changes(
    frame: pl.DataFrame, tmp_path: Path
) -> None:
    from aftersales_kit.pipeline import diagnose_data

    rules = load_rules(None)
    computed = diagnose_data(frame, end="2026-03-31", as_of="2026-04-01 09:00")
    window = computed.window
    digests = report.store_digests(frame)
    groups = {"1000101": {"brand": "甲"}}
    first = estate.ensure(
        tmp_path, frame, window=window, rules=rules, digests=digests, groups=groups
    )
    for sid, d in computed.diagnoses.items():  # the same peers every report shows
        figures = first.stores[sid]
        assert figures.peer_count == d.peer_count
        assert figures.peer_median_hours == pytest.approx(d.peer_median_hours)
        assert figures.counted == d.kpis.counted
    assert first.stores["1000101"].groups == {"brand": "甲"}
    newest = max(d.data_as_of for d in computed.diagnoses.values() if d.data_as_of)
    assert first.data_as_of == newest.isoformat(sep=" ")

    path = tmp_path / estate.ESTATE_NAME
    stamp = path.stat().st_mtime_ns
    again = estate.ensure(
        tmp_path, frame, window=window, rules=rules, digests=digests, groups=groups
    )
    assert again == first and path.stat().st_mtime_ns == stamp  # read, not recomputed

    fewer = frame.filter(pl.col("store_id") != "1000105")
    third = estate.ensure(
        tmp_path,
        fewer,
        window=window,
        rules=rules,
        digests=report.store_digests(fewer),
        groups=groups,
    )
    assert "1000105" not in third.stores and third.fingerprint != first.fingerprint
    assert estate.read(tmp_path) == third
    other_window = parse_window("2026-03-01", end="2026-03-30", rules=rules)
    assert (
        estate.data_fingerprint(digests, window=other_window, rules=rules, groups=groups)
        != first.fingerprint
    )


def test_a_stale_store_is_stale_in_report_and_batch_alike(frame: pl.DataFrame) -> None:
    # DOMAIN §2: a store more than 48 h behind the newest store is 数据过期 — also when it is the
    # only store asked for (report --store X), since the clock follows every store.
    from aftersales_kit.pipeline import diagnose_data

    cut = datetime(2026, 3, 28)
    old = frame.filter((pl.col("store_id") != "1000103") | (pl.col("apply_time") < cut))
    old = old.with_columns(
        *(
            pl.when((pl.col("store_id") == "1000103") & (pl.col(c) >= cut))
            .then(None)
            .otherwise(pl.col(c))
            .alias(c)
            for c in old.columns
            if old.schema[c] == pl.Datetime("us") and c != "apply_time"
        )
    )
    one = diagnose_data(old, stores=["1000103"], end="2026-03-31", as_of="2026-04-01 09:00")
    every = diagnose_data(old, end="2026-03-31", as_of="2026-04-01 09:00")
    assert every.diagnoses["1000103"].data_stale
    assert one.diagnoses["1000103"].data_stale


def _row(sid: str, *, counted: int, mean: float | None, level: str = "ok", **groups: str) -> dict:
    return {
        "store_id": sid,
        "store_name": sid,
        "counted": counted,
        "mean_hours": mean,
        "line_hours": 60.0,
        "warning_level": level,
        "open_at_risk": 2,
        "groups": groups,
    }


def test_ranking_by_impact_keeps_small_samples_last_and_rolls_up_groups() -> None:
    from aftersales_kit.render import portfolio

    rows = [
        _row("a", counted=10, mean=70.0, level="high", brand="甲"),  # impact 100
        _row("b", counted=30, mean=50.0, brand="甲", manager="张"),  # impact 0
        _row("c", counted=400, mean=61.0, manager="张"),  # impact 400
        _row("d", counted=3, mean=200.0),  # impact 420, but 3 < 5 orders
    ]
    by_impact = [r["store_id"] for r in portfolio.ranked(rows, min_orders=5)]
    assert by_impact == ["c", "a", "b", "d"]
    by_mean = [r["store_id"] for r in portfolio.ranked(rows, min_orders=5, by="mean")]
    assert by_mean == ["a", "c", "b", "d"]
    section = portfolio.group_rollups({"stores": rows}, lang="zh")
    cells = [
        line.removeprefix("<td>").removeprefix('<td class="num">').removesuffix("</td>")
        for line in str(section.html).replace("><", ">\n<").splitlines()
        if line.startswith("<td")
    ]
    # brand 甲: 2 stores, 40 orders, (70×10 + 50×30) / 40 = 55.0 h, 1 triggered, 4 open, 100
    assert cells[:7] == ["品牌: 甲", "2", "40", "55.0 小时", "1", "4", "100"]
    # manager 张: b and c, (50×30 + 61×400) / 430 = 60.2 h, impact 400
    assert cells[7:] == ["负责人: 张", "2", "430", "60.2 小时", "0", "4", "400"]
