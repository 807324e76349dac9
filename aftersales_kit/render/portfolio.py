"""The portfolio overview (``reports/index.html``): data from the batch's sidecars, sections.

The batch writes one small summary per store (in the sidecar JSON beside each report, computed from
its ``Diagnosis``); :func:`write_summary` gathers them for a window, and
``notebooks/portfolio.ipynb`` (papermill-executed, exported with the report template) shows them.
Nothing is recomputed here, so shards on several machines can each write their stores and one
final step renders the index.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NotRequired, TypedDict, cast

from aftersales_kit import format as fmt
from aftersales_kit.files import atomic_write
from aftersales_kit.render.html import (
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
    from aftersales_kit.window import Window

NOTEBOOK = resource_dir("notebooks") / "portfolio.ipynb"
SUMMARY_DIR = ".cache"
#: Default minimum sample for a ranked store (``[report] min_orders`` overrides it).
MIN_ORDERS = 30
#: The estate table's downloads, written beside index.html.
EXPORT_NAMES = ("estate.csv", "estate.xlsx")
#: Rows the static lists (consumer warning, open orders) show; the estate table has them all.
LIST_LIMIT = 100


def s(key: str, lang: str = "zh", **values: object) -> str:
    """This page's string ``key`` (``pf.<key>`` in text.py)."""
    from aftersales_kit.text import t

    return t(f"pf.{key}", lang, **values)


class BoardRow(TypedDict):
    """A store's short board in the estate summary."""

    scene: str
    stage: str
    excess_hours: float


class StoreRow(TypedDict):
    """One store of the estate summary (:func:`store_summary`; the report's sidecar carries it)."""

    store_id: str
    store_name: str
    report: str
    window_start: str
    window_end: str
    counted: int
    mean_hours: float | None
    prev_mean_hours: float | None
    delta_hours: float | None
    median_hours: float | None
    over_60h_share: float | None
    warning_level: str
    warning_state: str
    tomorrow_mean_hours: float | None
    tomorrow_delta_hours: float | None
    line_hours: float
    short_board: BoardRow | None
    open_at_risk: int
    open_breached: int
    data_until: str | None
    as_of: str
    data_as_of: str | None
    data_stale: bool
    #: brand / manager from ``stores.toml`` (the estate file), when the batch wrote it
    groups: NotRequired[dict[str, str]]


class TableRow(TypedDict):
    """One row of the estate table (the index's table, ``estate.csv`` and ``estate.xlsx``)."""

    rank: int | None
    store_id: str
    store_name: str
    report: str
    brand: str
    manager: str
    impact: float
    mean_hours: float | None
    prev_mean_hours: float | None
    delta_hours: float | None
    counted: int
    over_60h_share: float | None
    tomorrow: str
    short_board: str
    level: str
    level_text: str
    small_sample: bool
    data_stale: bool
    data_as_of: str
    open_at_risk: int


class EstateSummary(TypedDict):
    """The portfolio notebook's input: the window and every store's row."""

    window_start: str
    window_end: str
    stores: list[StoreRow]
    #: stores with fewer counted orders are marked and never ranked above those with enough
    min_orders: NotRequired[int]
    #: the downloads written beside index.html (none for a notebook's estate)
    exports: NotRequired[list[str]]


# --- data -----------------------------------------------------------------------------------------


