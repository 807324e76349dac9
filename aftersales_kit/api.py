"""The Python API for notebooks and scripts: :func:`analyze` one store, :func:`analyze_estate`.

Both run the same load → window → diagnose sequence as the reports (:func:`diagnose_data`, which
``sections.prepare`` — the store notebook's computing step — calls too), so a number seen here is
the number in the report. The returned objects are the view and the data at once: they display
in Jupyter and carry polars frames to explore (docs/API.md).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from aftersales_kit.errors import DataError

if TYPE_CHECKING:
    from aftersales_kit.diagnose import Diagnosis
    from aftersales_kit.load import LoadReport
    from aftersales_kit.rules import Rules
    from aftersales_kit.window import Clock, Window

#: A file or folder path.
StrPath = str | os.PathLike[str]
#: ``data`` may be one path, several, or a canonical polars frame.
Data = StrPath | Sequence[StrPath] | pl.DataFrame | pl.LazyFrame


@dataclass(frozen=True)
class Computed:
    """What :func:`diagnose_data` computed: the diagnoses and what they were computed with."""

    diagnoses: dict[str, Diagnosis]
    rules: Rules
    window: Window
    as_of: datetime
    load_report: LoadReport | None
    #: the canonical frame diagnosed (every store loaded)
    frame: pl.DataFrame
    #: what the report time and window follow (DOMAIN §2 "Data as of")
    clock: Clock | None = None


def _frame_input(frame: pl.DataFrame | pl.LazyFrame, *, store_id: str | None) -> pl.DataFrame:
    """A caller's frame in the canonical schema: required columns checked, optional ones added
    as nulls, canonical dtypes, extra columns kept after them (as ``load`` returns them)."""
    from aftersales_kit.schema import COLUMNS, REQUIRED

    df = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    if store_id and "store_id" not in df.columns:
        df = df.with_columns(pl.lit(store_id, dtype=pl.String).alias("store_id"))
    elif store_id:
        df = df.with_columns(pl.col("store_id").cast(pl.String).fill_null(store_id))
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        msg = (
            f"数据表缺少必需的列 (the frame lacks required columns): {', '.join(missing)}; "
            "提示 (hint): 列名用 aftersales_kit.schema.COLUMNS 的规范名，或传入导出文件路径"
        )
        raise DataError(msg)
    canonical = [
        (pl.col(name) if name in df.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in COLUMNS.items()
    ]
    extra = [c for c in df.columns if c not in COLUMNS]
    return df.select(*canonical, *extra)


def diagnose_data(
    data: Data,
    *,
    stores: Sequence[str] | None = None,
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
    orders: bool = False,
) -> Computed:
    """Load ``data``, fix the window and diagnose ``stores`` (default all) against every store.

    The one copy of the sequence behind the store notebook and the API. Observed star / rank
    rates and the published figure come from the arguments, else from the ``[stores]`` entries
    of the config or of a data folder's ``stores.toml`` (as on the command line).
    """
    from aftersales_kit.config import load_config, store_entries, store_inputs, store_peer_hours
    from aftersales_kit.diagnose import diagnose
    from aftersales_kit.load import load
    from aftersales_kit.metrics import stores_in, unknown_store_error
    from aftersales_kit.rules import Rules, load_rules
    from aftersales_kit.views import configure as configure_views
    from aftersales_kit.window import is_as_of_data, parse_as_of, parse_window

    ruleset = (
        rules
        if isinstance(rules, Rules)
        else load_rules(
            rules if isinstance(rules, Mapping) else os.fspath(rules) if rules else None
        )
    )
    config_path = None if config is None else os.fspath(config)
    if not isinstance(as_of, datetime) and not is_as_of_data(as_of):
        parse_as_of(as_of or None)  # a bad --as-of is a usage error before any data is read
    if start or end:
        parse_window(start or None, end=end or None, rules=ruleset)  # likewise a bad window
    report: LoadReport | None = None
    paths: list[str] = []
    if isinstance(data, pl.DataFrame | pl.LazyFrame):
        frame = _frame_input(data, store_id=store_id)
        if frame.height == 0:
            from aftersales_kit.text import t

            # an empty filter result is the likely cause; "store not found: none" would mislead
            msg = f"{t('api.empty_frame', 'zh')} ({t('api.empty_frame', 'en')})"
            raise DataError(msg)
    else:
        # a single path given as a string is one path, not a list of characters
        paths = [os.fspath(p) for p in ([data] if isinstance(data, str | os.PathLike) else data)]
        loaded = load(
            paths, store_id=store_id or None, config=config_path, skip_bad_rows=skip_bad_rows
        )
        frame, report = loaded.frame, loaded.report
    found = stores_in(frame)
    selected = found if stores is None else [str(s) for s in stores]
    missing = [sid for sid in selected if sid not in found]
    if missing:
        raise unknown_store_error(", ".join(missing), stores=found)
    clock = run_clock(
        frame, report, stores=selected, as_of=as_of, start=start, end=end, rules=ruleset
    )
    moment, window = clock.as_of, clock.window
    loaded_config = load_config(config_path)
    entries = store_entries(loaded_config, data=paths)
    configured, published = store_inputs(entries, selected)
    given: dict[str, float] = {}
    if star is not None and star > 0:
        given["star"] = float(star)
    if aftersales_rank is not None and aftersales_rank >= 0:
        given["aftersales_rank"] = float(aftersales_rank)
    if dispute_rank is not None and dispute_rank >= 0:
        given["dispute_rank"] = float(dispute_rank)
    # The arguments win; a store's [stores] entry fills what they do not give.
    observed = {sid: {**configured.get(sid, {}), **given} for sid in selected}
    observed = {k: v for k, v in observed.items() if v}
    if published_hours:
        published = dict.fromkeys(selected, float(published_hours))
    diagnoses = diagnose(
        frame,
        window=window,
        rules=ruleset,
        as_of=moment,
        target_hours=target_hours or None,
        observed=observed or None,
        stores=selected,
        load_report=report,
        published_hours=published or None,
        orders=orders,
    )
    diagnoses = configure_views(
        with_clock(diagnoses, clock=clock),
        peer_hours=store_peer_hours(entries, selected),
        staff_masked=loaded_config.mask_staff,
    )
    return Computed(diagnoses, ruleset, window, moment, report, frame, clock)


def run_clock(
    frame: pl.DataFrame,
    report: LoadReport | None,
    *,
    stores: Sequence[str],
    as_of: str | datetime | None,
    start: str | None,
    end: str | None,
    rules: Rules,
) -> Clock:
    """The report time and window of a run over ``stores`` (DOMAIN §2 "Data as of"): the
    selected stores' data_as_of (from the load report, else from the frame) and their newest
    files' modification times (none for a frame: never shifted unless ``as_of="data"``)."""
    from aftersales_kit.schema import latest_timestamp
    from aftersales_kit.window import resolve_clock

    wanted = set(stores)
    if report is not None:
        data_as_of = {k: v for k, v in report.data_as_of.items() if k in wanted}
        newest_file = {k: v for k, v in report.newest_file.items() if k in wanted}
    else:
        latest = (
            frame.filter(pl.col("store_id").is_in(sorted(wanted)))
            .group_by("store_id")
            .agg(latest_timestamp(frame.columns).max().alias("as_of"))
        )
        data_as_of = {str(k): v for k, v in latest.iter_rows() if v is not None}
        newest_file = {}
    return resolve_clock(
        as_of=as_of,
        start=start or None,
        end=end or None,
        rules=rules,
        data_as_of=data_as_of,
        newest_file=newest_file,
    )


