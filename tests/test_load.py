"""Tests for aftersales_kit.load: parsing, aliases, encodings, files, dedupe, errors, validate."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from aftersales_kit import cli
from aftersales_kit.errors import DataError
from aftersales_kit.load import load, load_unchecked, normalize_header
from aftersales_kit.schema import ALIASES, COLUMNS, REQUIRED

BASE = {
    "服务单号": "S1",
    "店铺ID": "1000101",
    "服务类型": "退货",
    "服务单状态": "完成",
    "申请时间": "2024-05-01 10:00:00",
    "首次审核时间": "2024-05-01 11:00:00",
    "首次处理时间": "2024-05-02 10:00:00",
    "暂完结时间": "2024-05-03 10:00:00",
}


def write_csv(path: Path, rows: list[dict[str, str]], *, encoding: str = "utf-8") -> Path:
    headers = list(dict.fromkeys(h for r in rows for h in r))
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(headers)
        writer.writerows([r.get(h, "") for h in headers] for r in rows)
    return path


def row(**changes: str) -> dict[str, str]:
    return {**BASE, **changes}


# --------------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01 10:30:15", datetime(2024, 5, 1, 10, 30, 15)),
        ("2024/05/01 10:30", datetime(2024, 5, 1, 10, 30)),
        ("2024/05/01 10:30:15", datetime(2024, 5, 1, 10, 30, 15)),
        ("2024/5/1 9:05", datetime(2024, 5, 1, 9, 5)),  # how Excel in China saves a CSV
        ("2024-05-01T10:30:15", datetime(2024, 5, 1, 10, 30, 15)),
        ("2024-05-01 10:30:15.250", datetime(2024, 5, 1, 10, 30, 15, 250000)),
        # 1714530615 s = 2024-05-01 02:30:15 UTC = 10:30:15 in China
        ("1714530615000", datetime(2024, 5, 1, 10, 30, 15)),
        # Excel serial: day 45413 = 2024-05-01, .4375 of a day = 10:30
        ("45413.4375", datetime(2024, 5, 1, 10, 30)),
        ("  2024-05-01 10:30:15  ", datetime(2024, 5, 1, 10, 30, 15)),
    ],
)
def test_each_timestamp_form(tmp_path: Path, text: str, expected: datetime) -> None:
    path = write_csv(tmp_path / "a.csv", [row(申请时间=text)])
    frame = load(path).frame
    assert frame["apply_time"].to_list() == [expected]
    assert frame.schema["apply_time"] == pl.Datetime("us")


def test_mixed_forms_in_one_column(tmp_path: Path) -> None:
    texts = ["2024-05-01 10:30:15", "2024/05/02 08:00", "1714530615000", "45414.5", "-"]
    rows = [row(服务单号=f"S{i}", 首次处理时间=t) for i, t in enumerate(texts)]
    frame = load(write_csv(tmp_path / "a.csv", rows)).frame
    assert frame["first_process_time"].to_list() == [
        datetime(2024, 5, 1, 10, 30, 15),
        datetime(2024, 5, 2, 8, 0),
        datetime(2024, 5, 1, 10, 30, 15),
        datetime(2024, 5, 2, 12, 0),
        None,
    ]


@pytest.mark.parametrize("marker", ["", "-", "--", "无", " 无 "])
def test_null_markers(tmp_path: Path, marker: str) -> None:
    path = write_csv(
        tmp_path / "a.csv", [row(首次审核时间=marker, 店铺名称=marker, 售后数量=marker)]
    )
    frame = load(path).frame
    assert frame.select("first_audit_time", "store_name", "quantity").row(0) == (None, None, None)


def test_value_conversions(tmp_path: Path) -> None:
    words = ["是", "否", "true", "FALSE", "1", "0", "Y", "n"]
    rows = [
        row(
            服务单号=f"S{i}",
            是否京东介入=w,
            售后数量="2",
            退款金额="¥1,299.50",
            待客户反馈次数="3.0",
        )
        for i, w in enumerate(words)
    ]
    frame = load(write_csv(tmp_path / "a.csv", rows)).frame
    assert frame["jd_intervened"].to_list() == [True, False, True, False, True, False, True, False]
    assert frame["quantity"].to_list() == [2] * 8
    assert frame["refund_amount"].to_list() == [1299.5] * 8
    assert frame["feedback_rounds"].to_list() == [3] * 8
    # IDs from a pandas float column keep their digits, never "123.0"
    frame = load(write_csv(tmp_path / "b.csv", [row(服务单号="123456789012.0")])).frame
    assert frame["service_id"].to_list() == ["123456789012"]


# ------------------------------------------------------------------------------- header aliases

SAMPLE = {
    pl.String(): ("X1", "X1"),
    pl.Datetime("us"): ("2024-05-01 12:00:00", datetime(2024, 5, 1, 12)),
    pl.Boolean(): ("是", True),
    pl.Int32(): ("2", 2),
    pl.Float64(): ("12.5", 12.5),
}
ALIAS_CASES = [(c, h) for c in COLUMNS for h in (c, *ALIASES[c])]


@pytest.mark.parametrize(("column", "header"), ALIAS_CASES)
def test_every_header_alias(tmp_path: Path, column: str, header: str) -> None:
    text, expected = SAMPLE[COLUMNS[column]]
    keys = (*REQUIRED, "complete_time")
    base = {ALIASES[c][0]: v for c, v in zip(keys, BASE.values(), strict=True)}
    base.pop(ALIASES[column][0], None)
    path = write_csv(tmp_path / "a.csv", [{**base, header: text}])
    frame = load(path).frame
    assert frame.columns[: len(COLUMNS)] == list(COLUMNS)
    assert frame[column].to_list() == [expected]


def test_headers_are_normalised_and_config_aliases_apply(tmp_path: Path) -> None:
    config = tmp_path / "aftersales.toml"
    config.write_text('[aliases]\napply_time = ["客户申请时间"]\n', encoding="utf-8")
    rows = [{(" 服务单号 " if k == "服务单号" else k): v for k, v in row().items()}]
    rows[0]["客户申请时间"] = rows[0].pop("申请时间")
    rows[0]["店铺ＩＤ"] = rows[0].pop("店铺ID")  # full-width letters, NFKC -> 店铺ID
    rows[0]["自定义列"] = "keep me"
    frame = load(write_csv(tmp_path / "a.csv", rows), config=config).frame
    assert frame.row(0, named=True)["apply_time"] == datetime(2024, 5, 1, 10)
    assert frame["store_id"].to_list() == ["1000101"]
    assert frame.columns == [*COLUMNS, "自定义列"]
    assert frame["自定义列"].to_list() == ["keep me"]
    assert normalize_header("\ufeff 服务单号\u3000") == "服务单号"


def test_more_specific_alias_wins_when_both_present(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", [row(审核时间="2024-05-01 20:00:00")])
    frame = load(path).frame
    assert frame["first_audit_time"].to_list() == [datetime(2024, 5, 1, 11)]
    # 审核时间 is the latest audit (DOMAIN §2): last_audit_time, never the first.
    assert frame["last_audit_time"].to_list() == [datetime(2024, 5, 1, 20)]


@pytest.mark.parametrize("header", ["审核时间", "最新审核时间"])
def test_latest_audit_never_binds_to_first_audit(tmp_path: Path, header: str) -> None:
    rows = [{k: v for k, v in row().items() if k != "首次审核时间"} | {header: "2024-05-01 20:00"}]
    with pytest.raises(DataError, match=r"缺少必需列 first_audit_time"):
        load(write_csv(tmp_path / "a.csv", rows))


def test_output_schema_and_store_id_argument(tmp_path: Path) -> None:
    rows = [{k: v for k, v in row().items() if k != "店铺ID"}]
    frame = load(write_csv(tmp_path / "a.csv", rows), store_id="777").frame
    assert frame.schema == pl.Schema(COLUMNS)
    assert frame["store_id"].to_list() == ["777"]


# ------------------------------------------------------------------------------------ encodings


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings(tmp_path: Path, encoding: str) -> None:
    path = write_csv(
        tmp_path / "a.csv", [row(店铺名称="示例旗舰店", 申请原因="质量问题")], encoding=encoding
    )
    frame = load(path).frame
    assert frame.select("store_name", "reason", "service_type").row(0) == (
        "示例旗舰店",
        "质量问题",
        "退货",
    )


# ------------------------------------------------------------------------------------ xlsx


def write_xlsx(path: Path, *, first_sheet: str | None = "汇总") -> Path:
    wb = xlsxwriter.Workbook(path)
    if first_sheet:
        wb.add_worksheet(first_sheet).write(0, 0, "这不是明细")
    ws = wb.add_worksheet("服务单明细")
    when = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    ws.write_row(0, 0, list(BASE))
    ws.write_number(1, 0, 123456789012)  # numeric ID cell: digits intact
    ws.write_string(1, 1, "1000101")
    ws.write_row(1, 2, ["退货", "完成"])
    for col, value in enumerate(
        [datetime(2024, 5, 1, 10, 30, 15), datetime(2024, 5, 1, 11), datetime(2024, 5, 2, 9)], 4
    ):
        ws.write_datetime(1, col, value, when)
    ws.write_string(1, 7, "2024/05/03 10:00")
    wb.close()
    return path


def test_xlsx_named_sheet_and_excel_datetime_cells(tmp_path: Path) -> None:
    frame = load(write_xlsx(tmp_path / "a.xlsx")).frame
    got = frame.select(
        "service_id", "store_id", "apply_time", "first_process_time", "complete_time"
    )
    assert got.row(0) == (
        "123456789012",
        "1000101",
        datetime(2024, 5, 1, 10, 30, 15),
        datetime(2024, 5, 2, 9),
        datetime(2024, 5, 3, 10),
    )


def test_xlsx_first_sheet_when_no_named_sheet(tmp_path: Path) -> None:
    path = tmp_path / "a.xlsx"
    pl.DataFrame([row(服务单号="S9")]).write_excel(path, worksheet="Sheet1")
    assert load(path).frame["service_id"].to_list() == ["S9"]


def test_xlsx_error_row_number_as_excel_shows_it(tmp_path: Path) -> None:
    path = tmp_path / "a.xlsx"
    rows = [row(服务单号="S1"), row(服务单号="S2"), row(服务单号="1.2345E+11")]
    pl.DataFrame(rows).write_excel(path, worksheet="服务单明细")
    with pytest.raises(DataError, match=r"a\.xlsx 第4行 \(row 4\) 列 服务单号: '1\.2345E\+11'"):
        load(path)


# ------------------------------------------------------------------------------------ parquet


def test_parquet_native_types_and_time_zones(tmp_path: Path) -> None:
    utc = datetime(2024, 5, 1, 2, 30, tzinfo=UTC)
    df = pl.DataFrame(
        {
            "service_id": [1234567890123],
            "store_id": ["1000101"],
            "service_type": ["退货"],
            "status": ["完成"],
            "apply_time": pl.Series([utc]).dt.convert_time_zone("UTC"),
            "first_audit_time": [datetime(2024, 5, 1, 11)],
            "first_process_time": pl.Series([1714530615000]),  # epoch ms
            "complete_time": [datetime(2024, 5, 3).date()],
            "jd_intervened": [True],
        }
    )
    path = tmp_path / "a.parquet"
    df.write_parquet(path)
    got = load(path).frame.row(0, named=True)
    assert got["service_id"] == "1234567890123"
    assert got["apply_time"] == datetime(2024, 5, 1, 10, 30)
    assert got["first_process_time"] == datetime(2024, 5, 1, 10, 30, 15)
    assert got["complete_time"] == datetime(2024, 5, 3)
    assert got["jd_intervened"] is True


def test_stores_filter_pushdown_and_hive_folder(tmp_path: Path) -> None:
    df = pl.DataFrame([row(服务单号=f"S{i}", 店铺ID=s) for i, s in enumerate("ABAB")])
    df.write_parquet(tmp_path / "all.parquet")
    loaded = load(tmp_path / "all.parquet", stores=["B"])
    assert loaded.frame["service_id"].to_list() == ["S1", "S3"]
    assert loaded.report.stores == {"B": 2}
    # hive layout: store_id=X/part.parquet without a store column; other stores are not opened
    hive = tmp_path / "hive"
    for store in "AB":
        (hive / f"store_id={store}").mkdir(parents=True)
        df.filter(pl.col("店铺ID") == store).drop("店铺ID").write_parquet(
            hive / f"store_id={store}" / "part.parquet"
        )
    (hive / "store_id=A" / "part.parquet").write_bytes(b"corrupt: must not be opened")
    loaded = load(hive, stores=["B"])
    assert loaded.report.stores == {"B": 2}
    assert [f.path for f in loaded.report.files] == [str(hive / "store_id=B" / "part.parquet")]


# ------------------------------------------------------------------------------------ folders


def test_folder_recursive_sorted_and_ignores_other_files(tmp_path: Path) -> None:
    (tmp_path / "2024-06").mkdir()
    write_csv(tmp_path / "2024-06" / "b.csv", [row(服务单号="S2")])
    write_csv(tmp_path / "a.csv", [row(服务单号="S1")])
    (tmp_path / "README.txt").write_text("notes", encoding="utf-8")
    (tmp_path / "~$a.xlsx").write_bytes(b"excel lock file")
    loaded = load(tmp_path)
    assert [Path(f.path).name for f in loaded.report.files] == ["b.csv", "a.csv"]
    assert loaded.frame["service_id"].to_list() == ["S2", "S1"]
    assert loaded.report.warning_counts == {"ignored_file": 1}
    # several paths: read in the order given
    loaded = load([tmp_path / "a.csv", tmp_path / "2024-06"])
    assert loaded.frame["service_id"].to_list() == ["S1", "S2"]


# ------------------------------------------------------------------------------------ dedupe


def test_dedupe_latest_complete_time_wins(tmp_path: Path) -> None:
    rows = [
        row(服务单号="S1", 暂完结时间="2024-05-05 10:00:00", 服务单状态="A"),
        row(服务单号="S1", 暂完结时间="2024-05-03 10:00:00", 服务单状态="B"),
        row(服务单号="S2", 暂完结时间="", 服务单状态="C"),
        row(服务单号="S2", 暂完结时间="2024-05-01 10:00:00", 服务单状态="D"),
        row(服务单号="S2", 暂完结时间="-", 服务单状态="E"),
        row(服务单号="S3", 暂完结时间="-", 首次处理时间="", 服务单状态="F"),
        row(服务单号="S3", 暂完结时间="2024-05-01 09:00:00", 首次处理时间="", 服务单状态="G"),
        row(服务单号="S3", 暂完结时间="", 首次处理时间="", 首次审核时间="", 服务单状态="H"),
    ]
    loaded = load(write_csv(tmp_path / "a.csv", rows))
    # Without 暂完结时间 the clock end stands in (DOMAIN §3): C and E end 05-02 10:00, later than
    # D's 05-01, and E is read last. For S3, F's audit at 05-01 11:00 beats G's 暂完结 09:00 and
    # H has nothing: it loses.
    assert loaded.frame.select("service_id", "status").rows() == [
        ("S1", "A"),
        ("S2", "E"),
        ("S3", "F"),
    ]
    assert loaded.report.duplicates_dropped == 5
    assert loaded.report.rows == 3


def test_dedupe_tie_last_read_wins_across_files(tmp_path: Path) -> None:
    # equal complete_time, and two missing ones: the row read last wins; order is read order
    write_csv(
        tmp_path / "1.csv",
        [row(服务单状态="first"), row(服务单号="S2", 暂完结时间="", 服务单状态="x1")],
    )
    write_csv(
        tmp_path / "2.csv",
        [row(服务单状态="second"), row(服务单号="S2", 暂完结时间="", 服务单状态="x2")],
    )
    loaded = load(tmp_path)
    assert loaded.frame.select("service_id", "status").rows() == [("S1", "second"), ("S2", "x2")]
    assert loaded.report.duplicates_dropped == 2
    assert loaded.report.stores == {"1000101": 2}


# ------------------------------------------------------------------------------------ errors


def test_missing_required_column_names_it_and_lists_headers(tmp_path: Path) -> None:
    rows = [{k: v for k, v in row().items() if k != "申请时间"}]
    path = write_csv(tmp_path / "a.csv", rows)
    expected = r"缺少必需列 apply_time \(售后申请时间 / 售后服务单申请时间 / 申请时间\).*第 1 行"
    with pytest.raises(DataError, match=expected) as info:
        load(path)
    assert "找到的列 (headers found): 服务单号, 店铺ID, 服务类型, 服务单状态, 首次审核时间" in str(
        info.value
    )
    assert info.value.problems[0].column == "apply_time"
    rows = [{k: v for k, v in row().items() if k != "店铺ID"}]
    with pytest.raises(
        DataError, match=r"没有店铺列.*店铺ID.*--store-id.*stores.toml.*data/<店铺ID>/"
    ):
        load(write_csv(tmp_path / "b.csv", rows))


def test_unparseable_timestamp_and_sci_id_with_rows(tmp_path: Path) -> None:
    rows = [
        row(服务单号="S1"),
        row(服务单号="S2", 申请时间="2024-13-45 10:00:00"),
        row(服务单号="1.2345E+11"),
        row(服务单号="S4", 首次处理时间="昨天"),
    ]
    path = write_csv(tmp_path / "a.csv", rows)
    with pytest.raises(DataError, match=r"3 个错误") as info:
        load(path)
    got = [(p.row, p.column, p.value) for p in info.value.problems]
    assert got == [
        (3, "申请时间", "2024-13-45 10:00:00"),
        (4, "服务单号", "1.2345E+11"),
        (5, "首次处理时间", "昨天"),
    ]
    text = str(info.value)
    assert "a.csv 第3行 (row 3) 列 申请时间: '2024-13-45 10:00:00' — 无法解析的时间" in text
    assert "科学计数法" in text


def test_other_bad_cells(tmp_path: Path) -> None:
    rows = [
        row(是否京东介入="也许"),
        row(服务单号="S2", 售后数量="1.5"),
        row(服务单号="-"),
        row(服务单号="S4", 店铺ID=""),
    ]
    with pytest.raises(DataError) as info:
        load(write_csv(tmp_path / "a.csv", rows))
    got = [(p.row, p.column, p.value, p.message.split(" (")[0]) for p in info.value.problems]
    assert got == [
        (2, "是否京东介入", "也许", "无法识别的是/否值"),
        (3, "售后数量", "1.5", "不是整数"),
        (4, "服务单号", None, "服务单号为空"),
        (5, "店铺ID", None, "店铺ID为空"),
    ]


def test_at_most_twenty_errors_shown(tmp_path: Path) -> None:
    rows = [row(服务单号=f"S{i}", 申请时间="bad") for i in range(25)]
    with pytest.raises(DataError, match=r"25 个错误") as info:
        load(write_csv(tmp_path / "a.csv", rows))
    text = str(info.value)
    assert text.count("无法解析的时间") == 20
    assert text.endswith("… 另有 5 个问题 (5 more problems)")
    assert info.value.problems[-1].row == 26


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.txt", b"x", r"a\.txt — 不支持的文件类型 \.txt"),
        ("a.csv", b"", r"a\.csv — 文件为空 \(empty file\)"),
        ("a.xlsx", b"", r"a\.xlsx — 文件为空"),
        ("a.xlsx", b"PK\x03\x04 not really a zip", r"a\.xlsx — 文件无法读取或已损坏"),
        ("a.parquet", b"not parquet at all", r"a\.parquet — 文件无法读取或已损坏"),
        (
            "a.csv",
            b'h1,h2\n"unterminated,1\n',
            r"a\.csv (第2行 \(row 2\) )?— (缺少必需列|CSV 格式错误)",
        ),
    ],
)
def test_file_errors(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load(path)


def test_missing_file_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv — 文件不存在 \(file not found\)"):
        load(tmp_path / "nope.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty — 文件夹中没有 \.xlsx/\.csv/\.parquet 文件"):
        load(tmp_path / "empty")


def test_skip_bad_rows_counts_per_file_and_total(tmp_path: Path) -> None:
    write_csv(
        tmp_path / "a.csv", [row(), row(服务单号="S2", 申请时间="x"), row(服务单号="9.9E+10")]
    )
    write_csv(tmp_path / "b.csv", [row(服务单号="S4", 签收时间="??"), row(服务单号="S5")])
    loaded = load(tmp_path, skip_bad_rows=True)
    report = loaded.report
    assert loaded.frame["service_id"].to_list() == ["S1", "S5"]
    assert [(Path(f.path).name, f.rows_read, f.bad_rows_dropped) for f in report.files] == [
        ("a.csv", 3, 2),
        ("b.csv", 2, 1),
    ]
    assert (report.bad_rows_dropped, report.rows, report.errors) == (3, 2, [])
    assert report.warning_counts == {"bad_row_dropped": 3}
    assert [(w.row, w.column) for w in report.warnings] == [
        (3, "申请时间"),
        (4, "服务单号"),
        (2, "签收时间"),
    ]


def test_odd_timestamps_are_warnings_not_errors(tmp_path: Path) -> None:
    rows = [
        row(
            服务单号=f"S{i}",
            首次审核时间="2024-05-01 09:00:00",
            取件时间="2024-05-02 10:00:00",
            签收时间="2024-05-02 09:00:00",
        )
        for i in range(25)
    ]
    loaded = load(write_csv(tmp_path / "a.csv", rows))
    report = loaded.report
    assert report.rows == 25 and report.errors == []
    assert report.warning_counts == {"audit_before_apply": 25, "sign_before_pickup": 25}
    assert len(report.warnings) == 40  # 20 shown per kind
    first = report.warnings[0]
    assert (first.row, first.column, first.value) == (
        2,
        "首次审核时间",
        "2024-05-01 09:00:00 < apply_time 2024-05-01 10:00:00",
    )


# ------------------------------------------------------------------------------------ validate


def test_validate_json_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "a.csv", [row(), row(), row(服务单号="S2", 店铺ID="1000102")])
    assert cli.main(["validate", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {
        "files": [
            {
                "file": str(path),
                "rows": 3,
                "bad_rows_dropped": 0,
                "rows_dropped": {},
                "sheets": [],
                "sheets_skipped": [],
            }
        ],
        "rows": 2,
        "duplicates_dropped": 1,
        "bad_rows_dropped": 0,
        "stores": {"1000101": 1, "1000102": 1},
        "errors": [],
        "warnings": [],
        "warning_counts": {},
        "unknown_values": {},
        "data_as_of": {"1000101": "2024-05-03 10:00:00", "1000102": "2024-05-03 10:00:00"},
    }


def test_validate_json_with_errors_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path / "a.csv", [row(), row(服务单号="S2", 申请时间="坏")])
    assert cli.main(["validate", str(path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == 1
    assert out["errors"] == [
        {
            "file": str(path),
            "row": 3,
            "column": "申请时间",
            "value": "坏",
            "message": out["errors"][0]["message"],
        }
    ]
    assert out["errors"][0]["message"].startswith("无法解析的时间")
    assert cli.main(["validate", str(path), "--json", "--skip-bad-rows"]) == 0
    assert json.loads(capsys.readouterr().out)["bad_rows_dropped"] == 1


def test_validate_text_and_store_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{k: v for k, v in row().items() if k != "店铺ID"}]
    path = write_csv(tmp_path / "a.csv", rows)
    assert cli.main(["validate", str(path), "--store-id", "555"]) == 0
    out = capsys.readouterr().out
    assert "去重后行数 (rows after dedupe): 1" in out
    assert "  555: 1 行 (rows)" in out
    assert out.rstrip().endswith("结果 (result): 通过 (OK)")
    assert cli.main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "--store-id" in out and "stores.toml" in out and "Traceback" not in out
    assert out.rstrip().endswith("结果 (result): 有错误 (errors found)")
    (tmp_path / "x.docx").write_bytes(b"word")
    assert cli.main(["validate", str(tmp_path / "x.docx"), "--json"]) == 1
    assert "不支持的文件类型" in json.loads(capsys.readouterr().out)["errors"][0]["message"]


def test_validate_usage_error_exit_2() -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["validate"])
    assert info.value.code == 2


def test_load_unchecked_never_raises_for_data(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", [row(申请时间="bad")])
    report = load_unchecked(path).report
    assert [(p.row, p.value) for p in report.errors] == [(2, "bad")]
    assert report.rows == 0


# ------------------------------------------------------------------------------------ round trip

_text = st.text(alphabet="退货换修理质量问题示例店ABCxyz0123456789", min_size=1, max_size=8)
_moment = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31)).map(
    lambda d: d.replace(microsecond=0)
)


def _value(dtype: pl.DataType) -> st.SearchStrategy[object]:
    if dtype == pl.Datetime("us"):
        base: st.SearchStrategy[object] = _moment
    elif dtype == pl.Boolean:
        base = st.booleans()
    elif dtype == pl.Int32:
        base = st.integers(0, 50)
    elif dtype == pl.Float64:
        base = st.integers(0, 10**7).map(lambda c: c / 100)
    else:
        base = _text
    return st.one_of(st.none(), base)


@st.composite
def canonical_frames(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(1, 6))
    ids = draw(st.lists(st.integers(10**11, 10**12), min_size=n, max_size=n, unique=True))
    data: dict[str, list[object]] = {}
    for column, dtype in COLUMNS.items():
        if column == "service_id":
            data[column] = [str(i) for i in ids]
        elif column == "store_id":
            data[column] = draw(
                st.lists(st.sampled_from(["1000101", "1000102"]), min_size=n, max_size=n)
            )
        else:
            data[column] = draw(st.lists(_value(dtype), min_size=n, max_size=n))
    return pl.DataFrame(data, schema=COLUMNS)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    frame=canonical_frames(),
    kind=st.sampled_from(["xlsx", "csv", "parquet"]),
    chinese=st.booleans(),
)
def test_round_trip(tmp_path: Path, frame: pl.DataFrame, kind: str, chinese: bool) -> None:
    out = frame.rename({c: ALIASES[c][0] for c in COLUMNS}) if chinese else frame
    path = tmp_path / f"rt.{kind}"
    if kind == "xlsx":
        out.write_excel(
            path, worksheet="服务单明细", dtype_formats={pl.Datetime: "yyyy-mm-dd hh:mm:ss"}
        )
    elif kind == "csv":
        out.write_csv(path, datetime_format="%Y-%m-%d %H:%M:%S")
    else:
        out.write_parquet(path)
    loaded = load(path)
    assert_frame_equal(loaded.frame, frame)
    assert loaded.report.duplicates_dropped == 0
    assert loaded.report.rows == frame.height


def test_header_only_file_and_missing_apply_time_are_warnings(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text(",".join(BASE) + "\n", encoding="utf-8")
    write_csv(tmp_path / "rows.csv", [row(申请时间="--")])
    report = load(tmp_path).report
    assert (report.rows, report.errors) == (1, [])
    assert [(f.path.endswith("empty.csv"), f.rows_read) for f in report.files] == [
        (True, 0),
        (False, 1),
    ]
    assert report.warning_counts == {"no_data_rows": 1, "missing_apply_time": 1}
    assert [(w.row, w.column) for w in report.warnings] == [(None, None), (2, "申请时间")]
