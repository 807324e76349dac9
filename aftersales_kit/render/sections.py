"""What each section of the store report shows; the notebook's cells call one function each.

Every function takes a ``Diagnosis`` (computed once, nothing is recomputed here) and returns a
:class:`~aftersales_kit.render.html.Section`, one ``text/html`` output: a ``<section id=…>``
with its heading, text, charts (the offline renderer of :mod:`aftersales_kit.render.charts`) and
tables (great-tables, or the plain :func:`~aftersales_kit.render.html.table` for order lists). A
section whose data is empty says so instead of failing. HTML is built with
:mod:`aftersales_kit.render.html`, so all text from the data (product names, reasons, scenes,
carriers) is escaped by construction or by great-tables; personal columns are masked again
before display.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from aftersales_kit import format as fmt
from aftersales_kit.host import CONFIG_ENV
from aftersales_kit.model import MIN_STAFFING_APPLICATIONS, OPEN_HORIZON_HOURS
from aftersales_kit.orders import TEAMS
from aftersales_kit.render import charts as ch
from aftersales_kit.render.html import (
    BUNDLE_TAG,
    SLOT,
    Markup,
    Section,
    display_bundle,
    empty,
    join,
    meta_bundle,
    section,
    table,
    tag,
    with_html,
)
from aftersales_kit.rules import STAGES as _STAGES
from aftersales_kit.text import data_notice, finding_text, label, one_line, t

if TYPE_CHECKING:
    import altair as alt

    from aftersales_kit.model import Diagnosis, Finding, ManagerViews, Tomorrow
    from aftersales_kit.rules import Rules

#: section id -> text key of its title; the template's navigation follows this order.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("sec-summary", "sec.summary"),
    ("sec-tomorrow", "sec.tomorrow"),
    ("sec-trend", "sec.trend"),
    ("sec-stages", "sec.stages"),
    ("sec-breakdown", "sec.breakdown"),
    ("sec-alerts", "sec.alerts"),
    ("sec-teams", "sec.teams"),
    ("sec-top100", "sec.top100"),
    ("sec-heatmap", "sec.heatmap"),
    ("sec-classes", "sec.classes"),
    ("sec-whatif", "sec.whatif"),
    ("sec-suggestions", "sec.suggestions"),
    ("sec-reconcile", "sec.reconcile"),
    ("sec-methodology", "sec.methodology"),
    ("sec-quality", "sec.quality"),
    ("sec-views", "sec.views"),
)
OPEN_SHOWN = 30
TEAM_SHOWN = 15
MISMATCH_SHOWN = 20
BREAKDOWN_ROWS = 8
STAGES = _STAGES  # §4 stages in checkpoint order

Part = Markup | str | None


def _section(sec_id: str, lang: str, *parts: Part) -> Section:
    return section(sec_id, *parts, title=t(dict(SECTIONS)[sec_id], lang), lang=lang)


def _p(text: Part, cls: str = "") -> Markup:
    return tag("p", text, class_=cls)


def _h3(text: str) -> Markup:
    return tag("h3", text, class_="report-h3")


def _callout(text: Part, cls: str = "report-callout") -> Markup:
    return tag("div", text, class_=cls)


def _chart(chart: alt.TopLevelMixin, *, chart_id: str, lang: str) -> Markup:
    # charts.spec_html escapes the id and writes the spec as script-safe JSON: safe as it is.
    return Markup(ch.chart_html(chart, chart_id=chart_id, lang=lang))


def _h(value: float | None, lang: str) -> str:
    return fmt.hours(value, lang=lang)


def _labeller(kind: str, lang: str) -> Callable[[str], str]:
    """``value -> label(kind, value, lang)`` for :func:`aftersales_kit.format.texts`."""
    return lambda value: label(kind, value, lang)


def _frame_table(
    view: pl.DataFrame, *, labels: Mapping[str, str], lang: str, hours: Sequence[str] = ()
) -> Markup:
    """A plain escaped table of ``view`` (long order lists: ~20× cheaper than great-tables)."""
    columns = view.columns
    num = [i for i, c in enumerate(columns) if c in hours or view.schema[c].is_integer()]
    rows = (
        [
            "—" if value is None else fmt.hours(value, lang=lang) if column in hours else str(value)
            for column, value in zip(columns, row, strict=True)
        ]
        for row in view.iter_rows()
    )
    headers = [labels.get(c, c) for c in columns]
    return table(rows, headers=headers, num=num, classes=("compact",))


def _gt(
    frame: pl.DataFrame,
    *,
    table_id: str,
    labels: Mapping[str, str],
    lang: str,
    hours: Sequence[str] = (),
    pct: Sequence[str] = (),
    ints: Sequence[str] = (),
    groups: str | None = None,
) -> Markup:
    """A great-tables table (GT escapes cell text) with a stable id and report formatting.

    The great-tables speed-ups are applied for this table only (``_compat``): the analyst's own
    tables in the same kernel are untouched."""
    from aftersales_kit.render._compat import great_tables_patched

    with great_tables_patched() as GT:
        return _gt_html(
            GT,
            frame,
            table_id=table_id,
            labels=labels,
            lang=lang,
            hours=hours,
            pct=pct,
            ints=ints,
            groups=groups,
        )


def _gt_html(
    GT: Any,
    frame: pl.DataFrame,
    *,
    table_id: str,
    labels: Mapping[str, str],
    lang: str,
    hours: Sequence[str],
    pct: Sequence[str],
    ints: Sequence[str],
    groups: str | None,
) -> Markup:
    unit = fmt.HOURS_UNIT[lang]
    gt = GT(frame, id=table_id, groupname_col=groups, locale="zh" if lang == "zh" else "en")
    if hours:
        gt = gt.fmt_number(columns=list(hours), decimals=1, pattern=f"{{x}} {unit}")
    if pct:
        gt = gt.fmt_percent(columns=list(pct), decimals=1)
    if ints:
        gt = gt.fmt_integer(columns=list(ints))
    gt = (
        gt.cols_label(**{k: v for k, v in labels.items() if k in frame.columns})
        .sub_missing(missing_text="—")
        .tab_options(
            table_font_size="13px",
            table_width="100%",
            table_layout="auto",
            column_labels_background_color="#f7f9fb",
            row_group_background_color="#eef3f8",
            data_row_padding="5px",
            table_border_top_color="#c9d3dd",
        )
    )
    # great-tables escapes every cell and label it writes: its HTML is safe as it is.
    return tag("div", Markup(gt.as_raw_html(all_important=True)), class_="table-scroll")


# --- data ---------------------------------------------------------------------------------------


def prepare(
    *,
    store: str,
    start: str = "",
    end: str = "",
    data: Sequence[str] = (),
    rules: str = "",
    as_of: str = "",
    target_hours: float = 0.0,
    star: float = 0.0,
    aftersales_rank: float = -1.0,
    dispute_rank: float = -1.0,
    published_hours: float = 0.0,
    skip_bad_rows: bool = False,
    store_id: str = "",
) -> tuple[Diagnosis, Rules]:
    """The notebook's one computing step: ``(Diagnosis, Rules)`` from the parameters.

    When the toolkit has handed this kernel a diagnosis it already computed (the batch, the
    email, ``Diagnosis.to_html``: a pickle in its private folder, named by the kernel variable
    ``report.HANDOFF_PARAM`` that papermill injects), that one is used; otherwise the data (the
    demo data when ``data`` is empty) is loaded and ``store`` diagnosed against its peers.
    """
    from aftersales_kit.rules import load_rules

    handoff = _handoff()
    if handoff is not None:
        diagnosis, handed = pickle.loads(handoff.read_bytes())
        return diagnosis, handed if handed is not None else load_rules(rules or None)
    from aftersales_kit.pipeline import diagnose_data

    if not data:
        from aftersales_kit.demo.simulate import ensure_demo

        data = [str(ensure_demo())]
    # Every store of the data, not only this one: the peer median is "the other stores in the
    # data" (ARCHITECTURE), and the batch computes it the same way, so both reports match.
    computed = diagnose_data(
        data,
        stores=[store],
        start=start,
        end=end,
        rules=rules,
        as_of=as_of,
        # the notebook's "not given" markers (0, -1) become None at this boundary
        target_hours=target_hours or None,
        star=star or None,
        aftersales_rank=None if aftersales_rank < 0 else aftersales_rank,
        dispute_rank=None if dispute_rank < 0 else dispute_rank,
        store_id=store_id,
        skip_bad_rows=skip_bad_rows,
        published_hours=published_hours or None,
        # the report's kernel gets the command line's configuration file (report_env)
        config=os.environ.get(CONFIG_ENV) or None,
    )
    return computed.diagnoses[str(store)], computed.rules


def _handoff() -> Path | None:
    """The toolkit's pickled diagnosis for this run, if the kernel was given one. The toolkit
    injects the variable only for a path ``ReportParams`` accepted (``report.check_cache``: a
    file in its private 0700 folder, since unpickling runs code); no notebook parameter sets it."""
    from aftersales_kit.render.report import HANDOFF_PARAM

    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the notebooks
        return None
    shell = get_ipython()
    value = shell.user_ns.pop(HANDOFF_PARAM, "") if shell is not None else ""
    return Path(str(value)) if value else None


def report_meta(d: Diagnosis, *, rules: Rules, lang: str = "zh") -> dict[str, object]:
    """The header/footer values the template shows, as a display bundle the exporter consumes."""
    return meta_bundle(
        lang,
        title=t("report.title", lang),
        store_id=str(d.store_id),
        store_name=str(d.store_name or d.store_id),
        store_label=t("report.store", lang),
        window_start=fmt.day(d.window.start),
        window_end=fmt.day(d.window.end),
        data_until=fmt.timestamp(d.data_until),
        as_of=fmt.timestamp(d.as_of),
        nav=[(anchor, t(key, lang)) for anchor, key in SECTIONS],
        footer=t("report.footer", lang, history_days=rules.history_days),
    )


def show_meta(d: Diagnosis, *, rules: Rules, lang: str = "zh") -> None:
    """Display :func:`report_meta` (kept out of the visible report by the exporter)."""
    display_bundle(report_meta(d, rules=rules, lang=lang))
    assets = ch.notebook_assets()
    if assets:
        # Interactive Jupyter: vegaEmbed with every run (no per-kernel state), so that the charts
        # that follow turn interactive; they draw as static pictures without it. Tagged so that
        # an export drops it (the template has its own).
        display_bundle(
            {"text/html": assets, "text/plain": "[vega]"},
            metadata={BUNDLE_TAG: True},
        )


# --- sections -----------------------------------------------------------------------------------


def _delta_html(current: float | None, previous: float | None) -> Markup:
    text = fmt.delta_pct(current, previous=previous)
    cls = "up" if text.startswith("↑") else "down" if text.startswith("↓") else ""
    return tag("span", text, class_=cls)


def _kpi_card(label_text: str, value: str, sub: Part = None, *, main: bool = False) -> Markup:
    return tag(
        "div",
        tag("div", label_text, class_="kpi__label"),
        tag("div", value, class_="kpi__value"),
        tag("div", sub, class_="kpi__sub") if sub else None,
        class_="kpi kpi--main" if main else "kpi",
    )


def _mean_lines(d: Diagnosis, mean: float, lang: str) -> Markup:
    """The main card's lines: vs the previous window, the target, the peers, the sample, JD."""
    k, prev = d.kpis, d.prev_kpis
    vs_prev = with_html(
        t("kpi.vs_previous", lang, delta=SLOT, previous=_h(prev.mean_hours, lang)),
        _delta_html(k.mean_hours, prev.mean_hours),
    )
    lines: list[Part] = [vs_prev]

    def gap_text(line: float) -> str:
        gap = mean - line
        key = "kpi.above_target" if gap > 0 else "kpi.below_target"
        return t(key, lang, hours=_h(abs(gap), lang))

    # The 60 h line is the consumer-warning line, not a target; a target only when the user set one.
    line_hours = d.warning.line_hours
    line = fmt.hours_label(line_hours, lang=lang)
    lines.append(t("kpi.vs_line", lang, line=line, gap=gap_text(line_hours)))
    if d.target_given:
        target = fmt.hours_label(d.target_hours, lang=lang)
        lines.append(t("kpi.vs_target", lang, target=target, gap=gap_text(d.target_hours)))
    if d.peer_median_hours is not None:
        lines.append(t("kpi.vs_peers", lang, hours=_h(d.peer_median_hours, lang), n=d.peer_count))
    counted = t("kpi.counted_line", lang, n=f"{k.counted:,}")
    if excluded := sum(d.data_quality.excluded.values()):
        counted += ("，" if lang == "zh" else "; ") + t("kpi.excluded", lang, n=excluded)
    lines.append(counted)
    jd = d.jd_check
    if jd is not None:
        # JD's own per-order figure beside ours (issue 9); details in the reconciliation section.
        jd_hours, ours = _h(jd.mean_jd_hours, lang), _h(jd.mean_hours, lang)
        share = fmt.pct(jd.matched_share)
        lines.append(t("kpi.vs_jd", lang, jd=jd_hours, ours=ours, share=share))
    return join(lines, Markup("<br>"))


