"""JD rule settings (DOMAIN §3–§5): thresholds, holiday windows, the scene table, window lengths.

The packaged ``rules_default.toml`` holds the defaults; a user rules file (``--rules FILE``)
overrides any subset of it. Scalar keys and the keys of ``[thresholds]`` and ``[stage_targets]``
override one by one; the arrays (``holidays``, ``scenes``, status lists) replace the default array
whole, because merging two holiday calendars or two scene tables element by element has no sensible
meaning.

The merged file is validated by a pydantic schema (:class:`RulesFile`, every table with
``extra="forbid"``); :func:`explain` turns its errors into messages that name the key path
(``holidays.0.from``), the bad value and what was allowed.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from collections.abc import Collection, Mapping
from datetime import date, datetime, time
from enum import StrEnum
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, Self, TypeVar, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from aftersales_kit.errors import RulesError
from aftersales_kit.schema import COLUMNS


class Rule(StrEnum):
    """§5 alert rules, in report order."""

    AUDIT_OVER_24H = "audit_over_24h"
    RETURN_SHIP_OVER_24H = "return_ship_over_24h"
    TRACKING_STALE_OVER_48H = "tracking_stale_over_48h"
    TRANSIT_OVER_72H = "transit_over_72h"
    INBOUND_OVER_24H = "inbound_over_24h"
    INBOUND_OVER_48H = "inbound_over_48h"
    PROCESS_OVER_24H = "process_over_24h"
    REFUND_OVER_24H = "refund_over_24h"
    TOTAL_OVER_60H = "total_over_60h"


class Stage(StrEnum):
    """§4 stages, in checkpoint order."""

    AUDIT = "audit"
    RETURN_SHIP = "return_ship"
    RETURN_TRANSIT = "return_transit"
    TRANSIT = "transit"
    INBOUND = "inbound"
    PROCESS = "process"


class ExcludedReason(StrEnum):
    """§3 exclusion reasons, in precedence order."""

    HOLIDAY = "holiday"
    APPLY_TOO_OLD = "apply_too_old"
    CANCELLED_BEFORE_AUDIT = "cancelled_before_audit"
    MISSING_END = "missing_end"
    INVALID = "invalid"


class Stop(StrEnum):
    """Checkpoints a scene's clock can stop at."""

    FIRST_AUDIT = "first_audit"
    FIRST_PROCESS = "first_process"


class SceneName(StrEnum):
    """Scenes the code names: the packaged scene table's and the service types (DOMAIN §3).

    A user scene table may add others; the data's ``scene`` column stays a plain string.
    """

    CANCELLED = "取消"
    REFUSED = "拒绝"
    COMPENSATION = "直赔/补发"
    FLASH_REFUND = "闪电退款"
    OFFLINE_REPLACEMENT = "线下换新"
    HOME_REPLACEMENT = "上门换新"
    REPAIR_REPLACEMENT = "返修换新"
    REFUND_ONLY = "仅退款"
    REFUND_RECEIVED = "已收货退款"
    REFUND_NOT_RECEIVED = "未收货退款"
    PRESALE_REFUND = "售前退款"
    RETURN = "退货"
    EXCHANGE = "换货"
    REPAIR = "维修"


class Status(StrEnum):
    """服务单状态 values the code names: the packaged terminal ones, and 待客户反馈."""

    COMPLETED = "完成"
    CANCELLED = "取消"
    AUDIT_REJECTED = "审核不通过"
    AUDIT_CLOSED = "审核关闭"
    REFUSED = "拒绝"
    AWAITING_CUSTOMER = "待客户反馈"


# The tuples hold the plain strings: a polars frame built from enum members would get an Enum
# dtype, while the strings keep every frame and JSON file as it was.
#: §5 alert rules in report order.
RULE_NAMES: tuple[str, ...] = tuple(r.value for r in Rule)
#: §4 stages in checkpoint order.
STAGES: tuple[str, ...] = tuple(s.value for s in Stage)
#: §3 exclusion reasons in precedence order.
EXCLUDED_REASONS: tuple[str, ...] = tuple(r.value for r in ExcludedReason)
#: No threshold, target or window length is sensibly above ten years of hours or days.
MAX_RULE_VALUE = 87_600
#: Checkpoints a scene's clock can stop at.
STOPS: tuple[str, ...] = tuple(s.value for s in Stop)

# --- return-method families and statuses (DOMAIN §2, §5; JD-EXPORTS.md) ---------------------------


