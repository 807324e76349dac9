"""User configuration (``aftersales.toml``): extra header aliases and delivery settings.

Looked up from ``--config FILE``, else the ``AFTERSALES_CONFIG`` environment variable, else
``./aftersales.toml`` when present. Rules (thresholds, holidays, windows) live in a separate rules
file, see :mod:`aftersales_kit.settings`.

Example::

    [aliases]
    service_id = ["服务单编号"]        # extra headers that mean the canonical column
    apply_time = ["客户申请时间"]

    [smtp]                              # any AFTERSALES_SMTP_* variable overrides these
    host = "smtp.exmail.qq.com"
    port = 465
    security = "ssl"
    user = "report@example.com"
    from = "售后诊断 <report@example.com>"
    # the password is only ever read from AFTERSALES_SMTP_PASSWORD
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from aftersales_kit.errors import UsageError
from aftersales_kit.schema import ALIASES, COLUMNS

DEFAULT_CONFIG = Path("aftersales.toml")


@dataclass(frozen=True)
class Config:
    """Parsed configuration; ``aliases`` already merges the built-in table with the user's."""

    aliases: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType(ALIASES)
    )
    smtp: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    source: Path | None = None


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
    return Config(
        aliases=MappingProxyType(_merge_aliases(raw.get("aliases", {}), candidate)),
        smtp=MappingProxyType(dict(raw.get("smtp", {}))),
        source=candidate,
    )


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