def kpi_cards(d: Diagnosis, *, lang: str = "zh") -> Section:
    """KPI cards: mean vs previous window, target and peers; median, P90, counted, over 60 h."""
    k, prev = d.kpis, d.prev_kpis
    notice = data_notice(d, lang)
    old_data = _callout(notice, "report-callout report-data-age") if notice else None
    if not k.counted or k.mean_hours is None:  # counted orders always have a mean
        excluded = sum(d.data_quality.excluded.values())
        note = empty(t("report.no_counted", lang))
        extra = _p(t("kpi.excluded", lang, n=excluded), "report-note") if excluded else None
        return _section("sec-summary", lang, old_data, note, extra, _risk(d, lang))
    over_label = t("kpi.over_60h", lang, hours=fmt.hours_label(d.warning.line_hours, lang=lang))
    previous = t("report.previous", lang)
    cards = [
        _kpi_card(
            t("kpi.mean", lang),
            _h(k.mean_hours, lang),
            _mean_lines(d, k.mean_hours, lang),
            main=True,
        ),
        _kpi_card(
            t("kpi.median", lang),
            _h(k.median_hours, lang),
            f"{previous} {_h(prev.median_hours, lang)}",
        ),
        _kpi_card(
            t("kpi.p90", lang), _h(k.p90_hours, lang), f"{previous} {_h(prev.p90_hours, lang)}"
        ),
        _kpi_card(
            over_label, fmt.pct(k.over_60h_share), f"{previous} {fmt.pct(prev.over_60h_share)}"
        ),
        _first_pass_card(d, lang),
    ]
    return _section(
        "sec-summary", lang, old_data, tag("div", *cards, class_="kpi-grid"), _risk(d, lang)
    )


def _first_pass_card(d: Diagnosis, lang: str) -> Markup:
    """一次性沟通完成率 from 待客户反馈次数; without it, the 一次审核完成率 proxy (no re-audit) when
    the export has both audit times (DOMAIN §6), labelled as a proxy; else "—"."""
    views = d.views
    if d.first_pass_rate is None and views is not None and views.first_audit_rate is not None:
        return _kpi_card(
            t("kpi.first_audit_proxy", lang),
            fmt.pct(views.first_audit_rate),
            t("kpi.first_audit_proxy_sub", lang),
        )
    return _kpi_card(t("kpi.first_pass", lang), fmt.pct(d.first_pass_rate))


def _risk(d: Diagnosis, lang: str) -> Markup:
    """The consumer warning in three states (triggered / not triggered / cannot be judged)."""
    w = d.warning
    not_given = t("risk.not_given", lang)
    basis = getattr(w, "basis", "ours")
    duration = getattr(w, "duration_hours", None)
    duration = d.kpis.mean_hours if duration is None else duration
    basis_text = label("basis", basis, lang)
    detail = t(
        "risk.detail",
        lang,
        mean=_h(duration, lang),
        basis=basis_text,
        line=fmt.hours_label(w.line_hours, lang=lang),
        star=not_given if w.star is None else f"{w.star:g}",
        aftersales_rank=not_given if w.aftersales_rank is None else fmt.pct(w.aftersales_rank),
        dispute_rank=not_given if w.dispute_rank is None else fmt.pct(w.dispute_rank),
    )
    state = getattr(w, "state", None) or {"high": "triggered", "watch": "cannot_judge"}.get(
        w.level, "not_triggered"
    )
    level = {"triggered": "high", "cannot_judge": "watch"}.get(state, "ok")
    line = fmt.hours_label(w.line_hours, lang=lang)
    # JD judges on its own figure: from ours, "triggered" is only an estimate to check on 风向标.
    key = state
    if state == "triggered" and basis == "ours":
        key = "triggered_ours"
    elif state == "not_triggered" and not w.mean_over_line:
        key = "not_triggered_line"
    explain = t(f"risk.{key}", lang, mean=_h(duration, lang), line=line, basis=basis_text)
    badge_key = "risk.high_ours" if key == "triggered_ours" else f"risk.{level}"
    badge = tag("span", t(badge_key, lang), class_=f"badge badge--{level}")
    box = tag("div", tag("b", t("risk.label", lang)), badge, tag("span", detail), class_="risk")
    rules_text = t(
        "risk.explain",
        lang,
        line=line,
        star=f"{getattr(w, 'star_limit', 3.5):g}",
        rank=fmt.pct(getattr(w, "rank_limit", 0.2), digits=0),
    )
    rank_note = t("risk.rank_note", lang, rank=fmt.pct(getattr(w, "rank_limit", 0.2), digits=0))
    return (
        box
        + _p(explain, "report-note risk-state")
        + _p(rules_text, "report-note")
        + _p(rank_note, "report-note")
    )


