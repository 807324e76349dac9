"""The altair theme, the offline HTML markup and the report's chart builders.

Importing this module changes no global altair state (the active renderer and theme stay the
analyst's): the report's charts are rendered explicitly by :func:`chart_html`, which applies the
``aftersales`` theme for that one conversion and emits ``<div class="report-chart">`` plus a
``vegaEmbed(...)`` call on the global that the report template inlines once
(``vl_convert.javascript_bundle()``), so the HTML needs no network. Outside a report run (a live
notebook, VS Code, nbviewer) every output is self-contained (:func:`notebook_view`): it carries the
scoped report CSS and each chart as a static SVG picture, upgraded to the interactive chart only
where ``vegaEmbed`` is on the page; nothing is sent "once per kernel".

Chart builders take an already aggregated frame from a ``Diagnosis`` (never raw orders) and return
an altair chart that displays offline on its own; they never display or save it.
:func:`offline` displays any chart (the analyst's own too) the same way.

>>> import polars as pl
>>> chart = heatmap_chart(pl.DataFrame({"weekday": [1], "hour": [9], "applications": [3],
...     "median_audit_hours": [2.5]}))
>>> isinstance(chart, alt.Chart), to_spec(chart)["title"]
(True, '申请量：星期 × 小时')
"""

from __future__ import annotations

import base64
import functools
import html as html_lib
import itertools
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from aftersales_kit.render._compat import altair_copies_fast, rfc3987_syntax_skipped

# jsonschema (imported by altair) compiles the rfc3987_syntax grammar at import, about 1.4 s of a
# 4 s report budget, only to validate IRI formats that Vega-Lite specs never use; the block is
# lifted after the import, so nothing stays changed in the analyst's kernel.
with rfc3987_syntax_skipped():
    import altair as alt
import polars as pl
from altair.utils import schemapi
from altair.utils.plugin_registry import NoSuchEntryPoint

from aftersales_kit import format as fmt
from aftersales_kit.host import REPORT_ENV
from aftersales_kit.text import label, t

_P = ParamSpec("_P")
_R = TypeVar("_R")
_C = TypeVar("_C", bound=schemapi.SchemaBase)

FONT = '"PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", "Source Han Sans SC", sans-serif'
#: Brand palette: deep blue for "ours", orange for attention, red for the JD warning line.
BLUE, ORANGE, RED, GREEN, GREY = "#1f4e79", "#d9822b", "#c0392b", "#2e8540", "#b8c4d0"
STAGE_COLORS = ("#1f4e79", "#4f81bd", "#9dc3e6", "#d9822b", "#f4b183")
WIDTH = 720
#: vega-embed options; svg draws crisp in print and keeps chart text in the DOM (browser tests).
EMBED_OPTIONS: dict[str, object] = {"renderer": "svg", "actions": False}


def aftersales_theme() -> alt.theme.ThemeConfig:
    """One look for every chart: CJK font stack, quiet axes, the brand palette."""
    return {
        "config": {
            "font": FONT,
            "background": "transparent",
            "view": {"stroke": None},
            "axis": {
                "labelFontSize": 12,
                "titleFontSize": 12,
                "titleFontWeight": "normal",
                "titleColor": "#5b6b7b",
                "labelColor": "#3d4b59",
                "gridColor": "#e8edf2",
                "domainColor": "#c9d3dd",
                "tickColor": "#c9d3dd",
            },
            "legend": {"labelFontSize": 12, "titleFontSize": 12, "orient": "top"},
            "title": {"fontSize": 15, "anchor": "start", "color": "#1b2a38", "fontWeight": 600},
            "range": {"category": [BLUE, ORANGE, "#548235", "#7f6000", "#8e44ad", "#16a085"]},
            "bar": {"color": BLUE},
            "line": {"color": BLUE, "strokeWidth": 2},
        },
        "width": WIDTH,
        "height": 260,
    }


# --- offline renderer ---------------------------------------------------------------------------

_ids = itertools.count(1)


