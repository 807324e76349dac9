"""The store report: parameters, paths, the real notebook run by papermill, the exported HTML."""

from __future__ import annotations

import ast
import json
import os
import re
from datetime import date
from pathlib import Path

import nbformat
import polars as pl
import pytest

from aftersales_kit import resources
from aftersales_kit.demo import simulate as demo
from aftersales_kit.errors import ReportError, UsageError
from aftersales_kit.render import report
from aftersales_kit.render.report import ReportParams, report_path
from aftersales_kit.window import Window

pytestmark = pytest.mark.slow

PAYLOAD = "<script>window.__pwned=1</script>"
AS_OF = "2026-11-01 09:00:00"
WINDOW = Window(start=date(2026, 10, 2), end=date(2026, 10, 31))  # JD default for AS_OF


def small_data(path: Path) -> Path:
    """Two demo stores, a few hundred orders, with a script payload in product names and reasons."""
    frame = demo.generate(stores=2, orders=300, end=date(2026, 10, 31))
    every_third = pl.int_range(pl.len()) % 3 == 0
    frame = frame.with_columns(
        pl.when(every_third).then(pl.lit(PAYLOAD)).otherwise(pl.col("sku_name")).alias("sku_name"),
        pl.when(every_third).then(pl.lit(PAYLOAD)).otherwise(pl.col("reason")).alias("reason"),
    )
    frame.write_parquet(path)
    return path


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_data(tmp_path_factory.mktemp("data") / "orders.parquet")