class Family(StrEnum):
    """How the goods of a service order come back (DOMAIN §2 "Return-method families")."""

    PICKUP = "pickup"  # the merchant's carrier picks the item up (上门取件 …)
    CUSTOMER_SHIP = "customer_ship"  # the customer sends or brings it (客户发货 …)
    NO_GOODS = "no_goods"  # refund without goods back (已收货退款, 退款不退货 …)
    ON_SITE = "on_site"  # a technician visits (上门维修, 大家电安装 …)


#: 返回方式 / 取件方式 names per family. 闪电退款 is JD's refund at pickup for 上门取件 returns, so
#: an order approved as 闪电退款 still waits for its pickup.
FAMILY_METHODS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        Family.PICKUP: (
            "上门取件",
            "自营取件",
            "上门换新取件",
            "京东快运上门取件",
            "德邦取件",
            "门店上门取件",
            "闪电退款",
        ),
        Family.CUSTOMER_SHIP: ("客户发货", "客户送货", "送货至门店", "快递至门店"),
        Family.NO_GOODS: ("退款不退货", "虚拟退款"),
        Family.ON_SITE: (
            "上门维修",
            "上门检测",
            "大家电安装",
            "大家电移机",
            "大家电维修",
            "大家电检测",
        ),
    }
)
#: 客户期望 values that decide the family when 返回方式 does not.
FAMILY_EXPECTATIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        Family.NO_GOODS: ("仅退款", "已收货退款", "未收货退款", "售前退款"),
        Family.ON_SITE: FAMILY_METHODS[Family.ON_SITE],
    }
)
#: 服务单状态 values of a technician's visit: on-site whatever the method says.
ON_SITE_STATUSES: tuple[str, ...] = ("上门维修中", "上门检测中", "待下发维修中心接单")
#: Statuses that mean the merchant already audited (DOMAIN §5 "Audited").
AUDITED_STATUSES: tuple[str, ...] = (
    "待收货",
    "待处理",
    "待处理领取",
    "待用户确认",
    "提交退款申请",
    *ON_SITE_STATUSES,
)
#: Every 服务单状态 JD-EXPORTS.md lists (open and terminal); another value is "not recognised":
#: its open orders are placed by their checkpoints alone and counted in data quality.
KNOWN_STATUSES: tuple[str, ...] = (
    "待审核领取",
    "待审核",
    "待客户反馈",
    "客户已反馈",
    "待审核和待客户反馈",
    "待收货",
    "待处理领取",
    "待处理",
    "待用户确认",
    "提交退款申请",
    "完成",
    "取消",
    "审核关闭",
    "审核不通过",
    "拒绝",
    *ON_SITE_STATUSES,
)

_STRING_COLUMNS = tuple(c for c, t in COLUMNS.items() if t == COLUMNS["status"])
#: Columns a scene row may match on: text columns and the yes/no flash_refund.
_SCENE_FIELDS = (*_STRING_COLUMNS, "flash_refund")
#: Tables whose keys a user file overrides one by one (the rest is replaced whole).
_TABLES = ("thresholds", "stage_targets")
_N = TypeVar("_N", int, float)


@dataclasses.dataclass(frozen=True)
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


#: The :class:`Rules` fields held as read-only mappings.
_FROZEN_MAPPINGS = ("thresholds", "stage_targets")


def _unpickled_rules(values: dict[str, Any]) -> Rules:
    frozen = {name: MappingProxyType(dict(values[name])) for name in _FROZEN_MAPPINGS}
    return Rules(**{**values, **frozen})


@dataclasses.dataclass(frozen=True)
class Rules:
    """Every tunable of the JD rules; build with :func:`load_rules`, never mutate."""

    thresholds: Mapping[str, float]
    holidays: tuple[tuple[datetime, datetime], ...]
    scenes: tuple[SceneRule, ...]
    window_days: int = 30
    history_days: int = 180
    warning_hours: float = 60.0
    target_hours: float = 60.0
    stage_targets: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: MappingProxyType(
            {"audit": 24.0, "return_ship": 24.0, "transit": 72.0, "inbound": 12.0, "process": 24.0}
        )
    )
    warning_star: float = 3.5
    warning_rank: float = 0.20
    terminal_statuses: tuple[str, ...] = (
        Status.COMPLETED.value,
        Status.CANCELLED.value,
        Status.AUDIT_REJECTED.value,
        Status.AUDIT_CLOSED.value,
        Status.REFUSED.value,
    )
    return_service_types: tuple[str, ...] = (
        SceneName.RETURN.value,
        SceneName.EXCHANGE.value,
        SceneName.REPAIR.value,
    )
    return_approve_results: tuple[str, ...] = ("上门取件", "客户发货", "客户送货", "返修换新")
    source: Path | None = None  # the user file, None for the packaged defaults

    def __reduce__(self) -> tuple[object, tuple[dict[str, object]]]:
        # A MappingProxyType does not pickle: the two mappings travel as dicts (the report hands
        # a kernel the rules its diagnosis was computed with, as a pickle).
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name in _FROZEN_MAPPINGS:
            values[name] = dict(getattr(self, name))
        return (_unpickled_rules, (values,))

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


