"""The action-list workbook: masked, formula-neutralised, Chinese sheets and headers."""

from __future__ import annotations

import dataclasses
import io
import re
import zipfile
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from aftersales_kit.deliver.xlsx import (
    action_frames,
    action_lists_bytes,
    neutralize_formulas,
    write_action_lists,
)
from aftersales_kit.format import BIDI_CONTROLS
from aftersales_kit.window import Window

WINDOW = Window(start=date(2026, 3, 1), end=date(2026, 3, 30))


@pytest.fixture(scope="module")
def diagnosis():
    from aftersales_kit.demo.simulate import generate
    from aftersales_kit.diagnose import diagnose_store
    from aftersales_kit.rules import load_rules

    frame = generate(stores=2, orders=300, end=WINDOW.end)
    return diagnose_store(
        frame,
        store_id="1000101",
        window=WINDOW,
        rules=load_rules(),
        as_of=datetime(2026, 3, 31, 9, 0),
    )


@pytest.fixture
def crafted(diagnosis):
    """The real Diagnosis with hand-made action lists, so every cell value is known."""
    open_at_risk = pl.DataFrame(
        {
            "service_id": ["S1", '=HYPERLINK("http://x")'],
            "stage": ["audit", "inbound"],
            "rule": ["audit_over_24h", "inbound_over_48h"],
            "breached": [True, False],
            "apply_time": [datetime(2026, 3, 30, 8, 15), datetime(2026, 3, 29, 20, 0)],
            "elapsed_hours": [24.75, 37.0],
            "hours_to_breach": [-0.75, 11.0],
            "customer_name": ["张三丰", "李四"],
            "customer_phone": ["13812345678", "+86 139-1234-5678"],
        }
    )
    alert_orders = pl.DataFrame(
        {
            "service_id": ["S9", "https://evil.example/x"],
            "rules": ["audit_over_24h,total_over_60h", "@SUM(A1)"],
            "hours": [-3.5, 70.25],  # a negative number must stay a number
        }
    )
    return dataclasses.replace(
        diagnosis,
        open_at_risk=open_at_risk,
        alert_orders=alert_orders,
        top100=diagnosis.top100.clear(),
        jd_check=None,
    )


def test_neutralize_formulas_only_touches_risky_strings() -> None:
    frame = pl.DataFrame(
        {
            "text": ["=1+1", "+86", "-x", "@a", "\tb", "\rc", "ok", None, "a=b"],
            "n": [-1, 2, 3, 4, 5, 6, 7, 8, 9],
        }
    )
    expected = pl.DataFrame(
        {
            "text": ["'=1+1", "'+86", "'-x", "'@a", "'\tb", "'\rc", "ok", None, "a=b"],
            "n": [-1, 2, 3, 4, 5, 6, 7, 8, 9],
        }
    )
    assert_frame_equal(neutralize_formulas(frame), expected)


@settings(deadline=None)
@given(st.lists(st.text(max_size=8) | st.none(), max_size=20))
def test_neutralized_cells_never_start_with_a_trigger(values: list[str | None]) -> None:
    out = neutralize_formulas(pl.DataFrame({"s": values}, schema={"s": pl.String}))["s"]
    for before, after in zip(values, out.to_list(), strict=True):
        if before is None:
            assert after is None
        else:
            plain = re.sub(BIDI_CONTROLS, "", before)  # bidi overrides are dropped first
            assert after[:1] not in {"=", "+", "-", "@", "\t", "\r"}
            assert after in (plain, "'" + plain)


def test_action_frames_mask_translate_and_neutralise(crafted) -> None:
    sheets = action_frames(crafted)
    # Sheet names in JD's terms, one per team first (issue 10); the crafted diagnosis has no
    # JD hours, so no "differs from JD" sheet and no readings check; the manager views follow.
    assert list(sheets) == [
        "客服行动清单",
        "物流行动清单",
        "仓库行动清单",
        "未完结服务单(状态以导出时为准)",
        "历史服务单预警TOP100",
        "预警明细",
        "明天影响最大的服务单",
        "商品售后",
        "审核人",
        "处理人",
    ]
    expected_open = pl.DataFrame(
        {
            "服务单号": ["S1", '\'=HYPERLINK("http://x")'],
            "当前环节": ["审核", "签收→验收入库"],
            "预警规则": ["审核超24小时", "签收超48小时未入库"],
            "超预警线": ["是", "否"],
            "申请时间": [datetime(2026, 3, 30, 8, 15), datetime(2026, 3, 29, 20, 0)],
            "已耗时(小时)": [24.75, 37.0],
            "距预警线(小时，负数为已超出)": [-0.75, 11.0],
            "客户姓名(已脱敏)": ["张**", "李*"],
            "客户电话(已脱敏)": ["138****5678", "'+86****5678"],
        }
    ).rename({"客户电话(已脱敏)": "联系电话(已脱敏)"})
    assert_frame_equal(sheets["未完结服务单(状态以导出时为准)"], expected_open)
    expected_alerts = pl.DataFrame(
        {
            "服务单号": ["S9", "https://evil.example/x"],
            "触发规则": ["审核超24小时、超60小时（拉高均值）", "'@SUM(A1)"],
            "售后时长(小时)": [-3.5, 70.25],
        }
    )
    assert_frame_equal(sheets["预警明细"], expected_alerts)
    assert sheets["历史服务单预警TOP100"].height == 0

    english = action_frames(crafted, lang="en")
    assert list(english)[3:6] == [
        "Open service orders",
        "History alerts (longest 100)",
        "Alert details",
    ]
    assert english["Open service orders"]["Rule"].to_list() == [
        "Audit > 24 h",
        "Not booked in 48 h after signing",
    ]


