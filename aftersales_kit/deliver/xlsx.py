"""The action lists of a diagnosis as one ``.xlsx``: one sheet per team (customer service,
logistics, warehouse), the service-order alerts (open orders about to be counted), the history
TOP100, alert details, tomorrow's moving orders and the orders whose hours differ from JD's.

Personal columns are masked (again: masking is idempotent, and the workbook leaves the building) and
text cells that a spreadsheet could read as a formula (leading ``= + - @`` tab or CR) get a visible
``'`` prefix. The workbook is also written with ``strings_to_formulas`` and ``strings_to_urls`` off,
so nothing in it is ever evaluated or turned into a link.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import polars.selectors as cs
import xlsxwriter

from aftersales_kit import format as fmt
from aftersales_kit.files import atomic_path
from aftersales_kit.format import mask_personal
from aftersales_kit.rules import RULE_NAMES, STAGES
from aftersales_kit.text import label, t

if TYPE_CHECKING:
    from aftersales_kit.model import Diagnosis

#: Leading characters that make Excel/WPS read text as a formula (OWASP, ASVS 1.2.10).
FORMULA_TRIGGER = r"^[=+\-@\t\r]"

#: (Diagnosis attribute path, zh sheet name, en sheet name); Excel limits names to 31 characters.
#: A dotted path reaches inside a field (``team_actions.logistics``, ``tomorrow.movers``).
SHEETS: tuple[tuple[str, str, str], ...] = (
    ("team_actions.cs", "客服行动清单", "Customer service"),
    ("team_actions.logistics", "物流行动清单", "Logistics"),
    ("team_actions.warehouse", "仓库行动清单", "Warehouse"),
    ("open_at_risk", "未完结服务单(状态以导出时为准)", "Open service orders"),
    ("top100", "历史服务单预警TOP100", "History alerts (longest 100)"),
    ("alert_orders", "预警明细", "Alert details"),
    ("tomorrow.movers", "明天影响最大的服务单", "Tomorrow's movers"),
    ("jd_check.mismatches", "与京东时长不一致", "Differs from JD"),
    ("compensation_pending", "待赔付_待补发", "Compensation due"),
    ("views.skus", "商品售后", "SKUs"),
    ("views.auditors", "审核人", "Auditors"),
    ("views.processors", "处理人", "Processors"),
    ("views.readings", "京东时长口径检验", "JD readings check"),
)


#: Sheets written only when they have rows: rare lists, and the manager views an export's
#: columns may not fill.
OPTIONAL_SHEETS: frozenset[str] = frozenset(
    {"compensation_pending", *(attr for attr, _, _ in SHEETS if attr.startswith("views."))}
)


def neutralize_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix ``'`` to string cells starting with ``= + - @`` tab or CR, and drop bidi controls
    from them; other dtypes untouched.

    Examples
    --------
    >>> neutralize_formulas(pl.DataFrame({"a": ["=1+1", "ok"], "n": [-1, 2]})).rows()
    [("'=1+1", -1), ('ok', 2)]
    """
    # Bidi overrides go first: a cell must neither run as a formula nor reorder what follows.
    plain = frame.with_columns(cs.string().str.replace_all(fmt.BIDI_CONTROLS, ""))
    return plain.with_columns(
        pl.when(pl.col(c).str.contains(FORMULA_TRIGGER))
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in plain.select(cs.string()).columns
    )


