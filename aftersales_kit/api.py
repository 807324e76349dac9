"""The Python API for notebooks and scripts: :func:`analyze` one store, :func:`analyze_estate`.

Both run the pipeline of the reports (:func:`aftersales_kit.pipeline.diagnose_data`, which
``sections.prepare`` — the store notebook's computing step — calls too), so a number seen here is
the number in the report. The returned objects wrap the data with its views: they display in
Jupyter, write the report and the action lists, and carry polars frames to explore (docs/API.md).
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

import polars as pl

from aftersales_kit import model
from aftersales_kit.deliver.xlsx import write_action_lists
from aftersales_kit.errors import UsageError
from aftersales_kit.files import atomic_write
from aftersales_kit.pipeline import Data, StrPath, diagnose_data
from aftersales_kit.render import charts, portfolio, report
from aftersales_kit.render.sections import diagnosis_html
from aftersales_kit.text import one_line, t

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
    >>> d.orders.filter("counted").group_by("scene").agg(pl.col("hours").mean())  # doctest: +SKIP
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
        return charts.notebook_assets() + f'<div class="aftersales-view">{"".join(parts)}</div>'


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
    )
    lang = _lang(lang)
    diagnoses = {sid: Diagnosis.of(replace(d, lang=lang)) for sid, d in computed.diagnoses.items()}
    summary = estate_summary(diagnoses, window=computed.window)
    return Estate(diagnoses, summary, _portfolio_frame(summary), lang=lang)


# --- reports from a diagnosis ---------------------------------------------------------------------


def render_diagnosis(d: model.Diagnosis, *, path: Path, lang: str = "zh", rules: str = "") -> Path:
    """Write the HTML report of ``d`` to ``path`` through the store notebook (``to_html``).

    The diagnosis is handed to the notebook as the batch does (a pickle in a private temporary
    folder), so nothing is recomputed and the page is the one ``aftersales report`` writes.
    """
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
