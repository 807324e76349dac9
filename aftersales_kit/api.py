"""The Python API for notebooks and scripts: :func:`analyze` one store, :func:`analyze_estate`.

Both run the pipeline of the reports (:func:`aftersales_kit.pipeline.diagnose_data`, which
``sections.prepare`` — the store notebook's computing step — calls too), so a number seen here is
the number in the report. The returned objects wrap the data with its views: they display in
Jupyter, write the report and the action lists, and carry polars frames to explore (docs/API.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

import altair as alt
import polars as pl

from aftersales_kit import format as fmt
from aftersales_kit import model
from aftersales_kit.deliver.xlsx import write_action_lists
from aftersales_kit.errors import UsageError
from aftersales_kit.files import atomic_write
from aftersales_kit.pipeline import Data, StrPath, diagnose_data
from aftersales_kit.render import charts, portfolio, report
from aftersales_kit.render.html import Markup, section, table
from aftersales_kit.render.sections import diagnosis_html
from aftersales_kit.text import label, one_line, t

if TYPE_CHECKING:
    from aftersales_kit.rules import Rules
    from aftersales_kit.window import Window


class Diagnosis(model.Diagnosis):
    """A store's :class:`aftersales_kit.model.Diagnosis` with its views: it displays in Jupyter
    as KPI cards, the short board and the top findings (``_repr_html_``), ``repr(d)`` is one
    line, ``to_html(path)`` writes the full report and ``to_excel(path)`` the action lists (both
    as the command line does). Every field is the data's (see the base class)."""

    @classmethod
    def of(cls, d: model.Diagnosis) -> Diagnosis:
        """The view of ``d`` (the same field values, not copied)."""
        return d if isinstance(d, cls) else cls(**vars(d))

    def __repr__(self) -> str:
        return one_line(self, lang=self.lang)

    def _repr_html_(self) -> str:
        return diagnosis_html(self, lang=self.lang)

    def to_html(self, path: str | Path, *, lang: str | None = None, rules: str = "") -> Path:
        """Write the full HTML report of this diagnosis to ``path`` (the same page as
        ``aftersales report``; ``rules`` names the rules file it was computed with, for the
        methodology section). Returns the path."""
        return render_diagnosis(self, path=Path(path), lang=lang or self.lang, rules=rules)

    def to_excel(self, path: str | Path, *, lang: str | None = None) -> Path:
        """Write the action lists (open orders at risk, alerts, TOP100 …) as an ``.xlsx``, the
        same workbook the email attaches. Returns the path."""
        return write_action_lists(self, path=Path(path), lang=lang or self.lang)


# help(ak.Diagnosis) lists every field: the data's documentation follows the view's.
Diagnosis.__doc__ = f"{Diagnosis.__doc__}\n\n    {model.Diagnosis.__doc__}"


