"""JD rule settings (DOMAIN §3–§5): thresholds, holiday windows, the scene table, window lengths.

The packaged ``rules_default.toml`` holds the defaults; a user rules file (``--rules FILE``)
overrides any subset of it. Scalar keys and the keys of ``[thresholds]`` and ``[stage_targets]``
override one by one; the arrays (``holidays``, ``scenes``, status lists) replace the default array
whole, because merging two holiday calendars or two scene tables element by element has no sensible
meaning.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from aftersales_kit.errors import RulesError
from aftersales_kit.schema import COLUMNS

#: §5 alert rules in report order.
RULE_NAMES: tuple[str, ...] = (
    "audit_over_24h",
    "return_ship_over_24h",
    "tracking_stale_over_48h",
    "transit_over_72h",
    "inbound_over_24h",
    "inbound_over_48h",
    "process_over_24h",
    "total_over_60h",
)
#: §4 stages in checkpoint order.
STAGES: tuple[str, ...] = ("audit", "return_ship", "transit", "inbound", "process")
#: §3 exclusion reasons in precedence order.
EXCLUDED_REASONS: tuple[str, ...] = (
    "holiday",
    "apply_too_old",
    "cancelled_before_audit",
    "missing_end",
    "invalid",
)
#: No threshold, target or window length is sensibly above ten years of hours or days.
MAX_RULE_VALUE = 87_600
#: Checkpoints a scene's clock can stop at.
STOPS: tuple[str, ...] = ("first_audit", "first_process")

_SCALARS: dict[str, type] = {
    "window_days": int,
    "history_days": int,
    "warning_hours": float,
    "target_hours": float,
    "warning_star": float,
    "warning_rank": float,
}
_STRING_LISTS = ("terminal_statuses", "return_service_types", "return_approve_results")
_TABLES = ("thresholds", "stage_targets")
_ARRAYS = ("holidays", "scenes")
_KNOWN = (*_SCALARS, *_STRING_LISTS, *_TABLES, *_ARRAYS)
_SCENE_KEYS = ("scene", "field", "values", "prefixes", "stop", "missing_stop")
_STRING_COLUMNS = tuple(c for c, t in COLUMNS.items() if t == COLUMNS["status"])
#: Columns a scene row may match on: text columns and the yes/no flash_refund.
_SCENE_FIELDS = (*_STRING_COLUMNS, "flash_refund")


@dataclass(frozen=True)
class SceneRule:
    """A DOMAIN §3 scene table row: any of ``fields`` equal to one of ``values`` or starting with
    one of ``prefixes`` ⇒ ``scene``, clock stops at ``stop``. A yes/no field (flash_refund)
    matches when it is true and ``values`` holds 是."""

    scene: str
    fields: tuple[str, ...]
    values: tuple[str, ...]
    stop: str  # "first_audit" or "first_process"
    missing_stop: str = "missing_end"  # exclusion reason when the stop timestamp is missing
    prefixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rules:
    """Every tunable of the JD rules; build with :func:`load_rules`, never mutate."""

    thresholds: Mapping[str, float]
    holidays: tuple[tuple[datetime, datetime], ...]
    scenes: tuple[SceneRule, ...]
    window_days: int = 30
    history_days: int = 180
    warning_hours: float = 60.0
    target_hours: float = 60.0
    stage_targets: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType(
            {"audit": 24.0, "return_ship": 24.0, "transit": 72.0, "inbound": 12.0, "process": 24.0}
        )
    )
    warning_star: float = 3.5
    warning_rank: float = 0.20
    terminal_statuses: tuple[str, ...] = ("完成", "取消", "审核不通过", "审核关闭", "拒绝")
    return_service_types: tuple[str, ...] = ("退货", "换货", "维修")
    return_approve_results: tuple[str, ...] = ("上门取件", "客户发货", "客户送货", "返修换新")
    source: Path | None = None  # the user file, None for the packaged defaults

    def as_dict(self) -> dict[str, object]:
        """Plain data (for the report's methodology section and notebook parameters)."""
        return {
            "thresholds": dict(self.thresholds),
            "holidays": [[a.isoformat(sep=" "), b.isoformat(sep=" ")] for a, b in self.holidays],
            "scenes": [
                {
                    "scene": s.scene,
                    "field": list(s.fields),
                    "values": list(s.values),
                    "prefixes": list(s.prefixes),
                    "stop": s.stop,
                    "missing_stop": s.missing_stop,
                }
                for s in self.scenes
            ],
            "window_days": self.window_days,
            "history_days": self.history_days,
            "warning_hours": self.warning_hours,
            "target_hours": self.target_hours,
            "stage_targets": dict(self.stage_targets),
            "warning_star": self.warning_star,
            "warning_rank": self.warning_rank,
            "terminal_statuses": list(self.terminal_statuses),
            "return_service_types": list(self.return_service_types),
            "return_approve_results": list(self.return_approve_results),
            "source": None if self.source is None else str(self.source),
        }


def load_rules(path: str | Path | None = None) -> Rules:
    """Packaged default rules, overridden by the TOML file at ``path`` when given.

    Raises
    ------
    RulesError
        The file is missing, not TOML, or has an unknown key, a wrong type, a negative threshold,
        a holiday window with ``from >= to`` or a bad date; the message names the key.

    Examples
    --------
    >>> load_rules().thresholds["audit_over_24h"]
    24.0
    """
    default_text = (
        resources.files("aftersales_kit").joinpath("rules_default.toml").read_text(encoding="utf-8")
    )
    raw = tomllib.loads(default_text)
    source: Path | None = None
    if path is not None:
        source = Path(path)
        user = _read_user_file(source)
        raw = _merge(raw, user, source)
    return _build(raw, source)


def _read_user_file(source: Path) -> dict[str, object]:
    if not source.is_file():
        msg = f"规则文件不存在 (rules file not found): {source}"
        raise RulesError(msg)
    try:
        return tomllib.loads(source.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"规则文件无法解析 (invalid TOML in {source}): {exc}"
        raise RulesError(msg) from exc


def _where(source: Path | None) -> str:
    return str(source) if source is not None else "rules_default.toml"


def _merge(base: dict[str, object], user: dict[str, object], source: Path) -> dict[str, object]:
    merged = dict(base)
    for key, value in user.items():
        if key not in _KNOWN:
            msg = f"{source}: 未知的规则项 (unknown key) {key}; 可用 (allowed): {', '.join(_KNOWN)}"
            raise RulesError(msg)
        if key in _TABLES:
            if not isinstance(value, dict):
                msg = f"{source}: {key} 必须是表 (must be a table like [{key}])"
                raise RulesError(msg)
            table = dict(base[key])  # type: ignore[arg-type]
            table.update(value)
            merged[key] = table
        else:
            merged[key] = value
    return merged


def _number(value: object, key: str, source: Path | None, *, integer: bool = False) -> float:
    # bool is an int subclass in Python; `true` is never a valid number of hours.
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if not ok or isinstance(value, bool):
        kind = "整数 (an integer)" if integer else "数字 (a number)"
        msg = f"{_where(source)}: {key} 必须是{kind}, 实际为 (got) {value!r}"
        raise RulesError(msg)
    if not math.isfinite(value):  # TOML allows nan and inf: neither is a number of hours
        msg = f"{_where(source)}: {key} 必须是有限数字 (must be a finite number): {value!r}"
        raise RulesError(msg)
    if value < 0:
        msg = f"{_where(source)}: {key} 不能为负数 (must not be negative), 实际为 (got) {value!r}"
        raise RulesError(msg)
    if value > MAX_RULE_VALUE:
        msg = (
            f"{_where(source)}: {key} 数值过大 (absurdly large; at most {MAX_RULE_VALUE:,}), "
            f"实际为 (got) {value!r}"
        )
        raise RulesError(msg)
    return value  # type: ignore[return-value]


def _strings(value: object, key: str, source: Path | None) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        msg = f"{_where(source)}: {key} 必须是字符串列表 (must be a list of strings): {value!r}"
        raise RulesError(msg)
    return tuple(value)


def _moment(value: object, key: str, source: Path | None) -> datetime:
    """A TOML date/datetime or an ISO string; a bare date means 00:00 that day."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            # Data are naive China local time; an offset would silently shift the window.
            msg = f"{_where(source)}: {key} 不要带时区 (use local China time without offset)"
            raise RulesError(msg)
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is None:
            return parsed
    msg = (
        f"{_where(source)}: {key} 不是有效日期 (not a valid date): {value!r}; "
        "格式 (format) YYYY-MM-DD 或 (or) YYYY-MM-DD HH:MM:SS"
    )
    raise RulesError(msg)


def _build(raw: dict[str, object], source: Path | None) -> Rules:
    where = _where(source)
    for key in raw:
        if key not in _KNOWN:
            msg = f"{where}: 未知的规则项 (unknown key) {key}"
            raise RulesError(msg)

    thresholds = _table(raw, "thresholds", RULE_NAMES, source)
    stage_targets = _table(raw, "stage_targets", STAGES, source)

    scalars: dict[str, object] = {}
    for key, kind in _SCALARS.items():
        scalars[key] = (
            int(_number(raw[key], key, source, integer=True))
            if kind is int
            else float(_number(raw[key], key, source))
        )
    for key in ("window_days", "history_days"):
        if scalars[key] == 0:
            msg = f"{where}: {key} 必须大于 0 (must be at least 1 day)"
            raise RulesError(msg)
    if scalars["history_days"] < scalars["window_days"]:  # type: ignore[operator]
        msg = (
            f"{where}: history_days ({scalars['history_days']}) 不能小于 window_days "
            f"({scalars['window_days']}) (the apply-date limit must cover the window)"
        )
        raise RulesError(msg)
    if scalars["warning_rank"] > 1:  # type: ignore[operator]
        rank = raw["warning_rank"]
        msg = f"{where}: warning_rank 是 0–1 的比例 (a rate between 0 and 1): {rank!r}"
        raise RulesError(msg)

    lists = {key: _strings(raw[key], key, source) for key in _STRING_LISTS}

    return Rules(
        thresholds=MappingProxyType(thresholds),
        holidays=_holidays(raw["holidays"], source),
        scenes=_scenes(raw["scenes"], source),
        stage_targets=MappingProxyType(stage_targets),
        source=source,
        **scalars,  # type: ignore[arg-type]
        **lists,  # type: ignore[arg-type]
    )


def _table(
    raw: dict[str, object], key: str, names: tuple[str, ...], source: Path | None
) -> dict[str, float]:
    table = raw[key]
    if not isinstance(table, dict):
        msg = f"{_where(source)}: {key} 必须是表 (must be a table like [{key}])"
        raise RulesError(msg)
    out: dict[str, float] = {}
    for name, value in table.items():
        if name not in names:
            msg = (
                f"{_where(source)}: 未知的规则项 (unknown key) {key}.{name}; "
                f"可用 (allowed): {', '.join(names)}"
            )
            raise RulesError(msg)
        out[name] = float(_number(value, f"{key}.{name}", source))
    missing = [n for n in names if n not in out]
    if missing:
        msg = f"{_where(source)}: 缺少 (missing) {key}.{missing[0]}"
        raise RulesError(msg)
    return {n: out[n] for n in names}


def _holidays(value: object, source: Path | None) -> tuple[tuple[datetime, datetime], ...]:
    if not isinstance(value, list):
        msg = f"{_where(source)}: holidays 必须是 [[holidays]] 数组 (an array of tables)"
        raise RulesError(msg)
    windows: list[tuple[datetime, datetime]] = []
    for i, item in enumerate(value):
        key = f"holidays[{i}]"
        if not isinstance(item, dict):
            msg = f"{_where(source)}: {key} 必须是表 (must be a table with from/to)"
            raise RulesError(msg)
        for name in item:
            if name not in ("from", "to"):
                msg = f"{_where(source)}: 未知的规则项 (unknown key) {key}.{name}; 可用 from, to"
                raise RulesError(msg)
        if "from" not in item or "to" not in item:
            msg = f"{_where(source)}: {key} 需要 from 和 to (needs both from and to)"
            raise RulesError(msg)
        start = _moment(item["from"], f"{key}.from", source)
        end = _moment(item["to"], f"{key}.to", source)
        if start >= end:
            msg = (
                f"{_where(source)}: {key}.from ({start}) 必须早于 to ({end}) "
                "(a window is [from, to) with from < to)"
            )
            raise RulesError(msg)
        windows.append((start, end))
    return tuple(sorted(windows))


def _scenes(value: object, source: Path | None) -> tuple[SceneRule, ...]:
    if not isinstance(value, list):
        msg = f"{_where(source)}: scenes 必须是 [[scenes]] 数组 (an array of tables)"
        raise RulesError(msg)
    scenes: list[SceneRule] = []
    for i, item in enumerate(value):
        key = f"scenes[{i}]"
        if not isinstance(item, dict):
            msg = f"{_where(source)}: {key} 必须是表 (must be a table)"
            raise RulesError(msg)
        for name in item:
            if name not in _SCENE_KEYS:
                msg = (
                    f"{_where(source)}: 未知的规则项 (unknown key) {key}.{name}; "
                    f"可用 (allowed): {', '.join(_SCENE_KEYS)}"
                )
                raise RulesError(msg)
        for name in ("scene", "field", "stop"):
            if name not in item:
                msg = f"{_where(source)}: 缺少 (missing) {key}.{name}"
                raise RulesError(msg)
        if not isinstance(item["scene"], str) or not item["scene"]:
            msg = f"{_where(source)}: {key}.scene 必须是非空字符串 (a non-empty string)"
            raise RulesError(msg)
        fields = _strings(
            [item["field"]] if isinstance(item["field"], str) else item["field"],
            f"{key}.field",
            source,
        )
        for name in fields:
            if name not in _SCENE_FIELDS:
                msg = (
                    f"{_where(source)}: {key}.field 不是文本列 (not a text column): "
                    f"{name!r}; 可用 (allowed): {', '.join(_SCENE_FIELDS)}"
                )
                raise RulesError(msg)
        values = _strings(item.get("values", []), f"{key}.values", source)
        prefixes = _strings(item.get("prefixes", []), f"{key}.prefixes", source)
        if not values and not prefixes:
            msg = f"{_where(source)}: 缺少 (missing) {key}.values"
            raise RulesError(msg)
        if item["stop"] not in STOPS:
            msg = (
                f"{_where(source)}: {key}.stop 只能是 (must be one of) {', '.join(STOPS)}: "
                f"{item['stop']!r}"
            )
            raise RulesError(msg)
        missing_stop = item.get("missing_stop", "missing_end")
        if missing_stop not in ("missing_end", "cancelled_before_audit"):
            msg = (
                f"{_where(source)}: {key}.missing_stop 只能是 (must be) missing_end 或 (or) "
                f"cancelled_before_audit: {missing_stop!r}"
            )
            raise RulesError(msg)
        scenes.append(
            SceneRule(
                scene=item["scene"],
                fields=fields,
                values=values,
                stop=item["stop"],
                missing_stop=missing_stop,
                prefixes=prefixes,
            )
        )
    return tuple(scenes)