@functools.cache
def _locale_options(lang: str) -> dict[str, object]:
    if lang != "zh":
        return {}
    import vl_convert

    return {
        "formatLocale": vl_convert.get_format_locale("zh-CN"),
        "timeFormatLocale": vl_convert.get_time_format_locale("zh-CN"),
    }


def _script_json(value: object) -> str:
    """JSON safe inside ``<script>``: every ``<``, ``>`` and ``&`` becomes a JS unicode escape.

    This is stricter than escaping ``</``: customer text can then neither close the script element
    nor open an HTML comment (``<!--``) that changes how the parser finds its end.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def spec_html(
    spec: Mapping[str, object], *, chart_id: str, lang: str = "zh", static: str | None = None
) -> str:
    """The report's chart markup for a Vega-Lite spec: a div and one ``vegaEmbed`` call.

    With ``static`` (the chart as SVG) the div holds that picture and the script only replaces it
    with the interactive chart where ``vegaEmbed`` is on the page: the chart draws in any page,
    trusted or not, with or without the chart library.
    """
    options = {**EMBED_OPTIONS, **_locale_options(lang)}
    safe_id = fmt.escape(chart_id)
    if static is None:
        inner = ""
        guard = (
            'if(typeof vegaEmbed!=="function")'
            '{el.textContent="(chart needs the report page)";return;}'
        )
        drawn = ""
    else:
        data = base64.b64encode(static.encode("utf-8")).decode("ascii")
        alt_text = fmt.escape(_title_text(spec))
        inner = (
            f'<img class="report-chart__static" alt="{alt_text}" '
            f'src="data:image/svg+xml;base64,{data}">'
        )
        guard = 'if(!el||typeof vegaEmbed!=="function")return;'
        drawn = (
            '.then(function(){var i=el.querySelector("img.report-chart__static");if(i)i.remove();})'
        )
    return (
        f'<div class="report-chart" id="{safe_id}">{inner}</div>'
        "<script>(function(){"
        f'var el=document.getElementById("{safe_id}");'
        f"{guard}"
        f"vegaEmbed(el,{_script_json(spec)},{_script_json(options)})"
        f"{drawn}"
        '.catch(function(e){var p=document.createElement("pre");p.className="vega-error";'
        "p.textContent=String(e);el.appendChild(p);console.error(e);});"
        "})();</script>"
    )


def _title_text(spec: Mapping[str, object]) -> str:
    title = spec.get("title", "")
    if isinstance(title, Mapping):
        title = title.get("text", "")
    return str(title or "chart")


def static_svg(spec: Mapping[str, object], *, lang: str = "zh") -> str:
    """The chart as SVG (vl-convert, no browser, no network): the static picture of a chart."""
    import vl_convert

    zh = lang == "zh"
    return vl_convert.vegalite_to_svg(
        dict(spec),
        format_locale="zh-CN" if zh else None,
        time_format_locale="zh-CN" if zh else None,
    )


THEME = "aftersales"


def _fast_copies(build: Callable[_P, _R]) -> Callable[_P, _R]:
    """``build`` with altair's chart copies sped up while it runs (``altair_copies_fast``: the
    same objects; the analyst's own charts outside it copy as altair does), and without
    altair's jsonschema validation of every schema object as it is made (``debug_mode(False)``):
    the report's charts are fixed code, each validated whole against the Vega-Lite schema by the
    tests (``tests/test_charts.py``)."""

    @functools.wraps(build)
    def wrapped(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with altair_copies_fast(), schemapi.debug_mode(False):
            return build(*args, **kwargs)

    return wrapped


def _with(chart: _C, **properties: object) -> _C:
    """``chart.properties(...)`` without its per-property schema validation (see
    :func:`_fast_copies`): a shallow copy with the properties set, as altair's own does."""
    copy = chart.copy(deep=False)
    for name, value in properties.items():
        setattr(copy, name, value)
    return copy


def _register_theme() -> None:
    """Add the theme to altair's registry (not enabled): an analyst may opt in with
    ``alt.theme.enable("aftersales")``; the report applies it per conversion in :func:`to_spec`."""
    alt.theme.register(THEME, enable=False)(aftersales_theme)