def _f(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def store_summary(d: Diagnosis, *, report: str) -> StoreRow:
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


def collect_summaries(out_dir: Path, *, window: Window) -> list[StoreRow]:
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
            rows.append(cast("StoreRow", summary))
    return sorted(rows, key=lambda r: r["store_id"])


def write_summary(
    out_dir: Path, *, window: Window, min_orders: int = MIN_ORDERS, lang: str = "zh"
) -> Path:
    """Gather the summaries in one JSON file (the portfolio notebook's input); returns its path.

    Each row gets its groups (brand, manager) from the estate file (:mod:`aftersales_kit.estate`)
    and the estate table is written beside the index as ``estate.csv`` and ``estate.xlsx``.
    """
    from aftersales_kit import estate

    rows = collect_summaries(out_dir, window=window)
    found = estate.read(out_dir)
    if found is not None:
        for row in rows:
            figures = found.stores.get(row["store_id"])
            row["groups"] = dict(figures.groups) if figures is not None else {}
    payload: EstateSummary = {
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "min_orders": int(min_orders),
        # written beside index.html below; a notebook's summary has none to link
        "exports": list(EXPORT_NAMES),
        "stores": rows,
    }
    path = Path(out_dir) / SUMMARY_DIR / f"portfolio_{window.start}_{window.end}.json"
    atomic_write(path, data=json.dumps(payload, ensure_ascii=False, indent=1))
    write_exports(payload, out_dir=Path(out_dir), lang=lang)
    return path


def load_summary(path: str | Path) -> EstateSummary:
    """The summary :func:`write_summary` wrote (the toolkit's own file)."""
    return cast("EstateSummary", json.loads(Path(path).read_text(encoding="utf-8")))


# --- sections (called by the notebook) --------------------------------------------------


def _section(sec_id: str, title: str, body: Markup, *, lang: str) -> Section:
    return section(sec_id, body, title=title, lang=lang)


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[str | Markup]], num: Sequence[int]
) -> Markup:
    return table(rows, headers=headers, num=num, classes=("pf-table",))


def _link(row: StoreRow) -> str | Markup:
    name = fmt.clip(row["store_name"])
    if not row.get("report"):  # computed in a notebook (analyze_estate): no report to link
        return name
    # Relative links only: the reports folder can be zipped and opened anywhere.
    return tag("a", name, href=row["report"])


def _delta(row: StoreRow, lang: str) -> str | Markup:
    delta = row.get("delta_hours")
    if delta is None:
        return "—"
    arrow = "↑" if delta > 0 else "↓" if delta < 0 else "→"
    cls = "up" if delta > 0 else "down" if delta < 0 else ""
    return tag("span", f"{arrow} {fmt.hours(abs(delta), lang=lang)}", class_=cls)


def _board_text(board: BoardRow | None, lang: str) -> str:
    from aftersales_kit.text import label

    if not board:
        return "—"
    return f"{label('scene', board['scene'], lang)} · {label('stage', board['stage'], lang)}"


def _level(level: str, lang: str) -> Markup:
    return tag("span", s("level." + level, lang), class_=f"risk-{level}")


#: the overview's sections (id, text key), in the navigation's order.
NAV: tuple[tuple[str, str], ...] = (
    ("pf-ranking", "ranking"),
    ("pf-groups", "groups"),
    ("pf-distribution", "distribution"),
    ("pf-warning", "warning"),
    ("pf-short-boards", "short_boards"),
    ("pf-open", "open"),
)


def report_meta(summary: EstateSummary, *, lang: str = "zh") -> dict[str, object]:
    """Header values for the report template (same keys as a store report's meta)."""
    start, end = summary["window_start"], summary["window_end"]
    stores = summary.get("stores", [])
    # Sidecars written by an older toolkit version lack these keys; the header then shows "—".
    data_until = max(
        (r["data_until"] for r in stores if r.get("data_until")), key=str, default=None
    )
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


def show_meta(summary: EstateSummary, *, lang: str = "zh") -> None:
    display_bundle(report_meta(summary, lang=lang))


def headline(summary: EstateSummary, *, lang: str = "zh") -> Section:
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
    return Section("pf-headline", text, tag("p", text, class_="report-lead"), lang=lang)


def impact(row: StoreRow) -> float:
    """Hours over the line × counted orders: how much the store adds to the problem (the
    default ranking; a store just over the line with many orders outranks a tiny slow one)."""
    mean = row.get("mean_hours")
    if mean is None:
        return 0.0
    return max(float(mean) - float(row.get("line_hours") or 60.0), 0.0) * int(row["counted"])


def small_sample(row: StoreRow, *, min_orders: int) -> bool:
    """Fewer counted orders than the minimum: marked, and ranked after every store with enough."""
    return int(row["counted"]) < min_orders