# --- the schema -----------------------------------------------------------------------------------


def problem(message: str, *, key: str | None = None) -> PydanticCustomError:
    """A validation error whose text is ``message`` as it is; ``key`` extends the error's path
    (a model-level check names the field it blames, e.g. ``holidays.0`` + ``from``)."""
    # The text goes in as a context value: braces in it are never read as a template.
    context: dict[str, Any] = {"message": message}
    if key is not None:
        context["key"] = key
    return PydanticCustomError("aftersales", "{message}", context)


def _number(value: object) -> float:
    # bool is an int subclass in Python; `true` is never a valid number of hours.
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"必须是数字 (a number), 实际为 (got) {value!r}"
        raise problem(msg)
    if not math.isfinite(value):  # TOML allows nan and inf: neither is a number of hours
        msg = f"必须是有限数字 (must be a finite number): {value!r}"
        raise problem(msg)
    return float(_in_range(value))


def _in_range(value: _N) -> _N:
    if value < 0:
        msg = f"不能为负数 (must not be negative), 实际为 (got) {value!r}"
        raise problem(msg)
    if value > MAX_RULE_VALUE:
        msg = f"数值过大 (absurdly large; at most {MAX_RULE_VALUE:,}), 实际为 (got) {value!r}"
        raise problem(msg)
    return value


def _days(value: int) -> int:
    _in_range(value)
    if value == 0:
        msg = "必须大于 0 (must be at least 1 day)"
        raise problem(msg)
    return value


def _rate(value: float) -> float:
    if value > 1:
        msg = f"是 0–1 的比例 (a rate between 0 and 1): {value!r}"
        raise problem(msg)
    return value


def _moment(value: object) -> datetime:
    """A TOML date/datetime or an ISO string; a bare date means 00:00 that day."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            # Data are naive China local time; an offset would silently shift the window.
            msg = "不要带时区 (use local China time without offset)"
            raise problem(msg)
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
        f"不是有效日期 (not a valid date): {value!r}; "
        "格式 (format) YYYY-MM-DD 或 (or) YYYY-MM-DD HH:MM:SS"
    )
    raise problem(msg)


def one_or_many(value: object) -> object:
    return [value] if isinstance(value, str) else value


def _scene_fields(names: list[str]) -> list[str]:
    for name in names:
        if name not in _SCENE_FIELDS:
            msg = (
                f"不是文本列 (not a text column): {name!r}; "
                f"可用 (allowed): {', '.join(_SCENE_FIELDS)}"
            )
            raise problem(msg)
    return names


#: Hours (thresholds, targets): a finite, non-negative number, at most MAX_RULE_VALUE.
Hours = Annotated[float, BeforeValidator(_number)]
#: Window lengths in days: a whole number from 1 to MAX_RULE_VALUE.
Days = Annotated[StrictInt, AfterValidator(_days)]
Moment = Annotated[datetime, BeforeValidator(_moment)]
Strings = list[StrictStr]


class Strict(BaseModel):
    """A TOML table: unknown keys are refused, values are not coerced from other types."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Thresholds(Strict):
    """``[thresholds]``: hours per §5 alert rule, in :data:`RULE_NAMES` order."""

    audit_over_24h: Hours
    return_ship_over_24h: Hours
    tracking_stale_over_48h: Hours
    transit_over_72h: Hours
    inbound_over_24h: Hours
    inbound_over_48h: Hours
    process_over_24h: Hours
    refund_over_24h: Hours
    total_over_60h: Hours


class StageTargets(Strict):
    """``[stage_targets]``: what-if target hours per stage, in :data:`STAGES` order."""

    audit: Hours
    return_ship: Hours
    transit: Hours
    inbound: Hours
    process: Hours