def with_clock(diagnoses: Mapping[str, Diagnosis], *, clock: Clock) -> dict[str, Diagnosis]:
    """The diagnoses with the run's clock: where ``as_of`` came from, each store's data age
    against the run's now, and 数据过期 for a store whose data is more than 48 h older than the
    newest store's (left out of rankings)."""
    from aftersales_kit.window import STALE_AFTER

    newest = max((d.data_as_of for d in diagnoses.values() if d.data_as_of), default=None)
    out = {}
    for sid, d in diagnoses.items():
        age = None if d.data_as_of is None else (clock.now - d.data_as_of).total_seconds() / 3600
        stale = (
            len(diagnoses) > 1
            and newest is not None
            and d.data_as_of is not None
            and newest - d.data_as_of > STALE_AFTER
        )
        out[sid] = replace(d, as_of_source=clock.source, data_age_hours=age, data_stale=stale)
    return out


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

    >>> from aftersales_kit.demo import generate
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
    return replace(computed.diagnoses[str(store)], lang=_lang(lang))


def _lang(lang: str) -> str:
    from aftersales_kit.errors import UsageError

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
    summary: Mapping[str, Any]
    portfolio: pl.DataFrame
    lang: str = "zh"
    sections: tuple[str, ...] = field(
        default=("headline", "ranking", "distribution", "warning_stores", "short_boards")
    )

    def __getitem__(self, store: str) -> Diagnosis:
        return self.diagnoses[str(store)]

    def __repr__(self) -> str:
        from aftersales_kit.text import t

        return t(
            "api.estate_repr",
            self.lang,
            n=len(self.diagnoses),
            start=self.summary["window_start"],
            end=self.summary["window_end"],
        )

    def _repr_html_(self) -> str:
        from aftersales_kit import charts, portfolio

        parts = [
            getattr(portfolio, name)(self.summary, lang=self.lang).html for name in self.sections
        ]
        parts.append(portfolio.open_at_risk(self.summary, lang=self.lang).html)
        return charts.notebook_view("".join(parts), lang=self.lang)


