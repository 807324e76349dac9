"""User configuration (``aftersales.toml``): extra header aliases and delivery settings.

The command line looks it up (:func:`default_config_path`): ``--config FILE``, else the
``AFTERSALES_CONFIG`` environment variable, else ``./aftersales.toml`` when present; the Python
API reads only the file it is given. Rules (thresholds, holidays, windows) live in a separate rules
file, see :mod:`aftersales_kit.rules`.

Example::

    [aliases]
    service_id = ["服务单编号"]        # extra headers that mean the canonical column
    apply_time = ["客户申请时间"]

    [stores."1000101"]                  # store identity of files without a store column
    name = "示例旗舰店"
    files = ["示例旗舰店_*.xlsx"]       # file-name globs (or paths relative to the data folder)
    star = 4.2                          # optional per-store inputs of the report
    aftersales_rank = 0.35
    dispute_rank = 0.40
    published_hours = 52.3              # the figure 风向标 shows, and its category/peer mean
    peer_hours = 45.0
    brand = "示例品牌"                  # optional groups: the index filters and rolls up by them
    manager = "张三"

    [report]
    mask_staff = true                   # auditor/processor names as 审核员1 … (reports sent out)
    min_orders = 30                     # the index ranks stores with fewer counted orders last

    [smtp]                              # any AFTERSALES_SMTP_* variable overrides these
    host = "smtp.exmail.qq.com"
    port = 465
    security = "ssl"
    user = "report@example.com"
    from = "售后诊断 <report@example.com>"
    # the password is only ever read from AFTERSALES_SMTP_PASSWORD
"""

from __future__ import annotations

import fnmatch
import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, TypeVar

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

from aftersales_kit.errors import UsageError
from aftersales_kit.host import EXPANDED_NAMES
from aftersales_kit.host import default_config_path as default_config_path  # its lookup
from aftersales_kit.rules import Strict, explain, one_or_many, problem
from aftersales_kit.schema import ALIASES, COLUMNS

#: A ``stores.toml`` inside a data folder gives its files their store identity (DOMAIN §2).
STORES_FILE = "stores.toml"
#: The variable that holds the SMTP password (never the configuration file).
PASSWORD_ENV = "AFTERSALES_SMTP_PASSWORD"


def _port(value: int) -> int:
    if not 0 < value < 65536:
        msg = f"必须是 1–65535 的整数 (must be 1–65535): {value!r}"
        raise problem(msg)
    return value


def _plain_number(value: object) -> object:
    # bool is an int subclass; `star = true` is not a rating.
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"必须是数字 (a number), 实际为 (got) {value!r}"
        raise problem(msg)
    return value


def _non_negative(value: object) -> object:
    _plain_number(value)
    if value < 0:  # type: ignore[operator]  # a number after _plain_number
        msg = f"不能为负数 (must not be negative), 实际为 (got) {value!r}"
        raise problem(msg)
    return value


def _between(low: float, high: float, *, low_open: bool = False) -> AfterValidator:
    """A finite number in [low, high] (or (low, high] with ``low_open``): a star of 7, a rank rate
    of 1.5 or a target of −5 hours is a typo, not a setting."""

    def check(value: float) -> float:
        too_low = value <= low if low_open else value < low
        if not math.isfinite(value) or too_low or value > high:
            span = f"{'(' if low_open else '['}{low:g}, {high:g}]"
            msg = f"必须在 {span} 之间 (must be in {span}), 实际为 (got) {value!r}"
            raise problem(msg)
        return value

    return AfterValidator(check)


Number = Annotated[float, BeforeValidator(_plain_number)]
Star = Annotated[Number, _between(0, 5)]
Rate = Annotated[Number, _between(0, 1)]
Hours = Annotated[Number, _between(0, 10_000)]
PositiveHours = Annotated[Number, _between(0, 10_000, low_open=True)]
Seconds = Annotated[float, BeforeValidator(_non_negative)]
Addresses = Annotated[list[StrictStr], BeforeValidator(one_or_many)]
Glob = Annotated[StrictStr, Field(min_length=1)]


