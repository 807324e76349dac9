"""The portfolio overview (``reports/index.html``): data from the batch's sidecars, sections.

The batch writes one small summary per store (in the sidecar JSON beside each report, computed from
its ``Diagnosis``); :func:`write_summary` gathers them for a window, and
``notebooks/portfolio.ipynb`` (papermill-executed, exported with the report template) shows them.
Nothing is recomputed here, so shards on several machines can each write their stores and one
final step renders the index.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aftersales_kit import format as fmt
from aftersales_kit.errors import ReportError
from aftersales_kit.files import atomic_write
from aftersales_kit.html import (
    Markup,
    Section,
    display_bundle,
    empty,
    meta_bundle,
    section,
    table,
    tag,
)
from aftersales_kit.resources import resource_dir

if TYPE_CHECKING:
    from aftersales_kit.model import Diagnosis

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = resource_dir("notebooks") / "portfolio.ipynb"
SUMMARY_DIR = ".cache"


def s(key: str, lang: str = "zh", **values: object) -> str:
    """This page's string ``key`` (``pf.<key>`` in text.py)."""
    from aftersales_kit.text import t

    return t(f"pf.{key}", lang, **values)


# --- data -----------------------------------------------------------------------------------------


def _f(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def store_summary(d: Diagnosis, *, report: str) -> dict[str, Any]:
    """The portfolio row of one store, from its ``Diagnosis``; ``report`` is the relative link."""
    board = d.short_board
    # Open orders that will count; past a stage warning line (the 60 h line is no deadline).
    risk = d.open_at_risk.filter(d.open_at_risk["will_count"])
    breached = d.open_split()["over"]
    tomorrow = d.tomorrow
    prev = d.prev_kpis.mean_hours
    mean = d.kpis.mean_hours
    return {
        "store_id": str(d.store_id),
        # Shown as the index's link text: no bidi override may reverse what follows it.
        "store_name": fmt.visible(d.store_name or d.store_id),
        "report": report,
        "window_start": d.window.start.isoformat(),
        "window_end": d.window.end.isoformat(),
        "counted": int(d.kpis.counted),
        "mean_hours": _f(mean),
        "prev_mean_hours": _f(prev),
        "delta_hours": None if mean is None or prev is None else float(mean) - float(prev),
        "median_hours": _f(d.kpis.median_hours),
        "over_60h_share": _f(d.kpis.over_60h_share),
        "warning_level": d.warning.level,
        "warning_state": d.warning.state,
        "tomorrow_mean_hours": None if tomorrow is None else _f(tomorrow.mean_hours),
        "tomorrow_delta_hours": None if tomorrow is None else _f(tomorrow.delta_hours),
        "line_hours": float(d.warning.line_hours),
        "short_board": None
        if board is None
        else {
            "scene": board.scene,
            "stage": board.stage,
            "excess_hours": float(board.excess_hours),
        },
        "open_at_risk": int(risk.height),
        "open_breached": breached,
        "data_until": None if d.data_until is None else d.data_until.isoformat(sep=" "),
        "as_of": d.as_of.isoformat(sep=" "),
        "data_as_of": None if d.data_as_of is None else d.data_as_of.isoformat(sep=" "),
        # 数据过期: more than 48 h behind the newest store's data; not ranked (DOMAIN §2)
        "data_stale": bool(d.data_stale),
    }


def collect_summaries(out_dir: Path, *, window: Any) -> list[dict[str, Any]]:
    """Every store summary of ``window`` under ``out_dir`` whose report exists, by store id."""
    stem = f"{window.start.isoformat()}_{window.end.isoformat()}"
    rows = []
    for side in sorted(Path(out_dir).glob(f"*/{stem}.json")):
        try:
            data = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a sidecar being replaced right now; its report is listed next time
        summary = data.get("summary")
        if isinstance(summary, dict) and side.with_suffix(".html").exists():
            rows.append(summary)
    return sorted(rows, key=lambda r: r["store_id"])


def write_summary(out_dir: Path, *, window: Any) -> Path:
    """Gather the summaries in one JSON file (the portfolio notebook's input); returns its path."""
    rows = collect_summaries(out_dir, window=window)
    payload = {
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "stores": rows,
    }
    path = Path(out_dir) / SUMMARY_DIR / f"portfolio_{window.start}_{window.end}.json"
    atomic_write(path, data=json.dumps(payload, ensure_ascii=False, indent=1))
    return path


def load_summary(path: str | Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))  # JSON: Any
    return summary


