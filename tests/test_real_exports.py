"""Real JD export shapes end to end (issue 9): the 京麦 two-row xlsx and the old FBP GBK csv load,
the store identity paths work, and DOMAIN §2–§5 rules that changed hold on them."""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter
from factory import canonical
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftersales_kit import cli
from aftersales_kit.demo.jd_formats import write_fbp_csv, write_jingmai_xlsx
from aftersales_kit.errors import DataError
from aftersales_kit.load import load, load_unchecked
from aftersales_kit.metrics import metrics_json
from aftersales_kit.orders import derive_orders
from aftersales_kit.rules import load_rules
from aftersales_kit.schema import COLUMNS
from aftersales_kit.window import Window

RULES = load_rules()
T0 = datetime(2026, 3, 10, 8, 0, 0)
WINDOW = Window(date(2026, 3, 1), date(2026, 3, 30))


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def order(i: int, **values: object) -> dict[str, object]:
    """A completed 退货 order applied at T0 (10-digit service id, 16-digit order id)."""
    record: dict[str, object] = dict.fromkeys(COLUMNS)
    record.update(
        service_id=f"{3200000000 + i}",
        order_id=f"{3012345678901234 + i}",
        service_type="退货",
        status="完成",
        apply_time=T0,
        first_audit_time=at(2),
        first_process_time=at(30),
        return_method="上门取件",
        approve_result="审核通过",
        sku_name="电动牙刷",
        amount=1299.0,
        refund_amount=1299.0,
    )
    record.update(values)
    return record


def frame(*rows: dict[str, object]) -> pl.DataFrame:
    return canonical(rows)


ORDERS = frame(
    order(1, jd_hours=30.0),
    order(2, first_audit_time=at(30), first_process_time=at(50), jd_hours=50.0),
    # JD subtracted an intervention the export does not show
    order(3, first_process_time=at(80), jd_hours=70.0),
    order(4, return_method="直赔积分", first_process_time=None, jd_hours=2.0),
    order(5, service_type="补发商品", return_method=None, first_process_time=None),
    order(6, flash_refund=True, first_process_time=at(5), jd_hours=5.0),
    order(7, return_method="上门换新", first_process_time=at(40)),
    order(8, process_result="返修换新", service_type="维修", first_process_time=at(60)),
    order(9, service_type="已收货退款", return_method=None, first_process_time=at(10)),
    order(10, status="取消", first_process_time=None),
    order(11, status="待审核", first_audit_time=None, first_process_time=None),
)


def jingmai(tmp_path: Path, data: pl.DataFrame = ORDERS, **kwargs: object) -> Path:
    return write_jingmai_xlsx(data, tmp_path / "示例旗舰店_售后服务单_20260331.xlsx", **kwargs)


# --- loading the 京麦 export --------------------------------------------------------------------


@pytest.mark.parametrize(("excel_dates", "dirty"), [(False, False), (True, False), (False, True)])
def test_jingmai_xlsx_loads_as_downloaded(tmp_path: Path, excel_dates: bool, dirty: bool) -> None:
    # dirty: amounts as "￥1,299.00" text and 服务单号 merged down over A1:A2 (A2 empty)
    path = jingmai(tmp_path, excel_dates=excel_dates, dirty=dirty)
    loaded = load(path, store_id="1000101")
    got = loaded.frame
    assert got.height == ORDERS.height
    assert got["store_id"].unique().to_list() == ["1000101"]
    # A2 服务单号 (or, dirty, the title merged down from A1)
    assert got["service_id"].to_list() == ORDERS["service_id"].to_list()
    assert got["order_id"][0] == "3012345678901235"  # 16 digits, exact
    assert got["apply_time"][0] == T0
    assert got["first_audit_time"][1] == at(30)
    assert got["jd_hours"].to_list()[:3] == [30.0, 50.0, 70.0]
    assert got["flash_refund"][5] is True
    assert got["amount"][0] == 1299.0  # a number cell, or "￥1,299.00" text
    assert got["return_method"][3] == "直赔积分"
    assert got["complete_time"].null_count() == got.height  # no 暂完结时间 in the export
    assert loaded.report.errors == []