class SmtpTable(Strict):
    """``[smtp]``: the mail server; any ``AFTERSALES_SMTP_*`` variable overrides a key."""

    host: StrictStr | None = None
    port: Annotated[StrictInt, AfterValidator(_port)] | None = None
    security: StrictStr | None = None
    user: StrictStr | None = None
    sender: StrictStr | None = Field(default=None, alias="from")
    cafile: StrictStr | None = None
    timeout: Seconds | None = None
    data_timeout: Seconds | None = None
    retries: Annotated[StrictInt, Field(ge=0)] | None = None
    backoff_seconds: Seconds | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_password(cls, data: object) -> object:
        # A file is copied, mailed and committed; the password stays in the environment.
        if isinstance(data, dict) and "password" in data:
            msg = (
                "不能写在配置文件里 (the [smtp] table must not hold the password); "
                f"请改用环境变量 {PASSWORD_ENV} (use the environment)"
            )
            raise problem(msg, key="password")
        return data


class StoreTable(Strict):
    """One ``[stores."<id>"]`` table: identity, per-store report inputs, delivery."""

    name: StrictStr | None = None
    files: list[Glob] = Field(default_factory=list)
    to: Addresses = Field(default_factory=list)
    cc: Addresses = Field(default_factory=list)
    star: Star | None = None
    aftersales_rank: Rate | None = None
    dispute_rank: Rate | None = None
    published_hours: Hours | None = None
    target_hours: PositiveHours | None = None
    #: The category / peer mean 风向标 shows beside the store's figure (when the merchant has it).
    peer_hours: Hours | None = None
    #: Groups for the index's filters and roll-ups (an agency's brands and account managers).
    brand: StrictStr | None = None
    manager: StrictStr | None = None
    wecom: StrictStr | None = None
    dingtalk: StrictStr | None = None
    dingtalk_secret: StrictStr | None = None


def _canonical(aliases: dict[str, list[str]]) -> dict[str, list[str]]:
    for column in aliases:
        if column not in COLUMNS:
            msg = f"不是标准列名 (not a canonical column); 可用 (allowed): {', '.join(COLUMNS)}"
            raise problem(msg, key=column)
    return aliases


class ReportTable(Strict):
    """``[report]``: how reports show data. ``mask_staff``: auditor and processor names become
    审核员1, 处理人1 … (for reports sent outside the company)."""

    mask_staff: bool = False
    #: The index's minimum sample: stores with fewer counted orders are marked and never ranked
    #: above a store with enough (one order's mean is no ranking).
    min_orders: Annotated[int, Field(ge=0)] = 30


class ConfigFile(Strict):
    """The whole ``aftersales.toml``."""

    aliases: Annotated[dict[str, Addresses], AfterValidator(_canonical)] = Field(
        default_factory=dict
    )
    smtp: SmtpTable = SmtpTable()
    stores: dict[str, StoreTable] = Field(default_factory=dict)
    report: ReportTable = ReportTable()


_M = TypeVar("_M", bound=BaseModel)
#: Keys whose values may be webhook keys or signing secrets: an error names their type, never
#: the value (stderr ends up in cron mail and logs).
SECRET_KEYS = frozenset({"wecom", "dingtalk", "dingtalk_secret", "password"})


def _validate(model: type[_M], raw: object, *, source: Path) -> _M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        lines = explain(exc, model=model, unknown="未知的配置项", hidden=SECRET_KEYS).splitlines()
        msg = "\n".join(f"{source}: {line}" for line in lines)
        raise UsageError(msg) from None