# --- sections (called by the notebook) --------------------------------------------------


def _section(sec_id: str, title: str, body: Markup) -> Section:
    return section(sec_id, body, title=title)


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[str | Markup]], num: Sequence[int]
) -> Markup:
    return table(rows, headers=headers, num=num, classes=("pf-table",))


def _link(row: Mapping[str, Any]) -> str | Markup:
    name = fmt.clip(row["store_name"])
    if not row.get("report"):  # computed in a notebook (analyze_estate): no report to link
        return name
    # Relative links only: the reports folder can be zipped and opened anywhere.
    return tag("a", name, href=row["report"])


def _delta(row: Mapping[str, Any], lang: str) -> str | Markup:
    delta = row.get("delta_hours")
    if delta is None:
        return "—"
    arrow = "↑" if delta > 0 else "↓" if delta < 0 else "→"
    cls = "up" if delta > 0 else "down" if delta < 0 else ""
    return tag("span", f"{arrow} {fmt.hours(abs(delta), lang=lang)}", class_=cls)


def _board_text(board: Mapping[str, Any] | None, lang: str) -> str:
    from aftersales_kit.text import label

    if not board:
        return "—"
    return f"{label('scene', board['scene'], lang)} · {label('stage', board['stage'], lang)}"


def _level(level: str, lang: str) -> Markup:
    return tag("span", s("level." + level, lang), class_=f"risk-{level}")


#: the overview's sections (id, text key), in the navigation's order.
NAV: tuple[tuple[str, str], ...] = (
    ("pf-ranking", "ranking"),
    ("pf-distribution", "distribution"),
    ("pf-warning", "warning"),
    ("pf-short-boards", "short_boards"),
    ("pf-open", "open"),
)


def report_meta(summary: Mapping[str, Any], *, lang: str = "zh") -> dict[str, object]:
    """Header values for the report template (same keys as a store report's meta)."""
    start, end = summary["window_start"], summary["window_end"]
    stores = summary.get("stores", [])
    # Sidecars written by an older toolkit version lack these keys; the header then shows "—".
    data_until = max((r["data_until"] for r in stores if r.get("data_until")), default=None)
    as_of = max((r["as_of"] for r in stores if r.get("as_of")), default=None)
    return meta_bundle(
        lang,
        title=s("title", lang),
        store_id="",
        store_name=s("all_stores", lang),
        store_label="",
        window_start=start,
        window_end=end,
        data_until=(data_until or "—")[:16],
        as_of=(as_of or "—")[:16],
        nav=[(sec, s(f"sec.{key}", lang)) for sec, key in NAV],
        footer=s("footer", lang),
    )


def show_meta(summary: Mapping[str, Any], *, lang: str = "zh") -> None:
    display_bundle(report_meta(summary, lang=lang))


def headline(summary: Mapping[str, Any], *, lang: str = "zh") -> Section:
    rows = summary["stores"]
    levels = [r["warning_level"] for r in rows]
    text = s(
        "headline",
        lang,
        n=len(rows),
        high=levels.count("high"),
        watch=levels.count("watch"),
        open=sum(r["open_at_risk"] for r in rows),
    )
    return Section("pf-headline", text, tag("p", text, class_="report-lead"))