def ranked(
    rows: Sequence[StoreRow], *, min_orders: int = MIN_ORDERS, by: str = "impact"
) -> list[StoreRow]:
    """The ranking: stores with enough counted orders first, then by impact (``by="mean"``: by
    mean hours), longest first; stores without counted orders last, then by id. 数据过期
    stores (:func:`stale`) are left out: their figures are not comparable with the others'."""

    def key(r: StoreRow) -> tuple[bool, bool, float, float, str]:
        mean = r["mean_hours"]
        first = impact(r) if by == "impact" else (mean or 0.0)
        return (
            small_sample(r, min_orders=min_orders),
            mean is None,
            -first,
            -(mean or 0.0),
            r["store_id"],
        )

    return sorted((r for r in rows if not r.get("data_stale")), key=key)


def stale(rows: Sequence[StoreRow]) -> list[StoreRow]:
    """The 数据过期 stores (data more than 48 h behind the newest store's), by id."""
    return sorted((r for r in rows if r.get("data_stale")), key=lambda r: r["store_id"])


def _tomorrow(row: StoreRow, lang: str) -> str:
    """Tomorrow's projected mean and its change (the 考核周期 moves one day every morning)."""
    mean = row.get("tomorrow_mean_hours")
    if mean is None:
        return "—"
    delta = row.get("tomorrow_delta_hours")
    sign = "" if delta is None else "+" if delta > 0.05 else "−" if delta < -0.05 else "±"
    change = "" if delta is None else f" ({sign}{fmt.hours(abs(delta), lang=lang, unit=False)})"
    return fmt.hours(mean, lang=lang) + change


def _group_label(key: str, value: str, lang: str) -> str:
    return f"{s('col.' + key, lang)}: {value}"


def table_rows(summary: EstateSummary, *, lang: str = "zh") -> list[TableRow]:
    """The estate table: every store (数据过期 ones after the ranked), with its rank, impact,
    small-sample flag and groups; the index's table, CSV and xlsx all come from these rows."""
    min_orders = int(summary.get("min_orders", MIN_ORDERS))
    stores = summary["stores"]
    order = [*ranked(stores, min_orders=min_orders), *stale(stores)]
    out: list[TableRow] = []
    for i, r in enumerate(order, start=1):
        groups = r.get("groups") or {}
        out.append(
            {
                "rank": None if r.get("data_stale") else i,
                "store_id": r["store_id"],
                "store_name": r["store_name"],
                "report": r.get("report") or "",
                "brand": groups.get("brand", ""),
                "manager": groups.get("manager", ""),
                "impact": round(impact(r), 1),
                "mean_hours": _round(r["mean_hours"]),
                "prev_mean_hours": _round(r.get("prev_mean_hours")),
                "delta_hours": _round(r.get("delta_hours")),
                "counted": int(r["counted"]),
                "over_60h_share": r.get("over_60h_share"),
                "tomorrow": _tomorrow(r, lang),
                "short_board": _board_text(r.get("short_board"), lang),
                "level": r["warning_level"],
                "level_text": s("level." + r["warning_level"], lang),
                "small_sample": small_sample(r, min_orders=min_orders),
                "data_stale": bool(r.get("data_stale")),
                "data_as_of": r.get("data_as_of") or "",
                "open_at_risk": int(r.get("open_at_risk") or 0),
            }
        )
    return out


def _cell(row: TableRow, key: str) -> object:
    """A table row's value by a column name chosen at run time."""
    return cast("Mapping[str, object]", row)[key]


def _round(value: object) -> float | None:
    return None if value is None else round(float(value), 2)  # type: ignore[arg-type]


#: (row key, text key, numeric, ranks: small-sample stores stay below when sorting by it)
COLUMNS: tuple[tuple[str, str, bool, bool], ...] = (
    ("rank", "col.rank", True, False),
    ("store", "col.store", False, False),
    ("group", "col.group", False, False),
    ("impact", "col.impact", True, True),
    ("mean_hours", "col.mean", True, True),
    ("delta_hours", "col.change", True, True),
    ("counted", "col.counted", True, False),
    ("over_60h_share", "col.over", True, True),
    ("tomorrow", "col.tomorrow", False, False),
    ("short_board", "col.short_board", False, False),
    ("level", "col.level", False, False),
)