@_fast_copies
def to_spec(chart: alt.TopLevelMixin, *, validate: bool = False) -> dict[str, Any]:
    """The chart's Vega-Lite dict with the ``aftersales`` theme, whatever theme is active.

    The theme is switched on only for this conversion (altair merges the active theme in
    ``to_dict``) and the previous one restored, so the analyst's own charts keep theirs.
    """
    try:
        enabled = alt.theme.enable(THEME)
    except NoSuchEntryPoint:
        # Leaving an ``alt.theme.enable(...)`` block restores the registry as it was when the
        # block began, which may predate the registration. Asking ``alt.theme.names()`` first
        # instead read every installed package's entry points on each chart (~15% of a batch).
        _register_theme()
        enabled = alt.theme.enable(THEME)
    with enabled:
        return chart.to_dict(validate=validate)


def chart_html(chart: alt.TopLevelMixin, *, chart_id: str | None = None, lang: str = "zh") -> str:
    """Render an altair chart to the report's offline markup (see :func:`spec_html`); a notebook
    view adds each chart's static picture (:func:`with_static_charts`)."""
    return spec_html(to_spec(chart), chart_id=chart_id or f"chart-{next(_ids)}", lang=lang)


_CHART_MARKUP = re.compile(
    r'<div class="report-chart" id="([^"<>]*)"></div><script>\(function\(\)\{'
)
_EMBED_CALL = "vegaEmbed(el,"


def with_static_charts(html: str) -> str:
    """``html`` with each chart of :func:`spec_html` carrying its static SVG picture: the
    report markup as a notebook view needs it (no template, perhaps no scripts at all)."""
    out: list[str] = []
    pos = 0
    decoder = json.JSONDecoder()
    for match in _CHART_MARKUP.finditer(html):
        call = html.find(_EMBED_CALL, match.end())
        end = html.find("</script>", match.end())
        if call < 0 or end < 0 or call > end:
            continue
        # the spec and options as spec_html wrote them (JSON; \u003c escapes decode as <)
        spec, used = decoder.raw_decode(html, call + len(_EMBED_CALL))
        options, _ = decoder.raw_decode(html, used + 1)
        lang = "zh" if "formatLocale" in options else "en"
        chart_id = html_lib.unescape(match.group(1))
        out.append(html[pos : match.start()])
        out.append(
            spec_html(spec, chart_id=chart_id, lang=lang, static=static_svg(spec, lang=lang))
        )
        pos = end + len("</script>")
    out.append(html[pos:])
    return "".join(out)


# --- live notebooks -------------------------------------------------------------------------------

#: The class of every notebook view: the scope of the report CSS each view carries.
VIEW_CLASS = "aftersales-view"
#: Set by the toolkit while it renders a report: the template brings the CSS and vegaEmbed.


def report_mode() -> bool:
    """True while the toolkit executes a notebook for a report page (``aftersales report``)."""
    return os.environ.get(REPORT_ENV) == "1"


def _scope_selector(selector: str) -> str | None:
    """``selector`` of report.css inside :data:`VIEW_CLASS` (``None``: a page-level rule)."""
    sel = selector.strip()
    if sel == ":root":
        return f".{VIEW_CLASS}"
    if sel.startswith(("html", "body.report .jp-Cell", "body.report .jp-Output")) or sel in {
        "body.report",
        "body.report .jp-RenderedHTMLCommon",
        "body.report .jp-RenderedHTMLCommon > *:last-child",
    }:
        return None
    for prefix in ("body.report .jp-RenderedHTMLCommon ", "body.report "):
        if sel.startswith(prefix):
            sel = sel[len(prefix) :]
    return f".{VIEW_CLASS} {sel}"