def trend(d: Diagnosis, *, lang: str = "zh") -> Section:
    """Daily mean hours and volume with the warning line; the weekly means as one line of text."""
    daily = d.trend_daily.filter(pl.col("counted") > 0) if d.trend_daily.height else d.trend_daily
    if not daily.height:
        return _section("sec-trend", lang, empty(t("report.no_data", lang)))
    chart = ch.trend_chart(
        daily, line_hours=d.warning.line_hours, target_hours=d.target_hours, lang=lang
    )
    parts: list[Part] = [_chart(chart, chart_id="chart-trend", lang=lang)]
    if d.kpis.mean_hours is not None:
        text = t(
            "trend.direction",
            lang,
            mean=_h(d.kpis.mean_hours, lang),
            previous=_h(d.prev_kpis.mean_hours, lang),
            delta=fmt.delta_pct(d.kpis.mean_hours, previous=d.prev_kpis.mean_hours),
        )
        parts.append(_p(text))
    weekly = (
        d.trend_weekly.filter(pl.col("counted") > 0) if d.trend_weekly.height else d.trend_weekly
    )
    if weekly.height:
        sep = "；" if lang == "zh" else "; "
        weeks = sep.join(
            f"{fmt.day(r['week_start'], short=True)} {_h(r['mean_hours'], lang)}"
            for r in weekly.iter_rows(named=True)
        )
        parts.append(_p(t("trend.weekly", lang, weeks=weeks), "report-note"))
    return _section("sec-trend", lang, *parts)


def excess_line(d: Diagnosis, lang: str) -> str:
    """What the excess is measured over: "提示线60小时" by default, "目标50小时" when the user set
    a target (the 60 h line is not a JD target)."""
    kind = "target" if d.target_given else "warning"
    return t(f"stages.line.{kind}", lang, hours=fmt.hours_label(d.target_hours, lang=lang))


def _short_board_callout(d: Diagnosis, lang: str) -> Markup:
    """The short board (and the largest controllable one when it differs), or "none"."""
    sb = d.short_board
    line = excess_line(d, lang)
    if sb is None:
        text = t("stages.no_short_board", lang, line=line)
        return _callout(text, "report-callout ok")
    # The catalog sentences carry <b> (our own text, safe on purpose); the values are escaped
    # by Markup.format.
    callout = Markup(t("stages.short_board", lang)).format(
        line=line,
        scene=label("scene", sb.scene, lang),
        stage=label("stage", sb.stage, lang),
        share=fmt.pct(sb.share_of_excess),
        hours=_h(sb.excess_hours, lang),
        controllable=_h(sb.controllable_excess_hours, lang),
    )
    cb = d.controllable_short_board
    if cb is not None and (cb.scene, cb.stage) != (sb.scene, sb.stage):
        callout += " " + Markup(t("stages.controllable_board", lang)).format(
            scene=label("scene", cb.scene, lang),
            stage=label("stage", cb.stage, lang),
            controllable=_h(cb.controllable_excess_hours, lang),
        )
    return _callout(callout)


def stages(d: Diagnosis, *, lang: str = "zh") -> Section:
    """Stage breakdown by scene (stacked chart) with the short board called out."""
    if not d.kpis.counted or not d.stage_by_scene.height:
        return _section("sec-stages", lang, empty(t("report.no_data", lang)))
    chart = ch.stage_by_scene_chart(d.stage_by_scene, lang=lang)
    sep = "；" if lang == "zh" else "; "
    items = sep.join(
        f"{label('stage', r['stage'], lang)} {_stage_hours(d, r['stage'], r['hours'], lang)}"
        + _bracket(
            t("stages.controllable" if r["controllable"] else "stages.uncontrollable", lang), lang
        )
        for r in d.stage_means.iter_rows(named=True)
        # JD intervention subtracts time; a row of zero says nothing (hidden).
        if not (r["stage"] == "intervention" and not r["hours"])
    )
    return _section(
        "sec-stages",
        lang,
        _short_board_callout(d, lang),
        _chart(chart, chart_id="chart-stages", lang=lang),
        _p(t("stages.means", lang, items=items), "report-note"),
        _checkpoints_note(d, lang),
    )


def _bracket(text: str, lang: str) -> str:
    return f"（{text}）" if lang == "zh" else f" ({text})"


def _stage_hours(d: Diagnosis, stage: str, hours: float | None, lang: str) -> str:
    """A stage mean, or "—" for sign → inbound when no order has a sign time (DOMAIN §4): its
    hours are in the stage before, and "0.0 小时" would read as a fast warehouse."""
    if stage == "inbound" and not _has_checkpoint(d, "sign_time"):
        return t("stages.inbound_unmeasured", lang)
    return _h(hours, lang)


def _has_checkpoint(d: Diagnosis, checkpoint: str) -> bool:
    cp = d.checkpoints
    if not cp.height:
        return False
    return bool(cp.filter(pl.col("checkpoint") == checkpoint)["orders"].sum())


def _checkpoints_note(d: Diagnosis, lang: str) -> Markup | None:
    """Which checkpoints the data had: a missing one folds its stage into the next."""
    cp = d.checkpoints
    if not cp.height:
        return None
    sep = "、" if lang == "zh" else ", "
    present = [
        f"{label('checkpoint', r['checkpoint'], lang)} {fmt.pct(r['share'])}"
        for r in cp.iter_rows(named=True)
        if r["orders"]
    ]
    missing = [
        label("checkpoint", r["checkpoint"], lang)
        for r in cp.iter_rows(named=True)
        if not r["orders"]
    ]
    parts = [t("stages.checkpoints", lang, present=sep.join(present) or "—")]
    if missing:
        parts.append(t("stages.checkpoints_missing", lang, missing=sep.join(missing)))
    return _p("".join(parts) if lang == "zh" else " ".join(parts), "report-note")


# audit and transit means answer "which auditor is slow" and "whose transit is slow".
BREAKDOWN_LABELS = (
    "count",
    "share",
    "mean_hours",
    "median_hours",
    "p90_hours",
    "over_60h_share",
    "audit",
    "transit",
)


def breakdown(d: Diagnosis, *, lang: str = "zh") -> Section:
    """Scene mix chart and one table by scene / service type / reason (and more when present)."""
    scene = d.breakdowns.get("scene")
    if not d.kpis.counted or scene is None or not scene.height:
        return _section("sec-breakdown", lang, empty(t("report.no_data", lang)))
    frames = []
    for dim in ("scene", "service_type", "reason", "category", "carrier", "auditor"):
        frame = d.breakdowns.get(dim)
        if frame is None or not frame.height:
            continue
        top = frame.sort("count", descending=True).head(BREAKDOWN_ROWS)
        kind = "scene" if dim in {"scene", "service_type"} else dim
        frames.append(
            top.select(
                pl.lit(t("breakdown.by", lang, dim=t(f"breakdown.dim.{dim}", lang))).alias("group"),
                fmt.texts(pl.col("key").cast(pl.String).fill_null("—"), _labeller(kind, lang)),
                *[pl.col(c).cast(pl.Float64) for c in BREAKDOWN_LABELS],
            )
        )
    labels = {"key": t("col.key", lang), **{c: t(f"col.{c}", lang) for c in BREAKDOWN_LABELS}}
    return _section(
        "sec-breakdown",
        lang,
        _chart(ch.scene_mix_chart(scene, lang=lang), chart_id="chart-scenes", lang=lang),
        _gt(
            pl.concat(frames),
            table_id="tbl-breakdown",
            labels=labels,
            lang=lang,
            groups="group",
            hours=["mean_hours", "median_hours", "p90_hours", "audit", "transit"],
            pct=["share", "over_60h_share"],
            ints=["count"],
        ),
        _p(t("breakdown.more", lang, n=BREAKDOWN_ROWS), "report-note"),
    )


