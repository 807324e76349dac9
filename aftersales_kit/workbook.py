"""Look inside a spreadsheet file before a parser reads it: what it really is, whether it is safe
to parse, which sheets it has, and which ID cells are numbers.

calamine (behind fastexcel) allocates the whole bounding box of a sheet's cells and inflates every
XML part in memory, and it aborts the process when an allocation fails. One cell at XFD1048576
asks it for 512 GiB; a few MB of compressed whitespace for gigabytes. Neither can be caught once
the parser runs, so the sizes are checked here from the zip directory and the sheet XML first.

Number cells and text cells read the same once every cell is read as text, so an ID that a writer
has already rounded to a float (more than 15 significant digits) is found in the sheet XML, where
a number cell is one without a ``t`` attribute (or ``t="n"``).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Literal
from xml.etree import ElementTree

#: Largest sheet calamine may be handed, in cells of its bounding box (rows x columns): about
#: 1.6 GB for calamine's range alone. Excel's own limit of 1,048,576 rows x 47 columns fits.
MAX_SHEET_CELLS = 50_000_000
#: Largest uncompressed size of one part of the zip (a real 1,048,575-row export is ~0.6 GB).
MAX_PART_BYTES = 1_500_000_000
#: A part inflating more than this many times its compressed size is a zip bomb once it is
#: also larger than ``RATIO_FLOOR_BYTES``; real sheets compress 5-20 times.
MAX_RATIO = 200
RATIO_FLOOR_BYTES = 100_000_000
#: Sheet parts up to this size are scanned for their real extent whatever they declare.
SCAN_BELOW_BYTES = 32_000_000
#: ID cells holding numbers at or above this have lost digits (Excel keeps 15; DOMAIN §2).
LONG_ID_DIGITS = 16

_CHUNK = 1 << 22
_OVERLAP = 512
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]{1,3})(\d+)(?::([A-Z]{1,3})(\d+))?"')
_CELL_TAG = re.compile(rb'\sr="([A-Z]{1,3})(\d+)"')
#: The first cell holding a value (not an empty styled ``<c …/>``): its column and row.
_FIRST_VALUE = re.compile(
    rb'<(?:\w+:)?c\s[^>]*?r="([A-Z]{1,3})(\d+)"[^>/]*>\s*<(?:\w+:)?(?:v|is|f)\b'
)
_ERROR_TYPE = b' t="e"'
_VALUE = re.compile(rb"<(?:\w+:)?v>([^<]*)</")
_CELL_TYPE = re.compile(rb'\st="(\w+)"')
_DIGIT_RUN = b"0" * LONG_ID_DIGITS
_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_SHAPE = bytes.maketrans(b"BCDEFGHIJKLMNOPQRSTUVWXYZ123456789", b"A" * 25 + b"0" * 9)

Kind = Literal["zip", "ole", "parquet", "text", "empty"]


class WorkbookError(Exception):
    """A file that must not (or cannot) be handed to the spreadsheet parser; the message says why
    and is shown as the file's problem."""


@dataclass(frozen=True)
class SheetPart:
    """One worksheet: its name, its XML part in the zip, whether Excel shows it."""

    name: str
    part: str
    visible: bool
    #: Row of the first cell with a value: calamine's range (and so the loaded table) starts
    #: there, not at row 1, when rows above are empty.
    first_row: int = 1
    first_col: int = 0  # column index of that first cell (0 = A)
    #: Cells holding an Excel error value (#DIV/0!, #N/A …) as (column index, row, value); only
    #: known when the part was scanned (``scanned``), see :func:`error_cells` otherwise.
    errors: tuple[tuple[int, int, str], ...] = ()
    scanned: bool = False


def sniff(path: Path) -> Kind:
    """What the file holds, from its first bytes (ERP ".xls" downloads are often xlsx)."""
    with path.open("rb") as fh:
        head = fh.read(8)
    if not head:
        return "empty"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    if head.startswith(b"PAR1"):
        return "parquet"
    return "text"