def test_header_row_is_found_below_titles_and_named_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "odd.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["京东售后服务单导出", "", ""])
    sheet.write_row(2, 0, ["服务单号", "客户期望", "服务单状态", "商家首次审核时间"])
    sheet.write_row(3, 0, ["3200000001", "退货", "完成", "2026-03-10 10:00:00"])
    book.close()
    with pytest.raises(DataError, match=r"apply_time.*第 3 行.*服务单号, 客户期望"):
        load(path, store_id="1")


def test_fbp_gbk_csv_as_downloaded_has_plain_headers_and_numbers(tmp_path: Path) -> None:
    path = write_fbp_csv(ORDERS, tmp_path / "fbp.csv")
    lines = path.read_bytes().decode("gbk").splitlines()
    header = lines[0].split(",")
    assert header[0] == "服务单号"
    first = lines[1].split(",")
    assert first[0] == "3200000001"
    assert float(first[header.index("商品金额")]) == 1299.0  # a public importer's float()
    got = load(path, store_id="1000101").frame
    assert got["service_id"].to_list() == ORDERS["service_id"].to_list()
    assert got["amount"][0] == 1299.0


def test_fbp_gbk_csv_with_excel_text_cells(tmp_path: Path) -> None:
    # what re-saving tools make of it: ="…" headers and IDs, thousands separators
    path = write_fbp_csv(ORDERS, tmp_path / "fbp.csv", excel_text=True)
    assert path.read_bytes().startswith('="服务单号"'.encode("gbk"))
    assert '"1,299.00"'.encode("gbk") in path.read_bytes()
    got = load(path, store_id="1000101").frame
    assert got["amount"][0] == 1299.0
    assert got["service_id"].to_list() == ORDERS["service_id"].to_list()
    assert got["order_id"][0] == "3012345678901235"
    assert got["jd_hours"].to_list()[:3] == [30.0, 50.0, 70.0]
    assert got["service_type"][0] == "退货"  # 客户预期处理方式
    assert got["process_result"][7] == "返修换新"  # 处理结果描述


def test_csv_with_a_title_line_above_the_headers(tmp_path: Path) -> None:
    path = tmp_path / "titled.csv"
    path.write_text(
        "京东售后服务单导出\n"
        "服务单号,客户期望,服务单状态,售后申请时间,商家首次审核时间,商家首次处理时间\n"
        "3200000001,退货,完成,2026-03-10 08:00:00,2026-03-10 09:00:00,2026-03-11 08:00:00\n"
        "3200000002,退货,完成,2026-03-10 08:00:00,bad,2026-03-11 08:00:00\n",
        encoding="gbk",
    )
    loaded = load_unchecked(path, store_id="1")
    assert loaded.frame["service_id"].to_list() == ["3200000001"]
    # The bad cell is reported at its spreadsheet row: title 1, header 2, data 3 and 4.
    assert [(p.row, p.column) for p in loaded.report.errors] == [(4, "商家首次审核时间")]


def test_leading_quote_ids_and_yuan_amounts(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        "服务单号,客户期望,服务单状态,售后申请时间,商家首次审核时间,商家首次处理时间,退款金额\n"
        "'3200000001,退货,完成,2026-03-10 08:00:00,2026-03-10 09:00:00,2026-03-11 08:00:00,"
        "12.00元\n",
        encoding="utf-8",
    )
    got = load(path, store_id="1").frame
    assert (got["service_id"][0], got["refund_amount"][0]) == ("3200000001", 12.0)


def test_numeric_id_cell_over_15_digits_is_a_data_error(tmp_path: Path) -> None:
    path = jingmai(tmp_path)
    book = xlsxwriter.Workbook(tmp_path / "num.xlsx")
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["服务单号", "订单号", "客户期望", "服务单状态", "售后申请时间"])
    sheet.write_row(0, 5, ["商家首次审核时间", "商家首次处理时间"])
    sheet.write_row(1, 0, ["3200000001"])
    sheet.write_number(1, 1, 3012345678901230)  # Excel kept 15 significant digits
    sheet.write_row(1, 2, ["退货", "完成", "2026-03-10 08:00:00", "2026-03-10 09:00:00"])
    sheet.write_row(1, 6, ["2026-03-11 08:00:00"])
    book.close()
    with pytest.raises(DataError) as info:
        load(tmp_path / "num.xlsx", store_id="1")
    problem = info.value.problems[0]
    assert (problem.row, problem.column, problem.value) == (2, "订单号", "3012345678901230")
    assert "15" in problem.message
    # The same digits as a text cell are fine.
    assert load(path, store_id="1").report.errors == []