def _masked(frame: pl.DataFrame) -> pl.DataFrame:
    """Mask personal columns again: cheap insurance if a frame ever arrives unmasked."""
    return fmt.mask_personal(frame)


def _unavailable_note(alerts: pl.DataFrame, lang: str) -> Markup | None:
    """Rules without their data: "needs logistics data" and the columns that would enable them."""
    if "available" not in alerts.columns:
        return None
    off = alerts.filter(~pl.col("available"))
    if not off.height:
        return None
    sep = "、" if lang == "zh" else ", "
    rules = sep.join(label("rule", r, lang) for r in off["rule"])
    # ``needs`` names only the inputs the data really lacks (diagnose checks each column).
    columns: list[str] = []
    for needs in off["needs"].drop_nulls():
        for c in needs.split(","):
            name = label("column", c, lang)
            if c and name not in columns:
                columns.append(name)
    if not columns:
        return _callout(t("alerts.needs_no_columns", lang, rules=rules))
    return _callout(t("alerts.needs", lang, rules=rules, columns=sep.join(columns)))


def _open_status(lang: str) -> pl.Expr:
    """Hours left to the order's warning line, or past it; no line; plus 不计入考核 / 纠纷风险."""
    unit = fmt.HOURS_UNIT[lang]
    hours = pl.col("hours_to_breach").abs().round(1).cast(pl.String) + pl.lit(f" {unit}")
    over = t("open.over", lang, hours=SLOT).split(SLOT)
    left = t("open.left", lang, hours=SLOT).split(SLOT)
    breached = pl.col("breached").fill_null(False)
    no_line = (
        pl.when(
            (pl.col("next_action").is_in(["process_goods", "process_repair"]))
            & pl.col("rule").is_null()
        )
        .then(pl.lit(t("open.no_inbound_time", lang)))
        .otherwise(pl.lit(t("open.no_line", lang)))
    )
    status = (
        pl.when(pl.col("hours_to_breach").is_null())
        .then(no_line)
        .when(breached)
        .then(pl.lit(over[0]) + hours + pl.lit(over[1]))
        .otherwise(pl.lit(left[0]) + hours + pl.lit(left[1]))
    )
    sep = pl.lit("；" if lang == "zh" else "; ")
    marks = pl.concat_str(
        [
            status,
            pl.when(~pl.col("will_count").fill_null(True)).then(
                sep + pl.lit(t("open.not_counted", lang))
            ),
            pl.when(
                pl.col("over_60h").fill_null(False) & pl.col("will_count").fill_null(True)
            ).then(sep + pl.lit(t("open.long", lang))),
            pl.when(pl.col("dispute_risk").fill_null(False)).then(
                sep + pl.lit(t("open.dispute", lang))
            ),
        ],
        ignore_nulls=True,
    )
    return marks.alias("hours_to_breach")


def _label_col(column: str, kind: str, lang: str) -> pl.Expr:
    return fmt.texts(pl.col(column), lambda v: label(kind, v, lang))


def _action_col(lang: str) -> pl.Expr:
    return fmt.texts(pl.col("next_action"), lambda v: t(f"action.{v}", lang)).alias("next_action")


#: Column labels (text keys) of the order lists.
_ORDER_LABELS = {
    "service_id": "col.service_id",
    "scene": "col.scene",
    "status": "col.status",
    "apply_time": "col.apply_time",
    "elapsed_hours": "col.elapsed",
    "stage": "col.stage_now",
    "rule": "col.rule",
    "hours_to_breach": "col.to_breach",
    "next_action": "col.next_action",
    "return_method": "col.return_method",
    "waybill_no": "col.waybill",
    "carrier": "col.carrier",
    "sku_name": "col.sku_name",
    "customer_name": "col.customer",
    "customer_phone": "col.phone",
}


def _open_orders(d: Diagnosis, lang: str) -> list[Part]:
    """The open orders about to be counted: a summary line and the first ``OPEN_SHOWN``."""
    risk = d.open_at_risk
    if not risk.height:
        return [empty(t("open.none", lang))]
    horizon = OPEN_HORIZON_HOURS
    split = d.open_split(horizon_hours=horizon)
    shown = risk.head(OPEN_SHOWN)
    summary = t(
        "open.summary",
        lang,
        n=f"{risk.height:,}",
        over=f"{split['over']:,}",
        soon=f"{split['soon']:,}",
        later=f"{split['later']:,}",
        no_line=f"{split['no_line']:,}",
        not_counted=f"{split['not_counted']:,}",
        long=f"{split['long']:,}",
        horizon=fmt.hours_label(horizon, lang=lang),
        shown=shown.height,
    )
    columns = [
        pl.col("service_id"),
        _label_col("scene", "scene", lang),
        _label_col("status", "status", lang),
        pl.col("apply_time").dt.strftime("%m-%d %H:%M"),
        pl.col("elapsed_hours"),
        _label_col("stage", "stage", lang),
        _label_col("rule", "rule", lang),
        _open_status(lang),
    ]
    if "next_action" in shown.columns:
        columns.append(_action_col(lang))
    columns += [_short("sku_name"), pl.col("customer_name"), pl.col("customer_phone")]
    view = _masked(shown).select(columns)
    labels = {c: t(key, lang) for c, key in _ORDER_LABELS.items()}
    return [_p(summary), _frame_table(view, labels=labels, lang=lang, hours=["elapsed_hours"])]


def alerts(d: Diagnosis, *, lang: str = "zh") -> Section:
    """Alert counts per rule (chart), rules without data, and the service orders about to be
    counted: already over (act now), about to breach (hours left), over 60 h (long orders)."""
    available = (
        d.alerts.filter(pl.col("available")) if "available" in d.alerts.columns else d.alerts
    )
    if available.height and int(available["count"].sum() or 0) > 0:
        counts = _chart(ch.alerts_chart(d.alerts, lang=lang), chart_id="chart-alerts", lang=lang)
    else:
        counts = empty(t("alerts.none", lang))
    return _section(
        "sec-alerts",
        lang,
        counts,
        _unavailable_note(d.alerts, lang),
        _h3(t("open.title", lang)),
        *_open_orders(d, lang),
    )


def teams(d: Diagnosis, *, lang: str = "zh") -> Section:
    """One action list per team (customer service, logistics, warehouse), most urgent first."""
    lists = d.team_actions or {}
    note = t("team.note", lang, horizon=fmt.hours_label(OPEN_HORIZON_HOURS, lang=lang))
    parts: list[Part] = [_p(note, "report-note")]
    labels = {c: t(key, lang) for c, key in _ORDER_LABELS.items()}
    labels["hours_to_breach"] = t("col.hours_left", lang)
    for team in TEAMS:
        parts.append(_h3(t(f"team.{team}", lang)))
        frame = lists.get(team)
        if frame is None or not frame.height:
            parts.append(empty(t("team.none", lang)))
            continue
        # The logistics team chases parcels: it needs the waybill, the carrier and the method.
        parcel = (
            [pl.col("waybill_no"), pl.col("carrier"), pl.col("return_method")]
            if team == "logistics"
            else []
        )
        view = frame.head(TEAM_SHOWN).select(
            "service_id",
            _label_col("scene", "scene", lang),
            _label_col("status", "status", lang),
            _label_col("stage", "stage", lang),
            *parcel,
            "elapsed_hours",
            _open_status(lang),
            _action_col(lang),
            _short("sku_name"),
        )
        if frame.height > TEAM_SHOWN:
            parts.append(_frame_table(view, labels=labels, lang=lang, hours=["elapsed_hours"]))
            parts.append(
                _p(t("team.more", lang, n=f"{frame.height - TEAM_SHOWN:,}"), "report-note")
            )
            continue
        parts.append(_frame_table(view, labels=labels, lang=lang, hours=["elapsed_hours"]))
    pending = d.compensation_pending
    if pending.height:
        parts.append(_h3(t("team.compensation", lang)))
        view = pending.head(TEAM_SHOWN).select(
            "service_id",
            _label_col("scene", "scene", lang),
            _label_col("status", "status", lang),
            pl.col("elapsed_hours").alias("waited"),
            _action_col(lang),
            _short("sku_name"),
        )
        waited = {**labels, "waited": t("col.waited", lang)}
        parts.append(_frame_table(view, labels=waited, lang=lang, hours=["waited"]))
    return _section("sec-teams", lang, *parts)