_TABLE_CSS = """
#pf-ranking .estate-tools { display: flex; flex-wrap: wrap; gap: 6px 10px; margin: 0 0 8px;
  align-items: center; }
#pf-ranking .estate-tools input[type=search] { flex: 1 1 220px; min-width: 0; padding: 4px 6px; }
#pf-ranking .estate-tools select, #pf-ranking .estate-tools button { max-width: 220px;
  padding: 3px 6px; }
#pf-ranking table.estate-table { width: 100%; table-layout: fixed; border-collapse: collapse;
  font-size: 13px; }
#pf-ranking table.estate-table th, #pf-ranking table.estate-table td { white-space: normal;
  overflow-wrap: anywhere; padding: 4px 5px; border-bottom: 1px solid var(--r-line, #ddd);
  vertical-align: top; text-align: left; }
#pf-ranking table.estate-table th { cursor: pointer; user-select: none; }
#pf-ranking table.estate-table th[aria-sort=ascending]::after { content: " ▲"; }
#pf-ranking table.estate-table th[aria-sort=descending]::after { content: " ▼"; }
#pf-ranking table.estate-table td.num, #pf-ranking table.estate-table th.num { text-align: right; }
#pf-ranking table.estate-table col.c-rank { width: 4.5em; }
#pf-ranking table.estate-table col.c-store { width: 17%; }
#pf-ranking .small-tag { color: var(--r-muted, #777); font-size: 12px; }
#pf-ranking .estate-pager { display: flex; gap: 10px; align-items: center; margin-top: 8px; }
"""