@pytest.fixture(scope="module")
def rendered_zh(data_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reports")
    return report.render(
        ReportParams(store="1000101", data=(str(data_file),), as_of=AS_OF), out_dir=out
    )


def test_render_leaves_the_callers_environment_unchanged(data_file: Path, tmp_path: Path) -> None:
    """Issue 13: the kernel gets AFTERSALES_REPORT explicitly; os.environ is never mutated."""
    before = dict(os.environ)
    path = report.render(
        ReportParams(store="1000101", data=(str(data_file),), as_of=AS_OF), out_dir=tmp_path
    )
    assert path.exists()
    assert dict(os.environ) == before
    assert report.report_env() == {report.ENV_FLAG: "1"}


# --- parameters and paths (no kernel) -------------------------------------------------------------


def test_params_match_the_notebook_parameters_cell() -> None:
    declared = report.notebook_parameters()
    params = ReportParams()
    assert list(declared) == list(params.as_papermill())
    defaults = {k: ast.literal_eval(v["default"]) for k, v in declared.items()}
    assert defaults == params.as_papermill()


def test_as_papermill_gives_plain_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths become absolute: the kernel may run elsewhere
    params = ReportParams(store="1000102", data=["a.xlsx", Path("b.csv")], star=3, lang="en")
    values = params.as_papermill()
    assert values["data"] == [str(tmp_path / "a.xlsx"), str(tmp_path / "b.csv")]
    assert values["star"] == 3.0 and isinstance(values["star"], float)
    assert values["lang"] == "en"
    assert params.data == (str(tmp_path / "a.xlsx"), str(tmp_path / "b.csv"))


def test_unknown_language_is_refused() -> None:
    with pytest.raises(UsageError, match="'fr'"):
        ReportParams(lang="fr")


def test_unknown_parameter_is_an_error_before_any_kernel(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="bogus"):
        report.execute({"store": "1000101", "bogus": 1}, output=tmp_path / "out.ipynb")
    assert not (tmp_path / "out.ipynb").exists()


def test_report_path() -> None:
    path = report_path(Path("reports"), store="1000101", window=WINDOW)
    assert path == Path("reports/1000101/2026-10-02_2026-10-31.html")
    assert report_path("r", store="旗舰店_1.a-b", window=WINDOW).parent.name == "旗舰店_1.a-b"


@pytest.mark.parametrize(
    "store", ["../etc", "a/b", "..", ".", "", "x\x00y", "a\\b", ".hidden", "a b"]
)
def test_unsafe_store_id_is_refused(store: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unsafe store id"):
        report_path(tmp_path, store=store, window=WINDOW)
    with pytest.raises(UsageError, match="unsafe store id"):
        report.render(ReportParams(store=store, as_of=AS_OF), out_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_notebook_is_stored_without_outputs() -> None:
    nb = nbformat.read(report.NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the notebook has code cells"
    for cell in code:
        assert cell.outputs == [], cell.source
        assert cell.execution_count is None, cell.source
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert nb.metadata.kernelspec.name == "python3"


# --- the real notebook ----------------------------------------------------------------------------


def _visible_text(html: str) -> str:
    body = html.split("<body", 1)[1]
    body = re.sub(r"<script\b.*?</script>", "", body, flags=re.S)
    body = re.sub(r"<style\b.*?</style>", "", body, flags=re.S)
    return re.sub(r"<[^>]+>", " ", body)


def assert_self_contained(html: str) -> None:
    lowered = html.lower()
    for needle in (
        'src="http',
        "src='http",
        'href="http',
        "href='http",
        "@import",
        "cdn",
        "url(http",
    ):
        assert needle not in lowered, needle
    assert "<VegaLite" not in html and "&lt;VegaLite" not in html
    # no code cells: the lab CSS mentions these classes, the markup must not
    assert 'class="jp-InputArea' not in html
    assert 'class="jp-InputPrompt' not in html
    assert "sections.kpi_cards" not in html
    assert html.count(resources.vega_bundle()[:300]) == 1  # the vega bundle, inlined once
    assert len(re.findall(r"<script>\(function\(\)\{var el=", html)) >= 6  # six or more charts


def test_render_zh_writes_report_and_notebook(rendered_zh: Path) -> None:
    assert rendered_zh.name == "2026-10-02_2026-10-31.html"
    assert rendered_zh.parent.name == "1000101"
    nb_path = rendered_zh.with_suffix(".ipynb")
    assert nb_path.exists()
    assert sorted(p.name for p in rendered_zh.parent.iterdir()) == sorted(
        [rendered_zh.name, nb_path.name]
    )
    html = rendered_zh.read_text(encoding="utf-8")
    assert_self_contained(html)
    assert len(html.encode()) <= 1_500_000
    assert html.count('"$schema":"https://vega.github.io/schema/vega-lite') == len(
        re.findall(r'class="report-chart"', html)
    )
    text = _visible_text(html)
    for heading in (
        "核心指标",
        "趋势",
        "环节拆解与短板",
        "历史服务单预警（时长TOP100）",
        "改进建议",
        "口径与方法",
        "数据质量",
    ):
        assert heading in text
    assert "1000101" in text and "2026-10-02 — 2026-10-31" in text
    assert re.search(r"\d+\.\d 小时", text)  # hours with one decimal
    assert 'lang="zh"' in html
    # The notebook's heading line (text/html for Lab) is not on the page: the header shows it.
    executed = json.loads(nb_path.read_text(encoding="utf-8"))
    assert any(
        "aftersales-meta" in "".join(o.get("data", {}).get("text/html", ""))
        for cell in executed["cells"]
        for o in cell.get("outputs", [])
    )
    assert "aftersales-meta" not in html


def test_payload_is_escaped_everywhere(rendered_zh: Path) -> None:
    html = rendered_zh.read_text(encoding="utf-8")
    assert PAYLOAD not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html  # shown as text in tables
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    assert not any("window.__pwned=1" in s and "\\u003cscript" not in s for s in scripts[1:])


def test_personal_data_is_masked(rendered_zh: Path) -> None:
    text = _visible_text(rendered_zh.read_text(encoding="utf-8"))
    # a whole 11-digit phone, not 11 digits inside a longer waybill number (运单号 are shown)
    phones = re.findall(r"(?<!\d)1[3-9]\d[\d*]{4}\d{4}(?!\d)", text)
    assert phones and all("****" in p for p in phones)


def test_render_en_and_header(data_file: Path, tmp_path: Path) -> None:
    path = report.render(
        ReportParams(
            store="1000102",
            data=(str(data_file),),
            as_of=AS_OF,
            lang="en",
            star=3.4,
            aftersales_rank=0.1,
            dispute_rank=0.15,
        ),
        out_dir=tmp_path,
    )
    html = path.read_text(encoding="utf-8")
    assert_self_contained(html)
    text = _visible_text(html)
    for heading in (
        "Key figures",
        "Trend",
        "Stages and bottleneck (短板)",
        "Suggestions",
        "Methodology",
    ):
        assert heading in text
    assert "核心指标" not in text
    assert "aftersales-kit" in text and "1000102" in text
    assert re.search(r"\d+\.\d h\b", text)
    assert "3.4" in text  # the observed star is shown in the risk line
    assert 'lang="en"' in html


def test_window_without_counted_orders_says_so(data_file: Path, tmp_path: Path) -> None:
    path = report.render(
        ReportParams(
            store="1000101",
            data=(str(data_file),),
            as_of=AS_OF,
            start="2020-01-01",
            end="2020-01-30",
        ),
        out_dir=tmp_path,
    )
    assert path.name == "2020-01-01_2020-01-30.html"
    html = path.read_text(encoding="utf-8")
    text = _visible_text(html)
    assert "本考核周期内没有计入考核的服务单" in text
    assert text.count("本考核周期暂无数据。") >= 4
    assert 'class="jp-RenderedText' not in html  # no traceback or error output


def test_failing_run_keeps_notebook_and_names_the_cell(data_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"sections\.prepare|UnknownStoreError") as info:
        report.render(
            ReportParams(store="9999999", data=(str(data_file),), as_of=AS_OF), out_dir=tmp_path
        )
    kept = tmp_path / "9999999" / "2026-10-02_2026-10-31.ipynb"
    assert str(kept) in str(info.value)
    assert kept.exists()
    assert not kept.with_suffix(".html").exists()
    nb = nbformat.read(kept, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors and errors[0]["ename"] == "UnknownStoreError"
    assert [p.name for p in kept.parent.iterdir()] == [kept.name]  # no temp files left


def test_command_report_prints_the_path(
    data_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from aftersales_kit.cli import main

    out = tmp_path / "out"
    code = main(
        [
            "report",
            str(data_file),
            "--store",
            "1000102",
            "--as-of",
            AS_OF,
            "--out",
            str(out),
            "--lang",
            "en",
            "--target-hours",
            "48",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out.strip()
    assert printed == str(out / "1000102" / "2026-10-02_2026-10-31.html")
    assert Path(printed).exists()
    nb = nbformat.read(Path(printed).with_suffix(".ipynb"), as_version=4)
    params = nb.metadata.papermill.parameters
    assert params["target_hours"] == 48.0 and params["lang"] == "en"
    assert params["data"] == [str(data_file.resolve())]


def test_command_report_refuses_unsafe_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from aftersales_kit.cli import main

    assert main(["report", "--store", "../x", "--out", str(tmp_path)]) == 2
    assert "unsafe store id" in capsys.readouterr().err


def test_report_of_a_100k_order_store_stays_under_budget(tmp_path: Path) -> None:
    data = tmp_path / "big.parquet"
    demo.generate(stores=1, orders=100_000, end=date(2026, 10, 31)).write_parquet(data)
    path = report.render(
        ReportParams(store="1000101", data=(str(data),), as_of=AS_OF), out_dir=tmp_path / "r"
    )
    html = path.read_text(encoding="utf-8")
    assert len(html.encode()) <= 1_500_000
    # charts carry aggregates only: no chart has more than one row per weekday × hour
    datasets = re.findall(r'"datasets":\{"data-[0-9a-f]+":(\[.*?\])', html)
    assert datasets and max(len(json.loads(d.replace("\\u003c", "<"))) for d in datasets) <= 168
    assert html.count("<tr") < 400  # TOP100, 30 open orders and short breakdowns only


def test_render_from_a_cached_diagnosis(data_file: Path, tmp_path: Path) -> None:
    from aftersales_kit.render import sections

    diagnosis, _ = sections.prepare(store="1000102", data=[str(data_file)], as_of=AS_OF)
    with report.private_dir("test") as private:
        cache = report.handoff(diagnosis, path=private / "1000102.pkl")
        path = report.render(
            ReportParams(
                store="1000102", data=("/nonexistent.parquet",), as_of=AS_OF, cache=str(cache)
            ),
            out_dir=tmp_path / "r",
        )
    assert path == tmp_path / "r" / "1000102" / "2026-10-02_2026-10-31.html"
    text = _visible_text(path.read_text(encoding="utf-8"))
    assert f"计入{diagnosis.kpis.counted}单" in text


def test_export_drops_the_interactive_bundle_and_the_meta_output() -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={report.META_MIME: {"title": "T", "store_name": "S", "window": "W"}},
        ),
        nbformat.v4.new_output(
            "display_data",
            data={"text/html": "<script>BUNDLE</script>"},
            metadata={report.BUNDLE_TAG: True},
        ),
        nbformat.v4.new_output("display_data", data={"text/html": "<p>kept</p>"}),
    ]
    nb.cells.append(cell)
    html = report.export_html(nb)
    assert "BUNDLE" not in html and "<p>kept</p>" in html
    assert "<title>T · S · W</title>" in html
    assert cell.outputs[0]["data"] != {}  # the caller's notebook is not modified


def test_order_lists_are_plain_escaped_tables() -> None:
    from aftersales_kit.render import sections

    view = pl.DataFrame(
        {"rank": [1, 2], "sku_name": [PAYLOAD, None], "hours": [281.66, 60.04]},
        schema={"rank": pl.Int64, "sku_name": pl.String, "hours": pl.Float64},
    )
    html = sections._frame_table(
        view,
        labels={"rank": "#", "sku_name": "商品名称", "hours": "时长"},
        lang="zh",
        hours=["hours"],
    )
    assert '<table class="report-table compact">' in html
    assert '<th class="num">#</th><th>商品名称</th><th class="num">时长</th>' in html
    assert (
        '<tr><td class="num">1</td><td>&lt;script&gt;window.__pwned=1&lt;/script&gt;</td>'
        '<td class="num">281.7 小时</td></tr>'
    ) in html
    assert '<tr><td class="num">2</td><td>—</td><td class="num">60.0 小时</td></tr>' in html
    assert PAYLOAD not in html
