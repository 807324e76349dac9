"""A raw-XML xlsx writer for the tests: every cell exactly as given, the way hostile or
non-Excel writers produce them (a number cell holding 18 digits, a cell at XFD1048576, a sheet
with no or a false ``<dimension>``, error cells, hidden sheets). Not openpyxl or xlsxwriter: those
recompute or refuse exactly the things these tests need."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

#: A cell: a str is a text cell (inline string), an int/float a number cell written with repr,
#: ``Num("…")`` a number cell with exactly that text in ``<v>``, ``Err("#N/A")`` an error cell.
Cell = object


@dataclass(frozen=True)
class Num:
    text: str


@dataclass(frozen=True)
class Err:
    text: str


@dataclass
class Sheet:
    name: str
    cells: Mapping[str, Cell] = field(default_factory=dict)  # "A1" -> cell
    state: str = "visible"
    dimension: str | None = None  # written as <dimension ref=…/> when given
    tail: str = ""  # raw XML appended inside <sheetData> (a far cell, whitespace)


def col(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def grid(rows: Sequence[Sequence[Cell | None]], *, first_row: int = 1) -> dict[str, Cell]:
    """Rows of cells -> {"A1": …}; None leaves a cell out."""
    return {
        f"{col(j)}{i}": value
        for i, row in enumerate(rows, start=first_row)
        for j, value in enumerate(row)
        if value is not None
    }


def _cell(ref: str, value: Cell) -> str:
    if isinstance(value, Err):
        return f'<c r="{ref}" t="e"><v>{escape(value.text)}</v></c>'
    if isinstance(value, Num):
        return f'<c r="{ref}"><v>{value.text}</v></c>'
    if isinstance(value, (int, float)):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>'


def _sheet_xml(sheet: Sheet) -> str:
    rows: dict[int, list[str]] = {}
    for ref, value in sheet.cells.items():
        match = re.fullmatch(r"([A-Z]+)(\d+)", ref)
        assert match is not None
        rows.setdefault(int(match.group(2)), []).append(_cell(ref, value))
    body = "".join(f'<row r="{r}">{"".join(rows[r])}</row>' for r in sorted(rows))
    dim = f'<dimension ref="{sheet.dimension}"/>' if sheet.dimension else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats'
        f'.org/spreadsheetml/2006/main">{dim}<sheetData>{body}{sheet.tail}</sheetData></worksheet>'
    )


def write(path: Path, *sheets: Sheet) -> Path:
    main = "http://schemas.openxmlformats.org"
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.'
        'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, len(sheets) + 1)
    )
    book_sheets = "".join(
        f'<sheet name="{escape(s.name)}" sheetId="{i}" r:id="rId{i}"'
        + ("" if s.state == "visible" else f' state="{s.state}"')
        + "/>"
        for i, s in enumerate(sheets, start=1)
    )
    rels = "".join(
        f'<Relationship Id="rId{i}" Type="{main}/officeDocument/2006/relationships/worksheet" '
        f'Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, len(sheets) + 1)
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{main}/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/vnd.'
            'openxmlformats-package.relationships+xml"/><Default Extension="xml" '
            'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.'
            f'main+xml"/>{overrides}</Types>',
        )
        z.writestr(
            "_rels/.rels",
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{main}/package/2006/'
            f'relationships"><Relationship Id="rId1" Type="{main}/officeDocument/2006/'
            'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        z.writestr(
            "xl/workbook.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main}/spreadsheetml/2006/'
            f'main" xmlns:r="{main}/officeDocument/2006/relationships"><sheets>{book_sheets}'
            "</sheets></workbook>",
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{main}/package/2006/'
            f'relationships">{rels}</Relationships>',
        )
        for i, sheet in enumerate(sheets, start=1):
            z.writestr(f"xl/worksheets/sheet{i}.xml", _sheet_xml(sheet))
    return path
