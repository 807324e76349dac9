"""One equivalence test per third-party patch in aftersales_kit/_compat.py: patched == stock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from factory import CHARTED_SECTIONS, charted_sections

from aftersales_kit.render import _compat

PAYLOAD = "<script>window.__pwned=1</script>"


def test_rfc3987_skip_keeps_jsonschema_validating_notebooks_and_specs() -> None:
    """With the skip, jsonschema loads without rfc3987_syntax and still validates the notebook and
    Vega-Lite schemas exactly (neither uses the ``iri`` format the module would check)."""
    code = (
        "from aftersales_kit.render._compat import skip_rfc3987_syntax\n"
        "skip_rfc3987_syntax()\n"
        "import sys, jsonschema, nbformat\n"
        "assert sys.modules['rfc3987_syntax'] is None\n"
        "assert 'iri' not in jsonschema.FormatChecker.checkers\n"
        "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1')])\n"
        "nbformat.validate(nb)\n"
        "import altair as alt\n"
        "alt.Chart(alt.Data(values=[{'a': 1}])).mark_bar().encode(x='a:Q').to_dict()\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "ok"


def test_rfc3987_skip_leaves_a_process_alone_once_jsonschema_is_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import jsonschema  # noqa: F401

    monkeypatch.delitem(sys.modules, "rfc3987_syntax", raising=False)
    _compat.skip_rfc3987_syntax()
    assert "rfc3987_syntax" not in sys.modules
    namespace: dict[str, object] = {}
    exec(_compat.RFC3987_PRELUDE, namespace)  # the kernel prelude is the same check
    assert "rfc3987_syntax" not in sys.modules


def test_great_tables_patches_only_the_version_they_were_written_for() -> None:
    import great_tables
    from great_tables import _locale, gt

    patched = great_tables.__version__ == _compat.GT_VERSION
    with _compat.great_tables_patched():
        assert getattr(_locale.read_csv, "_aftersales_once", False) is patched
        assert getattr(gt._migrate_unformatted_to_output, "_aftersales_columns", False) is patched
    # scoped: great-tables' own functions are back after the block
    assert not getattr(_locale.read_csv, "_aftersales_once", False)
    assert not getattr(gt._migrate_unformatted_to_output, "_aftersales_columns", False)


@pytest.mark.skipif(
    __import__("great_tables").__version__ != _compat.GT_VERSION, reason="stock great-tables"
)
def test_locale_read_once_returns_the_stock_rows() -> None:
    from great_tables import _locale

    stock = _locale.read_csv
    with _compat.great_tables_patched():
        for name in ("x_locales.csv", "x_currencies.csv"):
            path = _locale.DATA_MOD / name
            once = _locale.read_csv(path)
            assert once == stock(path)
            assert _locale.read_csv(path) is once  # parsed once per path


@pytest.mark.skipif(
    __import__("great_tables").__version__ != _compat.GT_VERSION, reason="stock great-tables"
)
def test_column_writes_render_exactly_like_great_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The faster great-tables cell writes give byte-identical tables (nulls, NaN, escaping,
    groups, every formatter the report uses, both languages). Moved from test_report.py."""
    from aftersales_kit.render import sections

    frame = pl.DataFrame(
        {
            "g": ["a", "a", "b", "b"],
            "k": [PAYLOAD, None, "y&z", "q"],
            "v": [1.5, None, float("nan"), 2.25],
            "n": [1, 2, None, 4],
            "p": [0.5, None, 0.25, float("nan")],
        }
    )

    def tables() -> list[str]:
        return [
            sections._gt(
                frame,
                table_id="t",
                labels={"k": "K"},
                lang=lang,
                groups="g",
                hours=["v"],
                ints=["n"],
                pct=["p"],
            )
            for lang in ("zh", "en")
        ]

    fast = tables()
    assert _compat._great_tables_patches()  # the speed-ups were in use
    monkeypatch.setattr(_compat, "_great_tables_patches", lambda: ())  # stock great-tables
    assert tables() == fast
    assert "&lt;script&gt;" in fast[0] and PAYLOAD not in fast[0]
    assert "1.5 小时" in fast[0] and "1.5 h" in fast[1]