# --- store identity ----------------------------------------------------------------------------


def test_store_identity_four_ways_and_none(tmp_path: Path) -> None:
    export = jingmai(tmp_path)
    # 1. --store-id
    assert load(export, store_id="77").report.stores == {"77": ORDERS.height}
    # 2. [stores] table in the configuration
    config = tmp_path / "aftersales.toml"
    config.write_text('[stores."88"]\nname = "配置店"\nfiles = ["示例旗舰店_*.xlsx"]\n', "utf-8")
    loaded = load(export, config=config)
    assert loaded.report.stores == {"88": ORDERS.height}
    assert loaded.frame["store_name"].unique().to_list() == ["配置店"]
    # 3. stores.toml inside the data folder
    folder = tmp_path / "downloads"
    folder.mkdir()
    jingmai(folder)
    second = ORDERS.head(2).with_columns(pl.col("service_id").str.replace("^32", "33"))
    write_jingmai_xlsx(second, folder / "第二家店.xlsx")
    (folder / "stores.toml").write_text(
        '[stores."1000101"]\nname = "示例旗舰店"\nfiles = ["示例旗舰店_*.xlsx"]\n'
        '[stores."1000102"]\nfiles = ["第二家店.xlsx"]\n',
        "utf-8",
    )
    assert load(folder).report.stores == {"1000101": ORDERS.height, "1000102": 2}
    # 4. data/<store id>/ folders
    data = tmp_path / "data"
    (data / "1000103").mkdir(parents=True)
    jingmai(data / "1000103")
    assert load(data).report.stores == {"1000103": ORDERS.height}
    # none: an error naming the four ways
    with pytest.raises(DataError, match=r"--store-id.*stores.toml.*data/<店铺ID>/"):
        load(export)


