"""User configuration (``aftersales.toml``): extra header aliases and delivery settings.

Looked up from ``--config FILE``, else the ``AFTERSALES_CONFIG`` environment variable, else
``./aftersales.toml`` when present. Rules (thresholds, holidays, windows) live in a separate rules
file, see :mod:`aftersales_kit.settings`.

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
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from aftersales_kit.errors import UsageError
from aftersales_kit.schema import ALIASES, COLUMNS

DEFAULT_CONFIG = Path("aftersales.toml")
#: Keys of the ``[smtp]`` table (the password only ever comes from the environment).
SMTP_KEYS: tuple[str, ...] = (
    "host",
    "port",
    "security",
    "user",
    "from",
    "cafile",
    "timeout",
    "data_timeout",
    "retries",
    "backoff_seconds",
)
#: A ``stores.toml`` inside a data folder gives its files their store identity (DOMAIN §2).
STORES_FILE = "stores.toml"
#: Keys a ``[stores."<id>"]`` entry may have: identity, per-store report inputs, delivery.
STORE_KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "files": list,
    "to": (list, str),
    "cc": (list, str),
    "star": (int, float),
    "aftersales_rank": (int, float),
    "dispute_rank": (int, float),
    "published_hours": (int, float),
    "target_hours": (int, float),
    "wecom": str,
    "dingtalk": str,
    "dingtalk_secret": str,
}


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

    def store_for(self, path: Path) -> StoreEntry | None:
        """The configured store whose ``files`` match ``path`` (the first one)."""
        return next((s for s in self.stores if s.matches(path)), None)

    def store(self, store_id: str) -> StoreEntry | None:
        """The ``[stores."<id>"]`` entry of ``store_id``, if configured."""
        return next((s for s in self.stores if s.store_id == store_id), None)


def load_config(path: str | Path | None = None) -> Config:
    """Read the configuration file, or return the defaults when there is none."""
    explicit = path or os.environ.get("AFTERSALES_CONFIG")
    candidate = Path(explicit) if explicit else DEFAULT_CONFIG
    if not candidate.exists():
        if explicit:
            msg = f"配置文件不存在 (config file not found): {candidate}"
            raise UsageError(msg)
        return Config()
    try:
        raw = tomllib.loads(candidate.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"配置文件无法解析 (invalid TOML in {candidate}): {exc}"
        raise UsageError(msg) from exc
    unknown = set(raw) - {"aliases", "smtp", "stores"}
    if unknown:
        msg = (
            f"{candidate}: 未知的配置节 (unknown section) {', '.join(sorted(unknown))}; "
            "可用 (allowed): aliases, smtp, stores"
        )
        raise UsageError(msg)
    smtp = raw.get("smtp", {})
    if not isinstance(smtp, dict):
        msg = f"{candidate}: [smtp] 必须是表 (must be a table): smtp = {smtp!r}"
        raise UsageError(msg)
    for key, value in smtp.items():
        if key == "password":
            msg = (
                f"{candidate}: [smtp] 不能包含 password (the [smtp] table must not hold the "
                "password); 请改用环境变量 AFTERSALES_SMTP_PASSWORD (use the environment)"
            )
            raise UsageError(msg)
        if key not in SMTP_KEYS:
            msg = (
                f"{candidate}: smtp.{key} 是未知键 (unknown key); "
                f"可用 (allowed): {', '.join(SMTP_KEYS)}"
            )
            raise UsageError(msg)
        if key == "port" and (
            not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536
        ):
            msg = f"{candidate}: smtp.port 必须是 1–65535 的整数 (must be 1–65535): {value!r}"
            raise UsageError(msg)
    return Config(
        aliases=MappingProxyType(_merge_aliases(raw.get("aliases", {}), candidate)),
        smtp=MappingProxyType(dict(smtp)),
        stores=parse_stores(raw.get("stores", {}), source=candidate, base=None),
        source=candidate,
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


def read_stores_file(path: Path) -> tuple[StoreEntry, ...]:
    """The ``[stores]`` table of a data folder's ``stores.toml``; globs relative to its folder."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        msg = f"店铺映射文件无法读取 (cannot read {path}): {exc}"
        raise UsageError(msg) from exc
    return parse_stores(raw.get("stores", {}), source=path, base=path.parent)


def parse_stores(value: object, *, source: Path, base: Path | None) -> tuple[StoreEntry, ...]:
    """``[stores."<id>"]`` tables, every key checked (``STORE_KEYS``)."""
    if not isinstance(value, dict):
        msg = f'{source}: [stores] 必须是 [stores."<店铺ID>"] 表 (must be tables per store id)'
        raise UsageError(msg)
    entries = []
    for store_id, entry in value.items():
        where = f'{source}: stores."{store_id}"'
        if not isinstance(entry, dict):
            msg = f"{where} 必须是表 (must be a table)"
            raise UsageError(msg)
        for key, item in entry.items():
            expected = STORE_KEYS.get(key)
            if expected is None:
                msg = (
                    f"{where}.{key} 是未知键 (unknown key); 可用 (allowed): {', '.join(STORE_KEYS)}"
                )
                raise UsageError(msg)
            if not isinstance(item, expected) or isinstance(item, bool):
                msg = f"{where}.{key} 类型不对 (wrong type): {item!r}"
                raise UsageError(msg)
        files = entry.get("files", [])
        if not all(isinstance(f, str) and f for f in files):
            msg = f"{where}.files 必须是文件名通配符列表 (must be a list of file-name globs)"
            raise UsageError(msg)
        extra = {k: v for k, v in entry.items() if k not in ("name", "files")}
        entries.append(
            StoreEntry(
                store_id=str(store_id).strip(),
                name=entry.get("name") or None,
                files=tuple(files),
                extra=MappingProxyType(extra),
                base=base,
            )
        )
    return tuple(entries)


#: ``${NAME}`` in a delivery value: webhook keys and robot secrets stay in the environment.
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(value: str, *, where: str, env: Mapping[str, str] | None = None) -> str:
    """``value`` with every ``${NAME}`` replaced by the environment's ``NAME``.

    A variable that is unset (or empty) is a :class:`UsageError` naming it and the key, because a
    webhook without its key would fail later with a far less helpful message from the server.
    """
    env = os.environ if env is None else env
    missing = [n for n in dict.fromkeys(_ENV_REF.findall(value)) if not env.get(n)]
    if missing:
        msg = (
            f"{where}: 环境变量未设置 (environment variable not set): {', '.join(missing)}; "
            f"请先 export {missing[0]}=... (set it before running)"
        )
        raise UsageError(msg)
    return _ENV_REF.sub(lambda m: env[m.group(1)], value)


def _merge_aliases(extra: object, source: Path) -> dict[str, tuple[str, ...]]:
    if not isinstance(extra, dict):
        msg = f"{source}: [aliases] must be a table of column = [headers]"
        raise UsageError(msg)
    merged = dict(ALIASES)
    for column, headers in extra.items():
        if column not in COLUMNS:
            msg = (
                f"{source}: aliases.{column} is not a canonical column; "
                f"expected one of: {', '.join(COLUMNS)}"
            )
            raise UsageError(msg)
        if isinstance(headers, str):
            headers = [headers]
        if not isinstance(headers, list) or not all(isinstance(h, str) for h in headers):
            msg = f"{source}: aliases.{column} must be a list of header strings"
            raise UsageError(msg)
        merged[column] = (*merged.get(column, ()), *headers)
    return merged
