"""Every place the toolkit reaches into a third-party package's internals, in one module.

Each patch names the release it was written against and is applied only to that release; any other
version runs the package's own code (slower, same output). ``tests/test_compat.py`` has one
equivalence test per patch: the patched and the stock behaviour give the same result.

- :func:`skip_rfc3987_syntax` keeps jsonschema from importing ``rfc3987_syntax`` (1.5 s).
- :func:`great_tables_gt` reads great-tables' locale tables once and writes its formatted cells
  one column at a time (great-tables ``GT_VERSION``).
"""

from __future__ import annotations

import functools
import sys
from typing import Any

#: The great-tables release whose internals :func:`great_tables_gt` replaces.
GT_VERSION = "1.1.0"

#: :func:`skip_rfc3987_syntax` as code, run in every new kernel before its first notebook.
RFC3987_PRELUDE = (
    "import sys as _sys\n"
    "if 'jsonschema' not in _sys.modules:\n"
    "    _sys.modules.setdefault('rfc3987_syntax', None)\n"
    "del _sys\n"
)


def skip_rfc3987_syntax() -> None:
    """Stop jsonschema from importing rfc3987-syntax in this process.

    jsonschema (pulled in by nbformat and altair) registers an optional ``iri`` format checker when
    ``rfc3987_syntax`` is importable, and that module compiles a lark Earley grammar at import time:
    about 1.5 s of every process start here. Neither the notebook schema (nbformat validates without
    format checkers) nor the Vega-Lite schema altair validates against uses ``"format": "iri"``, so
    the checker is dead weight. A ``None`` entry in ``sys.modules`` makes the import fail with
    ImportError, which jsonschema suppresses (public behaviour: the checker is optional). It only
    helps before jsonschema is first imported, and is left alone afterwards.
    """
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


@functools.cache
def great_tables_gt() -> Any:
    """great-tables' ``GT``, sped up on :data:`GT_VERSION` (stock on any other release).

    Every ``fmt_*`` call and the render re-read great-tables' packaged locale CSVs
    (``x_locales.csv`` is 600 kB; 34 reads per report): about half of all table time on a warm
    kernel. The files are package data and every caller only reads the rows, so one parsed copy per
    path is equivalent. The cell writes are :func:`_column_writes`.
    """
    import great_tables
    from great_tables import GT

    if great_tables.__version__ == GT_VERSION:
        _locale_once()
        _column_writes()
    return GT


def _locale_once() -> None:
    from great_tables import _locale

    read = _locale.read_csv
    if getattr(read, "_aftersales_once", False):
        return
    parsed = functools.cache(lambda name: read(name))

    def read_once(fname: Any) -> list[dict[str, Any]]:
        return parsed(str(fname))

    read_once._aftersales_once = True  # type: ignore[attr-defined]
    read_once.stock = read  # type: ignore[attr-defined]  # tests compare with it
    _locale.read_csv = read_once


def _column_writes() -> None:
    """Write great-tables' formatted and escaped cells one column at a time on polars frames.

    great-tables 1.1 sets every body cell with ``frame[row, col] = value`` (its source notes
    this is slow on polars): a full polars Series round trip per cell, 1 500 per report and about
    a fifth of a warm kernel's time per store. These replacements compute exactly the same values
    in the same order (formatters still read the original data; the last write to a cell wins) and
    replace each touched column once. They apply to polars bodies only.
    """
    import polars as pl
    from great_tables import _gt_data, gt
    from great_tables._gt_data import Body, FormatterSkipElement
    from great_tables._tbl_data import _get_cell, is_na
    from great_tables._text import _process_text

    if getattr(gt._migrate_unformatted_to_output, "_aftersales_columns", False):
        return
    stock_render = Body.render_formats
    stock_migrate = gt._migrate_unformatted_to_output

    def write(body: pl.DataFrame, pending: dict[str, dict[int, Any]]) -> pl.DataFrame:
        columns = []
        for col, cells in pending.items():
            values = body.get_column(col).to_list()
            for row, value in cells.items():
                values[row] = value
            # strict=False casts like the per-cell writes did (a NaN becomes "NaN")
            columns.append(pl.Series(col, values, dtype=body.schema[col], strict=False))
        return body.with_columns(columns) if columns else body

    def render_formats(self: Any, data_tbl: Any, formats: list[Any], context: Any) -> set[Any]:
        if not isinstance(self.body, pl.DataFrame):
            return stock_render(self, data_tbl, formats, context)
        formatted: set[tuple[str, int]] = set()
        pending: dict[str, dict[int, Any]] = {}
        for fmt_info in formats:
            eval_func = getattr(fmt_info.func, context, fmt_info.func.default)
            if eval_func is None:  # great-tables raises the same for a formatter without one
                msg = f"great-tables formatter has no {context!r} renderer"
                raise RuntimeError(msg)
            for col, row in fmt_info.cells.resolve():
                result = eval_func(_get_cell(data_tbl, row, col))
                if isinstance(result, FormatterSkipElement):
                    continue
                formatted.add((col, row))
                pending.setdefault(col, {})[row] = result
        self.body = write(self.body, pending)
        return formatted

    def migrate(data: Any, data_tbl: Any, formatted_cells: set[Any], context: str) -> Any:
        body = data._body.body
        if not isinstance(body, pl.DataFrame) or not isinstance(data_tbl, pl.DataFrame):
            return stock_migrate(data, data_tbl, formatted_cells, context)
        pending: dict[str, dict[int, Any]] = {}
        for col in data_tbl.columns:
            for row in range(data_tbl.height):
                if (col, row) in formatted_cells:
                    continue
                value = _get_cell(data_tbl, row, col)
                if value is None or is_na(data_tbl, value):
                    continue  # replace_null_frame handles these, as in great-tables
                pending.setdefault(col, {})[row] = _process_text(str(value), context=context)
        data._body.body = write(body, pending)
        return data

    migrate._aftersales_columns = True  # type: ignore[attr-defined]
    migrate.stock = stock_migrate  # type: ignore[attr-defined]  # tests compare with these
    render_formats.stock = stock_render  # type: ignore[attr-defined]
    _gt_data.Body.render_formats = render_formats  # type: ignore[method-assign]
    gt._migrate_unformatted_to_output = migrate