def _movers(tm: Tomorrow, *, history: int, lang: str) -> list[Part]:
    """The order that moves tomorrow's figure most, called out, and the list of movers."""
    if not tm.movers.height:
        return [empty(t("tomorrow.none", lang))]
    top = tm.movers.row(0, named=True)
    key = {"apply_too_old": "largest_old", "out_of_window": "largest_out"}.get(
        top["reason"], "largest_in"
    )
    text = t(
        f"tomorrow.{key}",
        lang,
        service_id=top["service_id"],
        hours=_h(top["hours"], lang),
        history_days=history,
        effect=_signed_hours(top["effect_hours"], lang),
    )
    view = tm.movers.select(
        "service_id",
        fmt.texts(pl.col("reason"), lambda v: t(f"tomorrow.move.{v}", lang)).alias("move"),
        _label_col("scene", "scene", lang),
        pl.col("apply_time").dt.strftime("%Y-%m-%d"),
        pl.col("complete_time").dt.strftime("%m-%d %H:%M"),
        "hours",
        fmt.texts(pl.col("effect_hours"), lambda v: _signed_hours(v, lang)).alias("effect"),
    )
    labels = {
        "service_id": t("col.service_id", lang),
        "move": t("col.move", lang),
        "scene": t("col.scene", lang),
        "apply_time": t("col.apply_time", lang),
        "complete_time": t("col.complete_time", lang),
        "hours": t("col.hours", lang),
        "effect": t("col.effect", lang),
    }
    return [_callout(text), _frame_table(view, labels=labels, lang=lang, hours=["hours"])]


def tomorrow(d: Diagnosis, *, rules: Rules | None = None, lang: str = "zh") -> Section:
    """Tomorrow's projected mean, the orders that leave and enter, the ones that move it most."""
    tm = d.tomorrow
    if tm is None or (tm.mean_hours is None and not tm.leaving.height):
        return _section("sec-tomorrow", lang, empty(t("report.no_data", lang)))
    history = int(getattr(rules, "history_days", 180) or 180)
    delta = "—" if tm.delta_hours is None else _signed_hours(tm.delta_hours, lang)
    old = tm.leaving.filter(pl.col("reason") == "apply_too_old").height
    headline = t(
        "tomorrow.headline",
        lang,
        start=fmt.day(tm.window.start),
        end=fmt.day(tm.window.end),
        mean=_h(tm.mean_hours, lang),
        delta=delta,
        n=f"{tm.counted:,}",
    )
    moves = t(
        "tomorrow.moves",
        lang,
        leaving=f"{tm.leaving.height:,}",
        out=f"{tm.leaving.height - old:,}",
        old=f"{old:,}",
        history_days=history,
        entering=f"{tm.entering.height:,}",
    )
    # Yesterday's download has none of today's completions (E13): say so, and what closing
    # today's open orders over the line would do.
    parts: list[Part] = [_p(headline), _p(moves), _p(t("tomorrow.not_today", lang), "report-note")]
    if getattr(tm, "open_over_line", 0) and tm.mean_if_closed is not None:
        line = fmt.hours_label(d.warning.line_hours, lang=lang)
        n = tm.open_over_line
        mean = _h(tm.mean_if_closed, lang)
        parts.append(_p(t("tomorrow.if_closed", lang, n=n, line=line, mean=mean)))
    return _section("sec-tomorrow", lang, *parts, *_movers(tm, history=history, lang=lang))


def _signed_hours(value: float | None, lang: str) -> str:
    if value is None:
        return "—"
    sign = "+" if value > 0.05 else "−" if value < -0.05 else "±"
    return sign + _h(abs(value), lang)


def classes(d: Diagnosis, *, lang: str = "zh") -> Section:
    """The article's service-order classes: audit time, 一次性沟通完成率 and an SOP per class."""
    frame = d.classes
    if not frame.height:
        return _section("sec-classes", lang, empty(t("classes.none", lang)))
    rows = [
        (
            label("class", r["order_class"], lang),
            f"{r['count']:,}",
            fmt.pct(r["share"]),
            _h(r["audit_mean_hours"], lang),
            fmt.pct(r["first_pass_rate"]),
            label("sop", r["order_class"], lang),
        )
        for r in frame.iter_rows(named=True)
    ]
    headers = [
        t("col.order_class", lang),
        t("col.count", lang),
        t("col.share", lang),
        t("col.audit_mean", lang),
        t("col.first_pass", lang),
        t("col.sop", lang),
    ]
    return _section(
        "sec-classes",
        lang,
        _p(t("classes.note", lang), "report-note"),
        table(rows, headers=headers, num=[1, 2, 3, 4]),
    )


def _jd_check(d: Diagnosis, lang: str) -> list[Part]:
    """Our mean beside JD's per-order mean, and the orders where the two differ."""
    jd = d.jd_check
    if jd is None:
        return [_p(t("jd.none", lang), "report-note")]
    compare = t(
        "jd.compare",
        lang,
        ours=_h(jd.mean_hours, lang),
        jd=_h(jd.mean_jd_hours, lang),
        compared=f"{jd.compared:,}",
        matched=f"{jd.matched:,}",
        share=fmt.pct(jd.matched_share),
    )
    if not jd.mismatches.height:
        return [_p(compare)]
    view = jd.mismatches.head(MISMATCH_SHOWN).select(
        "service_id",
        _label_col("scene", "scene", lang),
        "hours",
        "jd_hours",
        "diff_hours",
        fmt.texts(pl.col("cause"), lambda v: t(f"jd.cause.{v}", lang)),
    )
    labels = {
        "service_id": t("col.service_id", lang),
        "scene": t("col.scene", lang),
        "hours": t("col.ours", lang),
        "jd_hours": t("col.jd", lang),
        "diff_hours": t("col.diff", lang),
        "cause": t("col.cause", lang),
    }
    hours = ["hours", "jd_hours", "diff_hours"]
    return [
        _p(compare),
        _h3(t("jd.mismatches", lang)),
        _frame_table(view, labels=labels, lang=lang, hours=hours),
    ]


def _published(d: Diagnosis, lang: str) -> list[Part]:
    """The figure 风向标 publishes beside ours, with the likely causes of a gap."""
    rec = d.reconciliation
    if rec is None:
        return [_p(t("published.none", lang), "report-note")]
    compare = t(
        "published.compare",
        lang,
        published=_h(rec.published_hours, lang),
        ours=_h(rec.mean_hours, lang),
        gap=_signed_hours(rec.gap_hours, lang),
        jd=_h(rec.mean_jd_hours, lang),
    )
    items = []
    for cause in rec.causes:
        text = t(
            f"published.cause.{cause}",
            lang,
            start=fmt.day(d.window.start),
            end=fmt.day(d.window.end),
            until=fmt.timestamp(d.data_until),
        )
        if cause in rec.flagged:
            text += t("published.flag", lang)
        items.append(tag("li", text))
    return [_p(compare), _p(t("published.causes", lang)), tag("ul", *items)]


def reconcile(d: Diagnosis, *, lang: str = "zh") -> Section:
    """Our mean beside JD's per-order mean (matched share, mismatching orders) and, when given,
    the figure 风向标 publishes with the likely causes of a gap."""
    return _section("sec-reconcile", lang, *_jd_check(d, lang), *_published(d, lang))


def _short(column: str, limit: int = 14) -> pl.Expr:
    """Long product names make tall rows; keep the start (the table escapes it)."""
    col = pl.col(column)
    return (
        pl.when(col.str.len_chars() > limit)
        .then(col.str.slice(0, limit) + pl.lit("…"))
        .otherwise(col)
        .alias(column)
    )


def _longest_stage(stage_cols: Sequence[str], lang: str) -> pl.Expr:
    """``"逆向运输 45.0"``: where the order spent most of its hours."""
    values = [pl.col(c).fill_null(0.0) for c in stage_cols]
    longest = pl.max_horizontal(values)
    name: pl.Expr = pl.lit(None, dtype=pl.String)
    for col, expr in reversed(list(zip(stage_cols, values, strict=True))):
        stage = col.removeprefix("stage_")
        name = pl.when(expr == longest).then(pl.lit(label("stage", stage, lang))).otherwise(name)
    return name + pl.lit(" ") + longest.round(1).cast(pl.String)


