"""The Python API: analyze / analyze_estate, Diagnosis.orders and its notebook views,
and importing the package leaves altair, polars and pandas settings alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import aftersales_kit as ak
from aftersales_kit import cli
from aftersales_kit.demo import simulate as demo
from aftersales_kit.demo.jd_formats import write_jingmai_xlsx
from aftersales_kit.render import charts
from aftersales_kit.schema import COLUMNS

END = "2026-03-31"
AS_OF = "2026-04-01 09:00:00"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> demo.DemoFiles:
    return demo.write_demo(tmp_path_factory.mktemp("api"), stores=3, orders=200, end=END)


@pytest.fixture(scope="module")
def diagnosis(files: demo.DemoFiles) -> ak.Diagnosis:
    return ak.analyze(files.exports, store="1000101", end=END, as_of=AS_OF)


def _metrics_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert cli.main(["metrics", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_import_changes_no_global_state() -> None:
    code = """
import warnings, json
warnings.simplefilter("ignore")
import altair as alt, polars as pl, pandas as pd
def state():
    return [alt.renderers.active, alt.themes.active, alt.theme.active,
            json.dumps(pl.Config.state()), repr(sorted(pd.options.display.__dict__["d"].items()))]
before = state()
import aftersales_kit, aftersales_kit.api, aftersales_kit.render.sections
import aftersales_kit.render.charts
import aftersales_kit.render.portfolio, aftersales_kit.render.report, aftersales_kit.diagnose
import aftersales_kit.deliver.mail
assert aftersales_kit.analyze is aftersales_kit.api.analyze
after = state()
assert before == after, (before, after)
print(after[0], after[1])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["default", "default"]


def test_report_charts_keep_their_theme_under_any_active_theme() -> None:
    import altair as alt

    chart = alt.Chart(pl.DataFrame({"a": [1]})).mark_bar().encode(x="a:Q")
    with alt.theme.enable("dark"):
        spec = charts.to_spec(chart)
        assert alt.theme.active == "dark"  # restored after the conversion
    assert spec["config"]["font"] == charts.FONT
    assert "report-chart" in charts.chart_html(chart)


def test_analyze_matches_metrics_json(
    files: demo.DemoFiles, diagnosis: ak.Diagnosis, capsys: pytest.CaptureFixture[str]
) -> None:
    got = _metrics_cli(
        capsys, str(files.exports), "--store", "1000101", "--end", END, "--as-of", AS_OF
    )
    k = diagnosis.kpis
    assert got["counted"] == k.counted
    assert got["mean_hours"] == pytest.approx(k.mean_hours)
    assert got["median_hours"] == pytest.approx(k.median_hours)
    assert got["p90_hours"] == pytest.approx(k.p90_hours)
    assert got["over_60h_share"] == pytest.approx(k.over_60h_share)
    assert got["excluded"] == dict(k.excluded)
    # metrics' open count is every open order applied by as_of; the frame has the same orders
    applied = pl.col("apply_time") <= pl.lit(diagnosis.as_of)
    assert got["open"]["count"] == diagnosis.orders.filter(pl.col("is_open") & applied).height


def test_analyze_on_a_jingmai_fixture_matches_metrics_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the hidden-style fixture of test_real_exports: a 京麦 two-row xlsx without a store column
    from test_real_exports import ORDERS

    path = write_jingmai_xlsx(ORDERS, tmp_path / "示例旗舰店_售后服务单_20260331.xlsx")
    argv = ["--start", "2026-03-01", "--end", "2026-03-30", "--as-of", "2026-03-31 09:00:00"]
    got = _metrics_cli(capsys, str(path), "--store", "1", "--store-id", "1", *argv)
    d = ak.analyze(
        path,
        store="1",
        store_id="1",
        start="2026-03-01",
        end="2026-03-30",
        as_of="2026-03-31 09:00:00",
    )
    assert (got["counted"], got["mean_hours"]) == (d.kpis.counted, pytest.approx(d.kpis.mean_hours))
    assert got["counted"] == 10
    assert got["p90_hours"] == pytest.approx(d.kpis.p90_hours)