@dataclass(frozen=True)
class StoreEntry:
    """One ``[stores."<id>"]`` table: the store's id, name, file globs and its other keys."""

    store_id: str
    name: str | None = None
    files: tuple[str, ...] = ()
    extra: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    base: Path | None = None  # the folder the globs are relative to (a data folder's stores.toml)

    def matches(self, path: Path) -> bool:
        """Whether ``path`` is one of this store's files: a glob matches its name, or its path
        relative to ``base``."""
        rel: str | None = None
        if self.base is not None:
            try:
                rel = path.resolve().relative_to(self.base.resolve()).as_posix()
            except ValueError:
                rel = None
        for pattern in self.files:
            if fnmatch.fnmatchcase(path.name, pattern):
                return True
            if rel is not None and fnmatch.fnmatchcase(rel, pattern):
                return True
        return False


@dataclass(frozen=True)
class Config:
    """Parsed configuration; ``aliases`` already merges the built-in table with the user's."""

    aliases: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType(ALIASES)
    )
    smtp: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    stores: tuple[StoreEntry, ...] = ()
    source: Path | None = None
    #: ``[report] mask_staff``: staff names masked in the manager views.
    mask_staff: bool = False
    #: ``[report] min_orders``: the index's minimum sample (counted orders) for a ranked store.
    min_orders: int = 30

    def store(self, store_id: str) -> StoreEntry | None:
        """The ``[stores."<id>"]`` entry of ``store_id``, if configured."""
        return next((s for s in self.stores if s.store_id == store_id), None)