def top100(d: Diagnosis, *, lang: str = "zh") -> Section:
    """The longest counted orders of the window (TOP100), masked."""
    top = d.top100
    if not top.height:
        return _section("sec-top100", lang, empty(t("report.no_data", lang)))
    stage_cols = [f"stage_{s}" for s in STAGES]
    view = _masked(top).select(
        "rank",
        "service_id",
        fmt.texts(pl.col("scene"), lambda v: label("scene", v, lang)),
        "reason",
        _short("sku_name"),
        pl.col("apply_time").dt.strftime("%m-%d %H:%M"),
        "hours",
        _longest_stage(stage_cols, lang).alias("stages"),
        "customer_name",
        "customer_phone",
    )
    labels = {
        "rank": "#",
        "service_id": t("col.service_id", lang),
        "scene": t("col.scene", lang),
        "reason": t("col.reason", lang),
        "sku_name": t("col.sku_name", lang),
        "apply_time": t("col.apply_time", lang),
        "hours": t("col.hours", lang),
        "stages": t("col.longest_stage", lang),
        "customer_name": t("col.customer", lang),
        "customer_phone": t("col.phone", lang),
    }
    return _section(
        "sec-top100",
        lang,
        _p(t("top100.note", lang), "report-note"),
        _frame_table(view, labels=labels, lang=lang, hours=["hours"]),
    )


def heatmap(d: Diagnosis, *, lang: str = "zh") -> Section:
    """Applications by weekday × hour, with the staffing recommendation for the peak hours."""
    hm = d.heatmap
    if not hm.height or int(hm["applications"].sum() or 0) == 0:
        return _section("sec-heatmap", lang, empty(t("report.no_data", lang)))
    parts: list[Part] = [
        _chart(ch.heatmap_chart(hm, lang=lang), chart_id="chart-heatmap", lang=lang)
    ]
    if d.peak_hours:
        parts.append(_p(t("heatmap.peak", lang, hours=_clock_ranges(d.peak_hours, lang))))
    else:
        parts.append(_p(t("heatmap.no_peak", lang)))
    # Staffing advice from hours of the day with enough applications, never one weekday × hour
    # cell (a handful of applications).
    staffing = d.staffing
    if staffing is None:
        parts.append(_p(t("heatmap.staffing_few", lang, min=MIN_STAFFING_APPLICATIONS)))
    else:
        key = "heatmap.staffing_night" if staffing.night else "heatmap.staffing_hours"
        text = t(
            key,
            lang,
            min=MIN_STAFFING_APPLICATIONS,
            slow_hours=_clock_ranges(staffing.slow_hours, lang),
            slow=_h(staffing.slow_median_hours, lang),
            fast_hours=_clock_ranges(staffing.fast_hours, lang),
            fast=_h(staffing.fast_median_hours, lang),
        )
        parts.append(_callout(text))
    if d.first_pass_rate is not None:
        rate = fmt.pct(d.first_pass_rate)
        parts.append(_p(t("heatmap.first_pass", lang, rate=rate), "report-note"))
    return _section("sec-heatmap", lang, *parts)


def _clock_ranges(hours: Sequence[int], lang: str) -> str:
    sep = "、" if lang == "zh" else ", "
    return sep.join(f"{h:02d}:00–{h + 1:02d}:00" for h in hours)


def _what_if_shown(d: Diagnosis) -> pl.DataFrame:
    """The scenarios to show: "without the N longest" only while N is a small part of the sample."""
    wi = d.what_if
    tail = wi.filter(pl.col("scenario") == "without_longest")
    if not tail.height:
        return wi
    keep = tail.filter(pl.col("n") * 5 <= d.kpis.counted)
    keep = keep if keep.height else tail.sort("n").head(1)
    return pl.concat(
        [wi.filter(pl.col("scenario") != "without_longest"), keep], how="vertical_relaxed"
    )


def what_if(d: Diagnosis, *, lang: str = "zh") -> Section:
    """The mean if each stage met its target, if all did, and without the longest orders."""
    wi = d.what_if
    if not d.kpis.counted or not wi.height or wi["mean_hours"].is_null().all():
        return _section("sec-whatif", lang, empty(t("report.no_data", lang)))
    wi = _what_if_shown(d)
    chart = ch.what_if_chart(wi, target_hours=d.target_hours, lang=lang)
    parts: list[Part] = [_chart(chart, chart_id="chart-whatif", lang=lang)]
    # The lever to name is a stage the merchant can fix, not dropping orders.
    options = wi.filter(
        (pl.col("scenario") == "stage_meets_target") & pl.col("delta_hours").is_not_null()
    )
    if options.height:
        best = options.sort("delta_hours").row(0, named=True)
        scenario = ch.what_if_label(
            best["scenario"],
            stage=best.get("stage"),
            n=best.get("n"),
            lang=lang,
            scene=best.get("scene"),
        )
        mean, delta = _h(best["mean_hours"], lang), _signed_hours(best["delta_hours"], lang)
        parts.append(_p(t("whatif.best", lang, scenario=scenario, mean=mean, delta=delta)))
    for r in wi.filter(pl.col("scenario") == "flash_refund_at_pickup").iter_rows(named=True):
        text = t(
            "whatif.flash",
            lang,
            n=f"{r['n']:,}",
            mean=_h(r["mean_hours"], lang),
            delta=_signed_hours(r["delta_hours"], lang),
        )
        parts.append(_p(text))
    # The premise failed on this data's own 闪退 rows: say why the estimate is left out.
    check = d.flash_refund
    if check is not None and check.reason in ("no_flash_rows", "not_at_pickup"):
        dropped = t(
            f"whatif.flash_dropped.{check.reason}",
            lang,
            rows=f"{check.flash_rows:,}",
            at_pickup=f"{check.at_pickup:,}",
        )
        parts.append(_p(dropped, "report-note"))
    return _section("sec-whatif", lang, *parts)


def _finding_item(finding: Finding, *, lang: str, advice: bool = True) -> Markup:
    """One finding: its severity badge and title, and (in the report) its advice."""
    text = finding_text(finding, lang=lang)
    sev = max(1, min(3, int(finding.severity)))
    title = tag(
        "div",
        tag("span", text.severity, class_=f"badge badge--sev{sev}"),
        tag("span", text.title),
        class_="finding__title",
    )
    body = tag("p", text.advice, class_="finding__advice") if advice else None
    return tag("li", title, body, class_="finding")


def suggestions(d: Diagnosis, *, lang: str = "zh") -> Section:
    """One suggestion per finding, most severe first, in the article's words."""
    if not d.findings:
        return _section("sec-suggestions", lang, empty(t("suggestions.none", lang)))
    items = [
        _finding_item(f, lang=lang) for f in sorted(d.findings, key=lambda f: -int(f.severity))
    ]
    return _section("sec-suggestions", lang, tag("ol", *items, class_="findings"))


def _holidays_text(d: Diagnosis, *, rules: Rules, lang: str) -> str:
    """The exemptions that can touch this sample (apply dates from end − history_days to end)."""
    from aftersales_kit.window import uncovered_spring_festivals

    sep = "；" if lang == "zh" else "; "
    earliest = d.window.end - timedelta(days=rules.history_days)
    relevant = [
        (a, b) for a, b in rules.holidays if a.date() <= d.window.end and b.date() >= earliest
    ]
    holidays = sep.join(f"{fmt.timestamp(a)} → {fmt.timestamp(b)}" for a, b in relevant)
    holidays = holidays or t("method.no_holidays", lang)
    missing_years = uncovered_spring_festivals(d.window, rules=rules)
    if missing_years:
        holidays += sep + t(
            "method.no_holiday_table", lang, years="、".join(map(str, missing_years))
        )
    return holidays


def methodology(d: Diagnosis, *, rules: Rules, lang: str = "zh") -> Section:
    """The sample, the clock, thresholds, windows and the holiday exemptions used."""
    sep = "；" if lang == "zh" else "; "
    # "rule: threshold in force" — the rule names carry JD's default, a rules file may change it.
    colon = "：" if lang == "zh" else ": "
    thresholds = sep.join(
        f"{label('rule', name, lang)}{colon}{fmt.hours_label(value, lang=lang)}"
        for name, value in rules.thresholds.items()
    )
    used = int(d.data_quality.excluded.get("holiday", 0))
    lines = [
        t(
            "method.window",
            lang,
            start=fmt.day(d.window.start),
            end=fmt.day(d.window.end),
            days=d.window.days,
            prev_start=fmt.day(d.previous.start),
            prev_end=fmt.day(d.previous.end),
        ),
        t("method.sample", lang, history_days=rules.history_days),
        t("method.clock", lang),
        t(
            "method.target" if d.target_given else "method.line",
            lang,
            target=fmt.hours_label(d.target_hours, lang=lang),
            line=fmt.hours_label(d.warning.line_hours, lang=lang),
        ),
        t("method.thresholds", lang, items=thresholds),
        t("method.holidays", lang, items=_holidays_text(d, rules=rules, lang=lang)),
        t("method.holidays_estimate", lang),
        t("method.holidays_used", lang, n=used),
        t("method.as_of", lang, as_of=fmt.timestamp(d.as_of)),
    ]
    sources = [
        tag("li", f"{label('source', rule, lang)}{colon}{t(f'method.source.{kind}', lang)}")
        for rule, kind in METHOD_SOURCES
    ]
    return _section(
        "sec-methodology",
        lang,
        *(_p(line) for line in lines),
        _h3(t("method.sources", lang)),
        tag("ul", *sources),
    )