_TABLE_JS = r"""
(function () {
  var root = document.getElementById("pf-ranking");
  if (!root || root.dataset.ready) { return; }
  root.dataset.ready = "1";
  var data = JSON.parse(document.getElementById("estate-data").textContent);
  var F = data.fields, idx = {};
  F.forEach(function (f, i) { idx[f] = i; });
  var rows = data.rows, T = data.text, cols = data.columns;
  var $ = function (id) { return document.getElementById(id); };
  var state = { q: "", level: "", board: "", group: "", key: "rank", dir: 1, page: 0, size: 50 };
  function val(r, key) {
    if (key === "store") { return r[idx.store_name]; }
    if (key === "group") { return [r[idx.brand], r[idx.manager]].filter(Boolean).join(" · "); }
    return r[idx[key]];
  }
  function esc(t) {
    return String(t).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function num(v, digits, unit) {
    if (v === null || v === undefined) { return "—"; }
    return v.toLocaleString("en-US", { minimumFractionDigits: digits,
      maximumFractionDigits: digits }) + unit;
  }
  function cell(r, c) {
    var k = c.key, v = val(r, k);
    if (k === "store") {
      var name = esc(r[idx.store_name]);
      var link = r[idx.report]
        ? '<a class="store-link" href="' + esc(r[idx.report]) + '">' + name + "</a>" : name;
      var tag = r[idx.small_sample]
        ? ' <span class="small-tag">' + esc(T.small_tag) + "</span>" : "";
      return link + tag + '<br><span class="small-tag">' + esc(r[idx.store_id]) + "</span>";
    }
    if (k === "rank") { return v === null ? "—" : String(v); }
    if (k === "impact") { return num(v, 0, ""); }
    if (k === "mean_hours") { return num(v, 1, T.unit); }
    if (k === "delta_hours") {
      if (v === null) { return "—"; }
      return (v > 0 ? "↑ " : v < 0 ? "↓ " : "→ ") + num(Math.abs(v), 1, T.unit);
    }
    if (k === "over_60h_share") { return v === null ? "—" : (v * 100).toFixed(1) + "%"; }
    if (k === "level") {
      return '<span class="risk-' + esc(v) + '">' + esc(r[idx.level_text]) + "</span>";
    }
    return esc(v === null || v === undefined ? "" : v);
  }
  function matches(r) {
    if (state.q) {
      var q = state.q;
      if (String(r[idx.store_id]).toLowerCase().indexOf(q) < 0 &&
          String(r[idx.store_name]).toLowerCase().indexOf(q) < 0) { return false; }
    }
    if (state.level && r[idx.level] !== state.level) { return false; }
    if (state.board && r[idx.short_board] !== state.board) { return false; }
    if (state.group) {
      var cut = state.group.indexOf(":");
      if (r[idx[state.group.slice(0, cut)]] !== state.group.slice(cut + 1)) { return false; }
    }
    return true;
  }
  function compare(a, b) {
    var c = cols.filter(function (x) { return x.key === state.key; })[0];
    if (c && c.ranks) {
      var sa = a[idx.small_sample] ? 1 : 0, sb = b[idx.small_sample] ? 1 : 0;
      if (sa !== sb) { return sa - sb; }  // enough orders first, whichever direction
    }
    var x = val(a, state.key), y = val(b, state.key);
    var xn = x === null || x === undefined || x === "";
    var yn = y === null || y === undefined || y === "";
    if (xn || yn) { return xn === yn ? 0 : xn ? 1 : -1; }  // blanks last
    if (typeof x === "number" && typeof y === "number") { return state.dir * (x - y); }
    return state.dir * String(x).localeCompare(String(y), "zh");
  }
  var view = rows;
  function refresh() {
    view = rows.filter(matches);
    var order = view.map(function (r, i) { return [r, i]; });
    order.sort(function (p, q) { return compare(p[0], q[0]) || p[1] - q[1]; });
    view = order.map(function (p) { return p[0]; });
    state.page = Math.min(state.page, Math.max(0, Math.ceil(view.length / state.size) - 1));
    draw();
  }
  function draw() {
    var start = state.page * state.size, part = view.slice(start, start + state.size);
    var html = part.map(function (r) {
      return "<tr>" + cols.map(function (c) {
        return '<td class="' + (c.num ? "num" : "") + '">' + cell(r, c) + "</td>";
      }).join("") + "</tr>";
    }).join("");
    if (!part.length) {
      html = '<tr><td colspan="' + cols.length + '">' + esc(T.no_match) + "</td></tr>";
    }
    $("estate-body").innerHTML = html;
    var pages = Math.max(1, Math.ceil(view.length / state.size));
    $("estate-page").textContent = T.page.replace("{page}", state.page + 1)
      .replace("{pages}", pages).replace("{n}", view.length);
    $("estate-prev").disabled = state.page === 0;
    $("estate-next").disabled = state.page >= pages - 1;
    Array.prototype.forEach.call(root.querySelectorAll("th[data-key]"), function (th) {
      var on = th.dataset.key === state.key;
      th.setAttribute("aria-sort", on ? (state.dir > 0 ? "ascending" : "descending") : "none");
    });
  }
  function sortBy(key, dir) {
    state.dir = dir !== undefined ? dir : state.key === key ? -state.dir : (key === "rank" ||
      key === "store" || key === "group" ? 1 : -1);
    state.key = key; state.page = 0; refresh();
  }
  Array.prototype.forEach.call(root.querySelectorAll("th[data-key]"), function (th) {
    th.addEventListener("click", function () { sortBy(th.dataset.key); });
  });
  $("estate-search").addEventListener("input", function (e) {
    state.q = e.target.value.trim().toLowerCase(); state.page = 0; refresh();
  });
  [["estate-level", "level"], ["estate-board", "board"], ["estate-group", "group"]].forEach(
    function (p) {
      $(p[0]).addEventListener("change", function (e) {
        state[p[1]] = e.target.value; state.page = 0; refresh();
      });
    });
  $("estate-by-mean").addEventListener("click", function () { sortBy("mean_hours", -1); });
  $("estate-by-impact").addEventListener("click", function () { sortBy("rank", 1); });
  $("estate-prev").addEventListener("click", function () { state.page--; draw(); });
  $("estate-next").addEventListener("click", function () { state.page++; draw(); });
  refresh();
  // for the load-time test and benchmark: ms from navigation start to the first page drawn
  window.estateDrawnAt = performance.now();
})();
"""


def _void(name: str, **attrs: str | None) -> Markup:
    """A void element (``<input>``, ``<col>``): :func:`tag` without the closing tag."""
    return Markup(str(tag(name, **attrs)).removesuffix(f"</{name}>"))


def _options(first: str, values: Sequence[tuple[str, str]], *, select_id: str) -> Markup:
    # tag() leaves out an empty attribute, and an option without one has its text as value
    options = [Markup('<option value="">{}</option>').format(first)]
    options += [tag("option", text, value=value) for value, text in values]
    return tag("select", Markup("").join(options), id=select_id, aria_label=first)


