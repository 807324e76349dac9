"""Chart builders, the theme and the offline renderer."""

from __future__ import annotations

import json
import re
from datetime import date

import altair as alt
import polars as pl
from factory import CHARTED_SECTIONS, charted_sections

from aftersales_kit.render import charts


def _data(chart: alt.TopLevelMixin) -> list[list[dict]]:
    spec = chart.to_dict()  # validates against the Vega-Lite schema
    return list(spec.get("datasets", {}).values())


def test_import_enables_no_theme_or_renderer() -> None:
    # issue 12: the analyst's altair settings stay theirs; the report applies its theme itself
    assert alt.theme.active == "default"
    assert alt.renderers.active == "default"
    config = charts.aftersales_theme()["config"]
    assert "Noto Sans CJK SC" in config["font"] and "Microsoft YaHei" in config["font"]
    chart = alt.Chart(pl.DataFrame({"a": [1]})).mark_bar().encode(x="a:Q")
    assert charts.to_spec(chart)["config"]["font"] == config["font"]


def test_chart_html_emits_escaped_customer_text() -> None:
    frame = pl.DataFrame({"name": ["</script><script>window.__pwned=1</script>"], "n": [1]})
    html = charts.chart_html(alt.Chart(frame).mark_bar().encode(x="n:Q", y="name:N"))
    assert html.startswith('<div class="report-chart" id="chart-')
    assert html.count("</script>") == 1 and html.endswith("</script>")
    assert "<script>window.__pwned" not in html
    assert "\\u003c/script\\u003e\\u003cscript\\u003ewindow.__pwned=1" in html


def test_spec_html_round_trips_the_spec() -> None:
    spec = {"mark": "bar", "data": {"values": [{"a": "<b>&</b>"}]}}
    html = charts.spec_html(spec, chart_id="chart-x", lang="en")
    payload = re.search(r"vegaEmbed\(el,(.*?),(\{\"renderer.*?\})\)", html)
    assert payload is not None
    assert json.loads(payload.group(1)) == spec  # \u003c escapes are valid JSON
    assert json.loads(payload.group(2)) == {"renderer": "svg", "actions": False}
    zh = charts.spec_html(spec, chart_id="chart-x", lang="zh")
    assert '"formatLocale"' in zh and '"timeFormatLocale"' in zh


def test_trend_chart_rounds_and_draws_the_lines() -> None:
    daily = pl.DataFrame(
        {
            "date": [date(2026, 10, 1), date(2026, 10, 2)],
            "counted": [3, 5],
            "mean_hours": [61.26, 40.04],
            "median_hours": [60.0, 40.0],
            "over_60h": [2, 0],
        }
    )
    chart = charts.trend_chart(daily, line_hours=60.0, target_hours=48.0, lang="zh")
    data = _data(chart)
    assert [
        {"date": "2026-10-01", "counted": 3, "mean_hours": 61.3},
        {"date": "2026-10-02", "counted": 5, "mean_hours": 40.0},
    ] in data
    assert [
        {"hours": 60.0, "label": "提示线60小时"},
        {"hours": 48.0, "label": "目标48小时"},
    ] in data
    same = charts.trend_chart(daily, line_hours=60.0, target_hours=60.0, lang="en")
    assert [{"hours": 60.0, "label": "Warning line 60 h"}] in _data(same)


def test_stage_by_scene_chart_labels_and_orders_stages() -> None:
    frame = pl.DataFrame(
        {
            "scene": ["退货", "退货", "取消"],
            "stage": ["audit", "transit", "audit"],
            "hours": [10.04, 30.55, 2.0],
            "count": [5, 5, 2],
        }
    )
    rows = _data(charts.stage_by_scene_chart(frame, lang="en"))[0]
    assert [(r["scene_label"], r["stage_label"], r["hours"], r["stage_order"]) for r in rows] == [
        ("Return", "Audit", 10.0, 0),
        ("Return", "Reverse logistics", 30.6, 2),
        ("Cancelled", "Audit", 2.0, 0),
    ]


def test_scene_alerts_heatmap_and_what_if_charts() -> None:
    scene = pl.DataFrame(
        {"key": ["退货", "换货"], "count": [8, 2], "share": [0.8, 0.2], "mean_hours": [70.26, 30.0]}
    )
    assert _data(charts.scene_mix_chart(scene))[0] == [
        {"scene": "退货", "count": 8, "share": 0.8, "mean_hours": 70.3},
        {"scene": "换货", "count": 2, "share": 0.2, "mean_hours": 30.0},
    ]
    alerts = pl.DataFrame(
        {"rule": ["audit_over_24h"], "threshold_hours": [24.0], "count": [4], "share": [0.4]}
    )
    assert _data(charts.alerts_chart(alerts))[0] == [
        {
            "order": 0,
            "rule_label": "审核超24小时",
            "count": 4,
            "share": 0.4,
            "threshold_hours": 24.0,
        }
    ]
    heat = pl.DataFrame(
        {
            "weekday": [1, 7],
            "hour": [9, 21],
            "applications": [5, 1],
            "median_audit_hours": [3.04, None],
        }
    )
    assert _data(charts.heatmap_chart(heat))[0] == [
        {"weekday": "周一", "hour": 9, "applications": 5, "median_audit_hours": 3.0},
        {"weekday": "周日", "hour": 21, "applications": 1, "median_audit_hours": None},
    ]
    what_if = pl.DataFrame(
        {
            "scenario": ["actual", "stage_meets_target", "without_longest"],
            "stage": [None, "audit", None],
            "n": [None, None, 10],
            "mean_hours": [60.64, 51.73, 48.4],
            "delta_hours": [0.0, -8.91, -12.24],
        }
    )
    rows = next(d for d in _data(charts.what_if_chart(what_if, target_hours=60.0)) if len(d) == 3)
    assert [(r["scenario"], r["mean_hours"], r["delta_hours"]) for r in rows] == [
        ("当前实际", 60.6, 0.0),
        ("审核达标", 51.7, -8.9),
        ("去掉最长的10单", 48.4, -12.2),
    ]


def test_what_if_label() -> None:
    assert charts.what_if_label("stage_meets_target", stage="inbound", n=None, lang="en") == (
        "Sign → inspection & inbound meets its target"
    )
    assert charts.what_if_label("all_stages_meet_target", stage=None, n=None) == "所有环节达标"


def test_every_report_chart_validates_against_the_vega_lite_schema(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The builders skip altair's validation of each object as it is made (speed); every chart
    the sections draw is validated whole here instead, and validating changes no page."""
    import functools

    from altair.utils import schemapi

    render = charted_sections(stores=3, orders=300)
    fast = render()
    validated: list[object] = []
    real = charts.to_spec

    def to_spec(chart: alt.TopLevelMixin, **_: object) -> dict[str, object]:
        validated.append(chart)
        assert schemapi.DEBUG_MODE  # the skip ends with the builder
        return real(chart, validate=True)  # raises on a spec the schema refuses

    monkeypatch.setattr(charts, "to_spec", functools.wraps(real)(to_spec))
    assert render() == fast
    assert len(validated) >= len(CHARTED_SECTIONS) * 3 * 2