def column_letters(index: int) -> str:
    """0-based column index -> Excel letters: 0 -> A, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def column_index(letters: str) -> int:
    """Excel letters -> 0-based column index: A -> 0, AA -> 26."""
    index = 0
    for ch in letters:
        index = index * 26 + ord(ch) - ord("A") + 1
    return index - 1


def inspect(path: Path) -> list[SheetPart]:
    """The workbook's sheets, after checking that parsing it is safe.

    Raises
    ------
    WorkbookError
        A part too large or too compressed (zip bomb), a sheet whose cells span more than
        :data:`MAX_SHEET_CELLS`, or a zip that is not a workbook.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            _check_sizes(archive)
            return [_check_extent(archive, sheet) for sheet in _sheets(archive)]
    except zipfile.BadZipFile as exc:
        msg = f"文件无法读取或已损坏 (unreadable or corrupt file): 不是有效的 xlsx 压缩包 ({exc})"
        raise WorkbookError(msg) from exc


def _check_sizes(archive: zipfile.ZipFile) -> None:
    for info in archive.infolist():
        size, packed = info.file_size, max(info.compress_size, 1)
        if size > MAX_PART_BYTES or (size > RATIO_FLOOR_BYTES and size / packed > MAX_RATIO):
            msg = (
                f"文件内容解压后过大，拒绝读取 (refused: part {info.filename} inflates to "
                f"{size / 1e6:,.0f} MB from {packed / 1e6:,.1f} MB; limit "
                f"{MAX_PART_BYTES / 1e6:,.0f} MB and {MAX_RATIO}x): 可能是压缩炸弹或损坏的文件 "
                "(a zip bomb or a damaged file)"
            )
            raise WorkbookError(msg)


def _sheets(archive: zipfile.ZipFile) -> list[SheetPart]:
    names = set(archive.namelist())
    if "xl/workbook.xml" not in names:
        msg = "压缩包中没有 xl/workbook.xml，不是 xlsx 工作簿 (zip without xl/workbook.xml)"
        raise WorkbookError(msg)
    book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    targets: dict[str, str] = {}
    if "xl/_rels/workbook.xml.rels" in names:
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
        for rel in rels.iter(f"{_PKG_REL}Relationship"):
            target = rel.get("Target", "")
            part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            targets[rel.get("Id", "")] = str(PurePosixPath(part))
    sheets = []
    for i, node in enumerate(book.iter(f"{_MAIN}sheet"), start=1):
        part = targets.get(node.get(f"{_REL}id", ""), f"xl/worksheets/sheet{i}.xml")
        visible = node.get("state", "visible") == "visible"
        sheets.append(SheetPart(node.get("name", f"Sheet{i}"), part, visible))
    return sheets


def _chunks(archive: zipfile.ZipFile, part: str) -> Iterator[bytes]:
    """The part inflated piece by piece (never whole: it may be huge)."""
    with archive.open(part) as fh:
        while chunk := fh.read(_CHUNK):
            yield chunk


def _check_extent(archive: zipfile.ZipFile, sheet: SheetPart) -> SheetPart:
    """Refuse a sheet whose cells span more than MAX_SHEET_CELLS. calamine sizes its range by
    the cells that hold a value (an empty styled cell far out is harmless), whatever
    ``<dimension>`` says: small parts are scanned for them; a large part's declared dimension is
    trusted when it is small, and scanned when it is large or missing."""
    if sheet.part not in archive.namelist():
        return sheet
    size = archive.getinfo(sheet.part).file_size
    with archive.open(sheet.part) as fh:
        head = fh.read(1 << 16)
    first = _FIRST_VALUE.search(head)
    if first is not None:
        sheet = replace(
            sheet, first_row=int(first.group(2)), first_col=column_index(first.group(1).decode())
        )
    declared = _DIMENSION.search(head)
    if declared is not None:
        end_col, end_row = declared.group(3, 4)
        if end_col is None:
            end_col, end_row = declared.group(1, 2)
        small = (column_index(end_col.decode()) + 1) * int(end_row) <= MAX_SHEET_CELLS
        if small and size > SCAN_BELOW_BYTES:
            return sheet
    max_row, max_col, where, errors = _extent(archive, sheet.part)
    sheet = replace(sheet, errors=tuple(errors), scanned=True)
    cells = max_row * (max_col + 1)
    if cells > MAX_SHEET_CELLS:
        msg = (
            f"工作表 {sheet.name} 的单元格范围过大，拒绝读取 (refused: sheet {sheet.name} spans "
            f"{max_row:,} rows x {max_col + 1:,} columns = {cells:,} cells, limit "
            f"{MAX_SHEET_CELLS:,}; farthest column at {where}); 提示 (hint): 删除表格外的多余单元格"
            " (delete the stray cells far from the table)"
        )
        raise WorkbookError(msg)
    return sheet