#: Each rule of the toolkit and where it comes from (issue 10, "Methodology"): the merchant
#: article (and the JD announcements it quotes), a public restatement of JD's rules, or the
#: toolkit's own reading where JD says nothing.
METHOD_SOURCES: tuple[tuple[str, str], ...] = (
    ("sample", "article"),
    ("scene_audit_end", "article"),
    ("scene_process_end", "article"),
    ("feedback", "article"),
    ("intervention", "article"),
    ("thresholds_article", "article"),
    ("tools", "article"),
    ("warning", "announcement"),
    ("scene_restated", "restatement"),
    ("flash_refund", "restatement"),
    ("scene_other", "toolkit"),
    ("repair_end", "toolkit"),
    ("line_60h", "toolkit"),
    ("short_board", "toolkit"),
    ("controllable", "toolkit"),
    ("class_keywords", "toolkit"),
    ("warning_text", "toolkit"),
    ("refresh", "toolkit"),
    ("process_24h", "toolkit"),
    ("total_60h", "toolkit"),
    ("holidays", "toolkit"),
)


def data_quality(d: Diagnosis, *, lang: str = "zh") -> Section:
    """Excluded orders by reason and the other data notes, with counts."""
    dq = d.data_quality
    excluded = [(label("excluded", k, lang), f"{int(v):,}") for k, v in dq.excluded.items() if v]
    other = [
        (t(f"dq.{name}", lang), f"{int(getattr(dq, name, 0) or 0):,}")
        for name in (
            "out_of_order",
            "intervention_unbounded",
            "duplicates_dropped",
            "bad_rows_dropped",
        )
        if getattr(dq, name, 0)
    ]
    # The load warnings itemised by kind (never one lump count); the lump only for a data
    # quality built without the per-kind counts.
    by_kind = getattr(dq, "load_warning_counts", ())
    other += [
        (t("dq.load_warning", lang, kind=label("warning", kind, lang)), f"{n:,}")
        for kind, n in by_kind
    ]
    if dq.load_warnings and not by_kind:
        other.append((t("dq.load_warnings", lang), f"{int(dq.load_warnings):,}"))
    unknown = [
        (f"{label('column', column, lang)}：{value}", f"{rows:,}")
        for column, value, rows in getattr(dq, "unknown_values", ())
    ]
    years = getattr(dq, "holiday_years_missing", ())
    if years:
        note = t("method.no_holiday_table", lang, years="、".join(map(str, years)))
        other.append((note, "—"))
    coverage = _coverage(d, lang)
    if not excluded and not other and not unknown:
        return _section("sec-quality", lang, empty(t("dq.clean", lang)), *coverage)
    reason, rows = t("col.reason_excluded", lang), t("col.rows", lang)
    parts: list[Part] = []
    for title, body, headers in (
        ("dq.excluded", excluded, [reason, rows]),
        ("dq.other", other, [reason, rows]),
        ("dq.unknown_values", unknown, [t("dq.value", lang), rows]),
    ):
        if body:
            parts += [_h3(t(title, lang)), table(body, headers=headers, num=[1])]
    return _section("sec-quality", lang, *parts, *coverage)


def _coverage(d: Diagnosis, lang: str) -> list[Part]:
    """Download coverage (DOMAIN §6): the earliest apply date in the data against the window's
    apply limit, and what is missing when the download starts later."""
    earliest = d.earliest_apply
    limit = d.apply_limit
    if earliest is None or limit is None:
        return []
    values = {"earliest": fmt.day(earliest), "limit": fmt.day(limit)}
    if earliest <= limit:
        body = t("dq.coverage_full", lang, **values)
    else:
        before = fmt.day(earliest - timedelta(days=1))
        body = t("dq.coverage_short", lang, before=before, **values)
    return [_h3(t("dq.coverage", lang)), _p(body, "report-note")]


# --- notebook views of the Python API -------------------------------------------------------------

#: Diagnosis frames the compact view points to (field → text key of its description).
VIEW_FRAMES: tuple[tuple[str, str], ...] = (
    ("orders", "api.frame.orders"),
    ("open_at_risk", "api.frame.open_at_risk"),
    ("top100", "api.frame.top100"),
    ("breakdowns", "api.frame.breakdowns"),
    ("trend_daily", "api.frame.trend_daily"),
)
VIEW_FINDINGS = 3


def _view_frames(d: Diagnosis, lang: str) -> Markup:
    """The frames of the diagnosis to explore, with their sizes."""
    rows = []
    for name, key in VIEW_FRAMES:
        value = getattr(d, name, None)
        if isinstance(value, pl.DataFrame):
            size = (
                t("api.rows", lang, n=f"{value.height:,}")
                if value.width
                else t("api.no_orders", lang)
            )
        elif isinstance(value, Mapping):
            size = ", ".join(str(k) for k in value)
        else:
            continue
        rows.append([tag("code", f"d.{name}"), t(key, lang), size])
    listing = table(rows, num=[2], classes=("compact",), scroll=False)
    return _h3(t("api.frames", lang)) + listing


def diagnosis_html(d: Diagnosis, *, lang: str = "zh") -> str:
    """The compact notebook view of a ``Diagnosis``: KPI cards, short board, top findings and
    the frames to explore (``Diagnosis._repr_html_``)."""
    board = d.short_board
    if board is None:
        board_text = t("api.no_short_board", lang)
    else:
        board_text = t(
            "api.short_board",
            lang,
            scene=label("scene", board.scene, lang),
            stage=label("stage", board.stage, lang),
            excess=_h(board.excess_hours, lang),
        )
    top = sorted(d.findings, key=lambda f: -int(f.severity))[:VIEW_FINDINGS]
    items = [_finding_item(f, lang=lang, advice=False) for f in top]
    findings = (
        _h3(t("api.findings", lang)) + tag("ol", *items, class_="findings") if items else None
    )
    view = join(
        [
            tag("p", tag("b", one_line(d, lang=lang)), class_="report-lead"),
            kpi_cards(d, lang=lang).html,
            tag("p", board_text, class_="report-callout"),
            findings,
            _view_frames(d, lang),
        ]
    )
    # one self-contained output (scoped CSS inside): renders after a reload, in any tab or theme
    return ch.notebook_view(str(view), lang=lang)


# --- manager views (DOMAIN §6 "Manager views") ----------------------------------------------------


def _views_compare(d: Diagnosis, lang: str) -> list[Part]:
    """Our mean, JD's per-order mean, the 风向标 figure and the category/peer mean side by side."""
    v = d.views
    rec = d.reconciliation
    jd = d.jd_check
    peer = v.peer_hours if v is not None else None
    not_given = t("views.compare.not_given", lang)
    published = rec.published_hours if rec is not None else None
    cells = [
        _h(d.kpis.mean_hours, lang),
        _h(jd.mean_jd_hours, lang) if jd is not None else not_given,
        _h(published, lang) if published is not None else not_given,
        _h(peer, lang) if peer is not None else not_given,
    ]
    headers = [
        t("views.compare.ours", lang),
        t("views.compare.jd", lang),
        t("views.compare.published", lang),
        t("views.compare.peer", lang),
    ]
    parts: list[Part] = [
        _h3(t("views.compare.title", lang)),
        table([cells], headers=headers, num=[0, 1, 2, 3]),
    ]
    if peer is not None and d.kpis.mean_hours is not None:
        gap = _signed_hours(d.kpis.mean_hours - peer, lang)
        parts.append(_p(t("views.compare.gap", lang, gap=gap)))
    if peer is None or published is None:
        parts.append(_p(t("views.compare.hint", lang), "report-note"))
    return parts