def test_orders_frame_is_where_every_number_comes_from(
    files: demo.DemoFiles, diagnosis: ak.Diagnosis
) -> None:
    orders = diagnosis.orders
    store_rows = pl.read_parquet(files.parquet).filter(pl.col("store_id") == "1000101")
    assert orders.height == store_rows.height
    assert orders["service_id"].n_unique() == orders.height
    for column in (
        "scene",
        "clock_end",
        "counted",
        "excluded_reason",
        "hours",
        "stage_audit",
        "alert_total_over_60h",
        "hours_to_breach",
        "team",
        "open_at_risk",
    ):
        assert column in orders.columns
    counted = orders.filter(pl.col("counted"))
    assert counted.height == diagnosis.kpis.counted
    assert counted["hours"].mean() == pytest.approx(diagnosis.kpis.mean_hours)
    excluded = orders.filter(pl.col("excluded_reason").is_not_null())
    assert dict(excluded.group_by("excluded_reason").len().iter_rows()) == {
        k: v for k, v in diagnosis.kpis.excluded.items() if v
    }
    at_risk = orders.filter(pl.col("open_at_risk"))
    assert sorted(at_risk["service_id"]) == sorted(diagnosis.open_at_risk["service_id"])
    # personal data is masked here as everywhere a Diagnosis carries it
    phones = orders["customer_phone"].drop_nulls()
    assert phones.len() == 0 or phones.str.contains(r"\*").all()


def test_a_canonical_frame_gives_the_same_diagnosis(
    files: demo.DemoFiles, diagnosis: ak.Diagnosis
) -> None:
    # (the parquet, not the xlsx exports: a 京麦 export carries less than the canonical frame)
    from_path = ak.analyze(files.parquet, store="1000101", end=END, as_of=AS_OF)
    frame = pl.read_parquet(files.parquet)
    d = ak.analyze(frame, store="1000101", end=END, as_of=AS_OF)
    assert d.kpis == from_path.kpis
    assert d.orders.height == from_path.orders.height == diagnosis.orders.height
    with pytest.raises(Exception, match="service_id"):
        ak.analyze(frame.drop("service_id"), store="1000101", end=END, as_of=AS_OF)


def test_views_are_concise_and_styled(diagnosis: ak.Diagnosis, monkeypatch) -> None:
    text = repr(diagnosis)
    assert "\n" not in text and len(text) < 200 and "1000101" in text
    monkeypatch.delenv("AFTERSALES_REPORT", raising=False)
    first = diagnosis._repr_html_()
    assert 'class="kpi-grid"' in first and "d.orders" in first
    # every output carries its own scoped CSS (no per-kernel state): the second is the same
    assert (
        first.startswith('<div class="aftersales-view"><style>')
        and ".aftersales-view .kpi" in first
    )
    assert diagnosis._repr_html_() == first and len(first) < 40_000
    assert ak.Diagnosis.__doc__ and "orders" in ak.Diagnosis.__doc__


def test_to_excel_and_to_html(diagnosis: ak.Diagnosis, tmp_path: Path) -> None:
    xlsx = diagnosis.to_excel(tmp_path / "actions.xlsx")
    assert xlsx.stat().st_size > 0
    html = diagnosis.to_html(tmp_path / "report.html")
    page = html.read_text(encoding="utf-8")
    assert 'class="kpi-grid"' in page and "sec-trend" in page
    assert not list(tmp_path.glob("**/*.pkl"))


def test_analyze_estate(files: demo.DemoFiles) -> None:
    estate = ak.analyze_estate(files.parquet, end=END, as_of=AS_OF, lang="en")
    assert estate.portfolio["store_id"].to_list() == sorted(
        estate.portfolio["store_id"].to_list(),
        key=lambda s: -estate[s].kpis.mean_hours,
    )
    assert estate.portfolio.height == 3
    assert "Portfolio of 3 stores" in repr(estate)
    html = estate._repr_html_()
    assert 'id="pf-ranking"' in html and "pf-distribution-chart" in html
    assert "<a href" not in html  # no reports to link to in a notebook


def test_frame_input_fills_optional_columns() -> None:
    from aftersales_kit.pipeline import _frame_input

    frame = pl.DataFrame(
        {"service_id": ["1"], "apply_time": [None]}, schema_overrides={"apply_time": pl.Datetime}
    )
    with pytest.raises(Exception, match=r"store_id|status"):
        _frame_input(frame, store_id=None)
    full = pl.DataFrame(schema=COLUMNS)
    assert _frame_input(full.drop("carrier"), store_id="9").columns == list(COLUMNS)


def test_tab_completion_offers_the_api() -> None:
    import aftersales_kit as ak

    assert dir(ak) == sorted(ak.__all__)
    assert {"analyze", "analyze_estate", "compare", "Comparison", "Rules", "Diagnosis"} <= set(
        dir(ak)
    )
    assert all(hasattr(ak, name) for name in dir(ak))