def ranked(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Longest mean first; stores without counted orders last, then by id. 数据过期 stores
    (:func:`stale`) are left out: their figures are not comparable with the others'."""
    return sorted(
        (r for r in rows if not r.get("data_stale")),
        key=lambda r: (r["mean_hours"] is None, -(r["mean_hours"] or 0.0), r["store_id"]),
    )


def stale(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The 数据过期 stores (data more than 48 h behind the newest store's), by id."""
    return sorted((r for r in rows if r.get("data_stale")), key=lambda r: r["store_id"])


def _tomorrow(row: Mapping[str, Any], lang: str) -> str:
    """Tomorrow's projected mean and its change (the 考核周期 moves one day every morning)."""
    mean = row.get("tomorrow_mean_hours")
    if mean is None:
        return "—"
    delta = row.get("tomorrow_delta_hours")
    sign = "" if delta is None else "+" if delta > 0.05 else "−" if delta < -0.05 else "±"
    change = "" if delta is None else f" ({sign}{fmt.hours(abs(delta), lang=lang, unit=False)})"
    return fmt.hours(mean, lang=lang) + change


def ranking(summary: Mapping[str, Any], *, lang: str = "zh") -> Section:
    rows = ranked(summary["stores"])
    if not rows:
        return _section("pf-ranking", s("sec.ranking", lang), empty(s("none.stores", lang)))
    body = [
        [
            str(i),
            _link(r),
            (fmt.hours(r["mean_hours"], lang=lang)),
            (fmt.hours(r["prev_mean_hours"], lang=lang)),
            _delta(r, lang),
            str(r["counted"]),
            (fmt.pct(r["over_60h_share"])),
            _tomorrow(r, lang),
            _board_text(r["short_board"], lang),
            _level(r["warning_level"], lang),
        ]
        for i, r in enumerate(rows, start=1)
    ]
    headers = [
        s(k, lang)
        for k in (
            "col.rank",
            "col.store",
            "col.mean",
            "col.prev",
            "col.change",
            "col.counted",
            "col.over",
            "col.tomorrow",
            "col.short_board",
            "col.level",
        )
    ]
    body_html = _table(headers, body, (0, 2, 3, 5, 6, 7))
    out_of_date = stale(summary["stores"])
    if out_of_date:
        names = "、".join(f"{r['store_name']}（{r.get('data_as_of') or '—'}）" for r in out_of_date)
        note = tag("p", f"{s('stale', lang)}：{names}", class_="report-note")
        body_html = Markup(body_html + note)
    return _section("pf-ranking", s("sec.ranking", lang), body_html)


def distribution(summary: Mapping[str, Any], *, lang: str = "zh") -> Section:
    import altair as alt
    import polars as pl

    from aftersales_kit import charts

    rows = [r for r in ranked(summary["stores"]) if r["mean_hours"] is not None]
    if not rows:
        return _section(
            "pf-distribution", s("sec.distribution", lang), empty(s("none.stores", lang))
        )
    frame = pl.DataFrame({"mean_hours": [r["mean_hours"] for r in rows]})
    line = rows[0]["line_hours"]
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("mean_hours:Q", bin=alt.Bin(maxbins=20), title=s("chart.mean", lang)),
            y=alt.Y("count():Q", title=s("chart.stores", lang), axis=alt.Axis(tickMinStep=1)),
        )
    )
    rule = alt.Chart(pl.DataFrame({"line": [line]})).mark_rule(strokeDash=[4, 4]).encode(x="line:Q")
    # A fixed width: "container" draws 0 px wide inside the report layout.
    chart = (bars + rule).properties(width=charts.WIDTH, height=220)
    # charts.spec_html escapes the id and writes the spec as script-safe JSON: safe as it is.
    html = Markup(charts.chart_html(chart, chart_id="pf-distribution-chart", lang=lang))
    return _section("pf-distribution", s("sec.distribution", lang), html)


def warning_stores(summary: Mapping[str, Any], *, lang: str = "zh") -> Section:
    rows = [r for r in ranked(summary["stores"]) if r["warning_level"] in {"high", "watch"}]
    rows.sort(key=lambda r: r["warning_level"] != "high")  # stable: high first, then by mean
    if not rows:
        return _section("pf-warning", s("sec.warning", lang), empty(s("none.warning", lang)))
    body = [
        [
            _link(r),
            _level(r["warning_level"], lang),
            (fmt.hours(r["mean_hours"], lang=lang)),
            _delta(r, lang),
            _board_text(r["short_board"], lang),
        ]
        for r in rows
    ]
    headers = [
        s(k, lang) for k in ("col.store", "col.level", "col.mean", "col.change", "col.short_board")
    ]
    return _section("pf-warning", s("sec.warning", lang), _table(headers, body, (2,)))


def short_board_counts(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, int, float]]:
    """(scene, stage, stores, excess hours) over the estate, most stores first."""
    counts: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        board = r.get("short_board")
        if board:
            counts.setdefault((board["scene"], board["stage"]), []).append(board["excess_hours"])
    out = [(scene, stage, len(v), float(sum(v))) for (scene, stage), v in counts.items()]
    return sorted(out, key=lambda x: (-x[2], -x[3], x[0], x[1]))