def test_nbconvert_patch_only_on_the_release_it_was_written_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import nbconvert
    from nbconvert import HTMLExporter

    _compat.html_exporter_class.cache_clear()
    monkeypatch.setattr(nbconvert, "__version__", "7.99.0")
    try:
        assert _compat.html_exporter_class() is HTMLExporter
    finally:
        _compat.html_exporter_class.cache_clear()
    monkeypatch.setattr(nbconvert, "__version__", _compat.NBCONVERT_VERSION)
    try:
        patched = _compat.html_exporter_class()
        assert patched is not HTMLExporter and issubclass(patched, HTMLExporter)
    finally:
        _compat.html_exporter_class.cache_clear()


def test_focusable_outputs_marks_each_output_area_once() -> None:
    html = (
        '<div class="jp-OutputArea-output jp-RenderedHTML" data-mime-type="text/html">'
        '<div class="jp-OutputArea-output" tabindex="0"></div><div class="other"></div>'
    )
    assert _compat.focusable_outputs(html) == (
        '<div class="jp-OutputArea-output jp-RenderedHTML" data-mime-type="text/html"'
        ' tabindex="0"><div class="jp-OutputArea-output" tabindex="0"></div>'
        '<div class="other"></div>'
    )


@pytest.mark.slow
@pytest.mark.skipif(
    __import__("nbconvert").__version__ != _compat.NBCONVERT_VERSION, reason="stock nbconvert"
)
def test_soupless_export_is_the_stock_page_of_an_executed_report(tmp_path: Path) -> None:
    """The report exporter gives nbconvert's own page, read as a document: BeautifulSoup's
    re-serialisation of ours (what HTMLExporter does last) is byte-identical to the stock output.

    What the replacement deliberately skips is absent from a report: ``<img>`` tags without
    ``alt`` (stock adds one) and input areas (stock adds their ``tabindex``)."""
    import copy
    from datetime import date

    from bs4 import BeautifulSoup
    from nbconvert import HTMLExporter

    from aftersales_kit.demo import simulate as demo
    from aftersales_kit.render import report

    data = tmp_path / "orders.parquet"
    demo.generate(stores=2, orders=300, end=date(2026, 10, 31)).write_parquet(data)
    params = report.ReportParams(store="1000101", data=(str(data),), as_of="2026-11-01 09:00:00")
    html = report.render(params, out_dir=tmp_path / "reports")
    executed = report._read_notebook(html.with_suffix(".ipynb"))
    page, resources = report._export_input(executed, lang="zh")

    def export(exporter_class: type[HTMLExporter]) -> str:
        exporter = report._new_exporter(exporter_class, lang="zh")
        body, _ = exporter.from_notebook_node(
            copy.deepcopy(page), resources=copy.deepcopy(resources)
        )
        return body

    ours, stock = export(_compat.html_exporter_class()), export(HTMLExporter)
    assert ours != stock  # the soup pass really is skipped
    assert str(BeautifulSoup(ours, features="html.parser")) == stock
    assert ours.count('tabindex="0"') == stock.count('tabindex="0"') > 5
    # the equality covers the skipped parts too; named here for the reader
    assert "No description has been provided" not in stock and "jp-Cell-inputWrapper" not in stock


def _every_chart() -> list[object]:
    from datetime import date

    from aftersales_kit.render import charts as ch

    days = pl.date_range(date(2026, 3, 1), date(2026, 3, 30), eager=True)
    trend = pl.DataFrame(
        {"date": days, "counted": range(30), "mean_hours": [40.0 + i for i in range(30)]}
    )
    return [
        ch.trend_chart.__wrapped__(trend, line_hours=60.0, target_hours=48.0, lang="zh"),  # type: ignore[attr-defined]
        ch.trend_chart.__wrapped__(trend, line_hours=60.0, target_hours=60.0, lang="en"),  # type: ignore[attr-defined]
    ]


