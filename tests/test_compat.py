"""One equivalence test per third-party patch in aftersales_kit/_compat.py: patched == stock."""

from __future__ import annotations

import subprocess
import sys

import polars as pl
import pytest

from aftersales_kit import _compat

PAYLOAD = "<script>window.__pwned=1</script>"


def test_rfc3987_skip_keeps_jsonschema_validating_notebooks_and_specs() -> None:
    """With the skip, jsonschema loads without rfc3987_syntax and still validates the notebook and
    Vega-Lite schemas exactly (neither uses the ``iri`` format the module would check)."""
    code = (
        "from aftersales_kit._compat import skip_rfc3987_syntax\n"
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

    _compat.great_tables_gt()
    from great_tables import _locale, gt

    patched = great_tables.__version__ == _compat.GT_VERSION
    assert getattr(_locale.read_csv, "_aftersales_once", False) is patched
    assert getattr(gt._migrate_unformatted_to_output, "_aftersales_columns", False) is patched


@pytest.mark.skipif(
    __import__("great_tables").__version__ != _compat.GT_VERSION, reason="stock great-tables"
)
def test_locale_read_once_returns_the_stock_rows() -> None:
    from great_tables import _locale

    _compat.great_tables_gt()
    for name in ("x_locales.csv", "x_currencies.csv"):
        path = _locale.DATA_MOD / name
        once = _locale.read_csv(path)
        assert once == _locale.read_csv.stock(path)  # type: ignore[attr-defined]
        assert _locale.read_csv(path) is once  # parsed once per path


@pytest.mark.skipif(
    __import__("great_tables").__version__ != _compat.GT_VERSION, reason="stock great-tables"
)
def test_column_writes_render_exactly_like_great_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The faster great-tables cell writes give byte-identical tables (nulls, NaN, escaping,
    groups, every formatter the report uses, both languages). Moved from test_report.py."""
    from great_tables import gt
    from great_tables._gt_data import Body

    from aftersales_kit import sections

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
    assert getattr(gt._migrate_unformatted_to_output, "_aftersales_columns", False)
    monkeypatch.setattr(
        gt, "_migrate_unformatted_to_output", gt._migrate_unformatted_to_output.stock
    )
    monkeypatch.setattr(Body, "render_formats", Body.render_formats.stock)
    assert tables() == fast
    assert "&lt;script&gt;" in fast[0] and PAYLOAD not in fast[0]
    assert "1.5 小时" in fast[0] and "1.5 h" in fast[1]
