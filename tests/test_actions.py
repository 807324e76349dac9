"""Open orders on a hand-made 京麦 download (DOMAIN §4, §5, §7): what each team does next.

The workbook is written with openpyxl the way JD writes it (A1 申请信息 merged over its group,
A2 服务单号, data from row 3, IDs as text, amounts as numbers) and has no 签收时间, 物流更新时间 or
客户发货时间 column, like every real download. Report time 2026-12-03 09:00; the window is
2026-11-03 … 2026-12-02.

Completed (counted) orders, stages in hours:
    C1 退货 客户发货  audit 2, audit → 商家收货 58 (return_transit), process 10  = 70 h
    C2 退货 上门取件  audit 2, return_ship 24, transit 24, process 4          = 54 h
    C3 已收货退款     audit 1, process 2                                      =  3 h
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from aftersales_kit.actions import actions_json
from aftersales_kit.cli import main
from aftersales_kit.pipeline import diagnose_data

AS_OF = "2026-12-03 09:00:00"

GROUPS = (
    ("申请信息", ("服务单号", "订单号", "客户期望", "服务单状态", "一级申请原因", "客户问题描述")),
    ("售后信息", ("返回方式", "售后申请时间")),
    ("商品信息", ("商品编号", "商品名称", "商品金额", "商品数量")),
    ("审核信息", ("审核结果", "审核时间", "审核人姓名", "商家首次审核时间")),
    ("物流信息", ("运单号", "快递公司", "取件时间", "商家收货时间")),
    ("处理信息", ("处理结果", "商家首次处理时间", "售后整体时长(H)")),
)
HEADERS = [h for _, group in GROUPS for h in group]


def row(
    sid: str,
    expect: str,
    status: str,
    method: str | None,
    apply: str,
    *,
    audit: str | None = None,
    pickup: str | None = None,
    received: str | None = None,
    processed: str | None = None,
    waybill: str | None = None,
    carrier: str | None = None,
    text: str | None = None,
    jd_hours: float | None = None,
) -> dict[str, object]:
    return {
        "服务单号": sid,
        "订单号": f"3{sid}00001",
        "客户期望": expect,
        "服务单状态": status,
        "一级申请原因": "质量问题",
        "客户问题描述": text,
        "返回方式": method,
        "售后申请时间": apply,
        "商品编号": "100012345678",
        "商品名称": "电热水壶",
        "商品金额": 199.0,
        "商品数量": 1,
        "审核结果": "审核通过" if audit else None,
        "审核时间": audit,
        "审核人姓名": "王审核" if audit else None,
        "商家首次审核时间": audit,
        "运单号": waybill,
        "快递公司": carrier,
        "取件时间": pickup,
        "商家收货时间": received,
        "处理结果": None,
        "商家首次处理时间": processed,
        "售后整体时长(H)": jd_hours,
    }


ROWS = [
    # completed, counted
    row(
        "1583000001",
        "退货",
        "完成",
        "客户发货",
        "2026-11-10 10:00:00",
        audit="2026-11-10 12:00:00",
        received="2026-11-12 22:00:00",
        processed="2026-11-13 08:00:00",
        waybill="YT0000000001",
        carrier="圆通速递",
        jd_hours=70.0,
    ),
    row(
        "1583000002",
        "退货",
        "完成",
        "上门取件",
        "2026-11-11 08:00:00",
        audit="2026-11-11 10:00:00",
        pickup="2026-11-12 10:00:00",
        received="2026-11-13 10:00:00",
        processed="2026-11-13 14:00:00",
        waybill="JDVA00000002",
        carrier="京东物流",
        jd_hours=54.0,
    ),
    row(
        "1583000003",
        "已收货退款",
        "完成",
        None,
        "2026-11-15 09:00:00",
        audit="2026-11-15 10:00:00",
        processed="2026-11-15 12:00:00",
        jd_hours=3.0,
    ),
    # open, one per row of DOMAIN §5's table
    row("1583000101", "退货", "待审核", None, "2026-12-02 08:00:00"),
    row("1583000102", "换货", "待客户反馈", None, "2026-12-03 01:00:00"),
    row(
        "1583000103",
        "退货",
        "待收货",
        "客户发货",
        "2026-12-01 08:00:00",
        audit="2026-12-01 09:00:00",
        waybill="YT0000000103",
        carrier="圆通速递",
    ),
    row(
        "1583000104",
        "退货",
        "待收货",
        "客户发货",
        "2026-12-02 08:00:00",
        audit="2026-12-02 09:00:00",
    ),
    row(
        "1583000105",
        "退货",
        "待收货",
        "上门取件",
        "2026-12-02 11:00:00",
        audit="2026-12-02 12:00:00",
        waybill="JDVA00000105",
        carrier="京东物流",
    ),
    row(
        "1583000106",
        "退货",
        "待收货",
        "上门取件",
        "2026-11-30 09:00:00",
        audit="2026-11-30 10:00:00",
        pickup="2026-11-30 20:00:00",
        waybill="JDVA00000106",
        carrier="京东物流",
    ),
    row(
        "1583000107",
        "维修",
        "待处理",
        "客户发货",
        "2026-11-28 09:00:00",
        audit="2026-11-28 10:00:00",
        received="2026-12-02 10:00:00",
        waybill="ZT0000000107",
        carrier="中通快递",
    ),
    row(
        "1583000108",
        "退货",
        "待处理",
        "客户发货",
        "2026-11-28 08:00:00",
        audit="2026-11-28 09:00:00",
        waybill="ZT0000000108",
        carrier="中通快递",
    ),
    row(
        "1583000109",
        "未收货退款",
        "待处理",
        None,
        "2026-12-02 05:00:00",
        audit="2026-12-02 06:00:00",
    ),
    row(
        "1583000110",
        "换货",
        "待收货",
        "上门换新",
        "2026-11-29 09:00:00",
        audit="2026-11-29 10:00:00",
    ),
    row(
        "1583000111",
        "退货",
        "待用户确认",
        "上门取件",
        "2026-11-27 09:00:00",
        audit="2026-11-27 10:00:00",
    ),
    row("1583000112", "维修", "上门维修中", "上门维修", "2026-11-26 09:00:00"),
    row(
        "1583000113",
        "退货",
        "商家催收待处理",
        "客户发货",
        "2026-12-01 08:00:00",
        audit="2026-12-01 09:00:00",
    ),
    row("1583000114", "退货", "待审核", None, "2026-05-01 09:00:00"),
    row(
        "1583000115",
        "退货",
        "待审核",
        None,
        "2026-12-02 20:00:00",
        text="三天了没人理，再不处理就打12315投诉",
    ),
    # 补发 stops its clock at the audit: not open, but the re-shipment is still owed
    row(
        "1583000116",
        "补发商品",
        "待处理",
        "补发商品",
        "2026-12-02 09:00:00",
        audit="2026-12-02 10:00:00",
    ),
]

#: service_id → (stage, team, rule, hours left, next action), in the lists' order: the soonest
#: due first, orders without a line last (oldest first).
EXPECTED = {
    "1583000114": ("audit", "cs", "audit_over_24h", None, "audit"),  # hours left checked apart
    "1583000113": ("return_ship", "cs", "return_ship_over_24h", -24.0, "verify_status"),
    "1583000109": ("process", "cs", "refund_over_24h", -3.0, "refund"),
    "1583000101": ("audit", "cs", "audit_over_24h", -1.0, "audit"),
    "1583000104": ("return_ship", "cs", "return_ship_over_24h", 0.0, "remind_customer_ship"),
    "1583000107": ("process", "warehouse", "process_over_24h", 1.0, "process_repair"),
    "1583000105": ("return_ship", "logistics", "return_ship_over_24h", 3.0, "book_pickup"),
    "1583000106": ("transit", "logistics", "transit_over_72h", 11.0, "chase_carrier"),
    "1583000115": ("audit", "cs", "audit_over_24h", 11.0, "audit"),
    "1583000102": ("audit", "cs", "audit_over_24h", 16.0, "chase_customer"),
    "1583000112": ("process", "cs", None, None, "chase_technician"),
    "1583000111": ("process", "cs", None, None, "confirm_refund"),
    "1583000108": ("process", "warehouse", None, None, "process_goods"),
    "1583000110": ("process", "warehouse", None, None, "send_replacement"),
    "1583000103": ("return_transit", "logistics", None, None, "track_waybill"),
}


def write_jingmai(path: Path) -> Path:
    """A 京麦 自主售后 download as JD lays it out, written with xlsxwriter."""
    with xlsxwriter.Workbook(path) as wb:
        ws = wb.add_worksheet()
        col = 0
        for title, group in GROUPS:
            if len(group) > 1:
                ws.merge_range(0, col, 0, col + len(group) - 1, title)
            else:
                ws.write_string(0, col, title)
            col += len(group)
        for c, header in enumerate(HEADERS):
            ws.write_string(1, c, header)
        for r, values in enumerate(ROWS, start=2):
            for c, header in enumerate(HEADERS):
                value = values[header]
                if isinstance(value, str):
                    ws.write_string(r, c, value)  # IDs and times as text cells
                elif value is not None:
                    ws.write_number(r, c, float(value))  # amounts and hours as numbers
    return path


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jingmai(tmp_path_factory.mktemp("jingmai") / "样例店_售后服务单_20261203.xlsx")


@pytest.fixture(scope="module")
def diagnosis(export: Path):  # type: ignore[no-untyped-def]
    return diagnose_data(export, store_id="X", as_of=AS_OF).diagnoses["X"]


def test_layout_is_what_jd_writes(export: Path) -> None:
    raw = pl.read_excel(export, has_header=False, infer_schema_length=0)
    assert (raw[0, 0], raw[1, 0]) == ("申请信息", "服务单号")
    typed = pl.read_excel(export, read_options={"header_row": 1})
    assert typed.schema["商品金额"].is_numeric()  # a number cell, not "￥199.00"


def test_every_open_order_gets_its_stage_team_rule_and_hours_left(export: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(
        ["actions", str(export), "--store-id", "X", "--store", "X", "--as-of", AS_OF, "--json"]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["store_id"], out["as_of"]) == ("X", AS_OF)
    got = {
        o["service_id"]: (o["stage"], o["team"], o["rule"], o["hours_left"], o["action"])
        for o in out["orders"]
    }
    old = got.pop("1583000114")
    assert old[:3] == EXPECTED["1583000114"][:3] and old[3] is not None and old[3] < -5000
    assert got == {k: v for k, v in EXPECTED.items() if k != "1583000114"}
    assert [o["service_id"] for o in out["orders"]] == list(EXPECTED)
    by_id = {o["service_id"]: o for o in out["orders"]}
    assert by_id["1583000101"]["due_at"] == "2026-12-03 08:00:00"
    assert by_id["1583000101"]["elapsed_hours"] == 25.0
    assert by_id["1583000114"]["will_count"] is False
    assert {k for k, o in by_id.items() if o["dispute_risk"]} == {"1583000115"}
    assert by_id["1583000103"]["waybill"] == "YT0000000103"
    assert by_id["1583000103"]["carrier"] == "圆通速递"
    assert by_id["1583000103"]["return_method"] == "客户发货"
    assert by_id["1583000106"]["action_text"] == "催快递、核实包裹去向"
    # Nothing fires that the export cannot compute: no tracking, no sign-time lines.
    assert not {o["rule"] for o in out["orders"]} & {
        "tracking_stale_over_48h",
        "inbound_over_24h",
        "inbound_over_48h",
    }


def test_received_goods_go_to_the_warehouse_never_to_logistics(diagnosis) -> None:  # type: ignore[no-untyped-def]
    lists = diagnosis.team_actions
    assert set(lists["warehouse"]["service_id"]) == {"1583000107", "1583000108", "1583000110"}
    assert set(lists["logistics"]["service_id"]) == {"1583000103", "1583000105", "1583000106"}
    # a customer-shipped order with a 运单号 is moving: nobody tells the customer to ship it
    reminded = set(diagnosis.open_at_risk.filter(next_action="remind_customer_ship")["service_id"])
    assert reminded == {"1583000104"}


def test_the_lists_and_actions_json_are_the_same_rows(diagnosis) -> None:  # type: ignore[no-untyped-def]
    rows = actions_json(diagnosis)["orders"]
    assert [r["service_id"] for r in rows] == diagnosis.open_at_risk["service_id"].to_list()
    for team, frame in diagnosis.team_actions.items():
        assert frame["service_id"].to_list() == [r["service_id"] for r in rows if r["team"] == team]


def test_stage_means_put_the_unsplittable_span_in_return_transit(export: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(
        ["metrics", str(export), "--store-id", "X", "--store", "X", "--as-of", AS_OF, "--json"]
    )
    assert code == 0
    got = json.loads(capsys.readouterr().out)
    # C1–C3 and the 补发 (its clock stops at the audit: 1 h, audit only)
    assert got["counted"] == 4
    assert got["mean_hours"] == pytest.approx(128 / 4)
    assert got["stages"] == pytest.approx(
        {
            "audit": 6 / 4,
            "return_ship": 24 / 4,
            "return_transit": 58 / 4,
            "transit": 24 / 4,
            "inbound": 0.0,
            "process": 16 / 4,
            "intervention": 0.0,
        }
    )
    assert got["alerts"]["tracking_stale_over_48h"] is None
    assert got["alerts"]["inbound_over_24h"] is None
    assert got["jd_check"]["matched"] == 3


def test_the_short_board_is_what_the_merchant_controls(diagnosis) -> None:  # type: ignore[no-untyped-def]
    # C1's 10 h over the line lies mostly in its 58 h of customer shipping + carrier transit,
    # which the merchant does not control: the board is C1's processing (10/70 of it).
    board = diagnosis.short_board
    assert (board.scene, board.stage) == ("退货", "process")
    assert board.excess_hours == pytest.approx(10 * 10 / 70)
    stages = dict(diagnosis.stage_means.select("stage", "controllable").iter_rows())
    assert stages["return_transit"] is False


def test_audited_compensation_still_owed_is_listed_apart(export: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(
        ["actions", str(export), "--store-id", "X", "--store", "X", "--as-of", AS_OF, "--json"]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert "1583000116" not in {o["service_id"] for o in out["orders"]}
    (pending,) = out["compensation_pending"]
    assert (pending["service_id"], pending["team"], pending["action"]) == (
        "1583000116",
        "cs",
        "reship",
    )
    assert pending["action_text"] == "待补发：尽快补发商品"