def ranking(summary: EstateSummary, *, lang: str = "zh") -> Section:
    """The estate table: every store, searchable by id or name, sortable by any column, filtered
    by consumer-warning state, short board and group, 50 rows a page; ranked by impact with the
    mean one click away. Plain JS over the rows embedded once as JSON (no CDN, no library): it
    draws one page at a time, so 10,000 stores load as fast as 100."""
    rows = table_rows(summary, lang=lang)
    if not rows:
        return _section(
            "pf-ranking", s("sec.ranking", lang), empty(s("none.stores", lang)), lang=lang
        )
    min_orders = int(summary.get("min_orders", MIN_ORDERS))
    fields = list(rows[0])
    levels = sorted({r["level"] for r in rows}, key=["high", "watch", "ok"].index)
    boards = sorted({r["short_board"] for r in rows if r["short_board"] != "—"})
    groups = sorted(
        {("brand", r["brand"]) for r in rows if r["brand"]}
        | {("manager", r["manager"]) for r in rows if r["manager"]}
    )
    payload = {
        "fields": fields,
        "rows": [[_cell(r, f) for f in fields] for r in rows],
        "columns": [{"key": k, "num": num, "ranks": ranks} for k, _, num, ranks in COLUMNS],
        "text": {
            "unit": " 小时" if lang == "zh" else " h",
            "small_tag": s("small_tag", lang),
            "no_match": s("no_match", lang),
            "page": s("page", lang, page="{page}", pages="{pages}", n="{n}"),
        },
    }
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    # Script-safe JSON: no markup in it at all, so nothing can close the element early.
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    heads = Markup("").join(
        tag("th", s(text, lang), data_key=key, class_="num" if num else None, aria_sort="none")
        for key, text, num, _ in COLUMNS
    )
    colgroup = Markup("").join(_void("col", class_=f"c-{key}") for key, *_ in COLUMNS)
    tools = Markup("").join(
        [
            _void(
                "input",
                type="search",
                id="estate-search",
                placeholder=s("search", lang),
                aria_label=s("search", lang),
            ),
            _options(
                s("filter.level", lang),
                [(v, s("level." + v, lang)) for v in levels],
                select_id="estate-level",
            ),
            _options(s("filter.board", lang), [(b, b) for b in boards], select_id="estate-board"),
            _options(
                s("filter.group", lang),
                [(f"{k}:{v}", _group_label(k, v, lang)) for k, v in groups],
                select_id="estate-group",
            ),
            tag("button", s("sort.impact", lang), type="button", id="estate-by-impact"),
            tag("button", s("sort.mean", lang), type="button", id="estate-by-mean"),
        ]
    )
    downloads = Markup("").join(
        [
            Markup(s("download", lang)),
            *(
                Markup(" ") + tag("a", name, href=name, download=name)
                for name in summary.get("exports", ())
            ),
        ]
    )
    body = Markup("").join(
        [
            tag("style", Markup(_TABLE_CSS)),
            tag("div", tools, class_="estate-tools"),
            tag("p", s("small", lang, n=min_orders), class_="report-note"),
            tag(
                "table",
                Markup("").join(
                    [
                        tag("colgroup", colgroup),
                        tag("thead", tag("tr", heads)),
                        tag("tbody", Markup(""), id="estate-body"),
                    ]
                ),
                id="estate-table",
                class_="estate-table",
                # the template's generic sorter and filter box leave this table to its own JS
                data_enhanced="1",
            ),
            tag(
                "div",
                Markup("").join(
                    [
                        tag("button", s("prev", lang), type="button", id="estate-prev"),
                        tag("span", "", id="estate-page"),
                        tag("button", s("next", lang), type="button", id="estate-next"),
                    ]
                ),
                class_="estate-pager",
            ),
            tag("p", downloads, class_="report-note") if summary.get("exports") else Markup(""),
            Markup('<script type="application/json" id="estate-data">')
            + Markup(data)
            + Markup("</script>"),
            tag("script", Markup(_TABLE_JS)),
        ]
    )
    out_of_date = stale(summary["stores"])
    if out_of_date:
        names = "、".join(f"{r['store_name']}（{r.get('data_as_of') or '—'}）" for r in out_of_date)
        body = Markup(body + tag("p", f"{s('stale', lang)}：{names}", class_="report-note"))
    return _section("pf-ranking", s("sec.ranking", lang), body, lang=lang)


