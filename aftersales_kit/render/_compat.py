"""Every place the toolkit reaches into a third-party package's internals, in one module.

Each patch names the release it was written against and is applied only to that release; any other
version runs the package's own code (slower, same output). ``tests/test_compat.py`` has one
equivalence test per patch: the patched and the stock behaviour give the same result.

- :func:`skip_rfc3987_syntax` keeps jsonschema from importing ``rfc3987_syntax`` (1.5 s).
- :func:`great_tables_patched` reads great-tables' locale tables once and writes its formatted
  cells one column at a time (great-tables ``GT_VERSION``), inside a ``with`` block only.
- :func:`altair_copies_fast` copies altair charts without a function call per unset property
  (altair ``ALTAIR_VERSION``), inside a ``with`` block only.
- :func:`outputs_validated_with_the_notebook` leaves each kernel output to the notebook's own
  validation instead of a jsonschema pass per output (nbformat ``NBFORMAT_VERSION``), inside a
  ``with`` block only.
- :func:`html_exporter_class` is nbconvert's ``HTMLExporter`` without its final BeautifulSoup pass
  (nbconvert ``NBCONVERT_VERSION``).
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nbconvert import HTMLExporter
    from nbformat import NotebookNode

#: The great-tables release whose internals :func:`great_tables_patched` replaces.
GT_VERSION = "1.1.0"
#: The altair release whose ``schemapi._deep_copy`` :func:`altair_copies_fast` replaces.
ALTAIR_VERSION = "6.3.0"
#: The nbformat release whose ``v4.nbbase.validate`` :func:`outputs_validated_with_the_notebook`
#: wraps.
NBFORMAT_VERSION = "5.11.1"
#: The nbconvert release whose ``HTMLExporter.from_notebook_node`` :func:`html_exporter_class`
#: re-implements (the pinned one, requirements.txt).
NBCONVERT_VERSION = "7.17.2"

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
        # None in sys.modules is the documented way to make an import fail; typeshed says Module
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


#: one replaced attribute: (owner, name, replacement)
Patch = tuple[object, str, object]


@contextmanager
def rfc3987_syntax_skipped() -> Iterator[None]:
    """:func:`skip_rfc3987_syntax` for the imports inside the ``with`` block only: the
    ``sys.modules`` entry is removed again on leaving, so an analyst's kernel can still import
    ``rfc3987_syntax`` itself afterwards (jsonschema, once imported, keeps what it found)."""
    blocked = "jsonschema" not in sys.modules and "rfc3987_syntax" not in sys.modules
    if blocked:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if blocked and sys.modules.get("rfc3987_syntax", 0) is None:
            del sys.modules["rfc3987_syntax"]


@contextmanager
def great_tables_patched() -> Iterator[Any]:
    """great-tables' ``GT`` with the speed-ups of :data:`GT_VERSION` applied only inside the
    ``with`` block, and the stock functions put back on leaving it (also on error): the
    analyst's own ``GT`` tables in the same kernel run great-tables' own code.

    Every ``fmt_*`` call and the render re-read great-tables' packaged locale CSVs
    (``x_locales.csv`` is 600 kB; 34 reads per report): about half of all table time on a warm
    kernel. The files are package data and every caller only reads the rows, so one parsed copy per
    path is equivalent. The cell writes are :func:`_column_writes`. Any other release runs stock.
    """
    from great_tables import GT

    patches = _great_tables_patches()
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, replacement in patches:
        setattr(owner, name, replacement)
    try:
        yield GT
    finally:
        for owner, name, previous in reversed(saved):
            setattr(owner, name, previous)


@contextmanager
def altair_copies_fast() -> Iterator[None]:
    """altair's deep copy and dict conversion with shortcuts, inside the ``with`` block only.

    - Copies: every ``LayerChart``, ``resolve_*`` and ``properties`` call deep-copies its charts,
      and a mark or an encoding carries a hundred properties, nearly all ``Undefined``: a 3-layer
      chart made ~14,000 recursive calls, 13,000 of them for ``Undefined``, which the copy returns
      as it is anyway. The replacement returns it without the call.
    - ``to_dict``: every leaf value (a string, a number) went through altair's whole chain of
      type tests, one of them an ``isinstance`` against a runtime-checkable Protocol (a dozen
      ``inspect.getattr_static`` calls each), only to be returned as it is. The replacement
      returns ``str``, ``int``, ``float``, ``bool`` and ``None`` at once (exactly those types:
      subclasses such as numpy scalars still take the stock path).

    - Layers: a ``LayerChart`` deep-copies every layer twice while it lifts the layers'
      selection parameters to the top (``_remove_duplicate_params``, ``_combine_subchart_params``),
      also when no layer has any: the report's charts have none. Without parameters (and no
      named layer to rename) both return the layers as they are, and the top has none.

    The same objects and the same dicts (``tests/test_compat.py``), about half the chart time of
    a report. Any other altair release runs stock.
    """
    import altair
    from altair.utils import schemapi
    from altair.vegalite.v6 import api

    if altair.__version__ != ALTAIR_VERSION:
        yield
        return
    previous_copy, previous_todict = schemapi._deep_copy, schemapi._todict
    previous_remove, previous_combine = api._remove_duplicate_params, api._combine_subchart_params

    def todict(obj: object, context: object, np_opt: object, pd_opt: object) -> object:
        if type(obj) in _LEAVES:
            return obj
        return previous_todict(obj, context, np_opt, pd_opt)  # type: ignore[arg-type]

    def remove_duplicate_params(layer: list[object]) -> list[object]:
        if _any_params(layer):
            return list(previous_remove(layer))  # type: ignore[arg-type]
        return list(layer)

    def combine_subchart_params(
        params: object, subcharts: list[object]
    ) -> tuple[object, list[object]]:
        no_top = params is schemapi.Undefined or not params
        if no_top and not _any_params(subcharts) and not _named_layers(subcharts):
            return schemapi.Undefined, list(subcharts)
        top, charts = previous_combine(params, subcharts)  # type: ignore[arg-type]
        return top, list(charts)

    schemapi._deep_copy = _deep_copy_fast  # type: ignore[assignment]  # stock is overloaded
    schemapi._todict = todict
    # altair types the layers as its union of chart classes; these take any chart alike
    api._remove_duplicate_params = remove_duplicate_params  # type: ignore[assignment]
    api._combine_subchart_params = combine_subchart_params  # type: ignore[assignment]
    try:
        yield
    finally:
        schemapi._deep_copy, schemapi._todict = previous_copy, previous_todict
        api._remove_duplicate_params = previous_remove
        api._combine_subchart_params = previous_combine


def _any_params(charts: list[object]) -> bool:
    """Some chart has selection or variable parameters (altair's test: set and not Undefined)."""
    from altair.utils.schemapi import Undefined

    return any(getattr(c, "params", Undefined) is not Undefined for c in charts)


def _named_layers(charts: list[object]) -> bool:
    """Some layered chart among ``charts`` has a named layer (altair renames those per
    position when it lifts parameters out of several charts)."""
    from altair.utils.schemapi import Undefined
    from altair.vegalite.v6 import api

    return any(
        getattr(layer, "name", Undefined) is not Undefined
        for c in charts
        if isinstance(c, api.LayerChart) and isinstance(c.layer, list)
        for layer in c.layer
    )


#: The exact types altair's ``_todict`` returns unchanged after its chain of type tests.
_LEAVES = frozenset({str, int, float, bool, type(None)})


def _deep_copy_fast(obj: object, by_ref: set[str]) -> object:
    """``altair.utils.schemapi._deep_copy`` of ALTAIR_VERSION: the objects built in one
    ``debug_mode(False)`` (stock enters it once per object), ``Undefined`` kept without a call."""
    from altair.utils.schemapi import SchemaBase, Undefined, debug_mode

    def copy(obj: object) -> object:
        if isinstance(obj, SchemaBase):
            # Looked up on the class: on the instance, a miss goes through SchemaBase.__getattr__.
            if getattr(type(obj), "__deepcopy__", None) is not None:
                return obj.__deepcopy__(obj)
            args = [copy(arg) for arg in obj._args]
            kwds = {
                k: (v if v is Undefined or k in by_ref else copy(v)) for k, v in obj._kwds.items()
            }
            return obj.__class__(*args, **kwds)
        if isinstance(obj, list):
            return [copy(v) for v in obj]
        if isinstance(obj, dict):
            return {k: (v if k in by_ref else copy(v)) for k, v in obj.items()}
        return obj

    with debug_mode(False):
        return copy(obj)


#: nbformat's output types: ``new_output`` validates each against its own schema definition.
_OUTPUT_TYPES = frozenset({"stream", "display_data", "execute_result", "error"})


@contextmanager
def outputs_validated_with_the_notebook() -> Iterator[None]:
    """Inside the block, nbformat's ``new_output`` does not validate each output on its own.

    nbclient builds every IOPub message into an output with ``new_output``, which validates it
    with jsonschema (nbformat's fast validator cannot take a ``$ref``): about a tenth of a batch
    worker's time per store. The same outputs are validated anyway, with the whole notebook,
    when papermill writes it and when nbconvert exports it. Any other release runs stock.
    """
    import nbformat
    from nbformat.v4 import nbbase

    if nbformat.__version__ != NBFORMAT_VERSION:
        yield
        return
    stock = nbbase.validate

    def validate(node: object, ref: str | None = None) -> object:
        return None if ref in _OUTPUT_TYPES else stock(node, ref)  # type: ignore[no-untyped-call]

    nbbase.validate = validate
    try:
        yield
    finally:
        nbbase.validate = stock


@functools.cache
def _great_tables_patches() -> tuple[Patch, ...]:
    """The replacements for :data:`GT_VERSION` (none for any other release), built once from
    the stock functions."""
    import great_tables

    if great_tables.__version__ != GT_VERSION:
        return ()
    return (*_locale_once(), *_column_writes())


def _locale_once() -> list[Patch]:
    from great_tables import _locale

    read = _locale.read_csv
    parsed = functools.cache(lambda name: read(name))

    def read_once(fname: object) -> list[dict[str, Any]]:
        return parsed(str(fname))

    # markers on the function object: mypy has no attributes for plain functions
    read_once._aftersales_once = True  # type: ignore[attr-defined]
    read_once.stock = read  # type: ignore[attr-defined]  # tests compare with it
    return [(_locale, "read_csv", read_once)]


def _column_writes() -> list[Patch]:
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
    from great_tables._tbl_data import is_na
    from great_tables._text import _process_text

    # a private function great-tables does not re-export; this module replaces it on purpose
    stock_migrate = gt._migrate_unformatted_to_output  # type: ignore[attr-defined]
    stock_render = Body.render_formats

    def write(body: pl.DataFrame, pending: dict[str, dict[int, object]]) -> pl.DataFrame:
        columns = []
        for col, cells in pending.items():
            values = body.get_column(col).to_list()
            for row, value in cells.items():
                values[row] = value
            # strict=False casts like the per-cell writes did (a NaN becomes "NaN")
            columns.append(pl.Series(col, values, dtype=body.schema[col], strict=False))
        return body.with_columns(columns) if columns else body

    def cells(frame: pl.DataFrame) -> Callable[[int, str], object]:
        # ``_get_cell`` on polars is ``frame[row, col]``: a Series round trip per cell. The
        # column's values are read once instead (the same Python values).
        columns: dict[str, list[object]] = {}

        def cell(row: int, col: str) -> object:
            values = columns.get(col)
            if values is None:
                values = columns[col] = frame.get_column(col).to_list()
            return values[row]

        return cell

    def render_formats(self: Any, data_tbl: Any, formats: list[Any], context: Any) -> set[Any]:
        if not isinstance(self.body, pl.DataFrame) or not isinstance(data_tbl, pl.DataFrame):
            return stock_render(self, data_tbl, formats, context)
        formatted: set[tuple[str, int]] = set()
        pending: dict[str, dict[int, object]] = {}
        cell = cells(data_tbl)
        for fmt_info in formats:
            eval_func = getattr(fmt_info.func, context, fmt_info.func.default)
            if eval_func is None:  # great-tables raises the same for a formatter without one
                msg = f"great-tables formatter has no {context!r} renderer"
                raise RuntimeError(msg)
            for col, row in fmt_info.cells.resolve():
                result = eval_func(cell(row, col))
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
        pending: dict[str, dict[int, object]] = {}
        cell = cells(data_tbl)
        for col in data_tbl.columns:
            for row in range(data_tbl.height):
                if (col, row) in formatted_cells:
                    continue
                value = cell(row, col)
                if value is None or is_na(data_tbl, value):
                    continue  # replace_null_frame handles these, as in great-tables
                pending.setdefault(col, {})[row] = _process_text(str(value), context=context)
        data._body.body = write(body, pending)
        return data

    # markers on the function objects (tests compare with the stock ones); mypy has no attributes
    # for plain functions, and the method / private function are replaced on purpose
    migrate._aftersales_columns = True  # type: ignore[attr-defined]
    migrate.stock = stock_migrate  # type: ignore[attr-defined]
    render_formats.stock = stock_render  # type: ignore[attr-defined]
    return [
        (_gt_data.Body, "render_formats", render_formats),
        (gt, "_migrate_unformatted_to_output", migrate),
    ]


# --- nbconvert ------------------------------------------------------------------------------------

#: an output area's opening tag as nbconvert's lab template writes it (class attribute first).
_OUTPUT_DIV = re.compile(r'(<div class="[^"<>]*\bjp-OutputArea-output\b[^"<>]*"[^<>]*?)(/?)>')


def focusable_outputs(html: str) -> str:
    """``tabindex="0"`` on every output area, as nbconvert's HTMLExporter adds it."""

    def add(match: re.Match[str]) -> str:
        tag = match.group(1)
        return match.group(0) if " tabindex=" in tag else f'{tag} tabindex="0"{match.group(2)}>'

    return _OUTPUT_DIV.sub(add, html)


@functools.cache
def html_exporter_class() -> type[HTMLExporter]:
    """nbconvert's ``HTMLExporter`` without its final BeautifulSoup pass on
    :data:`NBCONVERT_VERSION`; the stock class on any other release.

    After rendering, nbconvert 7 parses the whole page with BeautifulSoup (html.parser) only to add
    ``alt`` to ``<img>`` tags and ``tabindex`` to input/output areas, then re-serialises it:
    ~0.08 s per report, ten times the rest of the export and a third of a warm batch worker's time
    per store (docs/benchmarks.md, 2026-12-02). The replacement adds the output areas'
    ``tabindex`` directly and deliberately skips the rest, which a report never needs:

    - ``alt`` on ``<img>``: a report has no ``<img>`` outputs (charts are vega-embed, tables HTML);
    - ``tabindex`` on input areas: a report has none (``exclude_input``);
    - the re-serialisation itself (attribute quoting, ``<br/>``, entity forms): the page is the same
      document, so ``str(BeautifulSoup(ours, "html.parser"))`` equals the stock page
      (tests/test_compat.py checks exactly that on an executed store report).
    """
    import nbconvert
    from nbconvert import HTMLExporter

    if nbconvert.__version__ != NBCONVERT_VERSION:
        return HTMLExporter
    return _soupless_exporter()


def _soupless_exporter() -> type[HTMLExporter]:
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class ReportHTMLExporter(HTMLExporter):
        """HTMLExporter without its final BeautifulSoup pass (:func:`html_exporter_class`)."""

        # nbconvert's own override carries the same ignore: TemplateExporter's signature differs
        def from_notebook_node(  # type: ignore[override]
            self, nb: NotebookNode, resources: dict[str, Any] | None = None, **kw: Any
        ) -> tuple[str, dict[str, Any]]:
            # The filter set-up of HTMLExporter.from_notebook_node (nbconvert 7.17.2), minus the
            # soup. These nbconvert helpers have no annotations (untyped calls, strict mypy).
            langinfo = nb.metadata.get("language_info", {})
            lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
            highlight_code = self.filters.get(
                "highlight_code",
                Highlight2HTML(pygments_lexer=lexer, parent=self),  # type: ignore[no-untyped-call]
            )
            resources = self._init_resources(resources)  # type: ignore[no-untyped-call]
            filter_data_type = WidgetsDataTypeFilter(  # type: ignore[no-untyped-call]
                notebook_metadata=self._nb_metadata, parent=self, resources=resources
            )
            self.register_filter("highlight_code", highlight_code)  # type: ignore[no-untyped-call]
            self.register_filter("filter_data_type", filter_data_type)  # type: ignore[no-untyped-call]
            html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            return focusable_outputs(html), resources

    return ReportHTMLExporter