class Holiday(Strict):
    """One ``[[holidays]]`` window ``[from, to)``."""

    start: Moment = Field(alias="from")
    to: Moment

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.start >= self.to:
            msg = f"({self.start}) 必须早于 to ({self.to}) (a window is [from, to) with from < to)"
            raise problem(msg, key="from")
        return self


class Scene(Strict):
    """One ``[[scenes]]`` row (see :class:`SceneRule`)."""

    scene: Annotated[StrictStr, Field(min_length=1)]
    fields: Annotated[
        Strings, BeforeValidator(one_or_many), AfterValidator(_scene_fields), Field(alias="field")
    ]
    values: Strings = Field(default_factory=list)
    prefixes: Strings = Field(default_factory=list)
    stop: Literal["first_audit", "first_process"]
    missing_stop: Literal["missing_end", "cancelled_before_audit"] = "missing_end"

    @model_validator(mode="after")
    def _matches_something(self) -> Self:
        if not self.values and not self.prefixes:
            msg = "缺少 (missing) values 或 (or) prefixes"
            raise problem(msg, key="values")
        return self

    def rule(self) -> SceneRule:
        return SceneRule(
            scene=self.scene,
            fields=tuple(self.fields),
            values=tuple(self.values),
            stop=self.stop,
            missing_stop=self.missing_stop,
            prefixes=tuple(self.prefixes),
        )


class RulesFile(Strict):
    """The whole rules file after merging the user's keys over the packaged defaults."""

    window_days: Days
    history_days: Days
    warning_hours: Hours
    target_hours: Hours
    warning_star: Hours
    warning_rank: Annotated[Hours, AfterValidator(_rate)]
    terminal_statuses: Strings
    return_service_types: Strings
    return_approve_results: Strings
    thresholds: Thresholds
    stage_targets: StageTargets
    holidays: list[Holiday]
    scenes: list[Scene]

    @model_validator(mode="after")
    def _history_covers_window(self) -> Self:
        if self.history_days < self.window_days:
            msg = (
                f"({self.history_days}) 不能小于 window_days ({self.window_days}) "
                "(the apply-date limit must cover the window)"
            )
            raise problem(msg, key="history_days")
        return self

    def rules(self, source: Path | None) -> Rules:
        return Rules(
            thresholds=MappingProxyType(self.thresholds.model_dump()),
            holidays=tuple(sorted((h.start, h.to) for h in self.holidays)),
            scenes=tuple(s.rule() for s in self.scenes),
            window_days=self.window_days,
            history_days=self.history_days,
            warning_hours=self.warning_hours,
            target_hours=self.target_hours,
            stage_targets=MappingProxyType(self.stage_targets.model_dump()),
            warning_star=self.warning_star,
            warning_rank=self.warning_rank,
            terminal_statuses=tuple(self.terminal_statuses),
            return_service_types=tuple(self.return_service_types),
            return_approve_results=tuple(self.return_approve_results),
            source=source,
        )


# --- errors ---------------------------------------------------------------------------------------

#: What a pydantic error type means, for the messages of :func:`explain`.
_KINDS: dict[str, str] = {
    "int_type": "必须是整数 (an integer)",
    "int_from_float": "必须是整数 (an integer)",
    "float_type": "必须是数字 (a number)",
    "string_type": "必须是字符串 (a string)",
    "string_too_short": "必须是非空字符串 (a non-empty string)",
    "list_type": "必须是数组 (must be a list or an array of tables)",
}
_TABLE_KINDS = ("model_type", "model_attributes_type", "dict_type")
_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _path(loc: tuple[int | str, ...]) -> str:
    # Array indexes are ints; a table key that is all digits or not a bare word ("1000101",
    # 示例店) is quoted as a TOML file writes it, so stores."1".files is not read as an index.
    return ".".join(
        str(p) if isinstance(p, int) or (_BARE.fullmatch(p) and not p.isdigit()) else f'"{p}"'
        for p in loc
    )