def analyze(
    data: Data,
    *,
    store: str,
    start: str | None = None,
    end: str | None = None,
    rules: StrPath | Rules | Mapping[str, object] | None = None,
    as_of: str | datetime | None = None,
    target_hours: float | None = None,
    star: float | None = None,
    aftersales_rank: float | None = None,
    dispute_rank: float | None = None,
    store_id: str | None = None,
    skip_bad_rows: bool = False,
    published_hours: float | None = None,
    config: StrPath | None = None,
    lang: str = "zh",
) -> Diagnosis:
    """Diagnose one store: the ``Diagnosis`` behind ``aftersales report``, with its orders.

    Parameters
    ----------
    data
        A JD export file or folder, a list of them, or a polars DataFrame in the canonical schema
        (``aftersales_kit.schema.COLUMNS``). Every store in it is diagnosed as a peer.
    store
        The store id (店铺ID).
    start, end
        The window (``YYYY-MM-DD``); default the 30 days ending yesterday (JD's 考核周期).
    rules, as_of, target_hours, star, aftersales_rank, dispute_rank, store_id, skip_bad_rows,
    published_hours, config
        As the ``aftersales report`` options of the same names (``None``: not given).
    lang
        ``zh`` or ``en`` for the notebook views.

    Returns
    -------
    Diagnosis
        Displays as KPI cards, short board and findings; ``.orders`` has one row per order.

    Examples
    --------
    >>> d = analyze("exports/", store="1000101", start="2026-03-01", end="2026-03-30")
    ...  # doctest: +SKIP

    On a frame (here two generated stores); ``d.orders`` is where every number comes from, and it
    goes back into ``analyze`` (filtered, say, to one product):

    >>> from aftersales_kit.demo.simulate import generate
    >>> frame = generate(stores=2, orders=100, end="2026-06-30")
    >>> d = analyze(frame, store="1000101", end="2026-06-30", as_of="2026-07-01 09:00")
    >>> counted = d.orders.filter(pl.col("counted"))
    >>> counted.height == d.kpis.counted, abs(counted["hours"].mean() - d.kpis.mean_hours) < 1e-9
    (True, True)
    >>> again = analyze(d.orders, store="1000101", end="2026-06-30", as_of="2026-07-01 09:00")
    >>> again.kpis.counted == d.kpis.counted
    True
    >>> analyze(frame, store="1000101", rules={"target_hours": "soon"})
    Traceback (most recent call last):
    ...
    aftersales_kit.errors.RulesError: ...
    """
    computed = diagnose_data(
        data,
        stores=[str(store)],
        start=start,
        end=end,
        rules=rules,
        as_of=as_of,
        target_hours=target_hours,
        star=star,
        aftersales_rank=aftersales_rank,
        dispute_rank=dispute_rank,
        store_id=store_id,
        skip_bad_rows=skip_bad_rows,
        published_hours=published_hours,
        config=config,
        orders=True,
    )
    return Diagnosis.of(replace(computed.diagnoses[str(store)], lang=_lang(lang)))


def _lang(lang: str) -> str:
    if lang not in {"zh", "en"}:
        msg = f"不支持的语言 (unsupported lang): {lang!r}; 可选 (allowed): zh, en"
        raise UsageError(msg)
    return lang


# --- many stores ----------------------------------------------------------------------------------

#: The portfolio frame's columns (portfolio.store_summary, the short board flattened).
PORTFOLIO_SCHEMA: dict[str, pl.DataType] = {
    "store_id": pl.String(),
    "store_name": pl.String(),
    "counted": pl.Int64(),
    "mean_hours": pl.Float64(),
    "prev_mean_hours": pl.Float64(),
    "delta_hours": pl.Float64(),
    "median_hours": pl.Float64(),
    "over_60h_share": pl.Float64(),
    "tomorrow_mean_hours": pl.Float64(),
    "warning_level": pl.String(),
    "short_board_scene": pl.String(),
    "short_board_stage": pl.String(),
    "short_board_excess_hours": pl.Float64(),
    "open_at_risk": pl.Int64(),
    "open_breached": pl.Int64(),
    "data_stale": pl.Boolean(),
}


@dataclass(frozen=True)
class Estate:
    """Many stores' diagnoses for one window: the portfolio overview and its data.

    ``portfolio`` has one row per store (longest mean first); ``diagnoses`` maps store id →
    ``Diagnosis``; ``summary`` is the portfolio notebook's input (the batch writes the same).
    Displays as the overview of ``reports/index.html``.
    """

    diagnoses: Mapping[str, Diagnosis]
    #: JSON-shaped, as the batch writes it for the portfolio notebook
    summary: portfolio.EstateSummary
    portfolio: pl.DataFrame
    lang: str = "zh"
    sections: tuple[str, ...] = field(
        default=("headline", "ranking", "distribution", "warning_stores", "short_boards")
    )

    def __getitem__(self, store: str) -> Diagnosis:
        return self.diagnoses[str(store)]

    def __repr__(self) -> str:
        return t(
            "api.estate_repr",
            self.lang,
            n=len(self.diagnoses),
            start=self.summary["window_start"],
            end=self.summary["window_end"],
        )

    def _repr_html_(self) -> str:
        parts = [
            getattr(portfolio, name)(self.summary, lang=self.lang).html for name in self.sections
        ]
        parts.append(portfolio.open_at_risk(self.summary, lang=self.lang).html)
        return charts.notebook_view("".join(parts), lang=self.lang)