def load_config(path: str | Path | None = None) -> Config:
    """Read the configuration file ``path``, or return the defaults when ``path`` is None.

    Nothing is looked up here: the command line decides which file applies
    (:func:`default_config_path`), so the API never depends on the working directory.

    Raises
    ------
    UsageError
        The named file is missing, not TOML, or has an unknown section or key or a value of the
        wrong type; the message names the file and the key path (``stores."1000101".files``).
    """
    if path is None or path == "":
        return Config()
    candidate = Path(path)
    if not candidate.exists():
        msg = f"配置文件不存在 (config file not found): {candidate}"
        raise UsageError(msg)
    try:
        raw = tomllib.loads(candidate.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"配置文件无法解析 (invalid TOML in {candidate}): {exc}"
        raise UsageError(msg) from exc
    parsed = _validate(ConfigFile, raw, source=candidate)
    merged = dict(ALIASES)
    for column, headers in parsed.aliases.items():
        merged[column] = (*merged.get(column, ()), *headers)
    return Config(
        aliases=MappingProxyType(merged),
        smtp=MappingProxyType(dict(raw.get("smtp", {}))),
        stores=parse_stores(raw.get("stores", {}), source=candidate, base=None),
        source=candidate,
        mask_staff=parsed.report.mask_staff,
        min_orders=parsed.report.min_orders,
    )


#: Per-store report inputs a ``[stores."<id>"]`` entry may give (issue 10: batches).
OBSERVED_KEYS: tuple[str, ...] = ("star", "aftersales_rank", "dispute_rank")


def store_entries(config: Config, *, data: Sequence[str | Path] = ()) -> dict[str, StoreEntry]:
    """Every configured store: the configuration's ``[stores]`` and the ``stores.toml`` of each
    data folder (or beside each data file); the configuration wins on the same id."""
    found: dict[str, StoreEntry] = {}
    for raw in data:
        path = Path(raw)
        folder = path if path.is_dir() else path.parent
        candidate = folder / STORES_FILE
        if candidate.is_file():
            for entry in read_stores_file(candidate):
                found.setdefault(entry.store_id, entry)
    for entry in config.stores:
        found[entry.store_id] = entry
    return found


def store_inputs(
    entries: Mapping[str, StoreEntry], store_ids: Sequence[str]
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """(observed star/rank rates per store, published 风向标 hours per store) from the entries."""
    observed: dict[str, dict[str, float]] = {}
    published: dict[str, float] = {}
    for sid in store_ids:
        entry = entries.get(sid)
        if entry is None:
            continue
        values = {k: float(entry.extra[k]) for k in OBSERVED_KEYS if k in entry.extra}  # type: ignore[arg-type]
        if values:
            observed[sid] = values
        if "published_hours" in entry.extra:
            published[sid] = float(entry.extra["published_hours"])  # type: ignore[arg-type]
    return observed, published


def store_peer_hours(
    entries: Mapping[str, StoreEntry], store_ids: Sequence[str]
) -> dict[str, float]:
    """The category / peer mean (``peer_hours``) per store, where its entry gives one."""
    return {
        sid: float(entries[sid].extra["peer_hours"])  # type: ignore[arg-type]
        for sid in store_ids
        if sid in entries and "peer_hours" in entries[sid].extra
    }


def store_targets(entries: Mapping[str, StoreEntry], store_ids: Sequence[str]) -> dict[str, float]:
    """The short-board target (``target_hours``) per store, where its entry gives one."""
    return {
        sid: float(entries[sid].extra["target_hours"])  # type: ignore[arg-type]
        for sid in store_ids
        if sid in entries and "target_hours" in entries[sid].extra
    }


def read_stores_file(path: Path) -> tuple[StoreEntry, ...]:
    """The ``[stores]`` table of a data folder's ``stores.toml``; globs relative to its folder."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        msg = f"店铺映射文件无法读取 (cannot read {path}): {exc}"
        raise UsageError(msg) from exc
    return parse_stores(raw.get("stores", {}), source=path, base=path.parent)


def parse_stores(value: object, *, source: Path, base: Path | None) -> tuple[StoreEntry, ...]:
    """``[stores."<id>"]`` tables, every key checked (:class:`StoreTable`).

    ``extra`` keeps the values as the file has them (``to`` may be one address or a list;
    ``${NAME}`` references are expanded later by :func:`expand_env`, where they are used).
    """
    tables = _validate(_StoresTable, {"stores": value}, source=source).stores
    raw: dict[str, dict[str, object]] = value  # type: ignore[assignment]  # validated above
    entries = []
    for store_id, table in tables.items():
        extra = {k: v for k, v in raw[store_id].items() if k not in ("name", "files")}
        entries.append(
            StoreEntry(
                store_id=str(store_id).strip(),
                name=table.name or None,
                files=tuple(table.files),
                extra=MappingProxyType(extra),
                base=base,
            )
        )
    return tuple(entries)


class _StoresTable(Strict):
    """``[stores]`` alone, as a data folder's ``stores.toml`` or a recipients file has it."""

    model_config = ConfigDict(extra="ignore")
    stores: dict[str, StoreTable]


#: ``${NAME}`` in a delivery value: webhook keys and robot secrets stay in the environment.
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(value: str, *, where: str, env: Mapping[str, str] | None = None) -> str:
    """``value`` with every ``${NAME}`` replaced by the environment's ``NAME``.

    A variable that is unset (or empty) is a :class:`UsageError` naming it and the key, because a
    webhook without its key would fail later with a far less helpful message from the server.
    """
    env = os.environ if env is None else env
    _check_references(value, where=where)
    names = list(dict.fromkeys(_ENV_REF.findall(value)))
    EXPANDED_NAMES.update(names)
    missing = [n for n in names if not env.get(n)]
    if missing:
        msg = (
            f"{where}: 环境变量未设置 (environment variable not set): {', '.join(missing)}; "
            f"请先 export {missing[0]}=... (set it before running)"
        )
        raise UsageError(msg)
    return _ENV_REF.sub(lambda m: env[m.group(1)], value)


def _check_references(value: str, *, where: str) -> None:
    """Every ``${`` starts a whole ``${NAME}``: an unclosed ``${WECOM_KEY`` would otherwise be
    sent as it is, and the bot's "invalid key" would not say why. The value is not echoed (the
    rest of it may be a key written in the file)."""
    rest = _ENV_REF.sub("", value)
    if "${" in rest:
        start = rest.index("${")
        fragment = re.match(r"\$\{[A-Za-z0-9_]*", rest[start:])
        shown = fragment.group(0) if fragment else "${"
        msg = (
            f"{where}: 环境变量引用不完整 (unclosed or invalid variable reference) {shown!r}; "
            "写法 (write it as) ${NAME}"
        )
        raise UsageError(msg)