def _inner(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The table model inside a field's annotation, and whether the next path part is an array
    index or a table key to step over (``list[X]``, ``dict[str, X]``, ``X | None``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin = get_origin(annotation)
    if origin in (list, dict):
        return _inner(get_args(annotation)[-1])[0], True
    for arg in get_args(annotation):
        found = _inner(arg)
        if found[0] is not None:
            return found
    return None, False


def _allowed(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys the table at ``loc`` (inside ``model``) may have."""
    current: type[BaseModel] | None = model
    step_over = False
    for part in loc:
        if step_over:
            step_over = False
            continue
        if current is None:
            return []
        fields = current.model_fields
        info = next((f for n, f in fields.items() if (f.alias or n) == part), None)
        if info is None:
            return []
        current, step_over = _inner(info.annotation)
    if current is None:
        return []
    return [f.alias or n for n, f in current.model_fields.items()]


class _Hidden:
    """A value shown by its type alone (``<list>``), for keys that may hold a secret."""

    def __init__(self, value: object) -> None:
        self.kind = type(value).__name__

    def __repr__(self) -> str:
        return f"<{self.kind}, 值已隐藏 (value hidden)>"


def explain(
    exc: ValidationError,
    *,
    model: type[BaseModel],
    prefix: tuple[str, ...] = (),
    unknown: str = "未知的规则项",
    hidden: Collection[str] = (),
) -> str:
    """One line per error of ``exc``: the key path (``holidays.0.from``), what is wrong, and what
    was allowed. ``prefix`` is the path of the validated table inside its file; ``unknown`` names
    an unknown key in Chinese (a rule item, a configuration key). The values of keys in
    ``hidden`` (webhook URLs, secrets) are named by their type only, never echoed."""
    lines = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        ctx = error.get("ctx") or {}
        if "key" in ctx:
            loc = (*loc, ctx["key"])
        path = _path((*prefix, *loc))
        kind = error["type"]
        value = error.get("input")
        if any(part in hidden for part in loc if isinstance(part, str)):
            value = _Hidden(value)
        if kind == "aftersales":
            text = f"{path} {ctx['message']}"
        elif kind == "extra_forbidden":
            allowed = ", ".join(_allowed(model, loc[:-1]))
            text = f"{unknown} (unknown key) {path}; 可用 (allowed): {allowed}"
        elif kind == "missing":
            text = f"缺少 (missing) {path}"
        elif kind == "literal_error":
            text = f"{path} 只能是 (must be one of) {ctx.get('expected')}: {value!r}"
        elif kind in _TABLE_KINDS:
            text = f"{path} 必须是表 (must be a table like [{path}]), 实际为 (got) {value!r}"
        elif kind in _KINDS:
            text = f"{path} {_KINDS[kind]}, 实际为 (got) {value!r}"
        else:
            text = f"{path}: {error['msg']}, 实际为 (got) {value!r}"
        lines.append(text)
    return "\n".join(lines)


# --- loading --------------------------------------------------------------------------------------


def load_rules(path: str | Path | Mapping[str, object] | None = None) -> Rules:
    """Packaged default rules, overridden by the TOML file at ``path`` when given, or by a
    mapping with the same keys (``{"thresholds": {"audit_over_24h": 12}}``), validated alike.

    Raises
    ------
    RulesError
        The file is missing, not TOML, or has an unknown key, a wrong type, a negative threshold,
        a holiday window with ``from >= to`` or a bad date; the message names the file and the
        key path (``holidays.0.from``).

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
    if isinstance(path, Mapping):
        raw = _merge(raw, dict(path))
    elif path is not None:
        source = Path(path)
        raw = _merge(raw, _read_user_file(source))
    try:
        parsed = RulesFile.model_validate(raw)
    except ValidationError as exc:
        where = (
            str(source)
            if source is not None
            else ("rules" if isinstance(path, Mapping) else "rules_default.toml")
        )
        lines = explain(exc, model=RulesFile).splitlines()
        msg = "\n".join(f"{where}: {line}" for line in lines)
        raise RulesError(msg) from None
    return parsed.rules(source)


def _read_user_file(source: Path) -> dict[str, object]:
    if not source.is_file():
        msg = f"规则文件不存在 (rules file not found): {source}"
        raise RulesError(msg)
    try:
        return tomllib.loads(source.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"规则文件无法解析 (invalid TOML in {source}): {exc}"
        raise RulesError(msg) from exc


def _merge(base: dict[str, object], user: dict[str, object]) -> dict[str, object]:
    """``user`` over ``base``: the keys of ``[thresholds]``/``[stage_targets]`` one by one, every
    other key whole. A value of the wrong shape is kept as it is for the schema to name."""
    merged = dict(base)
    for key, value in user.items():
        table = base.get(key)
        if key in _TABLES and isinstance(value, dict) and isinstance(table, dict):
            merged[key] = {**table, **value}
        else:
            merged[key] = value
    return merged