def estate_summary(
    diagnoses: Mapping[str, model.Diagnosis], *, window: Window
) -> portfolio.EstateSummary:
    """The portfolio notebook's input computed from diagnoses (no report links)."""
    return {
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "stores": [portfolio.store_summary(d, report="") for _, d in sorted(diagnoses.items())],
    }


def _portfolio_frame(summary: portfolio.EstateSummary) -> pl.DataFrame:
    rows = []
    # Longest mean first, every store ranked (the index's default is the impact ranking with a
    # minimum sample; this frame is data for the user to sort as they like).
    ranked_rows = portfolio.ranked(summary["stores"], by="mean", min_orders=0)
    for r in [*ranked_rows, *portfolio.stale(summary["stores"])]:
        board = r["short_board"]
        values = cast("Mapping[str, object]", r)
        row = {k: values.get(k) for k in PORTFOLIO_SCHEMA if not k.startswith("short_board")}
        row |= {
            "short_board_scene": None if board is None else board["scene"],
            "short_board_stage": None if board is None else board["stage"],
            "short_board_excess_hours": None if board is None else board["excess_hours"],
        }
        rows.append(row)
    return pl.DataFrame(rows, schema=PORTFOLIO_SCHEMA)


def analyze_estate(
    data: Data,
    *,
    stores: Sequence[str] | None = None,
    start: str | None = None,
    end: str | None = None,
    rules: StrPath | Rules | Mapping[str, object] | None = None,
    as_of: str | datetime | None = None,
    target_hours: float | None = None,
    store_id: str | None = None,
    skip_bad_rows: bool = False,
    config: StrPath | None = None,
    lang: str = "zh",
) -> Estate:
    """Diagnose every store of ``data`` (or ``stores``) for one window: the portfolio overview.

    Options as :func:`analyze`; star, rank rates and published figures per store come from the
    ``[stores]`` entries of the config or the data folder's ``stores.toml``.

    Examples
    --------
    >>> estate = analyze_estate("exports/")  # doctest: +SKIP
    >>> estate.portfolio.filter(pl.col("warning_level") != "ok")  # doctest: +SKIP

    >>> from aftersales_kit.demo.simulate import generate
    >>> frame = generate(stores=2, orders=100, end="2026-06-30")
    >>> estate = analyze_estate(frame, end="2026-06-30", as_of="2026-07-01 09:00")
    >>> sorted(estate.portfolio["store_id"])
    ['1000101', '1000102']
    >>> estate["1000102"].orders["store_id"].unique().to_list()
    ['1000102']
    """
    computed = diagnose_data(
        data,
        stores=stores,
        start=start,
        end=end,
        rules=rules,
        as_of=as_of,
        target_hours=target_hours,
        store_id=store_id,
        skip_bad_rows=skip_bad_rows,
        config=config,
        orders=True,  # each store's Diagnosis carries its orders, as analyze() gives them
    )
    lang = _lang(lang)
    diagnoses = {sid: Diagnosis.of(replace(d, lang=lang)) for sid, d in computed.diagnoses.items()}
    summary = estate_summary(diagnoses, window=computed.window)
    return Estate(diagnoses, summary, _portfolio_frame(summary), lang=lang)


# --- two diagnoses side by side -------------------------------------------------------------------