def _extent(
    archive: zipfile.ZipFile, part: str
) -> tuple[int, int, str, list[tuple[int, int, str]]]:
    """(last row, largest column index, that cell's reference) over the cells holding a value,
    and the cells holding an error value (as :func:`error_cells`).

    Fast on the shape of the text: letters mapped to ``A`` and digits to ``0`` make every cell
    reference of one width look alike. Only three-letter references (column AAA and beyond,
    rare) are parsed in the first pass; when the rows times the widest width seen (ZZ = 702
    columns) fit the limit, that bound is the answer, and only a sheet that does not fit is
    scanned again for its exact widest two-letter column. A regex over every cell costs ten
    times more.
    """
    max_row, max_col, where, seen, errors = _scan_refs(archive, part, exact=3)
    if max_col < 0 and seen:
        bound = 702 if 2 in seen else 26
        if max_row * bound <= MAX_SHEET_CELLS:
            return max_row, bound - 1, "", errors
        max_row, max_col, where, _seen, _errors = _scan_refs(archive, part, exact=min(seen))
    return max_row, max_col, where, errors


def _scan_refs(
    archive: zipfile.ZipFile, part: str, *, exact: int
) -> tuple[int, int, str, set[int], list[tuple[int, int, str]]]:
    """One pass: last row, widest valued column among references of ``exact`` letters or more,
    the narrower widths seen, and the error cells."""
    max_row, max_col, where = 0, -1, ""
    seen: set[int] = set()
    errors: list[tuple[int, int, str]] = []
    data, done = b"", 0
    for chunk in (*_chunks(archive, part), None):
        data += chunk or b""
        keep = len(data) if chunk is None else max(done, len(data) - _OVERLAP)
        errors.extend(_errors_in(data, done, keep))
        shape = data.translate(_SHAPE)
        for width in (3, 2, 1):
            marker = b' r="' + b"A" * width + b"0"
            pos = shape.find(marker, done)
            if width < exact:
                if 0 <= pos < keep:
                    seen.add(width)
                continue
            valued = False
            while 0 <= pos < keep:
                ref = _CELL_TAG.match(data, pos)
                tag_end = data.find(b">", pos)
                if ref is not None and data[tag_end - 1 : tag_end] != b"/":
                    valued = True
                    col = column_index(ref.group(1).decode())
                    if col > max_col:
                        max_col, where = col, (ref.group(1) + ref.group(2)).decode()
                pos = shape.find(marker, pos + 1)
            if valued:
                break
        last = shape.rfind(b' r="A', done, keep)
        if last >= 0:
            ref = _CELL_TAG.match(data, last)
            if ref is not None:
                max_row = max(max_row, int(ref.group(2)))
        cut = max(0, keep - _OVERLAP)
        data, done = data[cut:], keep - cut
    return max_row, max_col, where, seen, errors


def error_cells(path: Path, part: str) -> list[tuple[int, int, str]]:
    """Cells holding an Excel error value (``t="e"``: #DIV/0!, #N/A …) as (column index, row,
    value): read as text they are indistinguishable from empty cells."""
    errors: list[tuple[int, int, str]] = []
    with zipfile.ZipFile(path) as archive:
        data, done = b"", 0
        for chunk in (*_chunks(archive, part), None):
            data += chunk or b""
            keep = len(data) if chunk is None else max(done, len(data) - _OVERLAP)
            errors.extend(_errors_in(data, done, keep))
            cut = max(0, keep - _OVERLAP)
            data, done = data[cut:], keep - cut
    return errors


def _errors_in(data: bytes, lo: int, hi: int) -> Iterator[tuple[int, int, str]]:
    pos = data.find(_ERROR_TYPE, lo)
    while 0 <= pos < hi:
        tag_start = data.rfind(b"<", 0, pos)
        tag_end = data.find(b">", pos)
        ref = _CELL_TAG.search(data, tag_start, tag_end)
        value = _VALUE.match(data, tag_end + 1) if tag_end >= 0 else None
        if value is None and tag_end >= 0:  # <c t="e"><f>…</f><v>#N/A</v></c>
            close = data.find(b"</c>", tag_end)
            value = _VALUE.search(data, tag_end, close if close >= 0 else len(data))
        if ref is not None:
            text = value.group(1).decode("utf-8", errors="replace") if value else "#ERROR"
            yield column_index(ref.group(1).decode()), int(ref.group(2)), text
        pos = data.find(_ERROR_TYPE, pos + 1)