def test_orders_carry_the_store_and_go_back_into_analyze(tmp_path: Path) -> None:
    from aftersales_kit import analyze
    from aftersales_kit.demo import simulate as demo

    files = demo.write_demo(tmp_path / "demo", stores=2, orders=120, end="2026-03-31")
    first = analyze(files.parquet, store="1000101", end="2026-03-31", as_of="2026-04-01 09:00")
    assert first.orders.columns[0] == "store_id"
    assert set(first.orders["store_id"]) == {"1000101"}
    canonical = first.orders.select(list(COLUMNS))
    again = analyze(canonical, store="1000101", end="2026-03-31", as_of="2026-04-01 09:00")
    assert again.kpis.counted == first.kpis.counted
    assert again.kpis.mean_hours == pytest.approx(first.kpis.mean_hours)


def test_rules_as_a_mapping_or_a_rules_object(tmp_path: Path) -> None:
    from aftersales_kit import analyze
    from aftersales_kit.demo import simulate as demo
    from aftersales_kit.errors import RulesError
    from aftersales_kit.rules import load_rules

    files = demo.write_demo(tmp_path / "demo", stores=1, orders=120, end="2026-03-31")
    kw = {"store": "1000101", "end": "2026-03-31", "as_of": "2026-04-01 09:00"}
    tight = {"thresholds": {"audit_over_24h": 1.0}}
    by_dict = analyze(files.parquet, rules=tight, **kw)
    by_object = analyze(files.parquet, rules=load_rules(tight), **kw)
    default = analyze(files.parquet, **kw)

    def audits(d: ak.Diagnosis) -> int:
        return int(d.alerts.filter(pl.col("rule") == "audit_over_24h")["count"][0])

    assert audits(by_dict) == audits(by_object) > audits(default)
    with pytest.raises(RulesError, match=r"thresholds\.audit_over_24h"):
        analyze(files.parquet, rules={"thresholds": {"audit_over_24h": -1}}, **kw)


def test_analyze_takes_its_own_orders_back_filtered_or_not(diagnosis: ak.Diagnosis) -> None:
    kw = {"store": "1000101", "end": END, "as_of": AS_OF}
    again = ak.analyze(diagnosis.orders, **kw)  # the frame as analyze() returned it
    assert again.kpis.counted == diagnosis.kpis.counted
    assert again.kpis.mean_hours == pytest.approx(diagnosis.kpis.mean_hours)
    sku = diagnosis.orders.filter(pl.col("counted"))["sku_name"][0]
    one_sku = ak.analyze(diagnosis.orders.filter(pl.col("sku_name") == sku), **kw)
    expected = diagnosis.orders.filter(pl.col("counted") & (pl.col("sku_name") == sku))["hours"]
    assert one_sku.kpis.counted == expected.len()
    assert one_sku.kpis.mean_hours == pytest.approx(expected.mean())


def test_an_empty_filter_result_says_so(diagnosis: ak.Diagnosis) -> None:
    from aftersales_kit.errors import DataError

    nothing = diagnosis.orders.filter(pl.col("sku_name") == "no such product")
    with pytest.raises(DataError, match=r"没有任何行.*no rows") as info:
        ak.analyze(nothing, store="1000101", end=END, as_of=AS_OF)
    assert "无 (none)" not in str(info.value)


def test_rules_mapping_errors_name_the_key(files: demo.DemoFiles) -> None:
    from aftersales_kit.errors import RulesError

    kw = {"store": "1000101", "end": END, "as_of": AS_OF}
    with pytest.raises(RulesError, match="no_such_rule"):
        ak.analyze(files.parquet, rules={"no_such_rule": 1}, **kw)
    with pytest.raises(RulesError, match="target_hours"):
        ak.analyze(files.parquet, rules={"target_hours": "soon"}, **kw)


def test_compare_two_windows_side_by_side(files: demo.DemoFiles, monkeypatch) -> None:
    monkeypatch.delenv("AFTERSALES_REPORT", raising=False)
    early = ak.analyze(files.parquet, store="1000101", end="2026-03-15", as_of=AS_OF)
    late = ak.analyze(files.parquet, store="1000101", end=END, as_of=AS_OF)
    c = ak.compare(early, late)
    table = c.table
    assert table.columns == ["metric", "label", "a", "b", "delta"]
    row = table.row(by_predicate=pl.col("metric") == "mean_hours", named=True)
    assert row["a"] == pytest.approx(early.kpis.mean_hours)
    assert row["b"] == pytest.approx(late.kpis.mean_hours)
    assert row["delta"] == pytest.approx(late.kpis.mean_hours - early.kpis.mean_hours)
    counted = table.row(by_predicate=pl.col("metric") == "counted", named=True)
    assert (counted["a"], counted["b"]) == (early.kpis.counted, late.kpis.counted)
    assert "stage_audit" in table["metric"].to_list()
    # one store, two windows: the sides are named by their windows
    assert c.a_label == "2026-02-14—2026-03-15" and c.b_label == "2026-03-02—2026-03-31"
    html = c._repr_html_()
    assert html.startswith('<div class="aftersales-view">') and "<table" in html
    assert html.count('<img class="report-chart__static"') == 1 and "cdn." not in html