def _scope_css(css: str) -> str:
    """report.css rewritten so that every rule applies inside a view only (no page rules, no
    print rules, no JupyterLab variables): a view restyles nothing else on the page."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    out: list[str] = []
    pos = 0
    while (brace := css.find("{", pos)) >= 0:
        head = css[pos:brace].strip()
        if head.startswith("@"):
            depth, end = 1, brace + 1
            while depth:
                depth += {"{": 1, "}": -1}.get(css[end], 0)
                end += 1
            if head.startswith("@media") and "print" not in head:
                out.append(f"{head}{{{_scope_css(css[brace + 1 : end - 1])}}}")
            pos = end
            continue
        end = css.index("}", brace)
        body = css[brace + 1 : end]
        if head == ":root":
            body = ";".join(d for d in body.split(";") if "--jp-" not in d)
        selectors = [s for s in (_scope_selector(s) for s in head.split(",")) if s]
        if selectors:
            out.append(f"{', '.join(selectors)} {{{body.strip()}}}")
        pos = end + 1
    return "\n".join(out)


#: A view's own colours whatever the page's theme (JupyterLab Dark, VS Code dark): light cards
#: with dark text, and the page's table striping and heading colours overridden inside it.
_VIEW_BASE = f"""
.{VIEW_CLASS} {{ color-scheme: light; background: var(--r-bg); color: var(--r-ink);
  font-family: var(--r-font); font-size: 14px; line-height: 1.7; padding: 12px 14px;
  border-radius: 8px; text-align: left; }}
.{VIEW_CLASS}.{VIEW_CLASS} :is(h1, h2, h3, h4, p, li, dt, dd, table, caption, th, td, span, div) {{
  color: inherit; }}
.{VIEW_CLASS}.{VIEW_CLASS} :is(tr, tbody tr:nth-child(odd), tbody tr:nth-child(even), tr:hover) {{
  background: transparent; }}
.{VIEW_CLASS}.{VIEW_CLASS} table {{ background: var(--r-card); }}
.{VIEW_CLASS} > style + .aftersales-hint {{ display: none; }}
.{VIEW_CLASS} .report-section {{ margin: 0 0 12px; }}
.{VIEW_CLASS} img.report-chart__static {{ max-width: 100%; height: auto; display: block; }}
"""


@functools.cache
def notebook_css() -> str:
    """The report CSS scoped to :data:`VIEW_CLASS`, with the view's own colours."""
    from aftersales_kit.resources import resource_dir

    css = (resource_dir("templates") / "aftersales" / "report.css").read_text(encoding="utf-8")
    scoped = _scope_css(css)
    # the view's colours come after report.css's own (same specificity: the later rule wins)
    return scoped + _VIEW_BASE


def notebook_view(html: str, *, lang: str = "zh") -> str:
    """``html`` as one self-contained notebook output: the scoped report CSS travels with it.

    Nothing is sent "once per kernel": an output renders the same after a page reload, in a
    second tab or in static HTML (nbconvert, nbviewer, VS Code). Where the page strips
    ``<style>`` and scripts (an untrusted notebook), the content stays readable (tables, static
    chart images) and the one-line hint, hidden by the CSS otherwise, says to trust it.
    """
    from aftersales_kit.text import t

    hint = fmt.escape(t("nb.trust_hint", lang))
    # The hint is hidden only when this output's own <style> precedes it: the CSS of a trusted
    # output elsewhere on the page must not hide the hint of an untrusted one (style removed).
    return (
        f'<div class="{VIEW_CLASS}"><style>{notebook_css()}</style>'
        f'<p class="aftersales-hint">{hint}</p>{with_static_charts(html)}</div>'
    )


def notebook_assets() -> str:
    """``vegaEmbed`` for a live notebook page, sent with every run of the report's first cell
    (no state in the kernel; "" while the toolkit renders a report: the template has it).

    Charts never depend on it: each carries a static image and only upgrades itself to the
    interactive chart when ``vegaEmbed`` is on the page."""
    if report_mode():
        return ""
    from aftersales_kit.resources import vega_bundle

    return f"<script>{vega_bundle()}</script>"


@dataclass(frozen=True)
class OfflineChart:
    """A chart displayed with the report's offline markup (no CDN, no Jupyter extension)."""

    chart: alt.TopLevelMixin
    lang: str = "zh"

    def _repr_html_(self) -> str:
        return notebook_view(chart_html(self.chart, lang=self.lang), lang=self.lang)

    def __repr__(self) -> str:
        title = self.chart.to_dict(validate=False).get("title", "")
        text = title.get("text", "") if isinstance(title, dict) else title
        return f"<altair chart {text}>".replace("  ", " ")