def estate_summary(diagnoses: Mapping[str, Diagnosis], *, window: Window) -> dict[str, Any]:
    """The portfolio notebook's input computed from diagnoses (no report links)."""
    from aftersales_kit import portfolio

    return {
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "stores": [portfolio.store_summary(d, report="") for _, d in sorted(diagnoses.items())],
    }


def _portfolio_frame(summary: Mapping[str, Any]) -> pl.DataFrame:
    from aftersales_kit.portfolio import ranked, stale

    rows = []
    for r in [*ranked(summary["stores"]), *stale(summary["stores"])]:
        board = r.get("short_board") or {}
        row = {k: r.get(k) for k in PORTFOLIO_SCHEMA if not k.startswith("short_board")}
        row |= {
            "short_board_scene": board.get("scene"),
            "short_board_stage": board.get("stage"),
            "short_board_excess_hours": board.get("excess_hours"),
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

    >>> from aftersales_kit.demo import generate
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
    diagnoses = {sid: replace(d, lang=lang) for sid, d in computed.diagnoses.items()}
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
        from aftersales_kit.text import t

        return t("api.compare_title", self.lang, a=self.a_label, b=self.b_label)

    def chart(self) -> Any:
        """The hour figures of both sides as grouped bars (an altair chart; displays offline)."""
        from aftersales_kit import charts
        from aftersales_kit.text import t

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
        import altair as alt

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
        from aftersales_kit import charts
        from aftersales_kit import format as fmt
        from aftersales_kit.html import Markup, section, table
        from aftersales_kit.text import t

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

    >>> from aftersales_kit.demo import generate
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
    from aftersales_kit import format as fmt
    from aftersales_kit.text import label, t

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


def render_diagnosis(d: Diagnosis, *, path: Path, lang: str = "zh", rules: str = "") -> Path:
    """Write the HTML report of ``d`` to ``path`` through the store notebook (``to_html``).

    The diagnosis is handed to the notebook as the batch does (a pickle in a private temporary
    folder), so nothing is recomputed and the page is the one ``aftersales report`` writes.
    """
    from aftersales_kit import report
    from aftersales_kit.files import atomic_write

    with report.private_dir("api") as tmp:
        cache = tmp / "diagnosis.pkl"
        # the per-order frame is not shown in the report; keep the pickle small
        cache.write_bytes(pickle.dumps(replace(d, orders=pl.DataFrame()), protocol=5))
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
