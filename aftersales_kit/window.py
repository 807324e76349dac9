"""The 考核周期 (assessment period): whole China days, JD's default window, --start/--end/--as-of.

JD's figure covers the 30 days ending yesterday in China (Asia/Shanghai, no DST); the holiday
exemption table of the rules says which Spring Festivals it covers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from aftersales_kit.errors import UsageError

if TYPE_CHECKING:
    from aftersales_kit.rules import Rules

CHINA = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Window:
    """A window of whole days, both ends inclusive (JD: end = yesterday, 30 days)."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start > self.end:
            msg = (
                f"窗口开始日期晚于结束日期 (window start {self.start} is after end {self.end}); "
                "请检查 --start/--end (check --start/--end)"
            )
            raise UsageError(msg)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_at(self) -> datetime:
        """First instant inside the window."""
        return datetime.combine(self.start, time())

    @property
    def end_before(self) -> datetime:
        """First instant after the window (the window is ``[start_at, end_before)``)."""
        return datetime.combine(self.end + timedelta(days=1), time())

    def previous(self) -> Window:
        """The window of the same length that ends the day before this one starts."""
        end = self.start - timedelta(days=1)
        return Window(start=end - timedelta(days=self.days - 1), end=end)


def default_window(
    *, end: date | None = None, rules: Rules, as_of: datetime | None = None
) -> Window:
    """JD's window: ``end`` (default the day before ``as_of``, i.e. yesterday in China) and the
    ``window_days − 1`` days before it."""
    if end is None:
        now = as_of if as_of is not None else datetime.now(CHINA).replace(tzinfo=None)
        end = now.date() - timedelta(days=1)
    return Window(start=end - timedelta(days=rules.window_days - 1), end=end)


#: Spring Festival (春节) falls between these days of January and February every year.
_SPRING_FESTIVAL_SPAN = ((1, 21), (2, 20))


def uncovered_spring_festivals(window: Window, *, rules: Rules) -> tuple[int, ...]:
    """Years whose Spring Festival the sample's apply dates reach but no holiday window covers.

    The packaged exemption table is an estimate that ends some year; past it, the report must
    say "no exemption table for that year", never "none applies".
    """
    oldest = window.end - timedelta(days=rules.history_days - 1)
    covered = {a.year for a, _b in rules.holidays} | {b.year for _a, b in rules.holidays}
    missing = []
    for year in range(oldest.year, window.end.year + 1):
        (m1, d1), (m2, d2) = _SPRING_FESTIVAL_SPAN
        season_start, season_end = date(year, m1, d1), date(year, m2, d2)
        if season_start <= window.end and season_end >= oldest and year not in covered:
            missing.append(year)
    return tuple(missing)


def parse_as_of(text: str | None) -> datetime:
    """``--as-of`` (``YYYY-MM-DD[ HH:MM[:SS]]``, China local time); default now in China.

    ``data`` (diagnose as of the data's date) needs the data: :func:`resolve_clock` takes it.
    """
    if text is None:
        return datetime.now(CHINA).replace(microsecond=0, tzinfo=None)
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        value = None
    if value is None or value.tzinfo is not None:
        msg = (
            f"--as-of 不是有效时间 (not a valid local date-time): {text!r}; "
            "格式 (format) YYYY-MM-DD HH:MM:SS"
        )
        raise UsageError(msg)
    return value


def _parse_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        msg = f"{option} 不是有效日期 (not a valid date): {text!r}; 格式 (format) YYYY-MM-DD"
        raise UsageError(msg) from None


def parse_window(
    start: str | None, *, end: str | None, rules: Rules, as_of: datetime | None = None
) -> Window:
    """The window of ``--start``/``--end``.

    Neither: JD's default (end = the day before ``as_of``, ``window_days`` long). Only ``--end``:
    the ``window_days`` ending there. Only ``--start``: the ``window_days`` starting there.
    """
    if start is None:
        end_day = None if end is None else _parse_day(end, "--end")
        return default_window(end=end_day, rules=rules, as_of=as_of)
    start_day = _parse_day(start, "--start")
    if end is None:
        return Window(start=start_day, end=start_day + timedelta(days=rules.window_days - 1))
    return Window(start=start_day, end=_parse_day(end, "--end"))


# --- data as of (DOMAIN §2) -----------------------------------------------------------------------

#: ``--as-of data``: diagnose as of the data's latest timestamp.
AS_OF_DATA = "data"
#: A download whose latest timestamp (and newest file) is older than this is old.
STALE_AFTER = timedelta(hours=48)


@dataclass(frozen=True)
class Clock:
    """The report time and window of a run, and what they follow.

    ``source``: ``given`` (``--as-of``), ``now``, or ``data`` (the newest store's data_as_of:
    ``--as-of data``, or an old download whose newest file is old too). ``now`` is what the data's
    age is measured against: the given ``--as-of``, else the real clock.
    """

    as_of: datetime
    window: Window
    source: str
    now: datetime
    data_as_of: datetime | None = None

    @property
    def shifted(self) -> bool:
        return self.source == AS_OF_DATA


def china_now() -> datetime:
    """Now as naive China local time, to the second."""
    return datetime.now(CHINA).replace(microsecond=0, tzinfo=None)


def is_as_of_data(text: object) -> bool:
    return isinstance(text, str) and text.strip().casefold() == AS_OF_DATA


def resolve_clock(
    *,
    as_of: str | datetime | None,
    start: str | None,
    end: str | None,
    rules: Rules,
    data_as_of: Mapping[str, datetime],
    newest_file: Mapping[str, datetime],
    now: datetime | None = None,
) -> Clock:
    """The run's report time and window (DOMAIN §2 "Data as of").

    ``--as-of`` given wins. Otherwise the report time is now, except that it moves to the newest
    store's data_as_of when that is more than 48 h old *and* every file holding the data is too
    (a quiet store's fresh download is never shifted), or with ``--as-of data``. The default
    window ends the day before the report time's date; ``--start``/``--end`` still win.
    """
    real_now = china_now() if now is None else now
    newest = max(data_as_of.values(), default=None)
    if isinstance(as_of, datetime):
        moment, source, reference = as_of, "given", as_of
    elif is_as_of_data(as_of):
        moment, source, reference = newest or real_now, AS_OF_DATA, real_now
    elif as_of:
        moment = parse_as_of(as_of)
        source, reference = "given", moment
    else:
        moment, source, reference = real_now, "now", real_now
        newest_file_time = max(newest_file.values(), default=None)
        if (
            newest is not None
            and newest_file_time is not None
            and real_now - newest > STALE_AFTER
            and real_now - newest_file_time > STALE_AFTER
        ):
            moment, source = newest, AS_OF_DATA
    window = parse_window(start, end=end, rules=rules, as_of=moment)
    return Clock(as_of=moment, window=window, source=source, now=reference, data_as_of=newest)