def offline(chart: alt.TopLevelMixin, *, lang: str = "zh") -> OfflineChart:
    """Display ``chart`` offline in a notebook: ``charts.offline(my_chart)`` as a cell's last
    line. The analyst's active altair renderer and theme are left alone."""
    return OfflineChart(chart, lang=lang)


class _OfflineDisplay:
    """Displays a report chart the offline way (not through altair's renderer, which would
    fetch the chart library from a CDN): ``charts.trend_chart(...)`` as a cell's last line."""

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict[str, str]:
        chart: alt.TopLevelMixin = self  # type: ignore[assignment]  # mixed into altair charts
        view = OfflineChart(chart)
        return {"text/html": view._repr_html_(), "text/plain": repr(view)}


class Chart(_OfflineDisplay, alt.Chart):
    """``alt.Chart`` that displays offline on its own (every builder here returns one)."""


class LayerChart(_OfflineDisplay, alt.LayerChart):
    """``alt.LayerChart`` that displays offline on its own."""


# --- chart builders -----------------------------------------------------------------------------


def _tooltip_hours(field: str, title: str) -> alt.Tooltip:
    return alt.Tooltip(f"{field}:Q", title=title, format=".1f")


@_fast_copies
def trend_chart(
    trend_daily: pl.DataFrame, *, line_hours: float, target_hours: float, lang: str = "zh"
) -> alt.LayerChart:
    """Daily mean hours (line) over daily counted volume (bars), with the warning/target lines.

    ``trend_daily`` has ``date, counted, mean_hours, …`` (one row per day, already aggregated).
    """
    data = trend_daily.select(
        pl.col("date").cast(pl.String).alias("date"),
        pl.col("counted"),
        pl.col("mean_hours").round(1),
    )
    x = alt.X(
        "date:T",
        title=None,
        axis=alt.Axis(format="%m-%d", labelAngle=0),
        scale=alt.Scale(type="utc"),
    )
    tooltip = [
        alt.Tooltip("date:T", title=t("chart.date", lang), format="%Y-%m-%d", formatType="utc"),
        alt.Tooltip("counted:Q", title=t("chart.counted", lang)),
        _tooltip_hours("mean_hours", t("chart.mean_hours", lang)),
    ]
    base = Chart(data).encode(x=x)
    bars = base.mark_bar(color=GREY, opacity=0.6).encode(
        y=alt.Y(
            "counted:Q", title=t("chart.counted", lang), axis=alt.Axis(orient="right", grid=False)
        ),
        tooltip=tooltip,
    )
    line = base.mark_line(point=True).encode(
        y=alt.Y("mean_hours:Q", title=t("chart.mean_hours_axis", lang)), tooltip=tooltip
    )
    lines = [
        {
            "hours": line_hours,
            "label": t("chart.warning_line", lang, hours=fmt.hours_label(line_hours, lang=lang)),
        }
    ]
    if abs(target_hours - line_hours) > 1e-9:
        lines.append(
            {
                "hours": target_hours,
                "label": t(
                    "chart.target_line", lang, hours=fmt.hours_label(target_hours, lang=lang)
                ),
            }
        )
    refs = alt.Chart(pl.DataFrame(lines))
    rule = refs.mark_rule(strokeDash=[6, 4], strokeWidth=1.5).encode(
        y=alt.Y("hours:Q"),  # channel objects, not shorthand: altair resolves those per call
        color=alt.Color("label:N", title=None, scale=alt.Scale(range=[RED, GREEN])),
    )
    hours_layer = alt.LayerChart(layer=[line, rule])
    # altair's mark_*, encode and resolve_* return Any (their signatures are copied at runtime):
    # the declared types below are where the charts become typed again.
    layered: alt.LayerChart = LayerChart(layer=[bars, hours_layer]).resolve_scale(y="independent")
    return _with(layered, title=t("chart.trend_title", lang), width=WIDTH, height=260)


