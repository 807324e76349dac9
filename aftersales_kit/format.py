"""All formatting and masking in one place: hours, percentages, deltas, dates, personal data.

Metric code never formats; templates, charts, tables and emails call these. Numbers and
percentages go through Babel (``format_decimal``, ``format_percent``) in the report's locale.

Finding values carry their type (:class:`Hours`, :class:`HoursLimit`, :class:`Share`,
:class:`Change`, :class:`Count`, :class:`Star`, :class:`ClockHours`, :class:`Term` and its
:class:`Stage`, :class:`Scene`, :class:`Rule`, :class:`LineName`, :class:`Basis`): small
subclasses of ``float`` / ``int`` / ``tuple`` / ``str``, so they compute and compare as plain
numbers while :func:`value` shows each kind its own way instead of guessing from a key's name.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar, TypeVar

import polars as pl
from babel import Locale
from babel.numbers import NumberPattern, format_decimal, format_percent, parse_pattern

from aftersales_kit.schema import PERSONAL_COLUMNS

HOURS_UNIT = {"zh": "小时", "en": "h"}
#: Report language -> Babel locale (grouping, decimal sign, plural rules).
LOCALES = {"zh": "zh_CN", "en": "en"}


def locale(lang: str) -> str:
    """The Babel locale of a report language (English for any other)."""
    return LOCALES.get(lang, "en")


@functools.cache
def _babel(lang: str) -> Locale:
    """The parsed Babel locale (a locale name is parsed again on every call: a tenth of a
    report's rendering went to that)."""
    return Locale.parse(locale(lang))


@functools.cache
def _pattern(pattern: str) -> NumberPattern:
    return parse_pattern(pattern)


def _exact(value: float) -> Decimal:
    # The float's exact binary value: Babel then rounds it as Python's own "{:.1f}" always has
    # (Decimal(str(x)) would round 0.35 up to 0.4 where the report has always shown 0.3).
    return Decimal(value)


def number(value: float, *, lang: str = "zh", digits: int = 1) -> str:
    """``1234.56`` → ``"1,234.6"`` (``digits`` decimals, grouped, in ``lang``'s locale)."""
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(_exact(float(value)), format=_pattern(pattern), locale=_babel(lang))


def count(value: int, *, lang: str = "zh") -> str:
    """``1234`` → ``"1,234"``."""
    return format_decimal(int(value), format=_pattern("#,##0"), locale=_babel(lang))


def hours(value: float | None, *, lang: str = "zh", unit: bool = True) -> str:
    """``281.66`` → ``"281.7 小时"`` (one decimal); ``None`` → ``"—"``."""
    if value is None:
        return "—"
    text = number(value, lang=lang)
    return f"{text} {HOURS_UNIT.get(lang, 'h')}" if unit else text


def hours_label(value: float | None, *, lang: str = "zh") -> str:
    """A threshold in a label: ``60.0`` → ``"60小时"`` / ``"60 h"``; ``1.5`` → ``"1.5小时"``.

    Labels name a rule ("超60小时占比"), so whole numbers carry no ".0" and the Chinese unit sits
    right after the number, as in JD's own wording.
    """
    if value is None:
        return "—"
    digits = 0 if float(value).is_integer() else 1
    text = number(value, lang=lang, digits=digits)
    return f"{text}小时" if lang == "zh" else f"{text} h"


def pct(value: float | None, *, digits: int = 1, lang: str = "zh") -> str:
    """``0.1234`` → ``"12.3%"``."""
    if value is None:
        return "—"
    pattern = "#,##0" + ("." + "0" * digits if digits else "") + "%"
    # Percent of the float product value × 100, as the report has always rounded it: Babel's own
    # exact × 100 rounds a few ties (0.4995 → 49.9 %) the other way.
    scaled = _exact(float(value) * 100) / 100
    return format_percent(scaled, format=_pattern(pattern), locale=_babel(lang))


def delta_pct(current: float | None, *, previous: float | None) -> str:
    """Relative change with an arrow: ``"↑12%"``, ``"↓3%"``, ``"→0%"``; ``"—"`` when unknown."""
    if current is None or previous is None or previous == 0:
        return "—"
    change = (current - previous) / previous
    arrow = "↑" if change > 0.0005 else "↓" if change < -0.0005 else "→"
    return f"{arrow}{pct(abs(change), digits=0)}"


def signed_pct(value: float, *, lang: str = "zh") -> str:
    """``0.1`` → ``"+10.0%"``; ``-0.1`` → ``"−10.0%"`` (a true minus sign)."""
    return ("+" if value >= 0 else "−") + pct(abs(value), lang=lang)


# --- typed values --------------------------------------------------------------------------------


class Hours(float):
    """A duration: ``Hours(63.25)`` shows as ``"63.3 小时"`` / ``"63.3 h"``."""

    __slots__ = ()


class HoursLimit(float):
    """A rule's threshold, named like JD names it: ``HoursLimit(60)`` → ``"60小时"``."""

    __slots__ = ()


class Share(float):
    """A fraction shown as a percentage: ``Share(0.443)`` → ``"44.3%"``."""

    __slots__ = ()


class Change(float):
    """A signed relative change: ``Change(0.1)`` → ``"+10.0%"``."""

    __slots__ = ()


class Count(int):
    """A number of things (orders, stores): ``Count(1234)`` → ``"1,234"``; sets English plurals."""

    __slots__ = ()


class Star(float):
    """A store star rating: ``Star(3.5)`` → ``"3.5"``, ``Star(4)`` → ``"4"``."""

    __slots__ = ()


class ClockHours(tuple[int, ...]):
    """Hours of the day: ``ClockHours((9, 21))`` → ``"9:00、21:00"``."""

    __slots__ = ()


class Term(str):
    """A data value that the string catalog translates (``text.label(kind, value)``)."""

    __slots__ = ()
    kind: ClassVar[str] = ""


class Stage(Term):
    """A stage name (audit, return_ship, …)."""

    __slots__ = ()
    kind = "stage"


class Scene(Term):
    """A scene (退货, 仅退款, …)."""

    __slots__ = ()
    kind = "scene"


class Rule(Term):
    """An alert rule name (audit_over_24h, …)."""

    __slots__ = ()
    kind = "rule"


class LineName(Term):
    """Which line an excess is measured over: ``warning`` (the 60 h 提示线, not a JD target) or
    ``target`` (the user's own 目标, when set)."""

    __slots__ = ()
    kind = "line"


class Basis(Term):
    """Whose duration figure the consumer-warning condition used: ``published`` (风向标) or
    ``ours`` (按本工具计算)."""

    __slots__ = ()
    kind = "basis"


def value(item: object, *, lang: str = "zh") -> str:
    """One typed value as text; ``None`` → ``"—"``. A :class:`Term` shows as itself here (the
    string catalog translates terms); untyped numbers show as grouped numbers."""
    sep = "、" if lang == "zh" else ", "
    match item:
        case None:
            return "—"
        case bool():
            return str(item)
        case Hours():
            return hours(item, lang=lang)
        case HoursLimit():
            return hours_label(item, lang=lang)
        case Share():
            return pct(item, lang=lang)
        case Change():
            return signed_pct(item, lang=lang)
        case Star():
            return format_decimal(_exact(item), format=_pattern("0.######"), locale=_babel(lang))
        case ClockHours():
            return sep.join(f"{h}:00" for h in item)
        case int():
            return count(item, lang=lang)
        case float():
            return number(item, lang=lang)
        case tuple() | list():
            return sep.join(value(v, lang=lang) for v in item)
        case _:
            return str(item)


def day(value: date | datetime | None, *, short: bool = False) -> str:
    """``date(2026, 3, 1)`` → ``"2026-03-01"`` (``"03-01"`` when short)."""
    if value is None:
        return "—"
    return value.strftime("%m-%d" if short else "%Y-%m-%d")


def timestamp(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M")


#: Customer and staff free text longer than this is cut with "…" wherever it is shown.
MAX_TEXT_CHARS = 500


def clip(text: object, *, limit: int = MAX_TEXT_CHARS) -> str:
    """``text`` as a string of at most ``limit`` characters, ending in "…" when cut."""
    value = "" if text is None else str(text)
    return value if len(value) <= limit else value[: limit - 1] + "…"


#: Characters that change how the text around them is shown without being visible themselves:
#: C0/C1 controls, the bidi embeddings, overrides and isolates (U+202E makes ``gnp.exe`` read
#: ``exe.png``), zero-width spaces and marks, line/paragraph separators, the BOM.
_INVISIBLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b\u200c\u200e\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)


#: Bidi controls alone: text that may keep its tabs and line breaks (customer text in a workbook)
#: still must not reorder what follows it.
BIDI_CONTROLS = "[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"


def visible(text: object, *, replacement: str = "") -> str:
    """``text`` without controls, bidi overrides and invisible characters, for a name from the
    data or a file shown in a file name, a push or a heading (a store name must not reorder the
    figures or the file extension after it). The zero-width joiner of emoji is kept."""
    return _INVISIBLE.sub(replacement, str(text or ""))


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
    # An already masked value stays as it is, so masking twice changes nothing.
    return (
        pl.when(s.is_null() | s.str.ends_with("****"))
        .then(s)
        .otherwise(s.str.slice(0, 6) + pl.lit("****"))
    )


def mask_account_expr(col: str | pl.Expr) -> pl.Expr:
    """下单账号 ``jd_ab12cd`` → ``j****d``: first and last character only (a login is an ID)."""
    e = pl.col(col) if isinstance(col, str) else col
    s = e.cast(pl.String).str.strip_chars()
    n = s.str.len_chars()
    return (
        pl.when(s.is_null() | (n == 0) | s.str.contains("****", literal=True))
        .then(s)
        .when(n <= 2)
        .then(pl.lit("****"))
        .otherwise(s.str.slice(0, 1) + pl.lit("****") + s.str.slice(-1, 1))
    )


#: A bare region name (省/市 as JD exports them): 2–12 Chinese characters, at most one region
#: suffix. Anything else in a 省/市 cell (a street, a number, a name) is more than a region.
REGION_NAME = r"^[\p{Han}]{2,12}$"
#: Mainland mobile numbers and other runs of 7+ digits (landlines, IDs) inside free text.
PHONE_IN_TEXT = r"(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}|\d{7,}"


def mask_region_expr(col: str | pl.Expr) -> pl.Expr:
    """省/市: a bare region name (``广东省``, ``深圳市``) stays; anything more is masked like an
    address (first 6 characters, then ``****``)."""
    e = pl.col(col) if isinstance(col, str) else col
    s = e.cast(pl.String).str.strip_chars()
    return (
        pl.when(s.is_null() | s.str.contains(REGION_NAME) | s.str.ends_with("****"))
        .then(s)
        .otherwise(s.str.slice(0, 6) + pl.lit("****"))
    )


def mask_text_expr(col: str | pl.Expr) -> pl.Expr:
    """Customer free text (客户问题描述): phone numbers and long digit runs become ``****``."""
    e = pl.col(col) if isinstance(col, str) else col
    return e.cast(pl.String).str.replace_all(PHONE_IN_TEXT, "****")


#: A frame, eager or lazy: masking returns the same kind.
_Frame = TypeVar("_Frame", pl.DataFrame, pl.LazyFrame)

_MASKERS = {
    "buyer_account": mask_account_expr,
    "customer_name": mask_name_expr,
    "customer_phone": mask_phone_expr,
    "address": mask_address_expr,
    "province": mask_region_expr,
    "city": mask_region_expr,
    "description": mask_text_expr,
}


def mask_personal(frame: _Frame) -> _Frame:
    """Mask every personal-data column present (DOMAIN §2) and phone numbers in the customer's
    description; other columns are untouched. Idempotent: masking twice gives the same text."""
    names = frame.collect_schema().names()
    # A personal column without its own masker is hidden whole: never shown raw.
    present = [c for c in (*PERSONAL_COLUMNS, "description") if c in names]
    return frame.with_columns(
        (_MASKERS[c](c) if c in _MASKERS else pl.lit("****", dtype=pl.String)).alias(c)
        for c in present
    )


def texts(expr: pl.Expr, function: Callable[..., str | None]) -> pl.Expr:
    """``expr.map_elements(function, return_dtype=pl.String)`` (nulls stay null), one Python
    call per value: labels and formatted values for display. Not ``map_elements``, which reads
    the function's bytecode at every call to warn about slow functions (~0.2 ms each, a dozen
    per report page)."""

    def apply(series: pl.Series) -> pl.Series:
        values = [None if v is None else function(v) for v in series.to_list()]
        return pl.Series(series.name, values, dtype=pl.String)

    return expr.map_batches(apply, return_dtype=pl.String, is_elementwise=True)