def test_workbook_round_trip_has_no_formulas(crafted, tmp_path: Path) -> None:
    path = write_action_lists(crafted, path=tmp_path / "out" / "行动清单.xlsx")
    assert path.exists() and [p.name for p in path.parent.iterdir()] == [path.name]
    book = pl.read_excel(path, sheet_id=0)
    assert list(book) == [
        "客服行动清单",
        "物流行动清单",
        "仓库行动清单",
        "未完结服务单(状态以导出时为准)",
        "历史服务单预警TOP100",
        "预警明细",
        "明天影响最大的服务单",
        "商品售后",
        "审核人",
        "处理人",
    ]
    sheet = book["未完结服务单(状态以导出时为准)"]
    assert sheet["服务单号"].to_list() == ["S1", '\'=HYPERLINK("http://x")']
    assert sheet["联系电话(已脱敏)"].to_list() == ["138****5678", "'+86****5678"]
    assert sheet["申请时间"].to_list()[0] == datetime(2026, 3, 30, 8, 15)
    assert book["预警明细"]["售后时长(小时)"].to_list() == [-3.5, 70.25]
    assert book["历史服务单预警TOP100"].columns[:3] == ["排名", "服务单号", "订单号"]
    with zipfile.ZipFile(path) as z:
        sheets_xml = [z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/sheet")]
    assert all(b"<f>" not in xml for xml in sheets_xml)  # no formula cells at all
    assert all(b"<hyperlink" not in xml for xml in sheets_xml)  # URL text stays text


def test_real_diagnosis_lists_are_masked(diagnosis) -> None:
    book = pl.read_excel(io.BytesIO(action_lists_bytes(diagnosis)), sheet_id=0)
    assert book["历史服务单预警TOP100"].height == diagnosis.top100.height > 0
    assert book["未完结服务单(状态以导出时为准)"].height == diagnosis.open_at_risk.height
    assert book["预警明细"].height == diagnosis.alert_orders.height
    phones = book["历史服务单预警TOP100"]["联系电话(已脱敏)"].drop_nulls()
    assert phones.len() > 0 and phones.str.contains(r"^1[3-9]\d\*{4}\d{4}$").all()
    names = book["历史服务单预警TOP100"]["客户姓名(已脱敏)"].drop_nulls()
    assert names.str.contains(r"^.\*+$").all()


def test_team_sheets_hold_each_teams_orders_with_next_action_and_hours_left(diagnosis) -> None:
    # Issue 10 "one action list per team": every team's sheet is exactly its list, coded values
    # in words, and no order appears on two teams' sheets.
    sheets = action_frames(diagnosis)
    seen: set[str] = set()
    for team, name in (
        ("cs", "客服行动清单"),
        ("logistics", "物流行动清单"),
        ("warehouse", "仓库行动清单"),
    ):
        frame = diagnosis.team_actions[team]
        sheet = sheets[name]
        assert sheet["服务单号"].to_list() == frame["service_id"].to_list()
        wanted = {"下一步", "距预警线(小时，负数为已超出)", "当前环节", "运单号", "快递公司"}
        assert wanted <= set(sheet.columns)
        assert not set(sheet["下一步"].drop_nulls()) & {"audit", "book_in", "chase_carrier"}
        assert not seen & set(frame["service_id"])
        seen |= set(frame["service_id"])


def test_bidi_overrides_are_dropped_from_workbook_cells() -> None:
    # U+202E would show "exe.xslx" for "xlsx.exe" and reorder the figures after a name.
    frame = pl.DataFrame({"name": ["店\u202egpj.exe", "=1+1\u202e"], "n": [1, 2]})
    assert neutralize_formulas(frame).rows() == [("店gpj.exe", 1), ("'=1+1", 2)]