#: The comparison table's columns.
COMPARE_SCHEMA: dict[str, pl.DataType] = {
    "metric": pl.String(),
    "label": pl.String(),
    "a": pl.Float64(),
    "b": pl.Float64(),
    "delta": pl.Float64(),
}


def _side_label(d: Diagnosis, other: Diagnosis) -> str:
    window = f"{d.window.start.isoformat()}—{d.window.end.isoformat()}"
    if d.store_id == other.store_id:
        return window
    name = str(d.store_name or d.store_id)
    return name if d.window == other.window else f"{name} {window}"


@dataclass(frozen=True)
class Comparison:
    """Two diagnoses side by side (two windows of a store, or two stores): :func:`compare`.

    ``table`` has one row per figure: ``metric, label, a, b, delta`` (``delta = b - a``; hours,
    counts and shares as numbers). Displays as a table and a chart of the hour figures.
    """

    a: Diagnosis
    b: Diagnosis
    table: pl.DataFrame
    a_label: str
    b_label: str
    lang: str = "zh"

    def __repr__(self) -> str:
        return t("api.compare_title", self.lang, a=self.a_label, b=self.b_label)

    def chart(self) -> alt.Chart:
        """The hour figures of both sides as grouped bars (an altair chart; displays offline)."""
        hours = self.table.filter(pl.col("metric").str.contains("hours|^stage_"))
        long = pl.concat(
            [
                hours.select("label", pl.col(side).round(1).alias("hours")).with_columns(
                    pl.lit(name).alias("side")
                )
                for side, name in (("a", self.a_label), ("b", self.b_label))
            ]
        )
        order = hours["label"].to_list()
        chart: alt.Chart = (
            charts.Chart(long)
            .mark_bar()
            .encode(
                y=alt.Y("label:N", title=None, sort=order),
                yOffset=alt.YOffset("side:N", sort=[self.a_label, self.b_label]),
                x=alt.X("hours:Q", title=t("chart.mean_hours_axis", self.lang)),
                color=alt.Color(
                    "side:N",
                    title=None,
                    sort=[self.a_label, self.b_label],
                    scale=alt.Scale(range=[charts.BLUE, charts.ORANGE]),
                ),
                tooltip=["side:N", "label:N", alt.Tooltip("hours:Q", format=".1f")],
            )
        )
        return chart.properties(
            title=t("api.compare_chart", self.lang), width=charts.WIDTH, height=alt.Step(12)
        )

    def _repr_html_(self) -> str:
        def cell(metric: str, value: float | None, *, signed: bool = False) -> str:
            if value is None:
                return "—"
            sign = "+" if signed and value > 0 else ""
            if metric.endswith("share"):
                return sign + fmt.pct(value, lang=self.lang)
            if metric in {"counted", "open_at_risk"}:
                return f"{sign}{value:,.0f}"
            return sign + fmt.hours(value, lang=self.lang)

        rows = [
            [
                r["label"],
                cell(r["metric"], r["a"]),
                cell(r["metric"], r["b"]),
                cell(r["metric"], r["delta"], signed=True),
            ]
            for r in self.table.iter_rows(named=True)
        ]
        headers = [
            t("api.compare.metric", self.lang),
            self.a_label,
            self.b_label,
            t("api.compare.delta", self.lang),
        ]
        body = table(rows, headers=headers, num=[1, 2, 3])
        chart = Markup(charts.chart_html(self.chart(), lang=self.lang))
        sec = section("compare", body, chart, title=repr(self), lang=self.lang)
        return charts.notebook_view(str(sec.html), lang=self.lang)