def _views_staff(v: ManagerViews, lang: str) -> list[Part]:
    parts: list[Part] = []
    masked = t("views.masked", lang) if v.staff_masked else ""
    if v.auditors.height and "auditor" not in v.missing:
        rows = [
            (
                r["auditor"] or "—",
                f"{r['audits']:,}",
                f"{r['measured']:,}",
                _h(r["median_audit_hours"], lang),
                fmt.pct(r["over_24h_share"]),
                fmt.pct(r["rejection_share"]),
                fmt.pct(r["reaudit_share"]),
            )
            for r in v.auditors.iter_rows(named=True)
        ]
        headers = [
            t(f"views.col.{k}", lang)
            for k in (
                "auditor",
                "audits",
                "measured",
                "median_audit",
                "over_24h",
                "rejection",
                "reaudit",
            )
        ]
        parts += [
            _h3(t("views.auditor.title", lang) + masked),
            _p(t("views.auditor.note", lang), "report-note"),
            table(rows, headers=headers, num=[1, 2, 3, 4, 5, 6]),
        ]
    if v.processors.height:
        procs = [
            (
                r["processor"],
                f"{r['orders']:,}",
                f"{r['measured']:,}",
                _h(r["median_receipt_to_process_hours"], lang),
            )
            for r in v.processors.iter_rows(named=True)
        ]
        headers = [
            t(f"views.col.{k}", lang) for k in ("processor", "orders", "measured", "median_r2p")
        ]
        parts += [
            _h3(t("views.processor.title", lang) + masked),
            table(procs, headers=headers, num=[1, 2, 3]),
        ]
    return parts


def _views_skus(v: ManagerViews, *, line: float, lang: str) -> list[Part]:
    from aftersales_kit.views import TOP_SKUS

    if not v.skus.height:
        return []
    line_text = fmt.hours_label(line, lang=lang)
    rows = [
        (
            r["sku_id"] or "—",
            r["sku_name"] or "—",
            f"{r['count']:,}",
            fmt.pct(r["quality_share"]),
            _h(r["mean_hours"], lang),
            fmt.pct(r["repair_exchange_share"]),
            _h(r["over_line_hours"], lang),
        )
        for r in v.skus.head(TOP_SKUS).iter_rows(named=True)
    ]
    headers = [
        t("views.col.sku_id", lang),
        t("col.sku_name", lang),
        t("col.count", lang),
        t("views.col.quality_share", lang),
        t("views.col.mean", lang),
        t("views.col.repair_exchange_share", lang),
        t("views.col.over_line_hours", lang, line=line_text),
    ]
    parts: list[Part] = [
        _h3(t("views.sku.title", lang)),
        _callout(t("views.sku.note", lang, line=line_text)),
        table(rows, headers=headers, num=[2, 3, 4, 5, 6]),
    ]
    if v.skus.height > TOP_SKUS:
        parts.append(_p(t("views.sku.more", lang, n=v.skus.height - TOP_SKUS), "report-note"))
    return parts


def _views_audit_rates(v: ManagerViews, lang: str) -> list[Part]:
    from aftersales_kit.views import SA_MIN_APPROVAL, SA_MIN_ORDERS

    parts: list[Part] = []
    if v.first_audit_rate is not None:
        rows = [
            (
                label("class", r["order_class"], lang),
                f"{r['count']:,}",
                f"{r['known']:,}",
                fmt.pct(r["first_audit_rate"]),
            )
            for r in v.first_audit_classes.iter_rows(named=True)
        ]
        headers = [
            t("views.col.order_class", lang),
            t("col.count", lang),
            t("views.col.known", lang),
            t("views.col.first_audit_rate", lang),
        ]
        parts += [
            _h3(t("views.first_audit.title", lang)),
            _p(t("views.first_audit.note", lang, rate=fmt.pct(v.first_audit_rate))),
            table(rows, headers=headers, num=[1, 2, 3]),
        ]
    parts.append(_h3(t("views.auto.title", lang)))
    if v.auto_share is not None:
        parts.append(_p(t("views.auto.share", lang, share=fmt.pct(v.auto_share), n=v.auto_count)))
    limits = {"approval": fmt.pct(SA_MIN_APPROVAL, digits=0), "min": SA_MIN_ORDERS}
    if not v.sa_candidates.height:
        parts.append(_p(t("views.auto.none", lang, **limits), "report-note"))
        return parts
    candidates = [
        (
            r["service_type"] or "—",
            label("class", r["order_class"], lang),
            f"{r['manual']:,}",
            fmt.pct(r["approval_share"]),
            _h(r["hours_saved"], lang),
        )
        for r in v.sa_candidates.iter_rows(named=True)
    ]
    headers = [
        t(f"views.col.{k}", lang)
        for k in ("service_type", "order_class", "manual", "approval", "hours_saved")
    ]
    parts += [
        _p(t("views.auto.candidates", lang, **limits)),
        table(candidates, headers=headers, num=[2, 3, 4]),
    ]
    return parts


def _views_readings(v: ManagerViews, lang: str) -> list[Part]:
    if "jd_hours" in v.missing:
        return []
    tol = _h(v.tolerance_hours, lang) if v.tolerance_hours >= 1 else f"{v.tolerance_hours:g} h"
    parts: list[Part] = [
        _h3(t("views.readings.title", lang)),
        _p(t("views.readings.note", lang, tol=tol), "report-note"),
    ]
    readings = v.readings
    if not readings.height:
        parts.append(_p(t("views.readings.none", lang)))
    else:
        rows = [
            (
                label("scene", r["scene"], lang),
                t(f"views.reading.{r['reading']}", lang),
                f"{r['mismatched']:,}",
                f"{r['testable']:,}",
                f"{r['explained']:,}",
                "—" if r["process_before_end"] is None else f"{r['process_before_end']:,}",
            )
            for r in readings.iter_rows(named=True)
        ]
        headers = [
            t("col.scene", lang),
            t("views.col.reading", lang),
            t("views.col.mismatched", lang),
            t("views.col.testable", lang),
            t("views.col.explained", lang),
            t("views.col.before_pickup", lang),
        ]
        parts.append(table(rows, headers=headers, num=[2, 3, 4, 5]))
        # The reading that explains most of each scene's differing orders.
        best = readings.filter(pl.col("explained") > 0).sort(
            ["scene", "explained", "reading"], descending=[False, True, False]
        )
        for r in best.unique("scene", keep="first", maintain_order=True).iter_rows(named=True):
            reading = t(f"views.reading.{r['reading']}", lang)
            verdict = t(
                "views.readings.verdict",
                lang,
                scene=label("scene", r["scene"], lang),
                explained=r["explained"],
                mismatched=r["mismatched"],
                reading=reading,
            )
            parts.append(_callout(verdict))
            if r["rule_lines"]:
                parts += [
                    _p(t("views.readings.adopt", lang), "report-note"),
                    tag("pre", r["rule_lines"], class_="report-code"),
                ]
            else:
                parts.append(_p(t("views.readings.no_rule", lang), "report-note"))
    if v.repair:
        parts.append(
            _p(
                t(
                    "views.readings.repair",
                    lang,
                    n=v.repair["count"],
                    median=_signed_hours(v.repair["median"], lang),
                    p10=_signed_hours(v.repair["p10"], lang),
                    p90=_signed_hours(v.repair["p90"], lang),
                )
            )
        )
    return parts


def manager_views(d: Diagnosis, *, lang: str = "zh") -> Section:
    """What 风向标 cannot show (DOMAIN §6): our figure beside JD's and 风向标's, SKUs behind the
    long orders, auditors and processors, 一次审核完成率 (proxy), auto-audit and SA candidates,
    and the readings check that tests our clock ends against JD's per-order hours."""
    v = d.views
    if v is None or not v.counted:
        return _section("sec-views", lang, empty(t("views.none", lang)))
    parts: list[Part] = [*_views_compare(d, lang)]
    by_column: dict[str, list[str]] = {}
    for view, column in v.missing.items():
        by_column.setdefault(column, []).append(t(f"views.view.{view}", lang))
    sep = "、" if lang == "zh" else ", "
    for column, names in by_column.items():
        parts.append(
            _p(t("views.needs", lang, column=column, views=sep.join(names)), "report-note")
        )
    line = d.warning.line_hours
    parts += _views_skus(v, line=line, lang=lang)
    parts += _views_staff(v, lang)
    parts += _views_audit_rates(v, lang)
    parts += _views_readings(v, lang)
    return _section("sec-views", lang, *parts)