def _labelled(frame: pl.DataFrame, *, lang: str) -> pl.DataFrame:
    exprs = []
    if "stage" in frame.columns:
        mapping = {k: label("stage", k, lang) for k in (*STAGES, "intervention")}
        exprs.append(pl.col("stage").cast(pl.String).replace(mapping))
    for column in ("rule", "rules"):
        if column in frame.columns:
            exprs.append(
                pl.col(column)
                .cast(pl.String)
                .str.split(",")
                .list.eval(
                    pl.element()
                    .str.strip_chars()
                    .replace({k: label("rule", k, lang) for k in RULE_NAMES})
                )
                .list.join("、" if lang == "zh" else ", ")
            )
    yes, no = ("是", "否") if lang == "zh" else ("yes", "no")
    for column in ("breached", "over_60h", "will_count", "dispute_risk"):
        if column in frame.columns:
            exprs.append(
                pl.when(pl.col(column)).then(pl.lit(yes)).otherwise(pl.lit(no)).alias(column)
            )
    # Coded values become words: the next action, the team, why an order moves tomorrow, and
    # the likely cause of a difference to JD's hours.
    coded: dict[str, Callable[[str], str]] = {
        "next_action": lambda v: t(f"action.{v}", lang),
        "team": lambda v: label("team", v, lang),
        "reason": lambda v: t(f"tomorrow.move.{v}", lang),
        "move": lambda v: t(f"tomorrow.move.{v}", lang),
        "cause": lambda v: t(f"jd.cause.{v}", lang),
        "scene": lambda v: label("scene", v, lang),
    }
    for column, word in coded.items():
        # "reason" is also the customer's apply reason (top100): only tomorrow's codes map.
        if column not in frame.columns or frame.schema[column] != pl.String:
            continue
        values = frame[column].drop_nulls().unique().to_list()
        if column == "reason" and not set(values) <= {"out_of_window", "apply_too_old", "enters"}:
            continue
        if column == "scene" and lang == "zh":
            continue
        exprs.append(pl.col(column).replace({v: word(v) for v in values}))
    return frame.with_columns(exprs) if exprs else frame


def _field(diagnosis: Diagnosis, path: str) -> object:
    """``a.b`` → ``diagnosis.a.b`` or ``diagnosis.a["b"]``; None when any part is missing."""
    value: object = diagnosis
    for part in path.split("."):
        if value is None:
            return None
        value = value.get(part) if isinstance(value, Mapping) else getattr(value, part, None)
    return value


def action_frames(diagnosis: Diagnosis, *, lang: str = "zh") -> dict[str, pl.DataFrame]:
    """The action lists of a ``Diagnosis``, ready to write: sheet name → frame.

    Personal data masked, stage/rule names translated, formula triggers neutralised, headers in
    ``lang``. Frames missing from the diagnosis are skipped; empty ones are kept (header only),
    except the :data:`OPTIONAL_SHEETS`.
    """
    sheets: dict[str, pl.DataFrame] = {}
    for attr, zh_name, en_name in SHEETS:
        frame = _field(diagnosis, attr)
        if not isinstance(frame, pl.DataFrame):
            continue
        if attr in OPTIONAL_SHEETS and not frame.height:
            continue  # no empty sheet of something rare or of a view the export cannot fill
        if attr == "tomorrow.movers" and "reason" in frame.columns:
            # Why an order moves tomorrow is its 变动, not the customer's 申请原因.
            frame = frame.rename({"reason": "move"})
        masked = mask_personal(frame)
        prepared = neutralize_formulas(_labelled(masked, lang=lang))
        # Column headers from the string catalog (``xlsx`` labels); others keep their name.
        prepared = prepared.rename({c: label("xlsx", c, lang) for c in prepared.columns})
        sheets[en_name if lang == "en" else zh_name] = prepared
    return sheets


def _write(sheets: Mapping[str, pl.DataFrame], target: str | Path | io.BytesIO) -> None:
    # Our own Workbook, because polars applies the safe options only to workbooks it creates and
    # never sets strings_to_urls.
    workbook = xlsxwriter.Workbook(
        target,
        {"strings_to_formulas": False, "strings_to_urls": False, "nan_inf_to_errors": True},
    )
    try:
        for name, frame in sheets.items():
            frame.write_excel(
                workbook,
                worksheet=name,
                dtype_formats={pl.Datetime: "yyyy-mm-dd hh:mm", pl.Date: "yyyy-mm-dd"},
                float_precision=1,
                autofit=True,
                freeze_panes=(1, 0),
                header_format={"bold": True, "bg_color": "#E8EEF7"},
            )
    finally:
        workbook.close()


def action_lists_bytes(diagnosis: Diagnosis, *, lang: str = "zh") -> bytes:
    """The action-list workbook in memory (for an email attachment)."""
    buffer = io.BytesIO()
    _write(action_frames(diagnosis, lang=lang), buffer)
    return buffer.getvalue()


def write_action_lists(diagnosis: Diagnosis, *, path: str | Path, lang: str = "zh") -> Path:
    """Write the action-list workbook to ``path`` atomically and return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        _write(action_frames(diagnosis, lang=lang), tmp)
    return path