def test_altair_fast_copies_build_the_stock_objects_and_specs() -> None:
    """The copy patch changes no object and no spec: a layered chart copied stock and patched
    gives the same dict, and the patch is gone after the block."""
    import altair as alt
    from altair.utils import schemapi

    stock = schemapi._deep_copy
    for chart in _every_chart():
        assert isinstance(chart, alt.LayerChart)
        expected = chart.copy(deep=True).to_dict(validate=True)
        with _compat.altair_copies_fast():
            assert schemapi._deep_copy is not stock
            copied = chart.copy(deep=True)
            rebuilt = alt.LayerChart(layer=list(chart.layer)).to_dict(validate=False)
        assert schemapi._deep_copy is stock
        assert copied.to_dict(validate=True) == expected
        assert rebuilt == alt.LayerChart(layer=list(chart.layer)).to_dict(validate=False)
        assert copied is not chart and copied.layer[0] is not chart.layer[0]


def test_altair_patch_gives_the_stock_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every section with a chart, rendered with the patched copies and dict conversion and with
    altair's own code (the patch off by version), is the same HTML, in both languages."""
    render = charted_sections(stores=4, orders=400)

    fast = render()
    monkeypatch.setattr(_compat, "ALTAIR_VERSION", "0.0.0")
    assert render() == fast
    assert sum(s.count('class="report-chart"') for s in fast) >= len(CHARTED_SECTIONS) * 4 * 2


def test_altair_patch_only_on_the_release_it_was_written_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import altair
    from altair.utils import schemapi

    stock = schemapi._deep_copy, schemapi._todict
    monkeypatch.setattr(altair, "__version__", "0.0.0")
    with _compat.altair_copies_fast():
        assert (schemapi._deep_copy, schemapi._todict) == stock


def test_outputs_left_to_the_notebook_validation() -> None:
    """Inside the block an output is not validated on its own; the notebook holding it still is
    (papermill's write and nbconvert's export), and outside the block nbformat is stock."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    def bad() -> object:
        return new_output("display_data", data={"text/plain": 3})  # mimedata must be text

    with pytest.raises(nbformat.ValidationError):
        bad()
    with _compat.outputs_validated_with_the_notebook():
        output = bad()
        good = new_output("stream", text="ok")
        cell = new_code_cell("x")  # other nodes are validated as before
    assert good.text == "ok" and cell.source == "x"
    nb = new_notebook(cells=[new_code_cell("x")])
    nb.cells[0].outputs.append(output)  # as nbclient adds it
    with pytest.raises(nbformat.ValidationError):
        nbformat.validate(nb)
    with pytest.raises(nbformat.ValidationError):
        bad()


def test_nbformat_patch_only_on_the_release_it_was_written_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import nbformat
    from nbformat.v4 import nbbase

    stock = nbbase.validate
    monkeypatch.setattr(nbformat, "__version__", "0.0.0")
    with _compat.outputs_validated_with_the_notebook():
        assert nbbase.validate is stock


def test_layers_without_parameters_skip_the_lifting_and_give_the_stock_dicts() -> None:
    """Inside the block a layered chart without parameters skips altair's parameter lifting and
    converts to the stock dict; one with a selection, or a named layer, still takes altair's
    own lifting (the parameter ends up at the top, exactly as stock)."""
    import altair as alt

    frame = pl.DataFrame({"a": [1, 2, 3], "b": [3, 1, 2]})
    base = alt.Chart(frame).mark_line().encode(x="a:Q", y="b:Q")
    points = base.mark_point()
    picked = base.mark_point().add_params(alt.selection_point(name="pick"))
    named = alt.LayerChart(layer=[base.properties(name="n1"), points])

    def build() -> list[alt.LayerChart]:
        return [
            alt.LayerChart(layer=[base, points]),
            alt.LayerChart(layer=[alt.LayerChart(layer=[base, points]), base]).resolve_scale(
                y="independent"
            ),
            alt.LayerChart(layer=[base, picked]),
            alt.LayerChart(layer=[named, base]),
        ]

    stock = [c.to_dict(validate=True) for c in build()]
    with _compat.altair_copies_fast():
        fast = build()
        converted = [c.to_dict(validate=True) for c in fast]
    assert converted == stock
    assert stock[2]["params"][0]["name"] == "pick"
    assert base.to_dict(validate=True) == alt.Chart(frame).mark_line().encode(
        x="a:Q", y="b:Q"
    ).to_dict(validate=True)  # the shared layer was not changed by the conversions