@_fast_copies
def stage_by_scene_chart(stage_by_scene: pl.DataFrame, *, lang: str = "zh") -> alt.Chart:
    """Mean hours per stage, stacked, one bar per scene (``stage_by_scene`` is long form)."""
    order = ["audit", "return_ship", "transit", "inbound", "process"]
    data = stage_by_scene.filter(pl.col("stage").is_in(order)).with_columns(
        pl.col("hours").round(1),
        fmt.texts(pl.col("scene"), lambda s: label("scene", s, lang)).alias("scene_label"),
        pl.col("stage")
        .replace_strict({s: label("stage", s, lang) for s in order})
        .alias("stage_label"),
        pl.col("stage").replace_strict({s: i for i, s in enumerate(order)}).alias("stage_order"),
    )
    stage_labels = [label("stage", s, lang) for s in order]
    chart: alt.Chart = (
        Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y(
                "scene_label:N",
                title=None,
                sort=alt.EncodingSortField("hours", op="sum", order="descending"),
            ),
            x=alt.X("hours:Q", title=t("chart.mean_hours_axis", lang), stack="zero"),
            color=alt.Color(
                "stage_label:N",
                title=None,
                sort=stage_labels,
                scale=alt.Scale(domain=stage_labels, range=list(STAGE_COLORS)),
            ),
            order=alt.Order("stage_order:Q"),
            tooltip=[
                alt.Tooltip("scene_label:N", title=t("col.scene", lang)),
                alt.Tooltip("stage_label:N", title=t("col.stage", lang)),
                _tooltip_hours("hours", t("chart.mean_hours", lang)),
                alt.Tooltip("count:Q", title=t("col.count", lang)),
            ],
        )
    )
    return _with(chart, title=t("chart.stage_title", lang), width=WIDTH, height=alt.Step(26))


@_fast_copies
def scene_mix_chart(scene_breakdown: pl.DataFrame, *, lang: str = "zh") -> alt.Chart:
    """Orders per scene (bar length) coloured by the scene's mean hours."""
    data = scene_breakdown.select(
        fmt.texts(pl.col("key"), lambda s: label("scene", s, lang)).alias("scene"),
        "count",
        pl.col("share").round(4),
        pl.col("mean_hours").round(1),
    )
    chart: alt.Chart = (
        Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y("scene:N", title=None, sort="-x"),
            x=alt.X("count:Q", title=t("col.count", lang)),
            color=alt.Color(
                "mean_hours:Q",
                title=t("chart.mean_hours_axis", lang),
                scale=alt.Scale(scheme="orangered"),
            ),
            tooltip=[
                alt.Tooltip("scene:N", title=t("col.scene", lang)),
                alt.Tooltip("count:Q", title=t("col.count", lang)),
                alt.Tooltip("share:Q", title=t("col.share", lang), format=".1%"),
                _tooltip_hours("mean_hours", t("chart.mean_hours", lang)),
            ],
        )
    )
    return _with(chart, title=t("chart.scene_title", lang), width=WIDTH, height=alt.Step(24))


@_fast_copies
def alerts_chart(alerts: pl.DataFrame, *, lang: str = "zh") -> alt.Chart:
    """Counted orders breaking each §5 rule; unavailable rules (no data for them) are left out
    rather than drawn as 0 — the section says which data would enable them."""
    if "available" in alerts.columns:
        alerts = alerts.filter(pl.col("available"))
    data = alerts.select(
        fmt.texts(pl.col("rule"), lambda r: label("rule", r, lang)).alias("rule_label"),
        "count",
        pl.col("share").round(4),
        "threshold_hours",
    ).with_row_index("order")
    chart: alt.Chart = (
        Chart(data)
        .mark_bar(color=ORANGE)
        .encode(
            y=alt.Y("rule_label:N", title=None, sort=alt.EncodingSortField("order")),
            x=alt.X("count:Q", title=t("col.count", lang)),
            tooltip=[
                alt.Tooltip("rule_label:N", title=t("col.rule", lang)),
                alt.Tooltip("count:Q", title=t("col.count", lang)),
                alt.Tooltip("share:Q", title=t("col.share", lang), format=".1%"),
            ],
        )
    )
    return _with(chart, title=t("chart.alerts_title", lang), width=WIDTH, height=alt.Step(24))


