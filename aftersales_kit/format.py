"""All formatting and masking in one place: hours, percentages, deltas, dates, personal data.

Metric code never formats; templates, charts, tables and emails call these.
"""

from __future__ import annotations

import html
from datetime import date, datetime

import polars as pl

from aftersales_kit.schema import PERSONAL_COLUMNS

HOURS_UNIT = {"zh": "小时", "en": "h"}


def hours(value: float | None, *, lang: str = "zh", unit: bool = True) -> str:
    """``281.66`` → ``"281.7 小时"`` (one decimal); ``None`` → ``"—"``."""
    if value is None:
        return "—"
    text = f"{value:,.1f}"
    return f"{text} {HOURS_UNIT.get(lang, 'h')}" if unit else text


def pct(value: float | None, *, digits: int = 1) -> str:
    """``0.1234`` → ``"12.3%"``."""
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f}%"


def delta_pct(current: float | None, *, previous: float | None) -> str:
    """Relative change with an arrow: ``"↑12%"``, ``"↓3%"``, ``"→0%"``; ``"—"`` when unknown."""
    if current is None or previous is None or previous == 0:
        return "—"
    change = (current - previous) / previous
    arrow = "↑" if change > 0.0005 else "↓" if change < -0.0005 else "→"
    return f"{arrow}{abs(change) * 100:.0f}%"


def day(value: date | datetime | None, *, short: bool = False) -> str:
    """``date(2026, 3, 1)`` → ``"2026-03-01"`` (``"03-01"`` when short)."""
    if value is None:
        return "—"
    return value.strftime("%m-%d" if short else "%Y-%m-%d")


def timestamp(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M")


def escape(text: object) -> str:
    """HTML-escape untrusted text (customer input, product names)."""
    return html.escape("" if text is None else str(text), quote=True)


# --- personal data -------------------------------------------------------------------------------


def mask_phone_expr(col: str | pl.Expr) -> pl.Expr:
    """``13812345678`` → ``138****5678``; other lengths keep at most the first 3 and last 2."""
    e = pl.col(col) if isinstance(col, str) else col
    digits = e.cast(pl.String).str.replace_all(r"\s|-", "")
    n = digits.str.len_chars()
    return (
        pl.when(e.is_null())
        .then(None)
        .when(n >= 11)
        .then(digits.str.slice(0, 3) + pl.lit("****") + digits.str.slice(-4, 4))
        .when(n >= 6)
        .then(digits.str.slice(0, 3) + pl.lit("****") + digits.str.slice(-2, 2))
        .otherwise(pl.lit("****"))
    )


def mask_name_expr(col: str | pl.Expr) -> pl.Expr:
    """``张三丰`` → ``张**``; the family name (first character) stays."""
    e = pl.col(col) if isinstance(col, str) else col
    s = e.cast(pl.String).str.strip_chars()
    n = s.str.len_chars()
    return (
        pl.when(s.is_null() | (n == 0))
        .then(s)
        .when(n == 1)
        .then(pl.lit("*"))  # a one-character name would otherwise be shown whole
        .otherwise(s.str.slice(0, 1) + pl.lit("*").repeat_by(n - 1).list.join(""))
    )


def mask_address_expr(col: str | pl.Expr) -> pl.Expr:
    """Keep the first 6 characters (province/city) and hide the rest: ``北京市朝阳区****``."""
    e = pl.col(col) if isinstance(col, str) else col
    s = e.cast(pl.String)
    return pl.when(s.is_null()).then(s).otherwise(s.str.slice(0, 6) + pl.lit("****"))


_MASKERS = {
    "customer_name": mask_name_expr,
    "customer_phone": mask_phone_expr,
    "address": mask_address_expr,
}


def mask_personal(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    """Mask every personal-data column present (DOMAIN §2); other columns are untouched."""
    present = [c for c in PERSONAL_COLUMNS if c in frame.collect_schema().names()]
    return frame.with_columns(_MASKERS[c](c).alias(c) for c in present)