def number_cells(path: Path, part: str, columns: Collection[int]) -> dict[int, dict[int, str]]:
    """Number cells in ``columns`` (0-based) holding at least 16 digits or an exponent: the
    IDs a writer has rounded to a float. Returns column -> Excel row -> value as written.

    A scan of the sheet XML for digit runs, not a parse: text IDs live in the shared-string
    table, so the sheet itself holds long digit runs only for such number cells.
    """
    wanted = set(columns)
    found: dict[int, dict[int, str]] = {}
    with zipfile.ZipFile(path) as archive:
        data, done = b"", 0
        for chunk in _chunks(archive, part):
            data += chunk
            keep = max(done, len(data) - _OVERLAP)
            _collect(data, done, keep, wanted, found)
            # Keep context before the unscanned rest: a cell's tag starts before its value.
            cut = max(0, keep - _OVERLAP)
            data, done = data[cut:], keep - cut
        _collect(data, done, len(data), wanted, found)
    return found


def long_shared_strings(path: Path) -> frozenset[str]:
    """The shared strings that are 16+ digits: text cells holding long IDs (JD order numbers)."""
    with zipfile.ZipFile(path) as archive:
        if "xl/sharedStrings.xml" not in archive.namelist():
            return frozenset()
        found: set[str] = set()
        data, done = b"", 0
        for chunk in (*_chunks(archive, "xl/sharedStrings.xml"), None):
            data += chunk or b""
            keep = len(data) if chunk is None else max(done, len(data) - _OVERLAP)
            zeros = data.translate(_TO_ZERO)
            pos = zeros.find(_DIGIT_RUN, done)
            while 0 <= pos < keep:
                start = data.rfind(b">", 0, pos) + 1
                end = data.find(b"<", pos)
                text = data[start:end]
                if text.isdigit():
                    found.add(text.decode("ascii"))
                pos = zeros.find(_DIGIT_RUN, end if end > pos else pos + LONG_ID_DIGITS)
            cut = max(0, keep - _OVERLAP)
            data, done = data[cut:], keep - cut
    return frozenset(found)


def _collect(
    data: bytes, lo: int, hi: int, wanted: set[int], found: dict[int, dict[int, str]]
) -> None:
    for start in _long_numbers(data, lo, hi):
        cell = _number_cell(data, start)
        if cell is not None and cell[0] in wanted:
            found.setdefault(cell[0], {})[cell[1]] = cell[2]


def _long_numbers(data: bytes, lo: int, hi: int) -> Iterator[int]:
    """Start offsets in [lo, hi) of values with a 16-digit run or an exponent."""
    zeros = data.translate(_TO_ZERO)
    pos = zeros.find(_DIGIT_RUN, lo)
    while 0 <= pos < hi:
        start = data.rfind(b">", max(0, pos - 40), pos) + 1
        if start > 0:
            yield start
        end = data.find(b"<", pos)
        pos = zeros.find(_DIGIT_RUN, end if end > pos else pos + LONG_ID_DIGITS)
    for marker in (b"E+", b"e+"):
        pos = data.find(marker, lo)
        while 0 <= pos < hi:
            start = data.rfind(b">", max(0, pos - 40), pos) + 1
            if start > 0:
                yield start
            pos = data.find(marker, pos + 2)


def _number_cell(data: bytes, start: int) -> tuple[int, int, str] | None:
    """(column, row, value) when the value at ``start`` is the ``<v>`` of a number cell
    holding an integer of 16+ digits or a number >= 10^15 in exponent form."""
    if data[start - 3 : start] != b"<v>":
        return None
    end = data.find(b"<", start)
    value = data[start:end].decode("ascii", errors="replace")
    try:
        number = float(value)
    except ValueError:
        return None
    if abs(number) < 10 ** (LONG_ID_DIGITS - 1):
        return None
    open_tag = data.rfind(b"<c", max(0, start - 400), start)
    if open_tag < 0:
        return None
    tag_end = data.find(b">", open_tag)
    tag = data[open_tag:tag_end]
    kind = _CELL_TYPE.search(tag)
    if kind is not None and kind.group(1) != b"n":
        return None
    ref = _CELL_TAG.search(tag)
    if ref is None:
        return None
    return column_index(ref.group(1).decode()), int(ref.group(2)), value