def compare(a: Diagnosis, b: Diagnosis, *, lang: str | None = None) -> Comparison:
    """Two diagnoses side by side: two windows of one store, or two stores.

    Parameters
    ----------
    a, b
        ``Diagnosis`` objects (from :func:`analyze`, or ``estate["id"]``).
    lang
        ``zh`` or ``en`` for the labels; default ``a``'s language.

    Returns
    -------
    Comparison
        ``.table`` (``metric, label, a, b, delta``), displays as a table and a chart.

    Examples
    --------
    Two windows of one store:

    >>> from aftersales_kit.demo.simulate import generate
    >>> frame = generate(stores=2, orders=100, end="2026-06-30")
    >>> june = analyze(frame, store="1000101", end="2026-06-30", as_of="2026-07-01 09:00")
    >>> may = analyze(frame, store="1000101", end="2026-05-31", as_of="2026-07-01 09:00")
    >>> c = compare(may, june)
    >>> c.a_label, c.b_label
    ('2026-05-02—2026-05-31', '2026-06-01—2026-06-30')
    >>> c.table.columns
    ['metric', 'label', 'a', 'b', 'delta']
    >>> row = c.table.row(by_predicate=pl.col("metric") == "counted", named=True)
    >>> (row["a"], row["b"]) == (may.kpis.counted, june.kpis.counted)
    True
    """
    language = _lang(lang or a.lang)

    def stage_hours(d: Diagnosis) -> dict[str, float | None]:
        if d.stage_means.is_empty():
            return {}
        return {str(s): h for s, h in d.stage_means.select("stage", "hours").iter_rows()}

    stages_a, stages_b = stage_hours(a), stage_hours(b)
    line = fmt.hours_label(60, lang=language)
    figures: list[tuple[str, str, float | None, float | None]] = [
        ("counted", t("kpi.counted", language), a.kpis.counted, b.kpis.counted),
        ("mean_hours", t("kpi.mean", language), a.kpis.mean_hours, b.kpis.mean_hours),
        ("median_hours", t("kpi.median", language), a.kpis.median_hours, b.kpis.median_hours),
        ("p90_hours", t("kpi.p90", language), a.kpis.p90_hours, b.kpis.p90_hours),
        (
            "over_60h_share",
            t("kpi.over_60h", language, hours=line),
            a.kpis.over_60h_share,
            b.kpis.over_60h_share,
        ),
        (
            "open_at_risk",
            t("api.compare.open_at_risk", language),
            a.open_at_risk.height,
            b.open_at_risk.height,
        ),
    ]
    for stage in dict.fromkeys([*stages_a, *stages_b]):
        name = t("api.compare.stage", language, stage=label("stage", stage, language))
        figures.append((f"stage_{stage}", name, stages_a.get(stage), stages_b.get(stage)))
    rows = [
        {
            "metric": metric,
            "label": text,
            "a": None if va is None else float(va),
            "b": None if vb is None else float(vb),
            "delta": None if va is None or vb is None else float(vb) - float(va),
        }
        for metric, text, va, vb in figures
    ]
    return Comparison(
        a,
        b,
        pl.DataFrame(rows, schema=COMPARE_SCHEMA),
        _side_label(a, b),
        _side_label(b, a),
        lang=language,
    )


# --- reports from a diagnosis ---------------------------------------------------------------------


def render_diagnosis(d: model.Diagnosis, *, path: Path, lang: str = "zh", rules: str = "") -> Path:
    """Write the HTML report of ``d`` to ``path`` through the store notebook (``to_html``).

    The diagnosis is handed to the notebook as the batch does (a pickle in a private temporary
    folder), so nothing is recomputed and the page is the one ``aftersales report`` writes.
    """
    with report.private_dir("api") as tmp:
        cache = report.handoff(d, path=tmp / "diagnosis.pkl")
        params = report.ReportParams(
            store=str(d.store_id),
            start=d.window.start.isoformat(),
            end=d.window.end.isoformat(),
            as_of=d.as_of.isoformat(sep=" "),
            rules=str(rules or ""),
            lang=_lang(lang),
            cache=str(cache),
        )
        html = report.render(params, out_dir=tmp / "out")
        atomic_write(Path(path), data=html.read_bytes())
    return Path(path)