@pytest.mark.parametrize("command", ["validate", "metrics"])
def test_cli_store_identity_paths(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    export = jingmai(tmp_path)
    extra = ["--store", "555", "--start", "2026-03-01", "--end", "2026-03-30"]
    args = [command, str(export), *(extra if command == "metrics" else []), "--json"]
    assert cli.main([*args, "--store-id", "555"]) == 0
    assert "555" in capsys.readouterr().out
    assert cli.main(args) == 1
    captured = capsys.readouterr()
    assert "--store-id" in captured.out + captured.err
    assert "Traceback" not in captured.out + captured.err
    # data/<store id>/: a folder named like a store id (5-12 digits) is the store
    folder = tmp_path / "d"
    (folder / "55501").mkdir(parents=True)
    jingmai(folder / "55501")
    extra[1] = "55501"
    args = [command, str(folder), *(extra if command == "metrics" else []), "--json"]
    assert cli.main(args) == 0
    assert "55501" in capsys.readouterr().out
    # a folder named otherwise is not a store, and the error says why
    (folder / "55501").rename(folder / "555")
    assert cli.main(args) == 1
    captured = capsys.readouterr()
    assert "文件夹名 '555' 不是店铺ID" in captured.out + captured.err


def test_same_service_id_under_two_stores_is_an_error_naming_ids_and_files(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    for store in ("1000001", "1000002"):
        (data / store).mkdir(parents=True)
        jingmai(data / store, ORDERS.head(2))
    report = load_unchecked(data).report
    assert [p.value for p in report.errors] == ["3200000001", "3200000002"]
    first = report.errors[0]
    assert first.column == "服务单号"
    assert first.row == 3
    assert "2 个店铺 1000001, 1000002" in first.message
    for store in ("1000001", "1000002"):
        assert str(data / store / "示例旗舰店_售后服务单_20260331.xlsx") in first.message
    with pytest.raises(DataError, match="同一服务单号出现在 2 个店铺"):
        load(data)
    # --skip-bad-rows drops every row of those ids and counts them
    skipped = load(data, skip_bad_rows=True)
    assert skipped.frame.height == 0
    assert skipped.report.bad_rows_dropped == 4
    assert skipped.report.warning_counts["service_id_in_two_stores"] == 2
    assert skipped.report.errors == []


def test_same_service_id_under_two_stores_exits_1_and_skip_bad_rows_keeps_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    (data / "1000001").mkdir(parents=True)
    (data / "1000002").mkdir(parents=True)
    jingmai(data / "1000001", ORDERS.head(3))
    jingmai(data / "1000002", ORDERS.slice(2, 3))  # 3200000003 in both
    assert cli.main(["validate", str(data)]) == 1
    out = capsys.readouterr().out
    assert "'3200000003' — 同一服务单号出现在 2 个店铺 1000001, 1000002" in out
    assert "Traceback" not in out
    assert cli.main(["validate", str(data), "--skip-bad-rows", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["stores"] == {"1000001": 2, "1000002": 2}
    assert got["bad_rows_dropped"] == 2
    assert got["warning_counts"]["service_id_in_two_stores"] == 1


def test_unknown_enum_values_are_kept_counted_and_follow_otherwise(tmp_path: Path) -> None:
    rows = frame(
        order(1, service_type="以旧换新", first_process_time=at(20)),
        order(2, service_type="以旧换新", first_process_time=at(40)),
        order(3, status="待质检"),
    )
    loaded = load(jingmai(tmp_path, rows), store_id="1")
    assert loaded.frame.height == 3
    assert loaded.report.warning_counts["unknown_value"] == 2
    messages = [p for p in loaded.report.warnings if p.value == "以旧换新"]
    assert messages and "2" in messages[0].message
    derived = derive_orders(loaded.frame, rules=RULES).collect()
    assert derived["scene"].to_list()[:2] == ["以旧换新", "以旧换新"]
    assert derived["hours"].to_list()[:2] == [20.0, 40.0]  # first processing ends the clock


def test_unreadable_explicit_path_is_an_error(tmp_path: Path) -> None:
    path = jingmai(tmp_path)
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            # root reads anything: stage the fault with a path that cannot be opened instead
            path = tmp_path / "missing.xlsx"
        report = load_unchecked(path, store_id="1").report
        assert report.errors and report.errors[0].file == str(path)
    finally:
        (tmp_path / "示例旗舰店_售后服务单_20260331.xlsx").chmod(0o644)


def test_logistics_export_joins_by_waybill(tmp_path: Path) -> None:
    rows = frame(
        order(1, waybill_no="JD0001", first_process_time=at(100)),
        order(2, waybill_no="JD0002", first_process_time=at(40), pickup_time=at(5)),
    )
    jingmai(tmp_path, rows)
    (tmp_path / "logistics.csv").write_text(
        "运单号,取件时间,签收时间,商家收货时间\n"
        f"JD0001,{at(10):%Y-%m-%d %H:%M:%S},{at(90):%Y-%m-%d %H:%M:%S},{at(95):%Y-%m-%d %H:%M:%S}\n"
        f"JD0002,{at(6):%Y-%m-%d %H:%M:%S},{at(30):%Y-%m-%d %H:%M:%S},\n"
        "JD9999,2026-03-10 08:00:00,,\n",
        encoding="utf-8",
    )
    loaded = load(tmp_path, store_id="1")
    got = loaded.frame
    assert got.height == 2  # the logistics rows are not orders
    assert got["sign_time"].to_list() == [at(90), at(30)]
    assert got["pickup_time"].to_list() == [at(10), at(5)]  # the export's own value wins
    assert got["inbound_time"].to_list() == [at(95), None]
    assert loaded.report.warning_counts["logistics_unmatched"] == 1
    result = metrics_json(got, store_id="1", window=WINDOW, rules=RULES)
    # With pickup and sign times the logistics rules become available.
    assert result["alerts"]["transit_over_72h"] == 1  # pickup h10 → sign h90 = 80 h
    assert result["alerts"]["tracking_stale_over_48h"] is None
    assert result["stages"]["transit"] == pytest.approx((80 + 25) / 2)


# --- rules on real exports ---------------------------------------------------------------------


def test_scenes_clock_ends_and_derived_completion(tmp_path: Path) -> None:
    got = load(jingmai(tmp_path), store_id="1").frame
    derived = derive_orders(got, rules=RULES).collect()
    assert derived["scene"].to_list() == [
        "退货",
        "退货",
        "退货",
        "直赔/补发",
        "直赔/补发",
        "闪电退款",
        "线下换新",
        "返修换新",
        "仅退款",
        "取消",
        "退货",
    ]
    # 直赔/补发 and 取消 stop at the first audit; the others at first processing.
    assert derived["hours"].to_list() == [
        *(30.0, 50.0, 80.0, 2.0, 2.0, 5.0, 40.0, 60.0, 10.0, 2.0),
        None,
    ]
    # 暂完结 is the clock end; the order waiting for audit is open.
    assert derived["complete_time"][0] == at(30)
    assert derived["is_open"].to_list() == [False] * 10 + [True]


def test_metrics_json_on_a_jingmai_export(tmp_path: Path) -> None:
    got = load(jingmai(tmp_path), store_id="1").frame
    result = metrics_json(got, store_id="1", window=WINDOW, rules=RULES)
    assert result["counted"] == 10
    assert result["mean_hours"] == pytest.approx(281 / 10)
    # JD exports carry no pickup, sign or inbound times: those rules are unavailable.
    assert result["alerts"] == {
        "audit_over_24h": 1,
        "return_ship_over_24h": None,
        "tracking_stale_over_48h": None,
        "transit_over_72h": None,
        "inbound_over_24h": None,
        "inbound_over_48h": None,
        "process_over_24h": None,
        "refund_over_24h": 0,
        "total_over_60h": 1,
    }
    # jd_hours on orders 1, 2, 3, 4 and 6: order 3 differs by 10 h (an intervention).
    assert result["jd_check"] == {
        "compared": 5,
        "matched": 4,
        "mean_jd_hours": pytest.approx((30 + 50 + 70 + 2 + 5) / 5),
        "max_abs_diff_hours": 10.0,
    }
    # Without a pickup, sign or receipt time, a return's audit → processing span holds the
    # goods' way back (return_transit, DOMAIN §4): never transit or warehouse time.
    stages = result["stages"]
    assert stages["transit"] == stages["inbound"] == stages["return_ship"] == 0.0
    assert stages["audit"] + stages["return_transit"] + stages["process"] == pytest.approx(
        result["mean_hours"]
    )
    assert stages["return_transit"] > 0


def test_whole_hour_jd_figures_match_within_an_hour() -> None:
    rows = frame(
        order(1, first_process_time=at(30.4), jd_hours=30.0),
        order(2, first_process_time=at(30.4), jd_hours=31.0),
        order(3, first_process_time=at(30.4), jd_hours=32.0),
    )
    derived = derive_orders(rows, rules=RULES).collect()
    assert derived["jd_matched"].to_list() == [True, True, False]
    decimal = rows.with_columns(pl.col("jd_hours") + 0.25)
    assert derive_orders(decimal, rules=RULES).collect()["jd_matched"].to_list() == [
        False,
        False,
        False,
    ]


def test_alert_availability_is_decided_per_store() -> None:
    with_sign = frame(
        order(1, store_id="a", first_process_time=at(100)),
        order(
            2,
            store_id="b",
            pickup_time=at(3),
            sign_time=at(90),
            inbound_time=at(91),
            first_process_time=at(100),
        ),
    ).with_columns(pl.col("store_id").fill_null("a"))
    # Store a has no logistics times: its rules are unavailable (null), whatever store b has
    # (DOMAIN §5: availability is decided per store).
    a = metrics_json(with_sign, store_id="a", window=WINDOW, rules=RULES)
    assert a["alerts"]["transit_over_72h"] is None
    b = metrics_json(with_sign, store_id="b", window=WINDOW, rules=RULES)
    assert b["alerts"]["transit_over_72h"] == 1  # pickup h3 → sign h90: 87 h
    assert b["alerts"]["tracking_stale_over_48h"] is None


# --- the same orders from every shape -----------------------------------------------------------

hours = st.floats(min_value=0.0, max_value=300.0).map(lambda h: round(h * 60) / 60)


def _minutes(column: str) -> pl.Expr:
    return pl.duration(minutes=(pl.col(column) * 60).round(0).cast(pl.Int64))


@st.composite
def exports(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(min_value=1, max_value=8))
    rows = []
    for i in range(n):
        audit = draw(hours)
        process = audit + draw(hours)
        kind = draw(st.sampled_from(["退货", "换货", "已收货退款", "补发商品", "维修"]))
        method = draw(st.sampled_from(["上门取件", "客户发货", "直赔余额", "闪电退款", None]))
        rows.append(
            order(
                i,
                service_type=kind,
                return_method=method,
                apply_time=T0 + timedelta(days=draw(st.integers(0, 15))),
                first_audit_time=None,
                first_process_time=None,
                jd_hours=float(round(process)),
            )
            | {"_audit": audit, "_process": process}
        )
    df = pl.DataFrame(rows)
    return (
        df.with_columns(
            first_audit_time=pl.col("apply_time") + _minutes("_audit"),
            first_process_time=pl.col("apply_time") + _minutes("_process"),
        )
        .drop("_audit", "_process")
        .with_columns(pl.col(c).cast(t) for c, t in COLUMNS.items())
        .select(list(COLUMNS))
    )


@settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=exports())
def test_same_orders_same_metrics_from_every_shape(tmp_path: Path, data: pl.DataFrame) -> None:
    canonical = data.with_columns(store_id=pl.lit("1"))
    parquet = tmp_path / "all.parquet"
    canonical.write_parquet(parquet)
    sources = {
        "parquet": load(parquet).frame,
        "jingmai": load(jingmai(tmp_path, data), store_id="1").frame,
        "fbp": load(write_fbp_csv(data, tmp_path / "fbp.csv"), store_id="1").frame,
    }
    results = {
        name: metrics_json(f, store_id="1", window=WINDOW, rules=RULES)
        for name, f in sources.items()
    }
    expected = _flat(results["parquet"])
    for name, result in results.items():
        got = _flat(result)
        assert got.keys() == expected.keys(), name
        for key, value in expected.items():
            # Means may sum in another row order: equal up to float rounding.
            assert got[key] == (value if not isinstance(value, float) else pytest.approx(value)), (
                name,
                key,
            )


def _flat(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix: value}


# --- whole commands on real-shape downloads --------------------------------------------------


@pytest.mark.parametrize("where", ["config", "folder"])
def test_cli_store_identity_from_stores_tables(
    tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()
    jingmai(folder)
    table = '[stores."8801"]\nname = "表中店"\nfiles = ["示例旗舰店_*.xlsx"]\n'
    args = ["validate", str(folder), "--json"]
    if where == "config":
        (tmp_path / "aftersales.toml").write_text(table, encoding="utf-8")
        args += ["--config", str(tmp_path / "aftersales.toml")]
    else:
        (folder / "stores.toml").write_text(table, encoding="utf-8")
    assert cli.main(args) == 0
    assert json.loads(capsys.readouterr().out)["stores"] == {"8801": ORDERS.height}


@pytest.mark.slow
def test_batch_over_a_folder_of_downloads_from_several_stores(tmp_path: Path) -> None:
    from aftersales_kit.demo.simulate import write_demo
    from aftersales_kit.render.batch import run_batch

    files = write_demo(tmp_path / "demo", stores=2, orders=150, end="2026-03-31", seed=5)
    result = run_batch(
        [files.exports],
        out_dir=tmp_path / "reports",
        end="2026-03-30",
        as_of="2026-03-31 09:00:00",
        workers=1,
        progress=False,
    )
    assert sorted(o.store for o in result.by_status("done")) == ["1000101", "1000102"]
    assert result.failed == []
    for store in ("1000101", "1000102"):
        html = (tmp_path / "reports" / store / "2026-03-01_2026-03-30.html").read_text("utf-8")
        assert "与京东数据核对" in html  # the export's 售后整体时长(H) is reconciled
        assert "需要物流数据" in html  # no sign/tracking times in a JD export
    index = (tmp_path / "reports" / "index.html").read_text("utf-8")
    assert "1000101" in index and "1000102" in index


def test_unknown_values_reach_the_report_data_quality(tmp_path: Path) -> None:
    from aftersales_kit.diagnose import diagnose
    from aftersales_kit.render.sections import data_quality

    rows = frame(order(1, service_type="以旧换新", first_process_time=at(20)), order(2))
    loaded = load(jingmai(tmp_path, rows), store_id="1")
    assert loaded.report.unknown_values == {"service_type": {"以旧换新": 1}}
    d = diagnose(
        loaded.frame,
        window=WINDOW,
        rules=RULES,
        as_of=datetime(2026, 3, 31, 9),
        load_report=loaded.report,
    )["1"]
    assert d.data_quality.unknown_values == (("service_type", "以旧换新", 1),)
    html = data_quality(d, lang="zh").html
    assert "客户期望：以旧换新" in html