def group_rollups(summary: EstateSummary, *, lang: str = "zh") -> Section:
    """Per brand and per manager (``[stores]`` groups): stores, counted orders, the
    order-weighted mean, stores triggered, open orders at risk and the impact."""
    rows = [r for r in summary["stores"] if not r.get("data_stale")]
    found: dict[tuple[str, str], list[StoreRow]] = {}
    for r in rows:
        for key, value in (r.get("groups") or {}).items():
            found.setdefault((key, value), []).append(r)
    if not found:
        return _section(
            "pf-groups", s("sec.groups", lang), empty(s("none.groups", lang)), lang=lang
        )
    body = []
    for (key, value), members in sorted(found.items()):
        counted = sum(int(m["counted"]) for m in members)
        weighted = sum(
            float(m["mean_hours"]) * int(m["counted"])
            for m in members
            if m["mean_hours"] is not None
        )
        body.append(
            [
                _group_label(key, value, lang),
                str(len(members)),
                str(counted),
                fmt.hours(weighted / counted if counted else None, lang=lang),
                str(sum(1 for m in members if m["warning_level"] == "high")),
                str(sum(int(m.get("open_at_risk") or 0) for m in members)),
                f"{sum(impact(m) for m in members):,.0f}",
            ]
        )
    headers = [
        s(k, lang)
        for k in (
            "col.group",
            "col.stores",
            "col.counted",
            "col.weighted_mean",
            "col.high",
            "col.open",
            "col.impact",
        )
    ]
    return _section(
        "pf-groups", s("sec.groups", lang), _table(headers, body, (1, 2, 3, 4, 5, 6)), lang=lang
    )


def write_exports(summary: EstateSummary, *, out_dir: Path, lang: str = "zh") -> list[Path]:
    """``estate.csv`` (UTF-8 with BOM: Excel opens it right) and ``estate.xlsx`` beside
    index.html: the estate table's every row, in the ranking's order."""
    import polars as pl

    rows = table_rows(summary, lang=lang)
    keys = (
        ("rank", "col.rank"),
        ("store_id", "col.store_id"),
        ("store_name", "col.store"),
        ("brand", "col.brand"),
        ("manager", "col.manager"),
        ("impact", "col.impact"),
        ("mean_hours", "col.mean"),
        ("prev_mean_hours", "col.prev"),
        ("delta_hours", "col.change"),
        ("counted", "col.counted"),
        ("over_60h_share", "col.over"),
        ("tomorrow", "col.tomorrow"),
        ("short_board", "col.short_board"),
        ("level_text", "col.level"),
        ("small_sample", "col.small"),
        ("open_at_risk", "col.open"),
        ("data_as_of", "col.data_as_of"),
        ("report", "col.report"),
    )
    schema = {
        "rank": pl.Int64,
        "impact": pl.Float64,
        "mean_hours": pl.Float64,
        "prev_mean_hours": pl.Float64,
        "delta_hours": pl.Float64,
        "counted": pl.Int64,
        "over_60h_share": pl.Float64,
        "small_sample": pl.Boolean,
        "open_at_risk": pl.Int64,
    }
    frame = pl.DataFrame(
        {
            s(text, lang): pl.Series([_cell(r, k) for r in rows], dtype=schema.get(k, pl.String))
            for k, text in keys
        }
    )
    csv_path, xlsx_path = (out_dir / name for name in EXPORT_NAMES)
    atomic_write(csv_path, data="\ufeff" + frame.write_csv())
    buffer = io.BytesIO()
    frame.write_excel(buffer, worksheet="estate", autofit=False)
    atomic_write(xlsx_path, data=buffer.getvalue())
    return [csv_path, xlsx_path]


