"""Write canonical orders as the files JD really gives merchants (JD-EXPORTS.md).

Two layouts: the current 京麦 自主售后 export (``.xlsx``, merged group titles in row 1 with A1
``申请信息``, headers in row 2 with A2 ``服务单号``, data from row 3, amounts and quantities as
number cells, IDs as text, no store column, no 暂完结时间) and the older FBP/POP export (one
header row of plain text, GBK ``.csv``, plain numbers, whole-hour 售后服务单整体时长). The demo
writes the first; tests write both, so every loader path runs on the shapes merchants download.

``dirty`` writes the odd forms other tools and re-saved files produce (amounts as ``￥1,088.00``
text, ``="…"`` CSV cells, 服务单号 as a title merged down over rows 1–2 with an empty A2), so the
loader stays tested on them; real downloads never look like that.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from aftersales_kit.files import atomic_path, atomic_write

if TYPE_CHECKING:
    from xlsxwriter.format import Format
    from xlsxwriter.worksheet import Worksheet

#: 京麦 export: (group title in row 1, [(header in row 2, canonical column or None)]); the
#: title is merged across its group, column A included (A1 申请信息, A2 服务单号).
JINGMAI_LAYOUT: tuple[tuple[str, tuple[tuple[str, str | None], ...]], ...] = (
    (
        "申请信息",
        (
            ("服务单号", "service_id"),
            ("订单号", "order_id"),
            ("客户期望", "service_type"),
            ("服务单状态", "status"),
            ("一级申请原因", "reason"),
            ("二级申请原因", "reason_detail"),
            ("客户问题描述", "description"),
            ("返回方式", "return_method"),
            ("售后申请时间", "apply_time"),
        ),
    ),
    (
        "订单信息",
        (
            ("订单类型", None),
            ("出库状态", None),
            ("申请时订单状态", None),
            ("下单账号", "buyer_account"),
            ("商品编号", "sku_id"),
            ("商品名称", "sku_name"),
            ("商品金额", "amount"),
            ("商品数量", "quantity"),
            ("退款金额", "refund_amount"),
        ),
    ),
    (
        "审核信息",
        (
            ("审核结果", "approve_result"),
            ("审核时间", "last_audit_time"),
            ("审核意见", None),
            ("审核人姓名", "auditor"),
        ),
    ),
    (
        "物流信息",
        (
            ("运单号", "waybill_no"),
            ("运费金额", None),
            ("快递公司", "carrier"),
            ("取件时间", "pickup_time"),
            ("商家收货时间", "inbound_time"),
        ),
    ),
    (
        "处理信息",
        (
            ("处理结果", "process_result"),
            ("处理人", "processor"),
            ("自动审核类型", None),
            ("是否闪退订单", "flash_refund"),
        ),
    ),
    (
        "时效信息",
        (
            ("商家首次审核时间", "first_audit_time"),
            ("商家首次处理时间", "first_process_time"),
            ("售后整体时长(H)", "jd_hours"),
        ),
    ),
    ("客户信息", (("省", "province"), ("市", "city"))),
)

#: Constant cells of the 京麦 columns the toolkit does not read.
_JINGMAI_FILLERS = {
    "订单类型": "POPSOP",
    "出库状态": "已出库",
    "申请时订单状态": "完成",
    "审核意见": "",
    "运费金额": 0.0,
    "自动审核类型": "",
}

#: Older FBP/POP export: header -> canonical column (None: a column the toolkit does not read).
FBP_HEADERS: tuple[tuple[str, str | None], ...] = (
    ("服务单号", "service_id"),
    ("订单号", "order_id"),
    ("商品编号", "sku_id"),
    ("商品名称", "sku_name"),
    ("商品金额", "amount"),
    ("服务单状态", "status"),
    ("售后服务单申请时间", "apply_time"),
    ("商家首次审核时间", "first_audit_time"),
    ("商家首次处理时间", "first_process_time"),
    ("售后服务单整体时长", "jd_hours"),
    ("审核结果", "approve_result"),
    ("处理结果描述", "process_result"),
    ("客户预期处理方式", "service_type"),
    ("返回方式", "return_method"),
    ("客户问题描述", "description"),
    ("最新审核时间", "last_audit_time"),
    ("审核意见", None),
    ("审核人姓名", "auditor"),
    ("取件时间", "pickup_time"),
    ("取件状态", None),
    ("发货时间", "customer_ship_time"),
    ("运单号", "waybill_no"),
    ("运费金额", None),
    ("快递公司", "carrier"),
    ("商家收货时间", "inbound_time"),
    ("收货登记原因", None),
    ("收货人", None),
    ("处理人", "processor"),
    ("退款金额", "refund_amount"),
    ("换新订单", None),
    ("换新商品编号", None),
    ("是否闪退订单", "flash_refund"),
)

_TEXT_ID = ("service_id", "order_id", "sku_id", "waybill_no")
#: Columns JD writes as number cells (an importer of real downloads calls float()/int() on them).
_NUMBERS = ("amount", "refund_amount", "quantity", "jd_hours")
_NUMBER_HEADERS = ("运费金额",)


def _cell(value: object, column: str | None, *, dirty: bool = False) -> str:
    """One cell as text: timestamps to the second, 是/否, amounts with two decimals (with
    thousands separators in a ``dirty`` file)."""
    if value is None or column is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "是" if value else "否"
    if column in ("amount", "refund_amount") and isinstance(value, int | float):
        return f"{value:,.2f}" if dirty else f"{value:.2f}"
    return str(value)


def write_jingmai_xlsx(
    frame: pl.DataFrame,
    path: str | Path,
    *,
    excel_dates: bool = False,
    dirty: bool = False,
) -> Path:
    """Write canonical orders of one store as a 京麦 自主售后 export.

    Row 1 holds the group titles, each merged across its group (A1 申请信息), row 2 the
    headers (A2 服务单号), data from row 3. IDs are text cells; amounts, 商品数量 and
    售后整体时长(H) are number cells. ``excel_dates`` writes timestamps as Excel date cells
    instead of text (JD's cell format is unknown, the loader accepts both). ``dirty`` writes
    what other tools make of it: amounts as ``￥1,088.00`` text and 服务单号 as a title merged
    down over rows 1–2 (A2 empty), the rest of 申请信息 titled from column B.
    """
    import xlsxwriter

    path = Path(path)
    columns = [(h, c) for _g, cols in JINGMAI_LAYOUT for h, c in cols]
    with atomic_path(path) as tmp:
        book = xlsxwriter.Workbook(
            str(tmp),
            {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False},
        )
        sheet = book.add_worksheet("Sheet1")
        title = book.add_format({"bold": True, "align": "center", "valign": "vcenter"})
        stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        _write_titles(sheet, title, dirty=dirty)
        for r, row in enumerate(frame.iter_rows(named=True), start=2):
            for c, (header, column) in enumerate(columns):
                value = row.get(column) if column else _JINGMAI_FILLERS.get(header, "")
                if value is None or value == "":
                    continue
                numeric = column in _NUMBERS or header in _NUMBER_HEADERS
                if numeric and isinstance(value, int | float) and not isinstance(value, bool):
                    if dirty and column in ("amount", "refund_amount"):
                        sheet.write_string(r, c, "￥" + _cell(value, column, dirty=True))
                    else:
                        sheet.write_number(r, c, float(value))
                elif excel_dates and isinstance(value, datetime):
                    sheet.write_datetime(r, c, value, stamp)
                elif column is None:
                    sheet.write_string(r, c, str(value))
                else:
                    sheet.write_string(r, c, _cell(value, column))
        book.close()
    return path


def _write_titles(sheet: Worksheet, title: Format, *, dirty: bool) -> None:
    """Rows 1–2: group titles merged across their groups, then the headers."""
    col = 0
    for group, cols in JINGMAI_LAYOUT:
        first = col
        for header, _c in cols:
            if not (dirty and col == 0):
                sheet.write_string(1, col, header, title)
            col += 1
        if dirty and first == 0:
            # Other tools' layout: 服务单号 merged down over both rows, its row-2 cell empty.
            sheet.merge_range(0, 0, 1, 0, cols[0][0], title)
            first = 1
        if col - first > 1:
            sheet.merge_range(0, first, 0, col - 1, group, title)
        else:
            sheet.write_string(0, first, group, title)


def write_fbp_csv(
    frame: pl.DataFrame,
    path: str | Path,
    *,
    encoding: str = "gbk",
    excel_text: bool = False,
    headers: Sequence[tuple[str, str | None]] = FBP_HEADERS,
) -> Path:
    """Write canonical orders as the older FBP/POP export: one header row of plain text, GBK,
    plain numbers, 售后服务单整体时长 in whole hours. ``excel_text`` writes what a re-saving tool
    makes of it: headers and IDs wrapped as ``="…"`` (the Excel text trick), amounts with
    thousands separators."""
    lines = [",".join(_csv_cell(h, excel_text=excel_text) for h, _c in headers)]
    for row in frame.iter_rows(named=True):
        cells = []
        for _h, column in headers:
            value = row.get(column) if column else None
            if column == "jd_hours" and value is not None:
                text = str(round(float(value)))
            else:
                text = _cell(value, column, dirty=excel_text)
            cells.append(_csv_cell(text, excel_text=excel_text and column in _TEXT_ID))
        lines.append(",".join(cells))
    path = Path(path)
    atomic_write(path, data=("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def _csv_cell(text: str, *, excel_text: bool) -> str:
    """``="…"`` raw, as re-saving tools write it (no CSV quoting around it); other cells quoted
    per RFC 4180 only when they must be."""
    if excel_text and text:
        return f'="{text}"'
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