@_fast_copies
def heatmap_chart(heatmap: pl.DataFrame, *, lang: str = "zh") -> alt.Chart:
    """Applications by weekday × hour; the tooltip adds the median audit hours of that cell."""
    days = [label("weekday", str(d), lang) for d in range(1, 8)]
    data = heatmap.select(
        fmt.texts(pl.col("weekday"), lambda d: label("weekday", str(d), lang)),
        "hour",
        "applications",
        pl.col("median_audit_hours").round(1),
    )
    chart: alt.Chart = (
        Chart(data)
        .mark_rect(stroke="white", strokeWidth=1)
        .encode(
            x=alt.X("hour:O", title=t("chart.hour", lang), axis=alt.Axis(labelAngle=0)),
            y=alt.Y("weekday:N", title=None, sort=days),
            color=alt.Color(
                "applications:Q",
                title=t("chart.applications", lang),
                scale=alt.Scale(scheme="blues"),
            ),
            tooltip=[
                alt.Tooltip("weekday:N", title=t("chart.weekday", lang)),
                alt.Tooltip("hour:O", title=t("chart.hour", lang)),
                alt.Tooltip("applications:Q", title=t("chart.applications", lang)),
                _tooltip_hours("median_audit_hours", t("chart.median_audit", lang)),
            ],
        )
    )
    return _with(chart, title=t("chart.heatmap_title", lang), width=WIDTH, height=alt.Step(26))


@_fast_copies
def what_if_chart(
    what_if: pl.DataFrame, *, target_hours: float, lang: str = "zh"
) -> alt.LayerChart:
    """Mean hours under each what-if scenario, against the target line."""
    rows = [
        {
            "scenario": what_if_label(
                r["scenario"], stage=r.get("stage"), n=r.get("n"), lang=lang, scene=r.get("scene")
            ),
            "mean_hours": None if r["mean_hours"] is None else round(r["mean_hours"], 1),
            "delta_hours": None if r["delta_hours"] is None else round(r["delta_hours"], 1),
            "actual": r["scenario"] == "actual",
            "order": i,
        }
        for i, r in enumerate(what_if.iter_rows(named=True))
    ]
    data = pl.DataFrame(
        rows,
        schema={
            "scenario": pl.String,
            "mean_hours": pl.Float64,
            "delta_hours": pl.Float64,
            "actual": pl.Boolean,
            "order": pl.Int64,
        },
    )
    bars = (
        Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y("scenario:N", title=None, sort=data["scenario"].to_list()),
            x=alt.X("mean_hours:Q", title=t("chart.mean_hours_axis", lang)),
            color=alt.ColorValue(BLUE, condition={"test": "datum.actual", "value": ORANGE}),
            tooltip=[
                alt.Tooltip("scenario:N", title=t("col.scenario", lang)),
                _tooltip_hours("mean_hours", t("chart.mean_hours", lang)),
                _tooltip_hours("delta_hours", t("col.delta_hours", lang)),
            ],
        )
    )
    text = bars.mark_text(align="left", dx=4, color="#1b2a38").encode(
        text=alt.Text("mean_hours:Q", format=".1f"), color=alt.ColorValue("#1b2a38")
    )
    target = (
        alt.Chart(pl.DataFrame({"hours": [target_hours]}))
        .mark_rule(color=RED, strokeDash=[6, 4], strokeWidth=1.5)
        .encode(x=alt.X("hours:Q"))
    )
    return _with(
        LayerChart(layer=[bars, text, target]),
        title=t("chart.whatif_title", lang),
        width=WIDTH,
        height=alt.Step(28),
    )


def what_if_label(
    scenario: str,
    *,
    stage: str | None,
    n: int | None,
    lang: str = "zh",
    scene: str | None = None,
) -> str:
    """Label of one what-if row (a stage for ``stage_meets_target``, N for ``without_longest``,
    the scene for ``flash_refund_at_pickup``)."""
    stage_text = label("stage", stage, lang) if stage else ""
    scene_text = label("scene", scene, lang) if scene else ""
    values = {"stage": stage_text, "n": "" if n is None else n, "scene": scene_text}
    return t(f"whatif.{scenario}", lang, **values)