def test_estate_diagnoses_carry_their_orders_and_compare(files: demo.DemoFiles) -> None:
    estate = ak.analyze_estate(files.parquet, end=END, as_of=AS_OF)
    first, second = estate["1000101"], estate["1000102"]
    assert first.orders.height > 0 and set(first.orders["store_id"]) == {"1000101"}
    assert first.orders.filter(pl.col("counted"))["hours"].mean() == pytest.approx(
        first.kpis.mean_hours
    )
    c = ak.compare(first, second)
    assert c.a_label == first.store_name and c.b_label == second.store_name


def test_report_chart_objects_display_offline_on_their_own(
    diagnosis: ak.Diagnosis, monkeypatch
) -> None:
    """`charts.trend_chart(...)` as a cell's last line: no CDN, a static picture, own CSS."""
    monkeypatch.delenv("AFTERSALES_REPORT", raising=False)
    chart = charts.trend_chart(diagnosis.trend_daily, line_hours=60, target_hours=48)
    bundle = chart._repr_mimebundle_()
    html = bundle["text/html"]
    assert "cdn.jsdelivr" not in html and "https://" not in html.split("<style>")[0]
    assert html.count('<img class="report-chart__static"') == 1
    assert "data:image/svg+xml;base64," in html
    composed = chart.properties(width=300)  # altair's methods keep the offline display
    assert "report-chart__static" in composed._repr_mimebundle_()["text/html"]


def test_rendering_sections_leaves_great_tables_and_sys_modules_alone(
    diagnosis: ak.Diagnosis,
) -> None:
    """No global state changes in the analyst's kernel: great-tables' functions are the same
    objects before and after a report section (and the analyst's own GT renders stock)."""
    from great_tables import GT, _gt_data, _locale, gt

    from aftersales_kit.render import sections

    def snapshot() -> list[object]:
        return [
            _locale.read_csv,
            _gt_data.Body.render_formats,
            gt._migrate_unformatted_to_output,
            sys.modules.get("rfc3987_syntax", "absent"),
        ]

    before = snapshot()
    html = str(sections.breakdown(diagnosis).html)
    assert "gt_table" in html  # the section did use great-tables
    assert snapshot() == before
    own = GT(pl.DataFrame({"x": [64.46134172797585]})).fmt_number("x", decimals=2)
    assert "64.46" in own.as_raw_html()
    assert snapshot() == before
    assert sys.modules.get("rfc3987_syntax", "absent") is not None  # not blocked after import


def test_the_report_hand_off_is_no_public_parameter(tmp_path: Path) -> None:
    from aftersales_kit.render import report

    declared = report.notebook_parameters()
    assert "cache" not in declared and report.HANDOFF_PARAM not in declared
    params = report.ReportParams()
    assert "cache" not in params.as_papermill()
    with report.private_dir("test") as private:
        pkl = private / "d.pkl"
        pkl.write_bytes(b"x")
        values = report.ReportParams(cache=str(pkl)).as_papermill()
    assert values[report.HANDOFF_PARAM] == str(pkl.resolve())
    report.check_parameters(values)  # accepted: the toolkit's own hand-off


def test_a_stores_own_target_applies_where_the_caller_gives_none(tmp_path: Path) -> None:
    # [stores."s1"] target_hours = 40: s1's excess is measured over 40 h (a 目标), s2 keeps the
    # 60 h line; an explicit target_hours wins for every store. Before, the key was accepted and
    # silently ignored.
    from factory import AS_OF, WINDOW_END, WINDOW_START, estate

    from aftersales_kit.pipeline import diagnose_data

    config = tmp_path / "aftersales.toml"
    config.write_text('[stores."s1"]\ntarget_hours = 40\n', encoding="utf-8")
    window = {"start": WINDOW_START.isoformat(), "end": WINDOW_END.isoformat(), "as_of": AS_OF}
    own = diagnose_data(estate(), stores=["s1", "s2"], config=config, **window).diagnoses
    assert (own["s1"].target_hours, own["s1"].target_given) == (40.0, True)
    assert (own["s2"].target_hours, own["s2"].target_given) == (60.0, False)
    # the peers are every store's either way
    assert own["s1"].peer_count == own["s2"].peer_count
    given = diagnose_data(
        estate(), stores=["s1", "s2"], config=config, target_hours=50, **window
    ).diagnoses
    assert {d.target_hours for d in given.values()} == {50.0}