def distribution(summary: EstateSummary, *, lang: str = "zh") -> Section:
    import altair as alt
    import polars as pl

    from aftersales_kit.render import charts

    rows = [r for r in ranked(summary["stores"]) if r["mean_hours"] is not None]
    if not rows:
        return _section(
            "pf-distribution", s("sec.distribution", lang), empty(s("none.stores", lang)), lang=lang
        )
    # Binned here, not by vega-lite: 10,000 stores would embed 10,000 values (and pass
    # altair's 5,000-row limit); the chart needs at most 20 bars.
    values = [r["mean_hours"] or 0.0 for r in rows]
    step = float(max(1, math.ceil((max(values) - min(values)) / 20)))
    means = pl.Series(values)
    frame = (
        pl.DataFrame({"start": (means / step).floor() * step})
        .group_by("start")
        .agg(pl.len().alias("stores"))
        .with_columns((pl.col("start") + step).alias("end"))
        .sort("start")
    )
    line = rows[0]["line_hours"]
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("start:Q", bin="binned", title=s("chart.mean", lang)),
            x2="end:Q",
            y=alt.Y("stores:Q", title=s("chart.stores", lang), axis=alt.Axis(tickMinStep=1)),
        )
    )
    rule = alt.Chart(pl.DataFrame({"line": [line]})).mark_rule(strokeDash=[4, 4]).encode(x="line:Q")
    # A fixed width: "container" draws 0 px wide inside the report layout.
    chart = (bars + rule).properties(width=charts.WIDTH, height=220)
    # charts.spec_html escapes the id and writes the spec as script-safe JSON: safe as it is.
    html = Markup(charts.chart_html(chart, chart_id="pf-distribution-chart", lang=lang))
    return _section("pf-distribution", s("sec.distribution", lang), html, lang=lang)


def warning_stores(summary: EstateSummary, *, lang: str = "zh") -> Section:
    rows = [r for r in ranked(summary["stores"]) if r["warning_level"] in {"high", "watch"}]
    rows.sort(key=lambda r: r["warning_level"] != "high")  # stable: high first, then by impact
    if not rows:
        return _section(
            "pf-warning", s("sec.warning", lang), empty(s("none.warning", lang)), lang=lang
        )
    more = len(rows) > LIST_LIMIT
    rows = rows[:LIST_LIMIT]
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
    return _section(
        "pf-warning", s("sec.warning", lang), _limited(headers, body, (2,), more, lang), lang=lang
    )


def short_board_counts(rows: Sequence[StoreRow]) -> list[tuple[str, str, int, float]]:
    """(scene, stage, stores, excess hours) over the estate, most stores first."""
    counts: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        board = r.get("short_board")
        if board:
            counts.setdefault((board["scene"], board["stage"]), []).append(board["excess_hours"])
    out = [(scene, stage, len(v), float(sum(v))) for (scene, stage), v in counts.items()]
    return sorted(out, key=lambda x: (-x[2], -x[3], x[0], x[1]))


def short_boards(summary: EstateSummary, *, lang: str = "zh") -> Section:
    from aftersales_kit.text import label

    counts = short_board_counts(summary["stores"])
    if not counts:
        return _section(
            "pf-short-boards",
            s("sec.short_boards", lang),
            empty(s("none.short_boards", lang)),
            lang=lang,
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
    return _section(
        "pf-short-boards", s("sec.short_boards", lang), _table(headers, body, (2, 3)), lang=lang
    )


def open_at_risk(summary: EstateSummary, *, lang: str = "zh") -> Section:
    rows = sorted(
        (r for r in summary["stores"] if r["open_at_risk"] > 0),
        key=lambda r: (-r["open_breached"], -r["open_at_risk"], r["store_id"]),
    )
    if not rows:
        return _section("pf-open", s("sec.open", lang), empty(s("none.open", lang)), lang=lang)
    more = len(rows) > LIST_LIMIT
    body = [[_link(r), str(r["open_at_risk"]), str(r["open_breached"])] for r in rows[:LIST_LIMIT]]
    headers = [s(k, lang) for k in ("col.store", "col.open", "col.breached")]
    return _section(
        "pf-open", s("sec.open", lang), _limited(headers, body, (1, 2), more, lang), lang=lang
    )


def _limited(
    headers: Sequence[str],
    body: Sequence[Sequence[str | Markup]],
    num: Sequence[int],
    more: bool,
    lang: str,
) -> Markup:
    html = _table(headers, body, num)
    if more:
        html = Markup(html + tag("p", s("more", lang, n=LIST_LIMIT), class_="report-note"))
    return html
