"""Bad input files, built the way the writers that produce them do (raw-XML sheets for what
Excel-like writers refuse to write, xlsxwriter for the JD layout, bytes for CSVs): every row read
is loaded, dropped with a reason, or rejected with its file, row and column — never lost."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rawxlsx import Err, Num, Sheet, grid, write

from aftersales_kit import cli, workbook
from aftersales_kit.errors import DataError
from aftersales_kit.load import load, load_unchecked, normalize_header

GROUPS = ["申请信息", None, None, None, None, None, "处理信息", None]
HEADERS = [
    "服务单号",
    "订单号",
    "客户期望",
    "服务单状态",
    "售后申请时间",
    "运单号",
    "商家首次审核时间",
    "商家首次处理时间",
]


def data_row(i: int, **changes: object) -> list[object]:
    values: dict[str, object] = {
        "服务单号": f"{3200000000 + i}",
        "订单号": f"{301234567890 + i}",
        "客户期望": "退货",
        "服务单状态": "完成",
        "售后申请时间": "2026-03-10 08:00:00",
        "运单号": f"JD{7000 + i}",
        "商家首次审核时间": "2026-03-10 09:00:00",
        "商家首次处理时间": "2026-03-11 08:00:00",
    }
    values.update(changes)
    return [values[h] for h in HEADERS]


def jd_grid(rows: list[list[object]], headers: list[str] = HEADERS) -> dict[str, object]:
    """The 京麦 layout: group titles in row 1, headers in row 2, data from row 3."""
    return grid([GROUPS, headers, *rows])


def jd_xlsx(path: Path, rows: list[list[object]], *, headers: list[str] = HEADERS) -> Path:
    """The 京麦 layout written by xlsxwriter, IDs and times as text cells."""
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    sheet.merge_range(0, 0, 0, 5, "申请信息")
    sheet.merge_range(0, 6, 0, 7, "处理信息")
    for j, header in enumerate(headers):
        sheet.write_string(1, j, header)  # text, even "=服务单号"
    for i, row in enumerate(rows, start=2):
        for j, value in enumerate(row):
            if isinstance(value, str):
                sheet.write_string(i, j, value)
            elif value is not None:
                sheet.write(i, j, value)
    book.close()
    return path


def validate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = cli.main(["validate", *args])
    return code, capsys.readouterr().out


# --- IDs that a writer has rounded -----------------------------------------------------------


def test_lone_number_cell_order_id_past_15_digits_is_an_error_naming_row_and_column(
    tmp_path: Path,
) -> None:
    rows = [data_row(i) for i in range(4)]
    rows[1][1] = Num("123456789012345678")  # a non-Excel writer: all 18 digits in the XML
    path = write(tmp_path / "a.xlsx", Sheet("Sheet1", jd_grid(rows)))
    report = load_unchecked(path, store_id="1").report
    assert [(p.row, p.column, p.value) for p in report.errors] == [
        (4, "订单号", "123456789012345678")
    ]
    assert "15" in report.errors[0].message
    with pytest.raises(DataError):
        load(path, store_id="1")
    # --skip-bad-rows drops exactly that row and counts it.
    loaded = load(path, store_id="1", skip_bad_rows=True)
    assert loaded.report.bad_rows_dropped == 1
    assert loaded.frame.height == 3


def test_excel_rounded_service_id_in_a_text_column_is_an_error(tmp_path: Path) -> None:
    rows = [data_row(i) for i in range(3)]
    rows[2][0] = 158300012345678000  # Excel cut it to 15 digits; xlsxwriter writes a number
    path = jd_xlsx(tmp_path / "a.xlsx", rows)
    errors = load_unchecked(path, store_id="1").report.errors
    assert [(p.row, p.column) for p in errors] == [(5, "服务单号")]
    assert errors[0].value is not None and errors[0].value.startswith("1.583")


def test_sixteen_digit_ids_as_text_cells_load_exactly(tmp_path: Path) -> None:
    rows = [data_row(i, 订单号=f"{3012345678901230 + i}") for i in range(3)]
    path = jd_xlsx(tmp_path / "a.xlsx", rows)
    loaded = load(path, store_id="1")
    assert loaded.frame["order_id"].to_list() == [f"{3012345678901230 + i}" for i in range(3)]


def test_number_cell_ids_below_10_to_the_15_load_as_text(tmp_path: Path) -> None:
    rows = [data_row(i, 服务单号=3200000000 + i) for i in range(3)]
    path = jd_xlsx(tmp_path / "a.xlsx", rows)
    frame = load(path, store_id="1").frame
    assert frame["service_id"].to_list() == ["3200000000", "3200000001", "3200000002"]


def test_fractional_id_is_an_error(tmp_path: Path) -> None:
    rows = [data_row(0), data_row(1, 服务单号=1583000096.5)]
    path = write(tmp_path / "a.xlsx", Sheet("Sheet1", jd_grid(rows)))
    errors = load_unchecked(path, store_id="1").report.errors
    assert [(p.row, p.column, p.value) for p in errors] == [(4, "服务单号", "1583000096.5")]
    assert "小数" in errors[0].message


# --- a renamed key column --------------------------------------------------------------------


def test_renamed_service_id_header_is_an_error_naming_the_closest_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = ["服务单编号", *HEADERS[1:]]
    path = jd_xlsx(tmp_path / "a.xlsx", [data_row(i) for i in range(3)], headers=headers)
    report = load_unchecked(path, store_id="1").report
    assert [p.column for p in report.errors] == ["service_id"]
    assert "'服务单编号'" in report.errors[0].message
    code, out = validate(capsys, str(path), "--store-id", "1")
    assert code == 1
    assert "服务单编号" in out and "通过 (OK)" not in out


def test_partly_english_headers_are_not_taken_as_logistics_data(tmp_path: Path) -> None:
    headers = ["Service ID", "Order ID", "Expectation", "Status", "Apply Time", "运单号"]
    headers += ["取件时间", "商家收货时间"]
    path = jd_xlsx(tmp_path / "a.xlsx", [data_row(i) for i in range(3)], headers=headers)
    report = load_unchecked(path, store_id="1").report
    assert "service_id" in {p.column for p in report.errors}


def test_renamed_header_in_a_batch_folder_fails_the_batch_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    (data / "1000101").mkdir(parents=True)
    (data / "1000102").mkdir(parents=True)
    jd_xlsx(data / "1000101" / "ok.xlsx", [data_row(i) for i in range(3)])
    bad = jd_xlsx(
        data / "1000102" / "renamed.xlsx",
        [data_row(i + 10) for i in range(3)],
        headers=["服务单编号", *HEADERS[1:]],
    )
    code = cli.main(["batch", str(data), "--out", str(tmp_path / "reports")])
    captured = capsys.readouterr()
    assert code == 1
    assert str(bad) in captured.out + captured.err


def test_a_real_logistics_export_still_joins_by_waybill(tmp_path: Path) -> None:
    orders = jd_xlsx(tmp_path / "orders.xlsx", [data_row(1)])
    logistics = tmp_path / "wms.csv"
    logistics.write_text("运单号,取件时间,签收时间\nJD7001,2026-03-10 12:00:00,\n", "utf-8")
    frame = load([orders, logistics], store_id="1").frame
    assert str(frame["pickup_time"][0]) == "2026-03-10 12:00:00"


# --- sheets ----------------------------------------------------------------------------------


def test_rows_split_over_two_sheets_are_all_read_and_the_sheets_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path / "a.xlsx",
        Sheet("Sheet1", jd_grid([data_row(i) for i in range(3)])),
        Sheet("Sheet2", jd_grid([data_row(i) for i in range(3, 5)])),
    )
    loaded = load(path, store_id="1")
    assert loaded.frame.height == 5
    assert loaded.report.files[0].sheets == ("Sheet1", "Sheet2")
    code, out = validate(capsys, str(path), "--store-id", "1")
    assert code == 0
    assert "Sheet1, Sheet2" in out


def test_bad_cell_on_the_second_sheet_names_the_sheet(tmp_path: Path) -> None:
    second = [data_row(3), data_row(4, 售后申请时间="2026-13-01 08:00:00")]
    path = write(
        tmp_path / "a.xlsx",
        Sheet("Sheet1", jd_grid([data_row(i) for i in range(3)])),
        Sheet("Sheet2", jd_grid(second)),
    )
    errors = load_unchecked(path, store_id="1").report.errors
    assert [(p.file, p.row, p.column) for p in errors] == [(f"{path} [Sheet2]", 4, "售后申请时间")]


def test_data_on_the_second_sheet_after_a_note_sheet_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.xlsx",
        Sheet("说明", grid([["这是说明页"], ["导出条件：近 180 天"]])),
        Sheet("Sheet2", jd_grid([data_row(i) for i in range(3)])),
    )
    loaded = load(path, store_id="1")
    assert loaded.frame.height == 3
    file = loaded.report.files[0]
    assert file.sheets == ("Sheet2",)
    assert [s for s, _r in file.sheets_skipped] == ["说明"]
    assert "表头" in file.sheets_skipped[0][1]


def test_hidden_empty_first_sheet_is_skipped(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.xlsx",
        Sheet("hidden", {}, state="hidden"),
        Sheet("Sheet2", jd_grid([data_row(i) for i in range(2)])),
    )
    loaded = load(path, store_id="1")
    assert loaded.frame.height == 2
    assert loaded.report.files[0].sheets_skipped[0][0] == "hidden"


# --- workbooks that would take the parser down ---------------------------------------------


@pytest.mark.parametrize("dimension", [None, "A1:XFD1048576", "A1:H5"])
def test_value_at_xfd1048576_is_refused_naming_the_file_and_other_files_load(
    tmp_path: Path, dimension: str | None
) -> None:
    far = '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
    bad = write(
        tmp_path / "far.xlsx",
        Sheet("Sheet1", jd_grid([data_row(1)]), dimension=dimension, tail=far),
    )
    good = jd_xlsx(tmp_path / "good.xlsx", [data_row(2)])
    loaded = load_unchecked([bad, good], store_id="1")
    assert [(p.file, p.row) for p in loaded.report.errors] == [(str(bad), None)]
    assert "XFD1048576" in loaded.report.errors[0].message
    assert loaded.frame["service_id"].to_list() == ["3200000002"]


def test_empty_styled_cell_far_out_is_harmless(tmp_path: Path) -> None:
    far = '<row r="1048576"><c r="XFD1048576" s="0"/></row>'
    path = write(
        tmp_path / "a.xlsx",
        Sheet("Sheet1", jd_grid([data_row(1)]), dimension="A1:XFD1048576", tail=far),
    )
    assert load(path, store_id="1").frame.height == 1


def test_zip_bomb_part_is_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same shape as a 3 GiB bomb (whitespace in sheet1.xml), scaled to the test's limits.
    monkeypatch.setattr(workbook, "RATIO_FLOOR_BYTES", 1_000_000)
    spaces = " " * 5_000_000
    path = write(tmp_path / "bomb.xlsx", Sheet("Sheet1", jd_grid([data_row(1)]), tail=spaces))
    assert zipfile.ZipFile(path).getinfo("xl/worksheets/sheet1.xml").compress_size < 50_000
    errors = load_unchecked(path, store_id="1").report.errors
    assert len(errors) == 1
    assert "zip bomb" in errors[0].message and "sheet1.xml" in errors[0].message


# --- what a file is --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".xls", ".csv"])
def test_xlsx_under_another_extension_is_read_by_its_content(tmp_path: Path, suffix: str) -> None:
    path = jd_xlsx(tmp_path / "a.xlsx", [data_row(i) for i in range(2)])
    renamed = path.rename(tmp_path / f"a{suffix}")
    loaded = load(renamed, store_id="1")
    assert loaded.frame.height == 2
    assert loaded.report.warning_counts["wrong_extension"] == 1


def test_text_named_xlsx_is_an_error_saying_so(tmp_path: Path) -> None:
    path = tmp_path / "a.xlsx"
    path.write_text("服务单号,客户期望\n1,退货\n", "utf-8")
    errors = load_unchecked(path, store_id="1").report.errors
    assert "内容是文本" in errors[0].message


# --- headers ---------------------------------------------------------------------------------


def test_header_noise_is_normalised_before_matching(tmp_path: Path) -> None:
    noisy = [
        "=服务单号",
        '="订单号"',
        " 客户 期望 ",
        "'服务单状态",
        "\ufeff售后申请时间",
        "运单号\u200b",
        "商家首次\n审核时间",
        "商家首次处理时间 ",
    ]
    path = jd_xlsx(tmp_path / "a.xlsx", [data_row(i) for i in range(2)], headers=noisy)
    loaded = load(path, store_id="1")
    assert loaded.frame["service_type"].to_list() == ["退货", "退货"]
    assert loaded.frame["first_audit_time"].null_count() == 0
    assert normalize_header("=服务单号") == "服务单号"
    assert normalize_header("'服务单号") == "服务单号"


def test_header_row_beyond_the_first_10_rows_says_only_10_are_searched(tmp_path: Path) -> None:
    rows = [[f"说明 {i}"] for i in range(11)] + [HEADERS, data_row(1)]
    path = write(tmp_path / "a.xlsx", Sheet("Sheet1", grid(rows)))
    errors = load_unchecked(path, store_id="1").report.errors
    assert errors
    assert all("前 10 行中没有表头行" in p.message for p in errors)


def test_duplicated_header_with_different_contents_is_an_error_naming_both_columns(
    tmp_path: Path,
) -> None:
    headers = [*HEADERS, "售后申请时间"]
    rows = [[*data_row(i), "2030-01-01 00:00:00"] for i in range(2)]
    path = write(tmp_path / "a.xlsx", Sheet("Sheet1", jd_grid(rows, headers)))
    errors = load_unchecked(path, store_id="1").report.errors
    assert [(p.row, p.column) for p in errors] == [(2, "售后申请时间")]
    assert "E" in errors[0].message and "I" in errors[0].message


def test_duplicated_identical_header_is_a_warning_and_one_copy_used(tmp_path: Path) -> None:
    headers = [*HEADERS, "服务单号"]
    rows = [[*data_row(i), data_row(i)[0]] for i in range(2)]
    path = write(tmp_path / "a.xlsx", Sheet("Sheet1", jd_grid(rows, headers)))
    loaded = load(path, store_id="1")
    assert loaded.report.warning_counts["duplicate_header"] == 1
    assert "服务单号__dup2" not in loaded.frame.columns


# --- cells -----------------------------------------------------------------------------------


def test_formula_error_values_are_reported_as_such_not_as_empty(tmp_path: Path) -> None:
    rows = [
        data_row(0),
        data_row(1, 服务单号=Err("#DIV/0!")),
        data_row(2, 售后申请时间=Err("#N/A")),
    ]
    path = write(tmp_path / "a.xlsx", Sheet("Sheet1", jd_grid(rows)))
    errors = load_unchecked(path, store_id="1").report.errors
    assert [(p.row, p.column, p.value) for p in errors] == [
        (4, "服务单号", "#DIV/0!"),
        (5, "售后申请时间", "#N/A"),
    ]
    assert all("公式错误" in p.message for p in errors)


def test_formula_error_values_written_by_xlsxwriter(tmp_path: Path) -> None:
    path = jd_xlsx(tmp_path / "a.xlsx", [data_row(0), data_row(1)])
    book = xlsxwriter.Workbook(tmp_path / "b.xlsx")
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, HEADERS)
    sheet.write_row(1, 0, data_row(1))
    sheet.write_formula(1, 0, "=1/0", None, "#DIV/0!")
    book.close()
    assert load(path, store_id="1").frame.height == 2
    errors = load_unchecked(tmp_path / "b.xlsx", store_id="1").report.errors
    assert [(p.row, p.column, p.value) for p in errors] == [(2, "服务单号", "#DIV/0!")]


def test_footer_rows_are_dropped_and_counted_not_read_as_orders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [data_row(i) for i in range(3)]
    rows += [["合计", None, None, None, None, None, None, None], ["导出时间: 2026-04-01"]]
    path = write(tmp_path / "a.xlsx", Sheet("Sheet1", jd_grid(rows)))
    loaded = load(path, store_id="1")
    assert loaded.frame.height == 3
    assert dict(loaded.report.files[0].rows_dropped) == {"footer": 2}
    assert loaded.report.warning_counts["footer_rows"] == 2
    csv = tmp_path / "a.csv"
    csv.write_text(
        ",".join(HEADERS) + "\n" + ",".join(map(str, data_row(1))) + "\n合计,,,,,,,\n", "utf-8"
    )
    assert load(csv, store_id="1").frame.height == 1
    code, out = validate(capsys, str(path), "--store-id", "1")
    assert code == 0 and "页脚行已忽略" in out


def test_blank_rows_are_dropped_and_counted_not_errors(tmp_path: Path) -> None:
    rows: list[list[object]] = [data_row(0), [], [], data_row(1)]
    path = write(tmp_path / "a.xlsx", Sheet("Sheet1", jd_grid(rows)))
    loaded = load(path, store_id="1")
    assert loaded.frame.height == 2
    assert dict(loaded.report.files[0].rows_dropped) == {"blank": 2}
    # A stray value far below: the gap is blank rows, counted, not a million errors.
    stray = '<row r="5000"><c r="C5000" t="inlineStr"><is><t>x</t></is></c></row>'
    path = write(tmp_path / "b.xlsx", Sheet("Sheet1", jd_grid([data_row(0)]), tail=stray))
    report = load_unchecked(path, store_id="1").report
    assert report.files[0].rows_dropped["blank"] == 4996
    assert [(p.row, p.column) for p in report.errors] == [(5000, "服务单号")]


def test_date_only_1899_and_future_times_are_flagged_by_cell(tmp_path: Path) -> None:
    rows = [
        data_row(0, 售后申请时间="2025-10-03"),
        data_row(1, 售后申请时间="1899-12-31 00:00:00"),
        data_row(2, 商家首次处理时间="2099-01-01 00:00:00"),
        data_row(3),
    ]
    path = jd_xlsx(tmp_path / "a.xlsx", rows)
    report = load(path, store_id="1").report
    shown = {(p.row, p.column, p.value) for p in report.warnings}
    assert (3, "售后申请时间", "2025-10-03") in shown
    assert (4, "售后申请时间", "1899-12-31 00:00:00") in shown
    assert (5, "商家首次处理时间", "2099-01-01 00:00:00") in shown
    counts = report.warning_counts
    assert (counts["date_only"], counts["implausible_time"], counts["future_time"]) == (1, 1, 1)


# --- CSV -------------------------------------------------------------------------------------

CSV_HEADER = ",".join(HEADERS)


def csv_line(i: int, **changes: object) -> str:
    return ",".join(str(v) for v in data_row(i, **changes))


def test_csv_unterminated_quote_is_one_short_error_with_its_row(tmp_path: Path) -> None:
    lines = [CSV_HEADER, csv_line(1), csv_line(2).replace("退货", '"退货', 1)]
    lines += [csv_line(i, 客户期望="顾客说：" + "很长的描述" * 50) for i in range(3, 40)]
    path = tmp_path / "a.csv"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    errors = load_unchecked(path, store_id="1").report.errors
    assert len(errors) == 1
    assert errors[0].row == 3
    assert len(str(errors[0])) < 400
    assert "很长的描述" not in str(errors[0]) and "schema" not in str(errors[0])


def test_csv_row_with_extra_fields_is_a_bad_row_not_the_header(tmp_path: Path) -> None:
    lines = [CSV_HEADER] + [csv_line(i) for i in range(1, 9)]
    lines[5] += ",x,y"
    path = tmp_path / "a.csv"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    report = load_unchecked(path, store_id="1").report
    assert [(p.row, p.column) for p in report.errors] == [(6, "商家首次处理时间")]
    assert "10" in report.errors[0].message and "8" in report.errors[0].message
    loaded = load(path, store_id="1", skip_bad_rows=True)
    assert (loaded.frame.height, loaded.report.bad_rows_dropped) == (7, 1)


def test_csv_short_row_is_a_bad_row(tmp_path: Path) -> None:
    lines = [CSV_HEADER, csv_line(1), ",".join(csv_line(2).split(",")[:5])]
    path = tmp_path / "a.csv"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    errors = load_unchecked(path, store_id="1").report.errors
    assert [(p.row, p.column) for p in errors] == [(3, "运单号")]
    assert "too few" in errors[0].message


def test_csv_with_cr_only_line_ends_loads(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes("\r".join([CSV_HEADER, csv_line(1), csv_line(2)]).encode() + b"\r")
    assert load(path, store_id="1").frame["service_id"].to_list() == ["3200000001", "3200000002"]


def test_csv_nul_bytes_are_named_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(f"{CSV_HEADER}\n{csv_line(1)}\n".encode() + b"32000\x0000002,x\n")
    errors = load_unchecked(path, store_id="1").report.errors
    assert (errors[0].row, "NUL" in errors[0].message) == (3, True)
    assert "编码" not in errors[0].message


def test_csv_mixed_encodings_name_a_line(tmp_path: Path) -> None:
    gbk = f"{CSV_HEADER}\n{csv_line(1, 客户期望='换货')}\n".encode("gbk")
    utf8 = f"{csv_line(2, 客户期望='维修')}\n".encode()
    path = tmp_path / "a.csv"
    path.write_bytes(gbk + utf8 * 2)
    errors = load_unchecked(path, store_id="1").report.errors
    assert len(errors) == 1
    assert errors[0].row is not None and "第" in errors[0].message


def test_csv_title_line_above_the_header_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(f"京东售后服务单导出\n{CSV_HEADER}\n{csv_line(1)}\n", "utf-8")
    frame = load(path, store_id="1").frame
    assert frame.height == 1
    assert frame.schema["apply_time"] == pl.Datetime("us")


# --- folders ---------------------------------------------------------------------------------


def test_dangling_symlink_loop_and_fifo_in_a_folder_are_warned_by_name(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    jd_xlsx(data / "ok.xlsx", [data_row(1)])
    (data / "dead.xlsx").symlink_to("/nonexistent/share/x.xlsx")
    (data / "a.xlsx").symlink_to(data / "b.xlsx")
    (data / "b.xlsx").symlink_to(data / "a.xlsx")
    os.mkfifo(data / "x.csv")
    report = load(data, store_id="1").report
    assert report.rows == 1
    skipped = {Path(p.file).name: p.message for p in report.warnings}
    assert set(skipped) >= {"dead.xlsx", "a.xlsx", "b.xlsx", "x.csv"}
    assert "dangling" in skipped["dead.xlsx"]
    assert "FIFO" in skipped["x.csv"]
    assert report.warning_counts["unreadable_path"] == 4


def test_output_into_a_closed_pipe_exits_without_a_traceback(tmp_path: Path) -> None:
    path = jd_xlsx(tmp_path / "a.xlsx", [data_row(i) for i in range(3)])
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` that has already exited
    proc = subprocess.run(
        [sys.executable, "-m", "aftersales_kit", "validate", str(path), "--store-id", "1"],
        stdout=write_end,
        stderr=subprocess.PIPE,
        check=False,
        timeout=120,
    )
    os.close(write_end)
    assert proc.returncode == 1
    assert b"Traceback" not in proc.stderr
    assert "输出管道已关闭" in proc.stderr.decode()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(kinds=st.lists(st.sampled_from(["good", "blank", "footer", "short", "long"]), max_size=30))
def test_every_csv_row_is_loaded_dropped_or_rejected(tmp_path: Path, kinds: list[str]) -> None:
    lines = [CSV_HEADER]
    for i, kind in enumerate(kinds):
        line = csv_line(i)
        lines.append(
            {
                "good": line,
                "blank": "",
                "footer": "合计" + "," * (len(HEADERS) - 1),
                "short": ",".join(line.split(",")[:3]),
                "long": line + ",extra",
            }[kind]
        )
    path = tmp_path / "a.csv"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    report = load_unchecked(path, store_id="1", skip_bad_rows=True).report
    assert report.rows == kinds.count("good")
    assert report.bad_rows_dropped == kinds.count("short") + kinds.count("long")
    dropped = dict(report.files[0].rows_dropped)
    assert dropped.get("blank", 0) == kinds.count("blank")
    assert dropped.get("footer", 0) == kinds.count("footer")


def test_fractional_id_in_a_parquet_float_column_is_an_error_not_rounded(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "service_id": [3200000001.0, 3200000002.5],
            "service_type": ["退货", "退货"],
            "status": ["完成", "完成"],
            "apply_time": ["2026-03-10 08:00:00"] * 2,
            "first_audit_time": ["2026-03-10 09:00:00"] * 2,
            "first_process_time": ["2026-03-11 08:00:00"] * 2,
        }
    )
    path = tmp_path / "a.parquet"
    frame.write_parquet(path)
    report = load_unchecked(path, store_id="1").report
    assert [(p.row, p.value) for p in report.errors] == [(3, "3200000002.5")]
    assert load(path, store_id="1", skip_bad_rows=True).frame["service_id"].to_list() == [
        "3200000001"
    ]