def short_boards(summary: Mapping[str, Any], *, lang: str = "zh") -> Section:
    from aftersales_kit.text import label

    counts = short_board_counts(summary["stores"])
    if not counts:
        return _section(
            "pf-short-boards", s("sec.short_boards", lang), empty(s("none.short_boards", lang))
        )
    body = [
        [
            (label("scene", scene, lang)),
            (label("stage", stage, lang)),
            str(n),
            (fmt.hours(excess, lang=lang)),
        ]
        for scene, stage, n, excess in counts
    ]
    headers = [s(k, lang) for k in ("col.scene", "col.stage", "col.stores", "col.excess")]
    return _section("pf-short-boards", s("sec.short_boards", lang), _table(headers, body, (2, 3)))


def open_at_risk(summary: Mapping[str, Any], *, lang: str = "zh") -> Section:
    rows = sorted(
        (r for r in summary["stores"] if r["open_at_risk"] > 0),
        key=lambda r: (-r["open_breached"], -r["open_at_risk"], r["store_id"]),
    )
    if not rows:
        return _section("pf-open", s("sec.open", lang), empty(s("none.open", lang)))
    body = [[_link(r), str(r["open_at_risk"]), str(r["open_breached"])] for r in rows]
    headers = [s(k, lang) for k in ("col.store", "col.open", "col.breached")]
    return _section("pf-open", s("sec.open", lang), _table(headers, body, (1, 2)))


# --- render ---------------------------------------------------------------------------------------


def render_index(
    summary: Path,
    *,
    out_dir: Path,
    lang: str = "zh",
    engine_name: str | None = None,
    **engine_kwargs: Any,
) -> Path:
    """Execute ``notebooks/portfolio.ipynb`` with papermill and write ``out_dir/index.html``."""
    from papermill.exceptions import PapermillExecutionError

    from aftersales_kit import report

    html_path = Path(out_dir) / "index.html"
    nb_path = Path(out_dir) / SUMMARY_DIR / "index.ipynb"
    nb_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        nb = report.execute(
            {"summary": str(summary), "lang": lang},
            output=nb_path,
            engine_name=engine_name,
            notebook=NOTEBOOK,
            **engine_kwargs,
        )
    except PapermillExecutionError as exc:
        msg = (
            f"总览生成失败 (portfolio index failed): {exc.ename}: {exc.evalue}; "
            f"已保留执行后的笔记本 (executed notebook kept): {nb_path}"
        )
        raise ReportError(msg) from exc
    atomic_write(html_path, data=report.export_html(nb, lang=lang))
    return html_path
