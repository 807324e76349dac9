"""Manager views (DOMAIN §6) on a hand-made 京麦 download: SKUs, auditors, processors,
一次审核完成率, auto-audit and SA candidates, and the readings check against JD's own hours.

The workbook is written with xlsxwriter the way JD lays it out (A1 申请信息 merged over its group,
A2 服务单号, data from row 3, IDs as text, numbers as numbers). Report time 2026-12-03 09:00; window
2026-11-03 … 2026-12-02; every order below is counted. Times are hours after apply:

    id   SKU  type  reason    auditor  audit first/latest  received  processed  hours  JD  processor
    S01  A    退货   质量问题   张三      2 / 2               48        80          80    80  王五
    S02  A    维修   质量问题   李四     30 / 30              72        96          96   120  赵六
    S03  A    换货   质量问题   张三      1 / 5 (re-audit)    36        40          40    40  王五
    S04  B    退货   七天无理由 张三      4 / 4               24        30          30    30  王五
    S05  B    仅退款 七天无理由 (auto)  0.1 / 0.1              -         1           1     1  -
    S06  B    补发   少件      李四      3 / 3               -         10          3    10  赵六
    S07  C    补发   少件      李四      2 / 2               -         12          2    12  赵六
    S08  C    退货 审核关闭 七天无理由 李四 5 / 5              -          -          5     5  -
    S09  C    退货   质量问题   张三      2 / 20 (re-audit)   48        74          74    74  赵六
    S10  C    退货 审核关闭 七天无理由 李四 1 / 9 (re-audit)   -          -          1     9  -

JD's hours are whole numbers, so a reading matches within 1 h (as jd_check). JD's 补发 hours
(S06, S07) stop at the first processing while ours stop at the first audit; S10's stop at its
latest audit; S02 is 维修 (not testable).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from aftersales_kit import views
from aftersales_kit.api import analyze
from aftersales_kit.cli import main
from aftersales_kit.deliver.xlsx import action_frames
from aftersales_kit.model import Diagnosis
from aftersales_kit.pipeline import diagnose_data
from aftersales_kit.render.sections import breakdown, kpi_cards, manager_views
from aftersales_kit.rules import load_rules

AS_OF = "2026-12-03 09:00:00"
GROUPS = (
    ("申请信息", ("服务单号", "订单号", "客户期望", "服务单状态", "一级申请原因", "客户问题描述")),
    ("售后信息", ("返回方式", "售后申请时间")),
    ("商品信息", ("商品编号", "商品名称")),
    ("审核信息", ("审核结果", "审核时间", "审核人姓名", "商家首次审核时间", "自动审核类型")),
    ("物流信息", ("取件时间", "商家收货时间")),
    ("处理信息", ("处理结果", "处理人", "商家首次处理时间", "售后整体时长(H)")),
)
HEADERS = [h for _, group in GROUPS for h in group]
SKUS = {"A": ("100001", "电热水壶"), "B": ("100002", "吹风机"), "C": ("100003", "台灯")}


def _at(apply: datetime, hours: float | None) -> str | None:
    if hours is None:
        return None
    return (apply + timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M:%S")


def row(
    sid: str,
    sku: str,
    expect: str,
    reason: str,
    day: int,
    *,
    audit: float,
    latest: float | None = None,
    auditor: str | None = None,
    auto: str | None = None,
    method: str | None = None,
    status: str = "完成",
    result: str = "审核通过",
    pickup: float | None = None,
    received: float | None = None,
    processed: float | None = None,
    processor: str | None = None,
    jd: float,
) -> dict[str, object]:
    apply = datetime(2026, 11, day)
    return {
        "服务单号": sid,
        "订单号": f"30000{sid[1:]}",
        "客户期望": expect,
        "服务单状态": status,
        "一级申请原因": reason,
        "客户问题描述": None,
        "返回方式": method,
        "售后申请时间": _at(apply, 0),
        "商品编号": SKUS[sku][0],
        "商品名称": SKUS[sku][1],
        "审核结果": result,
        "审核时间": _at(apply, audit if latest is None else latest),
        "审核人姓名": auditor,
        "商家首次审核时间": _at(apply, audit),
        "自动审核类型": auto,
        "取件时间": _at(apply, pickup),
        "商家收货时间": _at(apply, received),
        "处理结果": None,
        "处理人": processor,
        "商家首次处理时间": _at(apply, processed),
        "售后整体时长(H)": jd,
    }


ROWS = [
    row("S01", "A", "退货", "质量问题", 10, audit=2, auditor="张三", method="上门取件",
        pickup=20, received=48, processed=80, processor="王五", jd=80),
    row("S02", "A", "维修", "质量问题", 10, audit=30, auditor="李四", method="客户发货",
        received=72, processed=96, processor="赵六", jd=120),
    row("S03", "A", "换货", "质量问题", 11, audit=1, latest=5, auditor="张三",
        method="上门取件", pickup=12, received=36, processed=40, processor="王五", jd=40),
    row("S04", "B", "退货", "七天无理由", 12, audit=4, auditor="张三", method="客户发货",
        received=24, processed=30, processor="王五", jd=30),
    row("S05", "B", "仅退款", "七天无理由", 12, audit=0.1, auto="仅退款自动审核",
        processed=1, jd=1),
    row("S06", "B", "补发商品", "少件", 13, audit=3, auditor="李四", method="补发商品",
        processed=10, processor="赵六", jd=10),
    row("S07", "C", "补发商品", "少件", 14, audit=2, auditor="李四", method="补发商品",
        processed=12, processor="赵六", jd=12),
    row("S08", "C", "退货", "七天无理由", 15, audit=5, auditor="李四", status="审核关闭",
        result="审核不通过", jd=5),
    row("S09", "C", "退货", "质量问题", 16, audit=2, latest=20, auditor="张三",
        method="客户发货", received=48, processed=74, processor="赵六", jd=74),
    row("S10", "C", "退货", "七天无理由", 17, audit=1, latest=9, auditor="李四",
        status="审核关闭", result="审核不通过", jd=9),
]  # fmt: skip


def write_jingmai(path: Path, rows: list[dict[str, object]] = ROWS) -> Path:
    """A 京麦 自主售后 download as JD lays it out, written with xlsxwriter."""
    with xlsxwriter.Workbook(path) as wb:
        ws = wb.add_worksheet()
        col = 0
        for title, group in GROUPS:
            ws.merge_range(0, col, 0, col + len(group) - 1, title)
            col += len(group)
        for c, header in enumerate(HEADERS):
            ws.write_string(1, c, header)
        for r, values in enumerate(rows, start=2):
            for c, header in enumerate(HEADERS):
                value = values[header]
                if isinstance(value, str):
                    ws.write_string(r, c, value)  # IDs and times as text cells
                elif value is not None:
                    ws.write_number(r, c, float(value))  # hours as numbers
    return path


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jingmai(tmp_path_factory.mktemp("views") / "样例店_售后服务单_20261203.xlsx")


@pytest.fixture(scope="module")
def diagnosis(export: Path) -> Diagnosis:
    return diagnose_data(export, store_id="X", as_of=AS_OF).diagnoses["X"]


def _views(d: Diagnosis) -> views.ManagerViews:
    assert d.views is not None
    return d.views


def test_the_download_is_laid_out_as_jd_writes_it(export: Path, diagnosis: Diagnosis) -> None:
    raw = pl.read_excel(export, has_header=False, infer_schema_length=0)
    assert (raw[0, 0], raw[1, 0]) == ("申请信息", "服务单号")
    assert diagnosis.kpis.counted == 10
    assert diagnosis.kpis.mean_hours == pytest.approx(332 / 10)


def test_per_sku_orders_quality_share_mean_and_hours_over_the_line(diagnosis: Diagnosis) -> None:
    skus = _views(diagnosis).skus
    assert skus.rows() == [
        ("100001", "电热水壶", 3, 1.0, pytest.approx(72.0), pytest.approx(2 / 3), 56.0),
        ("100003", "台灯", 4, 0.25, 20.5, 0.0, 14.0),
        ("100002", "吹风机", 3, 0.0, pytest.approx(34 / 3), 0.0, 0.0),
    ]
    assert skus.columns == [
        "sku_id",
        "sku_name",
        "count",
        "quality_share",
        "mean_hours",
        "repair_exchange_share",
        "over_line_hours",
    ]


def test_per_auditor_with_auto_audits_as_their_own_line(diagnosis: Diagnosis) -> None:
    # Audit hours only where the first audit is also the latest and was manual.
    assert _views(diagnosis).auditors.rows() == [
        ("李四", 5, 4, 4.0, 0.25, 0.4, 0.2),
        ("张三", 4, 2, 3.0, 0.0, 0.0, 0.5),
        ("SA", 1, 0, None, None, 0.0, 0.0),
    ]


def test_per_processor_median_receipt_to_first_processing(diagnosis: Diagnosis) -> None:
    assert _views(diagnosis).processors.rows() == [("赵六", 4, 2, 25.0), ("王五", 3, 3, 6.0)]


def test_first_audit_rate_overall_and_per_class(diagnosis: Diagnosis) -> None:
    v = _views(diagnosis)
    assert v.first_audit_rate == pytest.approx(0.7)  # S03, S09, S10 audited again
    assert v.first_audit_classes.rows() == [
        ("defect", 2, 2, 1.0),
        ("quality", 4, 4, 0.5),
        ("no_reason", 4, 4, 0.75),
    ]


def test_the_kpi_card_shows_the_first_audit_proxy_when_feedback_rounds_are_absent(
    diagnosis: Diagnosis,
) -> None:
    assert diagnosis.first_pass_rate is None  # the download has no 待客户反馈次数
    html = kpi_cards(diagnosis, lang="zh").html
    assert "一次审核完成率（代理）" in html
    assert "70.0%" in html
    assert "Single-audit rate (proxy)" in kpi_cards(diagnosis, lang="en").html


def test_auto_audit_share_and_no_candidate_below_the_volume(diagnosis: Diagnosis) -> None:
    v = _views(diagnosis)
    assert (v.auto_count, v.auto_share) == (1, pytest.approx(0.1))
    assert v.sa_candidates.height == 0  # no class has 30 manual audits


def test_sa_candidates_are_approved_classes_with_the_hours_saved(
    export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "SA_MIN_ORDERS", 2)
    d = diagnose_data(export, store_id="X", as_of=AS_OF).diagnoses["X"]
    # 补发商品 × 少件: S06, S07 approved, audits 3 + 2 h; 退货 × 质量问题: S01, S09, 2 + 2 h.
    # 退货 × 无理由 (S04, S08, S10) is approved once in three.
    assert _views(d).sa_candidates.rows() == [
        ("补发商品", "defect", 2, 1.0, pytest.approx(0.5)),
        ("退货", "quality", 2, 1.0, pytest.approx(0.4)),
    ]


def test_readings_check_finds_jd_stops_reissues_at_processing(diagnosis: Diagnosis) -> None:
    v = _views(diagnosis)
    rows = v.readings.select("scene", "reading", "mismatched", "testable", "explained").rows()
    assert sorted(rows) == [
        ("拒绝", "latest_audit", 1, 1, 1),
        ("补发", "reissue_at_process", 2, 2, 2),
    ]
    lines = v.readings.filter(pl.col("reading") == "reissue_at_process")["rule_lines"][0]
    assert 'values = ["补发商品"]' in lines and 'stop = "first_process"' in lines
    assert v.readings.filter(pl.col("reading") == "latest_audit")["rule_lines"][0] is None
    assert dict(v.repair) == {"count": 1, "median": 24.0, "p10": 24.0, "p90": 24.0}


def test_the_adopted_rule_lines_make_our_hours_match_jd(export: Path, tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(
        views.adopted_scenes(load_rules(), ["reissue_at_process"]) + "\n", encoding="utf-8"
    )
    d = diagnose_data(export, store_id="X", as_of=AS_OF, rules=rules_file).diagnoses["X"]
    assert d.jd_check is not None
    mismatched = set(d.jd_check.mismatches["service_id"].to_list())
    assert mismatched == {"S02", "S10"}  # 维修 and the re-audited rejection remain


def test_metrics_json_carries_the_readings_under_jd_check(export: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(
        ["metrics", str(export), "--store-id", "X", "--store", "X", "--as-of", AS_OF, "--json"]
    )
    assert code == 0
    jd = json.loads(capsys.readouterr().out)["jd_check"]
    assert (jd["compared"], jd["matched"]) == (10, 6)
    reissue = next(r for r in jd["readings"] if r["reading"] == "reissue_at_process")
    assert (reissue["scene"], reissue["mismatched"], reissue["explained"]) == ("补发", 2, 2)
    assert 'stop = "first_process"' in reissue["rule_lines"]
    assert jd["repair"]["count"] == 1
    assert jd["repair"]["median_jd_minus_ours"] == 24.0


def test_the_report_section_shows_every_view(diagnosis: Diagnosis) -> None:
    html = manager_views(diagnosis, lang="zh").html
    for text in ("电热水壶", "李四", "赵六", "商品/品控问题", "70.0%", "补发", "first_process"):
        assert text in html
    assert "维修" in html and "无法检验" in html


def test_the_workbook_has_the_sku_and_staff_sheets(diagnosis: Diagnosis) -> None:
    sheets = action_frames(diagnosis, lang="zh")
    assert sheets["商品售后"].height == 3
    assert sheets["审核人"]["审核人"].to_list() == ["李四", "张三", "SA"]
    assert sheets["处理人"].height == 2


def test_a_config_switch_masks_staff_names(export: Path, tmp_path: Path) -> None:
    config = tmp_path / "aftersales.toml"
    config.write_text("[report]\nmask_staff = true\n", encoding="utf-8")
    d = diagnose_data(export, store_id="X", as_of=AS_OF, config=config).diagnoses["X"]
    v = _views(d)
    assert v.auditors["auditor"].to_list() == ["审核员1", "审核员2", "SA"]
    assert v.processors["processor"].to_list() == ["处理人1", "处理人2"]
    html = manager_views(d, lang="zh").html
    assert "李四" not in html and "王五" not in html
    sheets = action_frames(d, lang="zh")
    assert "张三" not in str(sheets["审核人"].rows())
    # The auditor breakdown and analyze()'s orders use the same numbering.
    assert d.breakdowns["auditor"]["key"].drop_nulls().sort().to_list() == ["审核员1", "审核员2"]
    assert "李四" not in breakdown(d, lang="zh").html
    orders = analyze(export, store="X", store_id="X", as_of=AS_OF, config=config).orders
    assert set(orders["auditor"].drop_nulls()) == {"审核员1", "审核员2"}
    assert set(orders["processor"].drop_nulls()) == {"处理人1", "处理人2"}
    assert orders.filter(pl.col("service_id") == "S02")["auditor"].to_list() == ["审核员1"]


def test_peer_mean_from_stores_toml_sits_beside_ours(export: Path, tmp_path: Path) -> None:
    (export.parent / "stores.toml").write_text(
        '[stores."X"]\npublished_hours = 40.0\npeer_hours = 30.0\n', encoding="utf-8"
    )
    try:
        d = diagnose_data(export, store_id="X", as_of=AS_OF).diagnoses["X"]
    finally:
        (export.parent / "stores.toml").unlink()
    assert _views(d).peer_hours == 30.0
    html = manager_views(d, lang="zh").html
    assert "30.0 小时" in html and "40.0 小时" in html and "+3.2 小时" in html


def test_views_say_which_column_they_need(tmp_path: Path) -> None:
    bare = [{**r, "审核人姓名": None, "处理人": None, "售后整体时长(H)": None} for r in ROWS]
    path = write_jingmai(tmp_path / "bare.xlsx", bare)
    d = diagnose_data(path, store_id="X", as_of=AS_OF).diagnoses["X"]
    v = _views(d)
    assert v.missing == {
        "auditor": "审核人姓名",
        "processor": "处理人",
        "jd_hours": "售后整体时长(H)",
    }
    html = manager_views(d, lang="zh").html
    assert "审核人姓名" in html and "售后整体时长(H)" in html


def test_the_push_marks_urgent_orders_at_risk_of_a_dispute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import test_actions

    from aftersales_kit.deliver import push

    # The most overdue open order of the open-orders download threatens a complaint.
    rows = [
        {**r, "客户问题描述": "再不处理就投诉"} if r["服务单号"] == "1583000113" else r
        for r in test_actions.ROWS
    ]
    monkeypatch.setattr(test_actions, "ROWS", rows)
    path = test_actions.write_jingmai(tmp_path / "open.xlsx")
    d = diagnose_data(path, store_id="X", as_of=test_actions.AS_OF).diagnoses["X"]
    lines = push.store_message(d, lang="zh").markdown.splitlines()
    marked = [line for line in lines if "纠纷风险" in line]
    assert len(marked) == 1 and marked[0].startswith("- 1583000113（")
    assert any(line.startswith("- 1583000109（") for line in lines)  # not flagged, not marked


#: 直赔, 闪退 and 上门换新 orders whose JD hours stop elsewhere than ours (hours after apply):
#: T01 直赔余额 audited 2, processed 6, JD 6; T02 闪电退款 picked up 5, processed 32, JD 5;
#: T03 上门换新 processed 10, picked up 20, JD 20; T04 上门换新 processed 8, picked up 30, JD 15.
OTHER_ROWS = [
    row("T01", "A", "退货", "七天无理由", 20, audit=2, auditor="张三", method="直赔余额",
        processed=6, jd=6),
    row("T02", "B", "退货", "七天无理由", 20, audit=1, auditor="张三", method="闪电退款",
        pickup=5, received=30, processed=32, jd=5),
    row("T03", "C", "换货", "质量问题", 21, audit=1, auditor="李四", method="上门换新",
        processed=10, pickup=20, jd=20),
    row("T04", "C", "换货", "质量问题", 21, audit=1, auditor="李四", method="上门换新",
        processed=8, pickup=30, jd=15),
]  # fmt: skip


def test_readings_check_of_compensation_flash_refund_and_home_replacement(
    tmp_path: Path,
) -> None:
    path = write_jingmai(tmp_path / "other.xlsx", OTHER_ROWS)
    v = _views(diagnose_data(path, store_id="X", as_of=AS_OF).diagnoses["X"])
    got = v.readings.select(
        "scene", "reading", "mismatched", "testable", "explained", "process_before_end"
    ).rows()
    assert sorted(got) == [
        ("直赔", "compensation_at_process", 1, 1, 1, None),
        ("线下换新", "replacement_at_pickup", 2, 2, 1, 2),  # both processed before the pickup
        ("闪电退款", "flash_at_pickup", 1, 1, 1, 0),
    ]
    lines = dict(zip(v.readings["reading"], v.readings["rule_lines"], strict=True))
    assert 'prefixes = ["直赔"]' in lines["compensation_at_process"]
    assert lines["flash_at_pickup"] is None and lines["replacement_at_pickup"] is None
    # Adopting the 直赔 reading makes T01 match JD.
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(
        views.adopted_scenes(load_rules(), ["compensation_at_process"]), encoding="utf-8"
    )
    d = diagnose_data(path, store_id="X", as_of=AS_OF, rules=rules_file).diagnoses["X"]
    assert d.jd_check is not None
    assert "T01" not in set(d.jd_check.mismatches["service_id"].to_list())
    assert d.jd_check.matched == 1


def test_metrics_summary_prints_the_reading_and_its_rule_lines(export: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["metrics", str(export), "--store-id", "X", "--store", "X", "--as-of", AS_OF]) == 0
    out = capsys.readouterr().out
    assert "补发: 2/2 与京东一致 (match JD) — 补发以首次处理停表" in out
    assert '      values = ["补发商品"]' in out and '      stop = "first_process"' in out
    assert "拒绝: 1/1" in out and "规则文件无法表达" in out
    assert "维修 (repair): 1 单不一致" in out
