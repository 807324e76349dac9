"""Load JD after-sales exports (.xlsx/.csv/.parquet, folders of them) into the canonical frame.

Every file is read with all cells as text (parquet keeps its native types), its headers are mapped
to canonical names through :data:`aftersales_kit.schema.ALIASES` plus the user's configured aliases,
and every column is converted with vectorised polars expressions. Bad cells become
:class:`~aftersales_kit.errors.Problem` records carrying the spreadsheet row as Excel shows it
(header = row 1). Duplicate service orders are resolved by the DOMAIN §2 rule, and logically odd
timestamps become warnings for the rules engine to deal with later.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import io
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from aftersales_kit import parse_cache, workbook
from aftersales_kit.config import STORES_FILE, Config, StoreEntry, load_config, read_stores_file
from aftersales_kit.errors import MAX_SHOWN, DataError, Problem, UsageError
from aftersales_kit.host import usable_cpus
from aftersales_kit.schema import (
    ALIASES,
    COLUMNS,
    DATETIME,
    DATETIME_COLUMNS,
    ENUM_COLUMNS,
    ID_COLUMNS,
    KNOWN_VALUES,
    NULL_MARKERS,
    REQUIRED,
    latest_timestamp,
)
from aftersales_kit.text import both

if TYPE_CHECKING:
    import fastexcel

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
SUPPORTED_SUFFIXES = (*EXCEL_SUFFIXES, ".csv", ".parquet")
#: The sheet of a JD export that holds the service orders; other sheets are summaries.
PREFERRED_SHEET = "服务单明细"
CHINA_UTC_OFFSET_HOURS = 8  # Asia/Shanghai has had no DST since 1991

_ROW = "__row"  # spreadsheet row number (header = 1)
_FILE = "__file"  # index of the source file
_SEQ = "__seq"  # global read order, for "last row read wins"

_SCI_ID = r"^[+-]?\d+(\.\d+)?[eE][+-]?\d+$"
MAX_EXCEL_DIGITS = 15
_EPOCH_MS = r"^\d{13}$"
_EXCEL_SERIAL = r"^\d{5}(\.\d+)?$"
_EXCEL_EPOCH = (1899, 12, 30)
_MS_PER_DAY = 86_400_000
_BOOL_WORDS = {
    "是": True,
    "否": False,
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "y": True,
    "n": False,
    "yes": True,
    "no": False,
}

TIMESTAMP_FORMS = (
    "YYYY-MM-DD HH:MM:SS, YYYY/MM/DD HH:MM[:SS], Excel 日期单元格 (date cells), 13 位毫秒时间戳"
)
MSG_TIMESTAMP = f"无法解析的时间 (unparseable timestamp); 支持 (accepted): {TIMESTAMP_FORMS}"
MSG_SCI_ID = (
    "编号为科学计数法，数字已丢失 (ID in scientific notation, digits lost); "
    "提示 (hint): 在 Excel 中将该列设为文本后重新导出 (set the column to Text and export again)"
)
MSG_BOOL = "无法识别的是/否值 (expected 是/否, true/false, 1/0, Y/N)"
MSG_INT = "不是整数 (not an integer)"
MSG_NUMBER = "不是数字 (not a number)"
MSG_EMPTY_SERVICE_ID = "服务单号为空 (empty service_id)"
#: The four ways a file gets its store (DOMAIN §2), named by every "no store" message.
STORE_IDENTITY_HINT = (
    "京东导出文件没有店铺列，请任选一种方式指定店铺 (JD exports carry no store column; give the "
    "store one of four ways): 1) 文件中的店铺ID列 (a store column such as 店铺ID); "
    '2) --store-id ID; 3) 配置文件或数据文件夹中 stores.toml 的 [stores."<店铺ID>"] files = '
    '["*.xlsx"] (a [stores] table mapping file-name globs to the store); '
    "4) 放在 data/<店铺ID>/ 文件夹中 (files inside a data/<store id>/ folder)"
)
MSG_EMPTY_STORE_ID = f"店铺ID为空 (empty store_id); {STORE_IDENTITY_HINT}"
MSG_LONG_ID = (
    "数字格式的编号超过15位有效数字，Excel 已丢失末尾数字 (numeric ID cell with more than 15 "
    "significant digits: Excel has already lost digits); 提示 (hint): 导出时将该列设为文本 "
    "(export the column as text)"
)
#: How many header rows may stand above the data (DOMAIN §2): the first row with at least
#: ``HEADER_MIN_MATCHES`` known headers among the first ``HEADER_SCAN_ROWS`` is the header.
HEADER_SCAN_ROWS = 10
HEADER_MIN_MATCHES = 3

#: warning kind -> (later column, earlier column, message); "later < earlier" is odd.
ORDER_CHECKS: dict[str, tuple[str, str, str]] = {
    "audit_before_apply": (
        "first_audit_time",
        "apply_time",
        "首次审核时间早于申请时间 (first audit before application)",
    ),
    "process_before_apply": (
        "first_process_time",
        "apply_time",
        "首次处理时间早于申请时间 (first processing before application)",
    ),
    "complete_before_apply": (
        "complete_time",
        "apply_time",
        "完结时间早于申请时间 (completion before application)",
    ),
    "sign_before_pickup": (
        "sign_time",
        "pickup_time",
        "签收时间早于取件时间 (signed before pickup)",
    ),
    "intervention_end_before_start": (
        "intervention_end",
        "intervention_start",
        "京东介入结束早于开始 (intervention ends before it starts)",
    ),
}
MSG_NO_APPLY_TIME = "申请时间为空，该单无法计时 (no apply_time: the order cannot be timed)"
#: Before this, a timestamp is a placeholder (Excel's day 0 is 1899-12-30), not a JD event.
EARLIEST_TIME = datetime(2000, 1, 1)
MSG_FUTURE_TIME = (
    "时间晚于现在，数据错误，不计入数据截止时间 (a time after now: a data error, ignored for "
    "data-as-of)"
)
MSG_IMPLAUSIBLE_TIME = "时间早于 2000 年，不可能是京东售后时间 (a time before 2000: not a JD event)"
MSG_DATE_ONLY = (
    "只有日期没有时刻，按 00:00 计，时长可能差 24 小时 (a date without a time: read as 00:00, "
    "hours may be off by up to 24)"
)


@dataclass(frozen=True)
class FileReport:
    """One file read: rows read (after any store filter) and bad rows dropped from it."""

    path: str
    rows_read: int
    bad_rows_dropped: int = 0
    #: Rows that are not orders, left out by reason: ``blank``, ``footer`` (合计, 导出时间).
    rows_dropped: Mapping[str, int] = field(default_factory=dict)
    sheets: tuple[str, ...] = ()  # the sheets read (workbooks only)
    sheets_skipped: tuple[tuple[str, str], ...] = ()  # (sheet, why)

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.path,
            "rows": self.rows_read,
            "bad_rows_dropped": self.bad_rows_dropped,
            "rows_dropped": dict(self.rows_dropped),
            "sheets": list(self.sheets),
            "sheets_skipped": [{"sheet": s, "reason": r} for s, r in self.sheets_skipped],
        }


@dataclass(frozen=True)
class LoadReport:
    """What a load read and found; ``rows`` and ``stores`` count rows after dedupe."""

    files: list[FileReport]
    rows: int
    duplicates_dropped: int
    bad_rows_dropped: int
    stores: dict[str, int]
    errors: list[Problem]
    warnings: list[Problem]  # at most MAX_SHOWN per kind; full counts in warning_counts
    warning_counts: dict[str, int] = field(default_factory=dict)
    #: column -> value -> rows, for enumeration values JD does not document (kept, DOMAIN §3
    #: "otherwise" rows apply); shown in the report's data quality.
    unknown_values: dict[str, dict[str, int]] = field(default_factory=dict)
    #: store -> the latest timestamp in its rows (DOMAIN §2 "Data as of"; future ones ignored)
    data_as_of: dict[str, datetime] = field(default_factory=dict)
    #: store -> the modification time of the newest file holding its rows (China local time)
    newest_file: dict[str, datetime] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        """The ``aftersales validate --json`` object."""
        return {
            "files": [f.as_dict() for f in self.files],
            "rows": self.rows,
            "duplicates_dropped": self.duplicates_dropped,
            "bad_rows_dropped": self.bad_rows_dropped,
            "stores": dict(self.stores),
            "errors": [p.as_dict() for p in self.errors],
            "warnings": [p.as_dict() for p in self.warnings],
            "warning_counts": dict(self.warning_counts),
            "unknown_values": {c: dict(v) for c, v in self.unknown_values.items()},
            "data_as_of": {k: v.isoformat(sep=" ") for k, v in self.data_as_of.items()},
        }


@dataclass(frozen=True)
class Loaded:
    """The canonical, deduplicated frame and its load report."""

    frame: pl.DataFrame
    report: LoadReport


_Note = tuple[str, Sequence[Problem], int]


class _FileFailure(Exception):
    """A whole file cannot be used; carries the problem to report."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass(frozen=True)
class _Source:
    path: Path
    partitions: Mapping[str, str]  # hive-style ``key=value`` folders above the file
    folder_store: str | None = None  # the ``data/<store id>/`` folder the file sits in
    #: the immediate child folder of the data folder given (a store id or not), for messages
    folder_name: str | None = None
    stores_file: Path | None = None  # the nearest stores.toml (file's folder up to the data folder)
    stores_files: tuple[StoreEntry, ...] = ()  # its entries

    @property
    def name(self) -> str:
        return str(self.path)


@dataclass
class _FileResult:
    """One file converted: its rows (None when unusable), problems, and the bad rows left out."""

    frame: pl.DataFrame | None
    headers: dict[str, str]  # canonical -> header as found in the file
    report: FileReport | None
    errors: list[Problem]
    dropped: list[Problem]
    logistics: bool = False  # a logistics export: waybill times, joined to orders by 运单号
    #: Warnings: (kind, the problems to show, how many there are).
    notes: list[_Note] = field(default_factory=list)


@dataclass
class _Warnings:
    """Warnings counted per kind; only the first MAX_SHOWN of each kind are kept as Problems."""

    shown: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    _per_kind: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, problems: Iterable[Problem], count: int) -> None:
        if count <= 0:
            return
        self.counts[kind] = self.counts.get(kind, 0) + count
        room = MAX_SHOWN - self._per_kind.get(kind, 0)
        taken = list(problems)[: max(room, 0)]
        self._per_kind[kind] = self._per_kind.get(kind, 0) + len(taken)
        self.shown.extend(taken)


# ---------------------------------------------------------------------------------------------
# public API


def load(
    paths: str | Path | Sequence[str | Path],
    *,
    store_id: str | None = None,
    config: Config | str | Path | None = None,
    skip_bad_rows: bool = False,
    stores: Iterable[str] | None = None,
    cache_dir: Path | None = None,
) -> Loaded:
    """Read JD exports into one canonical, deduplicated frame.

    Parameters
    ----------
    paths
        A file (.xlsx/.xlsm/.xls/.csv/.parquet), a folder (recursive, sorted), or several.
    store_id
        Store id for files without a store column (or for its empty cells).
    config
        A :class:`Config`, a config file path, or ``None`` for the default lookup; supplies aliases.
    skip_bad_rows
        Drop rows with bad cells (counted in the report) instead of raising.
    stores
        Keep only these store ids; parquet filters are pushed down, hive ``store_id=X`` folders of
        other stores are not opened.
    cache_dir
        Keep each spreadsheet's parsed rows here and reuse them while the file is unchanged
        (:mod:`aftersales_kit.parse_cache`); ``None``: parse every file.

    Returns
    -------
    Loaded
        ``frame`` in the :data:`~aftersales_kit.schema.COLUMNS` schema plus extra columns as text,
        and ``report``.

    Raises
    ------
    DataError
        With every problem, when a file or cell is bad (cells only unless ``skip_bad_rows``).

    Examples
    --------
    >>> parquet = "data/demo/_canonical/all_stores.parquet"
    >>> loaded = load(parquet, stores=["1000101"])  # doctest: +SKIP
    >>> loaded.report.stores  # doctest: +SKIP
    {'1000101': 3000}
    """
    loaded = load_unchecked(
        paths,
        store_id=store_id,
        config=config,
        skip_bad_rows=skip_bad_rows,
        stores=stores,
        cache_dir=cache_dir,
    )
    errors = loaded.report.errors
    if errors:
        files = len({p.file for p in errors})
        msg = (
            f"数据校验失败：{len(errors)} 个错误，涉及 {files} 个文件 "
            f"(validation failed: {len(errors)} errors in {files} files); "
            "提示 (hint): 修正文件后重试，或用 --skip-bad-rows 跳过坏行 (or skip bad rows)"
        )
        raise DataError(msg, errors)
    return loaded


def load_unchecked(
    paths: str | Path | Sequence[str | Path],
    *,
    store_id: str | None = None,
    config: Config | str | Path | None = None,
    skip_bad_rows: bool = False,
    stores: Iterable[str] | None = None,
    cache_dir: Path | None = None,
) -> Loaded:
    """Like :func:`load` but never raises for data problems: they are in ``report.errors``.

    Rows with bad cells are always left out of ``frame``; they count as ``bad_rows_dropped`` only
    with ``skip_bad_rows`` (otherwise they are errors). The steps: expand the paths, read every
    file, account for bad rows, combine and deduplicate, join logistics data, check values.
    """
    cfg = config if isinstance(config, Config) else load_config(config)
    wanted = None if stores is None else sorted({str(s).strip() for s in stores})
    if isinstance(paths, (str, Path)):
        paths = [paths]
    warnings = _Warnings()
    errors: list[Problem] = []
    sources, ignored, unreadable = _expand(paths, errors, warnings)
    warnings.add("ignored_file", ignored, len(ignored))
    warnings.add("unreadable_path", unreadable, len(unreadable))
    store_id = store_id.strip() if isinstance(store_id, str) and store_id.strip() else None
    if store_id:
        _check_store_id_option(sources, store_id=store_id, config=cfg)

    results = _read_all(sources, config=cfg, store_id=store_id, wanted=wanted, cache_dir=cache_dir)
    for source, result in results:
        errors.extend(result.errors)
        for kind, problems, count in result.notes:
            warnings.add(kind, problems, count)
        if result.report is not None and result.report.rows_read == 0 and not result.errors:
            note = Problem(source.name, None, None, None, "文件没有数据行 (no data rows)")
            warnings.add("no_data_rows", [note], 1)
    file_reports, bad_rows = _account_bad_rows(
        results, skip_bad_rows=skip_bad_rows, errors=errors, warnings=warnings
    )

    usable = [(s, r) for s, r in results if r.frame is not None and not r.logistics]
    frames = [r.frame for _s, r in usable if r.frame is not None]
    headers = [r.headers for _s, r in usable]
    names = [s.name for s, _r in usable]
    now = _china_now()
    mtimes = [_mtime(s.path) for s, _r in usable]
    frame, duplicates = _combine(frames, mtimes=mtimes, now=now)
    frame, shared_rows = _shared_service_ids(
        frame,
        names=names,
        headers=headers,
        skip_bad_rows=skip_bad_rows,
        errors=errors,
        warnings=warnings,
    )
    bad_rows += shared_rows
    logistics = [r.frame for _s, r in results if r.frame is not None and r.logistics]
    frame = _join_logistics(frame, logistics, warnings=warnings)
    _order_warnings(frame, names=names, headers=headers, warnings=warnings)
    unknown = _value_warnings(frame, names=names, headers=headers, warnings=warnings)
    as_of, newest_file = _data_as_of(
        frame, names=names, headers=headers, mtimes=mtimes, now=now, warnings=warnings
    )

    extras = [c for c in frame.columns if c not in COLUMNS and not c.startswith("__")]
    frame = frame.select(*COLUMNS, *extras)
    store_counts = frame.group_by("store_id").len().sort("store_id")
    report = LoadReport(
        files=file_reports,
        rows=frame.height,
        duplicates_dropped=duplicates,
        bad_rows_dropped=bad_rows,
        stores={str(k): int(v) for k, v in store_counts.iter_rows()},
        errors=errors,
        warnings=warnings.shown,
        warning_counts=warnings.counts,
        unknown_values=unknown,
        data_as_of=as_of,
        newest_file=newest_file,
    )
    return Loaded(frame=frame, report=report)


def _read_all(
    sources: Sequence[_Source],
    *,
    config: Config,
    store_id: str | None,
    wanted: list[str] | None,
    cache_dir: Path | None = None,
) -> list[tuple[_Source, _FileResult]]:
    """Every source converted, in the given order (hive shards of other stores never opened)."""
    lookup = _alias_lookup(config.aliases)

    def read(source: _Source) -> tuple[_Source, _FileResult] | None:
        partition_store = _partition_store(source, lookup)
        if wanted is not None and partition_store is not None and partition_store not in wanted:
            return None
        try:
            given_store, given_name = _store_identity(
                source, partition_store=partition_store, store_id=store_id, config=config
            )
        except _FileFailure as exc:
            return source, _FileResult(None, {}, None, [exc.problem], [])

        def parse() -> _FileResult:
            return _load_file(
                source, lookup=lookup, store_id=given_store, store_name=given_name, stores=wanted
            )

        if cache_dir is None or source.path.suffix.lower() in (".parquet", ".pq"):
            return source, parse()  # parquet reads in milliseconds: nothing to keep
        context = {
            "path": str(source.path),
            "partitions": sorted(source.partitions.items()),
            "lookup": sorted(lookup.items()),
            "store_id": given_store,
            "store_name": given_name,
            "stores": wanted,
        }
        return source, _cached(source.path, cache_dir=cache_dir, context=context, parse=parse)

    # A folder of downloads is read in parallel: the readers (calamine, polars) release the GIL
    # while parsing. Results keep the command-line order, so "last row read wins" is stable.
    if len(sources) > 1:
        with ThreadPoolExecutor(max_workers=min(len(sources), usable_cpus())) as pool:
            read_all = list(pool.map(read, sources))
    else:
        read_all = [read(s) for s in sources]
    if cache_dir is not None and cache_dir.is_dir():
        parse_cache.prune(cache_dir)
    return [item for item in read_all if item is not None]


def _cached(
    path: Path,
    *,
    cache_dir: Path,
    context: Mapping[str, object],
    parse: Callable[[], _FileResult],
) -> _FileResult:
    """``parse()``'s result, from the cache when this file was parsed with the same inputs
    before. Only results without errors are kept: a bad file is read again until it is fixed."""
    try:
        key = parse_cache.file_key(path, context=context)
    except OSError:
        return parse()  # unreadable now: the parse reports it
    hit = parse_cache.read(cache_dir, key)
    if hit is not None:
        # An entry that does not fit the current layout is a miss: parsed again below.
        with contextlib.suppress(KeyError, TypeError, ValueError):
            return _result_from_cache(*hit)
    result = parse()
    if not result.errors:
        frame, meta = _result_to_cache(result)
        parse_cache.write(cache_dir, key, frame=frame, meta=meta)
    return result


def _problem(d: Mapping[str, object]) -> Problem:
    row = d["row"]
    return Problem(
        str(d["file"]),
        None if row is None else int(str(row)),
        None if d["column"] is None else str(d["column"]),
        None if d["value"] is None else str(d["value"]),
        str(d["message"]),
    )


def _result_to_cache(result: _FileResult) -> tuple[pl.DataFrame | None, dict[str, object]]:
    report = result.report
    meta: dict[str, object] = {
        "headers": dict(result.headers),
        "report": None
        if report is None
        else {
            "path": report.path,
            "rows_read": report.rows_read,
            "bad_rows_dropped": report.bad_rows_dropped,
            "rows_dropped": dict(report.rows_dropped),
            "sheets": list(report.sheets),
            "sheets_skipped": [list(pair) for pair in report.sheets_skipped],
        },
        "dropped": [p.as_dict() for p in result.dropped],
        "logistics": result.logistics,
        "notes": [
            [kind, [p.as_dict() for p in shown], count] for kind, shown, count in result.notes
        ],
    }
    return result.frame, meta


def _result_from_cache(frame: pl.DataFrame | None, meta: Mapping[str, object]) -> _FileResult:
    report = meta["report"]
    file_report = None
    if isinstance(report, Mapping):
        file_report = FileReport(
            path=str(report["path"]),
            rows_read=int(report["rows_read"]),
            bad_rows_dropped=int(report["bad_rows_dropped"]),
            rows_dropped={str(k): int(v) for k, v in dict(report["rows_dropped"]).items()},
            sheets=tuple(str(x) for x in report["sheets"]),
            sheets_skipped=tuple((str(a), str(b)) for a, b in report["sheets_skipped"]),
        )
    notes: list[_Note] = [
        (str(kind), [_problem(p) for p in shown], int(count))
        for kind, shown, count in meta["notes"]  # type: ignore[attr-defined]
    ]
    return _FileResult(
        frame=frame,
        headers={str(k): str(v) for k, v in dict(meta["headers"]).items()},  # type: ignore[call-overload]
        report=file_report,
        errors=[],
        dropped=[_problem(p) for p in meta["dropped"]],  # type: ignore[attr-defined]
        logistics=bool(meta["logistics"]),
        notes=notes,
    )


def _account_bad_rows(
    results: Sequence[tuple[_Source, _FileResult]],
    *,
    skip_bad_rows: bool,
    errors: list[Problem],
    warnings: _Warnings,
) -> tuple[list[FileReport], int]:
    """Bad rows are errors, or with ``skip_bad_rows`` warnings counted per file and in total."""
    bad_rows = 0
    file_reports: list[FileReport] = []
    for _source, result in results:
        if result.report is None:
            continue
        if skip_bad_rows:
            warnings.add("bad_row_dropped", result.dropped, len(result.dropped))
            bad_rows += result.report.bad_rows_dropped
            file_reports.append(result.report)
        else:
            errors.extend(result.dropped)
            file_reports.append(replace(result.report, bad_rows_dropped=0))
    return file_reports, bad_rows


def summary_text(report: LoadReport) -> str:
    """A readable bilingual summary of a load report (what ``validate`` prints)."""
    lines = [f"文件 (files): {len(report.files)}"]
    for f in report.files:
        extra = f", 跳过坏行 (bad rows dropped) {f.bad_rows_dropped}" if f.bad_rows_dropped else ""
        for reason, n in f.rows_dropped.items():
            extra += f", {both('dropped', reason)} {n}"
        lines.append(f"  {f.path}: {f.rows_read} 行 (rows){extra}")
        if f.sheets and (len(f.sheets) > 1 or f.sheets_skipped):
            lines.append(f"    已读取的工作表 (sheets read): {', '.join(f.sheets)}")
        lines.extend(f"    跳过工作表 (sheet skipped) {s}: {r}" for s, r in f.sheets_skipped)
    lines.append(f"去重后行数 (rows after dedupe): {report.rows}")
    lines.append(f"重复服务单已去除 (duplicates dropped): {report.duplicates_dropped}")
    if report.bad_rows_dropped:
        lines.append(f"跳过的坏行 (bad rows dropped): {report.bad_rows_dropped}")
    lines.append(f"店铺 (stores): {len(report.stores)}")
    lines.extend(f"  {store}: {rows} 行 (rows)" for store, rows in report.stores.items())
    if report.data_as_of:
        # DOMAIN §2 "Data as of": an old download is diagnosed as of its data (report, batch).
        now = _china_now()
        lines.append("数据截至 (data as of):")
        for store, latest in report.data_as_of.items():
            days = int((now - latest).total_seconds() // 86400)
            old = f" — ⚠ {days} 天前的数据 ({days} days old)" if now - latest > _STALE_AFTER else ""
            lines.append(f"  {store}: {latest.isoformat(sep=' ')}{old}")
    total_warnings = sum(report.warning_counts.values())
    lines.append(f"警告 (warnings): {total_warnings}")
    lines.extend(f"  {both('warning', kind)}: {n}" for kind, n in report.warning_counts.items())
    lines.extend(f"  - {p}" for p in report.warnings[:MAX_SHOWN])
    if len(report.warnings) > MAX_SHOWN:
        more = total_warnings - MAX_SHOWN
        lines.append(f"  … 另有 {more} 条警告 ({more} more warnings)")
    lines.append(f"错误 (errors): {len(report.errors)}")
    lines.extend(f"  - {p}" for p in report.errors[:MAX_SHOWN])
    more = len(report.errors) - MAX_SHOWN
    if more > 0:
        lines.append(f"  … 另有 {more} 个错误 ({more} more errors)")
    verdict = "有错误 (errors found)" if report.errors else "通过 (OK)"
    lines.append(f"结果 (result): {verdict}")
    return "\n".join(lines)


#: Characters that never belong to a header: BOM and zero-width marks a copy-paste leaves behind.
_INVISIBLE = dict.fromkeys(map(ord, "\ufeff\u200b\u200c\u200d\u2060"))


def normalize_header(header: str) -> str:
    """A header cell as shown: NFKC, invisible marks (BOM, zero-width) and surrounding whitespace
    removed, and Excel's text wrappers unwrapped (DOMAIN §2 "Header noise"): ``="…"``, a bare
    leading ``=`` and a leading ``'``.

    ``'\ufeff 服务单号 '`` → ``'服务单号'``, ``'="服务单号"'`` → ``'服务单号'``, ``"'服务单号"`` →
    ``'服务单号'``, ``'=服务单号'`` → ``'服务单号'``.
    """
    text = unicodedata.normalize("NFKC", str(header)).translate(_INVISIBLE).strip()
    if text.startswith('="') and text.endswith('"') and len(text) >= 3:
        text = text[2:-1].strip()
    elif text.startswith(("=", "'")):
        text = text[1:].strip()
    return text


def header_key(header: str) -> str:
    """What header matching compares: :func:`normalize_header` without any whitespace (inner
    spaces and line breaks too) and case-folded: ``'售后 申请\n时间'`` matches ``售后申请时间``."""
    return "".join(normalize_header(header).split()).casefold()


# ---------------------------------------------------------------------------------------------
# files


def _store_identity(
    source: _Source, *, partition_store: str | None, store_id: str | None, config: Config
) -> tuple[str | None, str | None]:
    """(store id, store name) for a file's rows that have no store column, in DOMAIN §2 order:
    a hive ``store_id=`` folder (a store column), ``--store-id``, the configuration's ``[stores]``
    table, else the nearest ``stores.toml``, the ``data/<store id>/`` folder.

    Raises :class:`_FileFailure` when two stores claim the file (two globs of one table, or the
    configuration and the folder's ``stores.toml`` disagree): guessing would merge two stores.
    """
    entry = _mapped_entry(source, config=config)
    name = entry.name if entry is not None else None
    if partition_store:
        return partition_store, name
    if store_id:
        named = config.store(store_id)
        return store_id, named.name if named is not None else name
    if entry is not None:
        return entry.store_id, name
    if source.folder_store:
        named = config.store(source.folder_store)
        return source.folder_store, named.name if named is not None else None
    return None, None


def _mapped_entry(source: _Source, *, config: Config) -> StoreEntry | None:
    """The ``[stores]`` entry whose ``files`` globs match the file: the configuration's, else the
    nearest ``stores.toml``'s; two different stores matching it is a file failure."""
    from_config = _matching(config.stores, source.path)
    from_folder = _matching(source.stores_files, source.path)
    claims = []
    if len(from_config) > 1:
        claims.append(("配置文件 [stores] (configuration)", from_config))
    if len(from_folder) > 1:
        claims.append((str(source.stores_file), from_folder))
    if from_config and from_folder and from_config[0].store_id != from_folder[0].store_id:
        claims.append(
            (
                f"配置文件与 {source.stores_file} (the configuration and the folder's stores.toml)",
                [from_config[0], from_folder[0]],
            )
        )
    if claims:
        where, entries = claims[0]
        ids = ", ".join(e.store_id for e in entries)
        msg = (
            f"文件同时匹配多个店铺 {ids} 的 files (the file matches the globs of several stores: "
            f"{ids}) in {where}; 提示 (hint): 修改 files 让每个文件只属于一个店铺 (make the globs "
            "disjoint so each file belongs to one store)"
        )
        raise _FileFailure(Problem(source.name, None, "store_id", None, msg))
    found = from_config or from_folder
    return found[0] if found else None


def _matching(entries: Iterable[StoreEntry], path: Path) -> list[StoreEntry]:
    """The entries matching ``path``, one per store id (an id listed twice is one store)."""
    found: dict[str, StoreEntry] = {}
    for entry in entries:
        if entry.matches(path):
            found.setdefault(entry.store_id, entry)
    return list(found.values())


#: A data folder's immediate child whose name is a store id (DOMAIN §2) names the store.
_STORE_FOLDER = re.compile(r"\d{5,12}")


def _no_store_message(source: _Source) -> str:
    """The "no store identity" message, saying why the ways that almost applied did not."""
    why = []
    if source.stores_file is not None:
        globs = "; ".join(
            f"{e.store_id}: {', '.join(e.files) or '(无 files)'}" for e in source.stores_files
        )
        why.append(
            f"{source.stores_file} 中没有匹配此文件名的 files (no files glob there matches this "
            f"file; globs: {globs or '无 none'})"
        )
    if source.folder_name is not None and source.folder_store is None:
        why.append(
            f"文件夹名 {source.folder_name!r} 不是店铺ID (the folder name is not a store id: "
            "5–12 digits or store_id=…)"
        )
    return "; ".join([STORE_IDENTITY_HINT, *why])


def _check_store_id_option(sources: Sequence[_Source], *, store_id: str, config: Config) -> None:
    """``--store-id`` is refused where it would override or merge stores (DOMAIN §2)."""
    lookup = _alias_lookup(config.aliases)

    def other_store(source: _Source) -> bool:
        """The file already has a store, and not this one."""
        ids = {e.store_id for e in _matching(config.stores, source.path)}
        ids |= {e.store_id for e in _matching(source.stores_files, source.path)}
        partition = _partition_store(source, lookup)
        if partition is not None:
            ids.add(partition)
        return bool(ids - {store_id})

    mapped = [s for s in sources if other_store(s)]
    folders = sorted({str(s.path.parent) for s in sources})
    if mapped:
        first = mapped[0]
        where = first.stores_file or "配置文件 [stores] (configuration) / store_id=…"
        msg = (
            f"--store-id {store_id} 被拒绝 (refused): {len(mapped)} 个文件已由 {where} 指定店铺 "
            f"({len(mapped)} files already have a store from it, e.g. {first.name}); "
            "提示 (hint): 去掉 --store-id，或只给一个店铺的文件 (drop --store-id, or pass one "
            "store's files)"
        )
        raise UsageError(msg)
    if len(folders) > 1:
        shown = ", ".join(folders[:5]) + (" …" if len(folders) > 5 else "")
        msg = (
            f"--store-id {store_id} 被拒绝 (refused): 文件来自 {len(folders)} 个文件夹 (the files "
            f"come from {len(folders)} folders: {shown}), --store-id 会把多个店铺合并为一个 "
            "(it would merge several stores into one); 提示 (hint): 每个店铺一个文件夹 "
            "data/<店铺ID>/，或用 stores.toml (one folder per store, or a stores.toml)"
        )
        raise UsageError(msg)


def _expand(
    paths: Iterable[str | Path], errors: list[Problem], warnings: _Warnings
) -> tuple[list[_Source], list[Problem], list[Problem]]:
    """Files to read, in order; (sources, ignored folder members, unreadable paths skipped).

    Inside a folder given on the command line, the nearest ``stores.toml`` in a file's folder or
    above it (up to the folder given) maps its files to stores, and a file in an immediate
    subfolder named like a store id (``data/<store id>/``) takes that name as its store when no
    ``stores.toml`` maps it. Names starting with ``.``, ``_`` or ``~$`` are not data.
    """
    sources: list[_Source] = []
    ignored: list[Problem] = []
    unreadable: list[Problem] = []
    tables: dict[Path, tuple[StoreEntry, ...]] = {}

    def table(folder: Path) -> tuple[StoreEntry, ...]:
        if folder not in tables:
            tables[folder] = _stores_file(folder, errors)
        return tables[folder]

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            if not os.access(path, os.R_OK | os.X_OK):
                msg = "文件夹无法读取，权限不足 (folder not readable: permission denied)"
                errors.append(Problem(str(path), None, None, None, msg))
                continue
            found = []
            for member in _walk(path, unreadable):
                rel = member.relative_to(path)
                if any(part.startswith((".", "~$", "_")) for part in rel.parts):
                    continue  # hidden files, Excel lock files, _SUCCESS markers, _canonical/
                if rel.name == STORES_FILE:
                    continue
                if member.suffix.lower() not in SUPPORTED_SUFFIXES:
                    ignored.append(
                        Problem(str(member), None, None, None, "不支持的文件类型，已忽略 (ignored)")
                    )
                    continue
                found.append(_folder_source(member, root=path, table=table))
            if not found:
                msg = (
                    "文件夹中没有 .xlsx/.csv/.parquet 文件 (no .xlsx/.csv/.parquet files in folder)"
                )
                errors.append(Problem(str(path), None, None, None, msg))
            sources.extend(found)
        elif not path.exists():
            errors.append(Problem(str(path), None, None, None, "文件不存在 (file not found)"))
        elif path.suffix.lower() not in SUPPORTED_SUFFIXES:
            msg = (
                f"不支持的文件类型 {path.suffix or '(无扩展名)'} (unsupported file type); "
                f"支持 (accepted): {', '.join(SUPPORTED_SUFFIXES)}"
            )
            errors.append(Problem(str(path), None, None, None, msg))
        elif not os.access(path, os.R_OK):
            msg = "文件无法读取，权限不足 (file not readable: permission denied)"
            errors.append(Problem(str(path), None, None, None, msg))
        else:
            # Not through table(): a file given alone leaves the other stores' globs unmatched.
            entries = _stores_file(path.parent, errors)
            stores_file = path.parent / STORES_FILE if entries else None
            # A file given alone in a data/<store id>/ folder: that folder is the store.
            parent = path.parent.name
            folder = parent if _STORE_FOLDER.fullmatch(parent) and not entries else None
            sources.append(_Source(path, {}, folder, None, stores_file, entries))
    _unmatched_globs(tables, sources, warnings)
    return sources, ignored, unreadable


def _folder_source(
    member: Path, *, root: Path, table: Callable[[Path], tuple[StoreEntry, ...]]
) -> _Source:
    """A file found in the data folder ``root``: its partitions, store folder and stores.toml."""
    rel = member.relative_to(root)
    stores_file: Path | None = None
    entries: tuple[StoreEntry, ...] = ()
    folder = member.parent
    while True:
        entries = table(folder)
        if entries:
            stores_file = folder / STORES_FILE
            break
        if folder == root or root not in folder.parents:
            break
        folder = folder.parent
    child = rel.parts[0] if len(rel.parts) > 1 else None  # store_id=… is a partition (column)
    # A folder holding its own stores.toml is a set of stores, never one store.
    own_table = child is not None and bool(table(root / child))
    folder_store = (
        child if child is not None and _STORE_FOLDER.fullmatch(child) and not own_table else None
    )
    if folder_store is not None and any(e.matches(member) for e in entries):
        folder_store = None  # a stores.toml maps the file: the folder name does not apply
    return _Source(member, _partitions(rel), folder_store, child, stores_file, entries)


def _unmatched_globs(
    tables: Mapping[Path, tuple[StoreEntry, ...]], sources: Sequence[_Source], warnings: _Warnings
) -> None:
    """A stores.toml entry of a data folder given whose globs match no file loaded: a store
    silently missing otherwise (a renamed download, a typo in the glob)."""
    notes = []
    for folder, entries in tables.items():
        for entry in entries:
            if entry.files and not any(entry.matches(s.path) for s in sources):
                notes.append(
                    Problem(
                        str(folder / STORES_FILE),
                        None,
                        "files",
                        ", ".join(entry.files),
                        f"店铺 {entry.store_id} 的 files 没有匹配任何文件 (the globs of store "
                        f"{entry.store_id} match no file)",
                    )
                )
    warnings.add("stores_glob_unmatched", notes, len(notes))


def _stores_file(folder: Path, errors: list[Problem]) -> tuple[StoreEntry, ...]:
    candidate = folder / STORES_FILE
    if not candidate.is_file():
        return ()
    try:
        return read_stores_file(candidate)
    except UsageError as exc:
        errors.append(Problem(str(candidate), None, None, None, str(exc)))
        return ()


def _walk(folder: Path, unreadable: list[Problem]) -> list[Path]:
    """Every file below ``folder``, sorted; subfolders that cannot be read are reported."""

    def failed(exc: OSError) -> None:
        msg = f"无法读取，已跳过 (cannot be read, skipped): {exc.strerror or exc}"
        unreadable.append(Problem(str(exc.filename or folder), None, None, None, msg))

    files = []
    for root, dirs, names in os.walk(folder, onerror=failed):
        dirs.sort()
        for name in names:
            member = Path(root) / name
            if member.is_file():
                files.append(member)
            elif not name.startswith((".", "~$", "_")):
                # A dead link (an unmounted share), a link loop, a FIFO: never skipped silently.
                unreadable.append(Problem(str(member), None, None, None, _not_a_file(member)))
    return sorted(files)


def _not_a_file(member: Path) -> str:
    """Why a folder member that is not a regular file is skipped."""
    try:
        if member.is_symlink() and not member.exists():
            target = os.readlink(member)
            return (
                f"链接目标不存在，已跳过 (dangling symlink to {target}, skipped): 共享盘未挂载？"
                "(an unmounted share?)"
            )
        member.stat()
    except OSError as exc:
        return f"无法读取，已跳过 (cannot be read, skipped): {exc.strerror or exc}"
    return "不是普通文件（如 FIFO），已跳过 (not a regular file, e.g. a FIFO: skipped)"


def _partitions(rel: Path) -> dict[str, str]:
    out = {}
    for part in rel.parts[:-1]:
        key, sep, value = part.partition("=")
        if sep and key:
            out[normalize_header(key)] = value
    return out


def _partition_store(source: _Source, lookup: Mapping[str, tuple[str, int]]) -> str | None:
    for key, value in source.partitions.items():
        hit = lookup.get(key.casefold())
        if hit is not None and hit[0] == "store_id":
            return value.strip()
    return None


@dataclass(frozen=True)
class _Raw:
    """One table as read (a CSV, a parquet file, or one sheet): its own headers, ``__row`` = the
    spreadsheet row, and what the reader already knows about its rows."""

    frame: pl.LazyFrame
    header_row: int  # spreadsheet row of the headers (1-based)
    header_found: bool = True  # False: no row among the first HEADER_SCAN_ROWS matched
    #: ID columns stored as numbers (parquet floats, old .xls): every long value is bad.
    numeric_ids: frozenset[str] = frozenset()
    #: Rows the reader found bad (a cell holding a formula error, an ID that is a rounded number,
    #: a CSV row with too many or too few fields): left out, counted, reported with their cell.
    rejects: tuple[Problem, ...] = ()
    #: Rows dropped as not being orders, by reason (``blank``, ``footer``): counted and shown.
    dropped: Mapping[str, int] = field(default_factory=dict)
    dropped_examples: tuple[Problem, ...] = ()
    sheet: str | None = None


@dataclass
class _Read:
    """A file as read: its tables (sheets) and what the reader has to say about it."""

    parts: list[_Raw]
    sheets_read: list[str] = field(default_factory=list)
    sheets_skipped: list[tuple[str, str]] = field(default_factory=list)  # (sheet, reason)
    #: Warnings: (kind, the problems to show, how many there are).
    notes: list[_Note] = field(default_factory=list)


#: A row whose first filled cell starts like this is a footer of the export, not an order.
FOOTER_PATTERN = (
    r"^\s*(合计|总计|小计|汇总|共计|总数|导出时间|导出日期|导出人|制表人|制表时间|数据截止|备注\s*[:：]"
    r"|说明\s*[:：]|total\b|sum\b|exported\b)"
)
MSG_FORMULA_ERROR = "公式错误值，不是数据 (a formula error value, not data)"
MSG_FRACTION_ID = "编号带小数，不是编号 (ID with a fractional part: not an ID)"
_FRACTION_ID = r"^\d+\.\d*[1-9]\d*$"


def _read_raw(source: _Source, lookup: Mapping[str, tuple[str, int]]) -> _Read:
    """The file's tables with their headers found (DOMAIN §2) and ``__row`` spreadsheet rows.

    What a file is comes from its content, not its name: ERP ".xls" downloads are often xlsx,
    and an xlsx saved as ".csv" must not be parsed as text."""
    path = source.path
    name = source.name
    kind = workbook.sniff(path)
    if kind == "empty":
        raise _FileFailure(Problem(name, None, None, None, "文件为空 (empty file)"))
    suffix = path.suffix.lower()
    named = {".parquet": "parquet", ".csv": "text"}.get(
        suffix, "zip" if suffix != ".xls" else "ole"
    )
    notes: list[_Note] = []
    if kind == "text" and named != "text":
        msg = (
            f"文件无法读取或已损坏 (unreadable or corrupt file): 内容是文本，不是 {suffix} 文件 "
            f"(the content is text, not a {suffix} file); 提示 (hint): 若是 CSV，请改名为 .csv "
            "(if it is a CSV, rename it to .csv)"
        )
        raise _FileFailure(Problem(name, None, None, None, msg))
    if kind != named and not (kind == "ole" and suffix in EXCEL_SUFFIXES):
        shown = {"zip": "xlsx", "ole": "xls", "parquet": "parquet", "text": "文本/CSV (text)"}[kind]
        msg = (
            f"文件内容是 {shown}，扩展名却是 {suffix or '(无)'}，已按内容读取 (the content is "
            f"{shown} but the name ends {suffix or '(none)'}: read by its content)"
        )
        notes.append(("wrong_extension", [Problem(name, None, None, None, msg)], 1))
    if kind == "parquet":
        lf = pl.scan_parquet(path, row_index_name=_ROW, row_index_offset=2)
        if not lf.collect_schema().names()[1:]:
            raise _FileFailure(Problem(name, None, None, None, "文件没有列 (no columns)"))
        numeric = frozenset(c for c, t in lf.collect_schema().items() if t.is_float() and c != _ROW)
        read = _Read([_Raw(lf, 1, numeric_ids=numeric)])
    elif kind == "text":
        read = _Read([_read_csv(path, name, lookup)])
    else:
        read = _read_excel(path, name, lookup, xlsx=kind == "zip")
    read.notes[:0] = notes
    extra = {k: v for k, v in source.partitions.items()}
    if extra:
        for i, part in enumerate(read.parts):
            have = part.frame.collect_schema()
            add = {k: v for k, v in extra.items() if k not in have}
            lf = part.frame.with_columns(
                pl.lit(v, dtype=pl.String).alias(k) for k, v in add.items()
            )
            read.parts[i] = replace(part, frame=lf)
    return read


def _find_header(
    rows: Sequence[Sequence[str | None]], lookup: Mapping[str, tuple[str, int]]
) -> int | None:
    """Index of the first of ``rows`` with at least HEADER_MIN_MATCHES known headers."""
    for i, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        known = {lookup[k][0] for v in row if v and (k := header_key(v)) in lookup}
        if len(known) >= HEADER_MIN_MATCHES:
            return i
    return None


def _with_header(
    df: pl.DataFrame, lookup: Mapping[str, tuple[str, int]], *, first_row: int = 1
) -> tuple[pl.DataFrame, int, bool]:
    """Find the header row of a headerless read and name the columns from it.

    The header is the first of the first ``HEADER_SCAN_ROWS`` rows with at least
    ``HEADER_MIN_MATCHES`` known headers (row 1 of a 京麦 export holds merged group titles). An
    empty header cell takes the text above it: the title of a cell merged down over both rows.
    Without such a row the first row is the header, so "missing column" lists what it holds.
    ``first_row`` is the spreadsheet row of ``df``'s first row. Returns (body, header row,
    whether a header row was found).
    """
    df = df.with_row_index(_ROW, offset=first_row)
    data_cols = [c for c in df.columns if c != _ROW]
    head = df.head(HEADER_SCAN_ROWS).select(data_cols).rows()
    found = _find_header(head, lookup)
    index = found or 0
    above = head[index - 1] if index > 0 else None
    names = _column_names(head[index] if head else [None] * len(data_cols), above)
    body = df.slice(index + 1).rename(dict(zip(data_cols, names, strict=True)))
    return body.select(_ROW, *names), index + first_row, found is not None


_DUPLICATE = "__dup"


def _column_names(header: Sequence[str | None], above: Sequence[str | None] | None) -> list[str]:
    """Column names from a header row: an empty cell takes the text above it (a title merged
    down over both rows), else ``__colN``; a repeated header keeps its first column under the
    name and the others get a ``__dupN`` suffix (checked in :func:`_duplicate_headers`)."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for j, raw in enumerate(header):
        cell = normalize_header(raw) if raw else ""
        if not cell and above is not None and j < len(above) and above[j]:
            cell = normalize_header(str(above[j]))
        cell = cell or f"__col{j + 1}"
        seen[cell] = seen.get(cell, 0) + 1
        names.append(cell if seen[cell] == 1 else f"{cell}{_DUPLICATE}{seen[cell]}")
    return names


def _drop_noise(
    body: pl.DataFrame, name: str
) -> tuple[pl.DataFrame, dict[str, int], list[Problem]]:
    """Rows that are not orders: fully blank rows (an empty line, a stray far cell's gap) and
    footers (合计, 导出时间: …). Left out and counted by reason, never read as orders."""
    cells = [c for c in body.columns if c != _ROW]
    if not cells or body.height == 0:
        return body, {}, []
    blank = pl.all_horizontal(pl.col(c).is_null() for c in cells)
    first = pl.coalesce(cells)
    footer = ~blank & first.str.contains(FOOTER_PATTERN)
    flags = body.select(blank.alias("blank"), footer.alias("footer"))
    n_blank, n_footer = (int(flags[c].sum()) for c in ("blank", "footer"))
    if not n_blank and not n_footer:
        return body, {}, []
    examples = []
    if n_footer:
        rows = body.filter(flags["footer"]).select(_ROW, first.alias("v")).head(MAX_SHOWN)
        examples = [
            Problem(
                name,
                int(r),
                None,
                v,
                "页脚行，不是服务单，已忽略 (footer row, not an order: left out)",
            )
            for r, v in rows.iter_rows()
        ]
    kept = body.filter(~(flags["blank"] | flags["footer"]))
    dropped = {k: n for k, n in (("blank", n_blank), ("footer", n_footer)) if n}
    return kept, dropped, examples


def _read_excel(
    path: Path, name: str, lookup: Mapping[str, tuple[str, int]], *, xlsx: bool
) -> _Read:
    """Every sheet whose header row matches (DOMAIN §2), each as one table; the others are
    named with the reason they were skipped. An xlsx is checked first (workbook.inspect)."""
    parts_by_name: dict[str, workbook.SheetPart] = {}
    if xlsx:
        try:
            parts_by_name = {s.name: s for s in workbook.inspect(path)}
        except workbook.WorkbookError as exc:
            raise _FileFailure(Problem(name, None, None, None, str(exc))) from exc
    # The long text IDs (shared strings) are collected while calamine parses, on a thread: both
    # release the GIL, so on a machine with a free core the check costs no wall time.
    # A small file's are read in line: a thread costs more than the scan.
    if not xlsx or path.stat().st_size < PARALLEL_SCAN_BYTES:
        texts: Future[frozenset[str]] = Future()
        if xlsx:
            texts.set_result(workbook.long_shared_strings(path))
        return _read_sheets(path, name, lookup, xlsx=xlsx, parts_by_name=parts_by_name, texts=texts)
    with ThreadPoolExecutor(max_workers=1) as pool:
        texts = pool.submit(workbook.long_shared_strings, path)
        return _read_sheets(path, name, lookup, xlsx=xlsx, parts_by_name=parts_by_name, texts=texts)


def _read_sheets(
    path: Path,
    name: str,
    lookup: Mapping[str, tuple[str, int]],
    *,
    xlsx: bool,
    parts_by_name: Mapping[str, workbook.SheetPart],
    texts: Future[frozenset[str]] | None,
) -> _Read:
    import fastexcel

    # calamine picks its format from the name: a workbook under another name goes in as bytes.
    named_right = path.suffix.lower() in ((".xlsx", ".xlsm") if xlsx else (".xls",))
    reader = fastexcel.read_excel(path if named_right else path.read_bytes())
    sheets = reader.sheet_names
    if not sheets:
        raise _FileFailure(Problem(name, None, None, None, "工作簿没有工作表 (no sheets)"))
    read = _Read([])
    wanted = [PREFERRED_SHEET] if PREFERRED_SHEET in sheets else sheets
    for sheet in sheets:
        if sheet not in wanted:
            read.sheets_skipped.append(
                (sheet, f"不是 {PREFERRED_SHEET} 表 (not the {PREFERRED_SHEET} sheet)")
            )
            continue
        part = parts_by_name.get(sheet)
        raw, reason = _read_sheet(
            reader, sheet, path, name, lookup, part=part, many=len(wanted) > 1, texts=texts
        )
        if raw is None:
            read.sheets_skipped.append((sheet, reason))
        else:
            read.parts.append(raw)
            read.sheets_read.append(sheet)
    if not read.parts:
        # Nothing matched: the first sheet with cells is still read, so "missing column" lists
        # what it holds; an all-empty workbook is an error.
        first = next((s for s, r in read.sheets_skipped if r != _EMPTY_SHEET), None)
        if first is None:
            listed = ", ".join(read_sheet for read_sheet, _r in read.sheets_skipped)
            msg = f"工作簿中的工作表都为空 (every sheet is empty: {listed})"
            raise _FileFailure(Problem(name, None, None, None, msg))
        raw, _reason = _read_sheet(
            reader,
            first,
            path,
            name,
            lookup,
            part=parts_by_name.get(first),
            many=False,
            texts=texts,
            force=True,
        )
        assert raw is not None
        read.parts.append(raw)
        read.sheets_read.append(first)
        read.sheets_skipped = [(s, r) for s, r in read.sheets_skipped if s != first]
    if len(read.sheets_read) > 1 or read.sheets_skipped:
        note = Problem(
            name,
            None,
            None,
            None,
            "已读取的工作表 (sheets read): "
            + ", ".join(read.sheets_read)
            + (
                "; 跳过 (skipped): " + "; ".join(f"{s} — {r}" for s, r in read.sheets_skipped)
                if read.sheets_skipped
                else ""
            ),
        )
        read.notes.append(("sheets", [note], 1))
    return read


_EMPTY_SHEET = "工作表为空 (empty sheet)"
#: Files at least this large scan their shared strings on a thread beside calamine's parse.
PARALLEL_SCAN_BYTES = 4_000_000


def _read_sheet(
    reader: fastexcel.ExcelReader,
    sheet: str,
    path: Path,
    name: str,
    lookup: Mapping[str, tuple[str, int]],
    *,
    part: workbook.SheetPart | None,
    many: bool,
    texts: Future[frozenset[str]] | None,
    force: bool = False,
) -> tuple[_Raw | None, str]:
    """One sheet as a table, or (None, why it is skipped): empty, or no header row matched
    (unless ``force``)."""
    # Text for every cell keeps long IDs exact; calamine renders date cells as ISO text. One
    # read without a header row: the header is found in the data (two-row 京麦 layout).
    # Straight to Arrow: ~25 % less CPU and memory than ExcelSheet.to_polars(), and ~25 % less
    # than the lazy sheet's to_arrow_with_errors() (benchmarks): error cells come from the XML.
    table = reader.load_sheet(sheet, header_row=None, dtypes="string", eager=True)
    df = pl.DataFrame(pl.from_arrow(table))
    if df.width == 0 or df.height == 0:
        return None, _EMPTY_SHEET
    first_row = part.first_row if part is not None else 1
    offset = part.first_col if part is not None else 0
    body, header_row, found = _with_header(df, lookup, first_row=first_row)
    if not found and not force:
        return None, (
            f"前 {HEADER_SCAN_ROWS} 行中没有表头行 (no header row among the first "
            f"{HEADER_SCAN_ROWS} rows)"
        )
    shown = f"{name} [{sheet}]" if many else name
    rejects: list[Problem] = []
    if part is not None and texts is not None:
        rejects.extend(
            _formula_errors(
                path, part, body, offset=offset, header_row=header_row, name=shown, lookup=lookup
            )
        )
        rejects.extend(
            _rounded_ids(
                path,
                part,
                body,
                offset=offset,
                header_row=header_row,
                name=shown,
                lookup=lookup,
                texts=texts,
            )
        )
    body, dropped, examples = _drop_noise(body, shown)
    numeric = (
        frozenset()
        if part is not None
        else _numeric_id_columns(reader, sheet, body, header_row=header_row, lookup=lookup)
    )
    raw = _Raw(
        body.lazy(),
        header_row,
        found,
        numeric_ids=numeric,
        rejects=tuple(rejects),
        dropped=dropped,
        dropped_examples=tuple(examples),
        sheet=shown if many else None,
    )
    return raw, ""


def _formula_errors(
    path: Path,
    part: workbook.SheetPart,
    body: pl.DataFrame,
    *,
    offset: int,
    header_row: int,
    name: str,
    lookup: Mapping[str, tuple[str, int]],
) -> list[Problem]:
    """Cells of known columns holding an Excel error value (#DIV/0!, #N/A …), by cell: read as
    text they are empty, and "服务单号为空" would hide what is wrong. A small sheet's were found
    by the pre-flight scan; a large one is scanned only when a key column has empty cells."""
    columns = [c for c in body.columns if c != _ROW]
    known = {j: c for j, c in enumerate(columns) if header_key(c) in lookup}
    errors: Sequence[tuple[int, int, str]] = part.errors
    if not part.scanned:
        keys = [
            c for c in known.values() if lookup[header_key(c)][0] in ("service_id", "apply_time")
        ]
        if not keys or not body.select(pl.any_horizontal(pl.col(keys).is_null().any())).item():
            return []
        errors = workbook.error_cells(path, part.part)
    problems = []
    for col, row, value in errors:
        column = known.get(col - offset)
        if column is not None and row > header_row:
            problems.append(Problem(name, row, column, value, MSG_FORMULA_ERROR))
    return problems


def _rounded_ids(
    path: Path,
    part: workbook.SheetPart,
    body: pl.DataFrame,
    *,
    offset: int,
    header_row: int,
    name: str,
    lookup: Mapping[str, tuple[str, int]],
    texts: Future[frozenset[str]],
) -> list[Problem]:
    """ID cells that are numbers of 16+ digits (DOMAIN §2: a numeric ID cell ≥ 10^15 has lost
    digits, to Excel or to a float), each with its row and column, even in a text column.

    Read as text, a number cell and a text cell look alike, so the sheet XML says which is which.
    That scan only runs when an ID column holds a 16+ digit value that is not in the shared
    strings (where text cells keep their text): JD's 16-digit order numbers are text.
    """
    columns = [c for c in body.columns if c != _ROW]
    ids = {
        j: c
        for j, c in enumerate(columns)
        if (hit := lookup.get(header_key(c))) is not None and hit[0] in ID_COLUMNS
    }
    if not ids:
        return []
    long = body.select(
        pl.col(c).filter(pl.col(c).str.contains(r"^\d{16,}$")).unique().implode()
        for c in ids.values()
    ).row(0)
    values = {v for col in long for v in col}
    if not values:
        return []
    if values <= texts.result():
        return []
    cells = workbook.number_cells(path, part.part, [j + offset for j in ids])
    problems = []
    for j, column in ids.items():
        for row, value in sorted(cells.get(j + offset, {}).items()):
            if row > header_row:
                problems.append(Problem(name, row, column, value, MSG_LONG_ID))
    return problems


def _numeric_id_columns(
    reader: fastexcel.ExcelReader,
    sheet: str,
    body: pl.DataFrame,
    *,
    header_row: int,
    lookup: Mapping[str, tuple[str, int]],
) -> frozenset[str]:
    """For an old binary .xls (no XML to look into): ID columns whose cells are numbers holding
    more than 15 digits, confirmed by a typed read of just the columns holding such values."""
    suspects = []
    for j, column in enumerate(body.columns):
        hit = lookup.get(header_key(column))
        if column == _ROW or hit is None or hit[0] not in ID_COLUMNS:
            continue
        text = body.get_column(column).str.strip_chars()
        if (text.str.len_chars() > MAX_EXCEL_DIGITS).any():
            suspects.append((j - 1, column))  # minus the __row column
    if not suspects:
        return frozenset()
    typed = reader.load_sheet(
        sheet,
        header_row=header_row - 1,
        use_columns=[j for j, _c in suspects],
        schema_sample_rows=None,
    )
    kinds = {c.index: c.dtype for c in typed.selected_columns}
    return frozenset(col for j, col in suspects if kinds.get(j) in ("float", "int"))


def _decode_csv(data: bytes, name: str) -> str:
    """The CSV's text: UTF-8 (with or without BOM), UTF-16 with BOM, else GBK/GB18030 (how Excel
    in China saves CSV). NUL bytes and mixed encodings are named with their line."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        msg = (
            f"文件含有 NUL 字节，第 {line} 行起 (NUL bytes from line {line}): 不是文本 CSV，"
            "或是没有 BOM 的 UTF-16 (not a text CSV, or UTF-16 without a BOM); 提示 (hint): "
            "在 Excel 中另存为 CSV UTF-8 (save as CSV UTF-8)"
        )
        raise _FileFailure(Problem(name, line, None, None, msg))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as utf8_error:
        _check_one_encoding(data, name)
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError as gbk_error:
            bad_utf8 = data.count(b"\n", 0, utf8_error.start) + 1
            bad_gbk = data.count(b"\n", 0, gbk_error.start) + 1
            msg = (
                f"无法识别的文本编码：第 {bad_utf8} 行不是 UTF-8，第 {bad_gbk} 行不是 GBK/GB18030 "
                f"(unknown or mixed encoding: line {bad_utf8} is not UTF-8, line {bad_gbk} is "
                "not GBK); 提示 (hint): 整个文件另存为 CSV UTF-8 (save the whole file as CSV UTF-8)"
            )
            raise _FileFailure(Problem(name, min(bad_utf8, bad_gbk), None, None, msg)) from None


def _check_one_encoding(data: bytes, name: str) -> None:
    """A file that is not UTF-8 as a whole but has UTF-8 lines (GBK rows with pasted UTF-8 ones)
    would decode as GB18030 into garbled text without a word: name both kinds of line."""
    utf8_line = other_line = 0
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            other_line = other_line or number
        else:
            utf8_line = utf8_line or number
        if utf8_line and other_line:
            msg = (
                f"混合编码：第 {utf8_line} 行是 UTF-8，第 {other_line} 行是 GBK (mixed encodings: "
                f"line {utf8_line} is UTF-8, line {other_line} is GBK); 提示 (hint): "
                "整个文件另存为 CSV UTF-8 (save the whole file as CSV UTF-8)"
            )
            raise _FileFailure(Problem(name, max(utf8_line, other_line), None, None, msg))


def _read_csv(path: Path, name: str, lookup: Mapping[str, tuple[str, int]]) -> _Raw:
    """A CSV as one table: every record checked against the header's width (a ragged row is a
    bad row named by its row, never a reason to pick another header), title lines above the
    header allowed, any line ending (CRLF, LF, old-Mac CR)."""
    text = _decode_csv(path.read_bytes(), name)
    if not text.strip():
        raise _FileFailure(Problem(name, None, None, None, "文件为空 (empty file)"))
    # The csv module checks every record's width (polars pads a short record silently);
    # polars then builds the table, three times faster than from Python lists.
    records, separator = _parse_csv(text, name)
    head = records[:HEADER_SCAN_ROWS]
    width = max((len(r) for r in head), default=0)
    padded = [r + [None] * (width - len(r)) for r in head]
    found = _find_header(padded, lookup)
    # Without a header row, the table starts at the first line as wide as the widest.
    widest = next((i for i, r in enumerate(head) if len(r) == width), 0)
    index = found if found is not None else widest
    header = records[index]
    names = _column_names(header, None)
    data = records[index + 1 :]
    rejects: list[Problem] = []
    body = None
    if all(len(r) == len(header) or not r for r in data):
        body = _csv_table(text, separator, skip=index + 1, names=names, height=len(data))
    if body is None:
        body, rejects = _csv_records(data, header, names, first=index + 2, name=name)
    header_row = index + 1
    body = _unwrap_excel_text(body)
    body, dropped, examples = _drop_noise(body, name)
    return _Raw(
        body.lazy(),
        header_row,
        found is not None,
        rejects=tuple(rejects),
        dropped=dropped,
        dropped_examples=tuple(examples),
    )


def _csv_table(
    text: str, separator: str, *, skip: int, names: Sequence[str], height: int
) -> pl.DataFrame | None:
    """The data records parsed by polars, once the csv module has found every one as wide as the
    header; None when polars reads a different number of records (then the slow path)."""
    if "\n" not in text:
        text = text.replace("\r", "\n")  # old-Mac line ends
    try:
        frame = pl.read_csv(
            io.BytesIO(text.encode("utf-8")),
            has_header=False,
            infer_schema=False,
            separator=separator,
            skip_rows=skip,
            new_columns=list(names),
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError:
        return None
    if frame.height != height or frame.width != len(names):
        return None
    frame = frame.with_columns(pl.when(pl.col(n) != "").then(pl.col(n)).alias(n) for n in names)
    return frame.with_row_index(_ROW, offset=skip + 1)


def _csv_records(
    data: Sequence[Sequence[str]],
    header: Sequence[str],
    names: Sequence[str],
    *,
    first: int,
    name: str,
) -> tuple[pl.DataFrame, list[Problem]]:
    """The data records built in Python, each checked against the header's width: a record with
    too many or too few fields is rejected with its row."""
    width = len(header)
    rejects: list[Problem] = []
    good: list[Sequence[str]] = []
    rows: list[int] = []
    blank = [""] * width
    for i, record in enumerate(data, start=first):
        n = len(record)
        if n == width:
            good.append(record)
        elif n == 0 or (n == 1 and not record[0].strip()):
            good.append(blank)  # an empty line: dropped as blank later, and counted
        else:
            many = n > width
            column = normalize_header(header[width - 1] if many else header[n]) or None
            msg = (
                f"该行有 {n} 个字段，表头有 {width} 个 (row has {n} fields, the header has "
                f"{width}: {'too many' if many else 'too few'})"
            )
            rejects.append(Problem(name, i, column, None, msg))
            continue
        rows.append(i)
    columns = list(zip(*good, strict=True)) if good else [() for _ in names]
    body = pl.DataFrame(
        [pl.Series(_ROW, rows, dtype=pl.UInt32)]
        + [pl.Series(n, list(col), dtype=pl.String) for n, col in zip(names, columns, strict=True)]
    )
    body = body.with_columns(pl.when(pl.col(n) != "").then(pl.col(n)).alias(n) for n in names)
    return body, rejects


def _parse_csv(text: str, name: str, *, limit: int | None = None) -> tuple[list[list[str]], str]:
    """Every record (or the first ``limit``), with the separator (comma or tab) taken from the
    first lines. A syntax error (an unterminated quote) is one short message with its row, never
    the rows' text."""
    lines = text[:65536].splitlines()[:HEADER_SCAN_ROWS]
    tabs, commas = (sum(line.count(c) for line in lines) for c in ("\t", ","))
    separator = "\t" if tabs > commas else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True)
    records: list[list[str]] = []
    try:
        for record in reader:
            records.append(record)
            if limit is not None and len(records) >= limit:
                break
    except csv.Error as exc:
        row = len(records) + 1
        msg = (
            f"CSV 格式错误 (CSV syntax error; record {row} ends at line {reader.line_num}): "
            f"{exc}; 常见原因 (usually): 引号没有闭合 (an unterminated quote)"
        )
        raise _FileFailure(Problem(name, row, None, None, msg)) from None
    return records, separator


# ---------------------------------------------------------------------------------------------
# one file -> canonical frame


def _alias_lookup(aliases: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, int]]:
    """Normalised header -> (canonical, priority); lower priority wins when a file has both."""
    lookup: dict[str, tuple[str, int]] = {}
    for column in COLUMNS:
        names = (column, *ALIASES.get(column, ()), *aliases.get(column, ()))
        for rank, alias in enumerate(names):
            # A header claimed by two columns belongs to the first (schema order).
            lookup.setdefault(header_key(alias), (column, rank))
    return lookup


def _map_headers(
    names: Sequence[str], lookup: Mapping[str, tuple[str, int]]
) -> tuple[dict[str, str], dict[str, str]]:
    """(canonical -> raw name, extra raw name -> output name)."""
    best: dict[str, tuple[int, str]] = {}
    for raw in names:
        hit = lookup.get(header_key(raw))
        if hit is None:
            continue
        column, rank = hit
        if column not in best or rank < best[column][0]:
            best[column] = (rank, raw)
    mapped = {column: raw for column, (_rank, raw) in best.items()}
    used = set(mapped.values())
    extras: dict[str, str] = {}
    taken = set(COLUMNS)
    for raw in names:
        if raw in used:
            continue
        out = normalize_header(raw) or "column"
        base, n = out, 1
        while out in taken:
            n += 1
            out = f"{base}_{n}"
        taken.add(out)
        extras[raw] = out
    return mapped, extras


def _load_file(
    source: _Source,
    *,
    lookup: Mapping[str, tuple[str, int]],
    store_id: str | None,
    store_name: str | None,
    stores: list[str] | None,
) -> _FileResult:
    name = source.name
    try:
        return _convert_file(
            source, lookup=lookup, store_id=store_id, store_name=store_name, stores=stores
        )
    except _FileFailure as exc:
        return _FileResult(None, {}, None, [exc.problem], [])
    except (KeyboardInterrupt, SystemExit, UsageError):
        raise
    # Corrupt files make readers raise anything, even Rust panics (BaseException subclasses).
    except BaseException as exc:
        kind = type(exc).__name__
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else kind
        msg = f"文件无法读取或已损坏 (unreadable or corrupt file): {kind}: {detail}"
        return _FileResult(None, {}, None, [Problem(name, None, None, None, msg)], [])


def _convert_file(
    source: _Source,
    *,
    lookup: Mapping[str, tuple[str, int]],
    store_id: str | None,
    store_name: str | None,
    stores: list[str] | None,
) -> _FileResult:
    """One file: read its tables (sheets), convert each, and put them together."""
    name = source.name
    read = _read_raw(source, lookup)
    results = [
        _convert_part(
            part,
            source=source,
            name=part.sheet or name,
            lookup=lookup,
            store_id=store_id,
            store_name=store_name,
            stores=stores,
        )
        for part in read.parts
    ]
    first = results[0]
    kept = [r for r in results if r.logistics == first.logistics]
    notes = list(read.notes)
    for part, result in zip(read.parts, results, strict=True):
        notes.extend(result.notes)
        if result.logistics != first.logistics:
            msg = (
                "物流数据表与服务单表在同一文件中，已跳过 "
                "(a logistics sheet beside order sheets: skipped)"
            )
            notes.append(("sheets", [Problem(part.sheet or name, None, None, None, msg)], 1))
    errors = [p for r in kept for p in r.errors]
    dropped = [p for r in kept for p in r.dropped]
    frames = [r.frame for r in kept if r.frame is not None]
    reports = [r.report for r in kept if r.report is not None]
    if not reports:
        return _FileResult(None, first.headers, None, errors, dropped, first.logistics, notes)
    rows_dropped: dict[str, int] = {}
    for part in read.parts:
        for reason, n in part.dropped.items():
            rows_dropped[reason] = rows_dropped.get(reason, 0) + n
    report = FileReport(
        name,
        sum(r.rows_read for r in reports),
        bad_rows_dropped=sum(r.bad_rows_dropped for r in reports),
        rows_dropped=rows_dropped,
        sheets=tuple(read.sheets_read),
        sheets_skipped=tuple(read.sheets_skipped),
    )
    if not frames:
        frame = None
    elif len(frames) == 1:
        frame = frames[0]
    else:
        frame = pl.concat(frames, how="diagonal_relaxed")
    return _FileResult(frame, first.headers, report, errors, dropped, first.logistics, notes)


#: Columns only a service-order export has: a file with any of them is orders, never logistics.
ORDER_ONLY_COLUMNS = (
    "service_type",
    "status",
    "apply_time",
    "first_audit_time",
    "first_process_time",
    "order_id",
    "approve_result",
    "process_result",
    "jd_hours",
)
#: Header words of a service-order export in any wording (renamed or English headers).
ORDER_WORDS = r"(?i)(服务单|售后|申请|审核|客户期望|service|after.?sales|apply|application|audit)"


def _convert_part(
    raw_file: _Raw,
    *,
    source: _Source,
    name: str,
    lookup: Mapping[str, tuple[str, int]],
    store_id: str | None,
    store_name: str | None,
    stores: list[str] | None,
) -> _FileResult:
    """One table: map its headers, check the required columns, filter to the wanted stores,
    convert every column and report its bad cells."""
    lf = raw_file.frame
    schema = lf.collect_schema()
    raw_names = [n for n in schema.names() if n != _ROW]
    notes: list[_Note] = []
    dup_errors, dup_names = _duplicate_headers(
        lf, raw_names, lookup=lookup, name=name, header_row=raw_file.header_row, notes=notes
    )
    if dup_names:
        lf = lf.drop(dup_names)
        raw_names = [n for n in raw_names if n not in dup_names]
    mapped, extras = _map_headers(raw_names, lookup)
    headers = {c: normalize_header(raw) for c, raw in mapped.items()}
    for reason, n in raw_file.dropped.items():
        if reason == "footer":
            notes.append(("footer_rows", raw_file.dropped_examples, n))
        else:
            msg = f"空行，已忽略 (blank rows left out): {n}"
            notes.append(("blank_rows", [Problem(name, None, None, None, msg)], n))
    if dup_errors:
        return _FileResult(None, headers, None, dup_errors, [], notes=notes)

    # A logistics export (运单号 + times, no 服务单号) adds the times JD's export lacks; a file
    # with any order column or order-worded header is an order export missing its key column.
    unknown = [n for n in raw_names if n not in mapped.values()]
    looks_like_orders = any(c in mapped for c in ORDER_ONLY_COLUMNS) or any(
        re.search(ORDER_WORDS, n) for n in unknown
    )
    logistics = (
        "service_id" not in mapped
        and "waybill_no" in mapped
        and any(c in mapped for c in LOGISTICS_COLUMNS)
        and not looks_like_orders
    )
    missing = [
        c
        for c in REQUIRED
        if c not in mapped and not (c == "store_id" and store_id) and not logistics
    ]
    if missing:
        problems = _missing_columns(
            name,
            missing,
            raw_names,
            unknown=unknown,
            header_row=raw_file.header_row,
            header_found=raw_file.header_found,
            no_store=_no_store_message(source),
        )
        return _FileResult(None, headers, None, problems, [], notes=notes)
    if store_id and "store_id" in mapped and source.partitions.get("store_id") is None:
        msg = (
            f"--store-id {store_id} 被拒绝 (refused): {name} 已有店铺列 {headers['store_id']} "
            "(the file has a store column; --store-id would override it); 提示 (hint): 去掉 "
            "--store-id (drop it)"
        )
        raise UsageError(msg)

    rejects = list(raw_file.rejects)
    reject_rows = sorted({p.row for p in rejects if p.row is not None})
    if reject_rows:
        lf = lf.filter(~pl.col(_ROW).is_in(reject_rows))
    if stores is not None and not logistics:
        if "store_id" in mapped:
            raw_store = _clean_id(pl.col(mapped["store_id"]), schema[mapped["store_id"]])
            if store_id:
                raw_store = raw_store.fill_null(pl.lit(store_id))
            # A plain predicate on the raw column, so parquet scans push it down.
            lf = lf.filter(raw_store.is_in(stores))
        elif store_id not in stores:
            return _FileResult(None, headers, FileReport(name, 0), [], [], notes=notes)

    plan = _conversion_plan(
        mapped,
        schema=schema,
        headers=headers,
        given={"store_id": store_id, "store_name": store_name},
        numeric_ids=raw_file.numeric_ids,
    )
    plan.outputs.extend(
        _clean_text(pl.col(raw), schema[raw]).alias(out) for raw, out in extras.items()
    )
    df, dropped, plan_notes = _run_plan(lf, plan, name=name, extras=list(extras.values()))
    notes.extend(plan_notes)
    n_bad = int(df["__bad"].sum())
    frame = df.filter(~pl.col("__bad")).drop("__bad", *plan.err_names, *plan.note_names)
    dropped = sorted([*rejects, *dropped], key=lambda p: p.row or 0)
    report = FileReport(
        name, df.height + len(reject_rows), bad_rows_dropped=n_bad + len(reject_rows)
    )
    return _FileResult(frame, headers, report, [], dropped, logistics=logistics, notes=notes)


def _duplicate_headers(
    lf: pl.LazyFrame,
    raw_names: Sequence[str],
    *,
    lookup: Mapping[str, tuple[str, int]],
    name: str,
    header_row: int,
    notes: list[_Note],
) -> tuple[list[Problem], list[str]]:
    """A header that appears twice: an identical copy is dropped with a warning; a known column
    whose copies differ is an error naming both columns (which one holds the data is unknowable).
    Returns (errors, copies to drop)."""
    copies = [n for n in raw_names if _DUPLICATE in n]
    if not copies:
        return [], []
    position = {n: i for i, n in enumerate(raw_names)}
    errors: list[Problem] = []
    drop: list[str] = []
    for copy in copies:
        base = copy.split(_DUPLICATE, 1)[0]
        first, second = (workbook.column_letters(position[n]) for n in (base, copy))
        same = lf.select(pl.col(base).eq_missing(pl.col(copy)).all()).collect().item()
        where = f"第 {first} 列和第 {second} 列 (columns {first} and {second})"
        if same:
            msg = f"表头重复，{where}内容相同，只用一列 (duplicated header, identical: one used)"
            notes.append(("duplicate_header", [Problem(name, header_row, base, None, msg)], 1))
            drop.append(copy)
        elif header_key(base) in lookup:
            msg = (
                f"表头重复且内容不同：{where} (duplicated header with different contents); "
                "提示 (hint): 删除或重命名其中一列 (delete or rename one of them)"
            )
            errors.append(Problem(name, header_row, base, None, msg))
        else:
            msg = f"表头重复：{where}，第二列保留为 {copy} (duplicated header: kept as {copy})"
            notes.append(("duplicate_header", [Problem(name, header_row, base, None, msg)], 1))
    return errors, drop


def _missing_columns(
    name: str,
    missing: Sequence[str],
    raw_names: Sequence[str],
    *,
    unknown: Sequence[str],
    header_row: int,
    header_found: bool,
    no_store: str = STORE_IDENTITY_HINT,
) -> list[Problem]:
    """One problem per missing required column, naming the header row used, what it held and
    the unrecognised header closest to the column (a renamed 服务单号 is named)."""
    found = ", ".join(n for n in raw_names if not n.startswith("__col")) or "(无 none)"
    if header_found:
        where = f"表头行 (header row used): 第 {header_row} 行 (row {header_row})"
    else:
        where = (
            f"前 {HEADER_SCAN_ROWS} 行中没有表头行（至少 {HEADER_MIN_MATCHES} 个已知列名），以第 "
            f"{header_row} 行为表头 (no header row among the first {HEADER_SCAN_ROWS} rows — one "
            f"with at least {HEADER_MIN_MATCHES} known headers; row {header_row} used)"
        )
    problems = []
    for column in missing:
        if column == "store_id":
            problems.append(Problem(name, None, column, None, no_store))
            continue
        zh = " / ".join(ALIASES.get(column, ()))
        closest = _closest_header(column, unknown)
        hint = (
            f"; 最接近的表头 (closest header found): {closest!r}，可在配置 [aliases] 中指定 "
            f"(map it under [aliases] in the configuration)"
            if closest
            else ""
        )
        msg = (
            f"缺少必需列 {column} ({zh}) (missing required column){hint}; {where}; "
            f"找到的列 (headers found): {found}"
        )
        problems.append(Problem(name, None, column, None, msg))
    return problems


def _closest_header(column: str, unknown: Sequence[str]) -> str | None:
    """The unrecognised header most like one of ``column``'s names (ratio ≥ 0.5), if any."""
    names = [header_key(n) for n in (column.replace("_", " "), *ALIASES.get(column, ()))]
    best, score = None, 0.5
    for raw in unknown:
        if raw.startswith("__col"):
            continue
        key = header_key(raw)
        ratio = max(difflib.SequenceMatcher(None, key, n).ratio() for n in names)
        if ratio >= score:
            best, score = raw, ratio
    return best


@dataclass
class _Plan:
    """The expressions converting one file: outputs, text parsed in a second step, checks."""

    outputs: list[pl.Expr] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    parsed: list[pl.Expr] = field(default_factory=list)
    checks: list[tuple[str, str, pl.Expr]] = field(default_factory=list)  # header, message, bad
    #: Odd but usable cells, warned about by kind: (kind, header, message, the cell or null).
    notes: list[tuple[str, str, str, pl.Expr]] = field(default_factory=list)

    @property
    def err_names(self) -> list[str]:
        return [f"__err{i}" for i in range(len(self.checks))]

    @property
    def note_names(self) -> list[str]:
        return [f"__note{i}" for i in range(len(self.notes))]


def _conversion_plan(
    mapped: Mapping[str, str],
    *,
    schema: pl.Schema,
    headers: Mapping[str, str],
    given: Mapping[str, str | None],
    numeric_ids: frozenset[str],
) -> _Plan:
    """Every canonical column's conversion and the checks that find its bad cells."""
    plan = _Plan(outputs=[pl.col(_ROW).cast(pl.Int64)])
    for column, dtype in COLUMNS.items():
        raw = mapped.get(column)
        if raw is None:
            plan.outputs.append(pl.lit(given.get(column), dtype).alias(column))
            continue
        conv = _convert(pl.col(raw), schema[raw], column, numeric=raw in numeric_ids)
        converted = pl.col(column)
        if conv.text is not None and conv.parse is not None:
            text = f"__text_{column}"
            plan.texts.append(text)
            plan.outputs.append(conv.text.alias(text))
            plan.parsed.append(conv.parse(pl.col(text)).alias(column))
            bad = pl.when(pl.col(text).is_not_null() & converted.is_null()).then(pl.col(text))
            plan.checks.append((headers[column], conv.message, bad))
            if column in DATETIME_COLUMNS:
                # "2025-10-03" or a date cell: midnight is a guess, the hours may be off by 24.
                day_only = (
                    converted.is_not_null()
                    & (pl.col(text).str.len_chars() <= 10)
                    & ~pl.col(text).str.contains(".", literal=True)
                )
                note = pl.when(day_only).then(pl.col(text))
                plan.notes.append(("date_only", headers[column], MSG_DATE_ONLY, note))
            continue
        value = conv.value if conv.value is not None else pl.lit(None, dtype)
        if given.get(column):
            value = value.fill_null(pl.lit(given[column]))
        plan.outputs.append(value.alias(column))
        if conv.message == MSG_LONG_ID:
            bad = pl.when(converted.str.len_chars() > MAX_EXCEL_DIGITS).then(converted)
            plan.checks.append((headers[column], conv.message, bad))
        elif conv.message:
            bad = pl.when(converted.str.contains(_SCI_ID)).then(converted)
            plan.checks.append((headers[column], conv.message, bad))
        if column in ID_COLUMNS:
            bad = pl.when(converted.str.contains(_FRACTION_ID)).then(converted)
            plan.checks.append((headers[column], MSG_FRACTION_ID, bad))
        if column in ("service_id", "store_id"):
            message = MSG_EMPTY_SERVICE_ID if column == "service_id" else MSG_EMPTY_STORE_ID
            empty = pl.when(converted.is_null()).then(pl.lit(""))
            plan.checks.append((headers[column], message, empty))
    return plan


def _run_plan(
    lf: pl.LazyFrame, plan: _Plan, *, name: str, extras: Sequence[str]
) -> tuple[pl.DataFrame, list[Problem], list[_Note]]:
    """The converted frame with a ``__bad`` flag per row, every bad cell as a Problem, and the
    odd cells of good rows as warnings (the first MAX_SHOWN of each kind, and the count).

    Three steps, each on the materialised columns of the one before: clean the text, parse it,
    check the cells. Polars does not share a Python UDF (the timestamp parser) between
    expressions, so one combined select would clean and parse twice.
    """
    err_names = plan.err_names
    errs = [expr.alias(n) for (_h, _m, expr), n in zip(plan.checks, err_names, strict=True)]
    bad_any = (
        pl.any_horizontal(pl.col(n).is_not_null() for n in err_names) if errs else pl.lit(False)
    )
    note_names = plan.note_names
    notes = [expr.alias(n) for (_k, _h, _m, expr), n in zip(plan.notes, note_names, strict=True)]
    df = (
        lf.select(*plan.outputs)
        .with_columns(plan.parsed)
        .with_columns(*errs, *notes)
        .with_columns(bad_any.alias("__bad"))
        .drop(plan.texts)
        .select(_ROW, *COLUMNS, *extras, *err_names, *note_names, "__bad")
        .collect()
    )
    warned: list[_Note] = []
    if notes:
        counts = df.select(
            (pl.col(n).is_not_null() & ~pl.col("__bad")).sum() for n in note_names
        ).row(0)
        for (kind, header, message, _e), n, count in zip(
            plan.notes, note_names, counts, strict=True
        ):
            if not count:
                continue
            hits = df.filter(pl.col(n).is_not_null() & ~pl.col("__bad")).select(_ROW, n)
            shown = [
                Problem(name, int(row), header, value, message)
                for row, value in hits.head(MAX_SHOWN).iter_rows()
            ]
            warned.append((kind, shown, int(count)))
    dropped: list[Problem] = []
    if errs:
        bad_rows = df.filter(pl.col("__bad"))
        for (header, message, _e), err in zip(plan.checks, err_names, strict=True):
            hits = bad_rows.filter(pl.col(err).is_not_null()).select(_ROW, err)
            dropped.extend(
                Problem(name, int(row), header, value or None, message)
                for row, value in hits.iter_rows()
            )
        dropped.sort(key=lambda p: p.row or 0)
    return df, dropped, warned


# ---------------------------------------------------------------------------------------------
# cell conversion (vectorised)


def _clean_text(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Text with surrounding whitespace removed and the null markers (空, -, --, 无) as null."""
    text = expr if dtype == pl.String else expr.cast(pl.String)
    text = text.str.strip_chars()
    return pl.when(~text.is_in(NULL_MARKERS)).then(text)


def _unwrap_excel_text(df: pl.DataFrame) -> pl.DataFrame:
    """The old FBP CSV writes cells as ``="…"`` (Excel's keep-as-text trick): keep what is inside.

    Done once when a CSV is read, so spreadsheets (which never carry it) pay nothing.
    """
    cells = [c for c, t in df.schema.items() if t == pl.String and c != _ROW]
    return df.with_columns(
        pl.when(pl.col(c).str.starts_with('="') & pl.col(c).str.ends_with('"'))
        .then(pl.col(c).str.slice(2).str.strip_suffix('"'))
        .otherwise(pl.col(c))
        .alias(c)
        for c in cells
    )


def _clean_id(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype.is_float():
        # An ID stored as a float column: keep the integer digits, never "123.0"; a fraction
        # stays visible so the check calls it out (never rounded into another order's id).
        whole = expr.round(0).cast(pl.Int64, strict=False).cast(pl.String)
        return pl.when(expr == expr.round(0)).then(whole).otherwise(expr.cast(pl.String))
    if dtype.is_integer():
        return expr.cast(pl.String)
    # "123.0" comes from CSVs written by pandas with float IDs; the digits are all there. A
    # leading ' is Excel's other text marker.
    text = _clean_text(expr, dtype).str.strip_prefix("'")
    # Cheap tests first: a regex replace over every ID costs more than the rest of the cleaning.
    float_like = text.str.ends_with(".0") & text.str.contains(r"^\d+\.0$")
    return pl.when(float_like).then(text.str.strip_suffix(".0")).otherwise(text)


@dataclass(frozen=True)
class _Conversion:
    """How one column converts: either ``value`` directly (native or ID columns; with a
    ``message``, an ID in scientific notation is bad), or cleaned ``text`` that ``parse`` turns
    into the value; a non-null text whose parsed value is null is a bad cell."""

    value: pl.Expr | None = None
    text: pl.Expr | None = None
    parse: Callable[[pl.Expr], pl.Expr] | None = None
    message: str = ""


def _convert(
    expr: pl.Expr, dtype: pl.DataType, column: str, *, numeric: bool = False
) -> _Conversion:
    """One source column converted to its canonical dtype; ``numeric``: an ID column of Excel
    number cells (read as text)."""
    target = COLUMNS[column]
    if column in ID_COLUMNS:
        value = _clean_id(expr, dtype)
        if numeric or dtype.is_numeric():
            # Excel and float columns keep 15 significant digits: a longer ID has lost some.
            return _Conversion(value, message=MSG_LONG_ID)
        return _Conversion(value, message=MSG_SCI_ID)
    if target == pl.String:
        return _Conversion(_clean_text(expr, dtype))
    if column in DATETIME_COLUMNS:
        return _to_datetime(expr, dtype)
    if target == pl.Boolean:
        return _to_bool(expr, dtype)
    if target.is_integer():
        return _to_int(expr, dtype, target)
    return _to_float(expr, dtype)


def _epoch_ms(ms: pl.Expr) -> pl.Expr:
    """Epoch milliseconds (a UTC instant) as naive China local time."""
    return pl.from_epoch(ms, time_unit="ms").cast(DATETIME) + pl.duration(
        hours=CHINA_UTC_OFFSET_HOURS
    )


def _excel_serial(days: pl.Expr) -> pl.Expr:
    # Rounded to the millisecond: serials are binary fractions of a day.
    ms = (days * _MS_PER_DAY).round(0).cast(pl.Int64)
    return pl.datetime(*_EXCEL_EPOCH, time_unit="us") + pl.duration(milliseconds=ms)


def _to_datetime(expr: pl.Expr, dtype: pl.DataType) -> _Conversion:
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            expr = expr.dt.convert_time_zone("Asia/Shanghai").dt.replace_time_zone(None)
        return _Conversion(expr.cast(DATETIME))
    if dtype == pl.Date:
        return _Conversion(expr.cast(DATETIME))
    if dtype.is_integer():
        return _Conversion(_epoch_ms(expr.cast(pl.Int64)))
    if dtype.is_float():
        value = (
            pl.when(expr > 1e11).then(_epoch_ms(expr.cast(pl.Int64))).otherwise(_excel_serial(expr))
        )
        return _Conversion(value)
    text = _clean_text(expr, dtype)
    return _Conversion(text=text, parse=_timestamps_expr, message=MSG_TIMESTAMP)


def _timestamps_expr(text: pl.Expr) -> pl.Expr:
    return text.map_batches(_parse_timestamps, return_dtype=DATETIME, is_elementwise=True)


#: strptime forms tried in turn, after "/" and ISO's "T" are normalised to "-" and " ".
_STRPTIME_FORMS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d")


def _parse_timestamps(text: pl.Series) -> pl.Series:
    """Parse every accepted timestamp form; unparseable cells stay null.

    A cascade rather than one ``coalesce``: each form only sees the cells the earlier forms could
    not parse, so a clean column costs one fast strptime and a mixed one little more.
    """
    normal = text
    if normal.str.contains("/", literal=True).any():
        normal = normal.str.replace_all("/", "-", literal=True)
    if normal.str.contains("T", literal=True).any():
        normal = normal.str.replace("T", " ", literal=True)
    first, *rest = _STRPTIME_FORMS
    out = normal.str.strptime(DATETIME, first, strict=False)
    todo = (out.is_null() & normal.is_not_null()).arg_true()
    parsers = [
        *(lambda s, f=form: s.str.strptime(DATETIME, f, strict=False) for form in rest),
        _parse_epoch_ms,
        _parse_excel_serial,
    ]
    for parser in parsers:
        if todo.len() == 0:
            break
        parsed = parser(normal.gather(todo))
        ok = parsed.is_not_null()
        if ok.any():
            out.scatter(todo.filter(ok), parsed.filter(ok))
            todo = todo.filter(~ok)
    return out.alias(text.name)


def _parse_epoch_ms(text: pl.Series) -> pl.Series:
    ms = pl.select(
        pl.when(pl.lit(text).str.contains(_EPOCH_MS)).then(pl.lit(text)).cast(pl.Int64)
    ).to_series()
    return pl.select(_epoch_ms(pl.lit(ms))).to_series()


def _parse_excel_serial(text: pl.Series) -> pl.Series:
    days = pl.select(
        pl.when(pl.lit(text).str.contains(_EXCEL_SERIAL)).then(pl.lit(text)).cast(pl.Float64)
    ).to_series()
    return pl.select(_excel_serial(pl.lit(days))).to_series()


def _to_bool(expr: pl.Expr, dtype: pl.DataType) -> _Conversion:
    if dtype == pl.Boolean:
        return _Conversion(expr)
    if dtype.is_numeric():
        return _Conversion(expr != 0)
    return _Conversion(text=_clean_text(expr, dtype), parse=_bool_expr, message=MSG_BOOL)


def _bool_expr(text: pl.Expr) -> pl.Expr:
    return text.str.to_lowercase().replace_strict(
        _BOOL_WORDS, default=None, return_dtype=pl.Boolean
    )


def _to_int(expr: pl.Expr, dtype: pl.DataType, target: pl.DataType) -> _Conversion:
    if dtype.is_numeric():
        return _Conversion(expr.cast(target, strict=False))

    def parse(text: pl.Expr) -> pl.Expr:
        number = text.cast(pl.Float64, strict=False)
        return pl.when(number == number.floor()).then(number).cast(target, strict=False)

    return _Conversion(text=_clean_text(expr, dtype), parse=parse, message=MSG_INT)


def _to_float(expr: pl.Expr, dtype: pl.DataType) -> _Conversion:
    if dtype.is_numeric():
        return _Conversion(expr.cast(pl.Float64))
    return _Conversion(text=_clean_text(expr, dtype), parse=_amount_expr, message=MSG_NUMBER)


def _amount_expr(text: pl.Expr) -> pl.Expr:
    # Amounts as exported: "¥1,299.00", "￥ 12.00", "12.00元".
    return text.str.replace_all(r"[¥￥,\s元]", "").cast(pl.Float64, strict=False)


# ---------------------------------------------------------------------------------------------
# all files -> one frame


#: DOMAIN §2: data more than this older than now is an old download.
_STALE_AFTER = timedelta(hours=48)


def _china_now() -> datetime:
    from aftersales_kit.window import china_now

    return china_now()


def _mtime(path: Path) -> datetime:
    """A file's modification time as naive China local time."""
    from aftersales_kit.window import CHINA

    try:
        stamp = path.stat().st_mtime
    except OSError:
        return datetime.min
    return datetime.fromtimestamp(stamp, CHINA).replace(tzinfo=None)


def _combine(
    frames: list[pl.DataFrame], *, mtimes: Sequence[datetime], now: datetime
) -> tuple[pl.DataFrame, int]:
    """Concatenate in read order and apply the DOMAIN §2 duplicate rule; (frame, dropped).

    Duplicates are per (store, service id): the row of the newest download wins (the file's
    data_as_of, then its modification time), within one download the latest 暂完结, then the
    last row read. The same id under two stores is an error (:func:`_shared_service_ids`).
    """
    if not frames:
        empty = pl.DataFrame(schema={_ROW: pl.Int64, **COLUMNS, _FILE: pl.Int32})
        return empty, 0
    tagged = [f.with_columns(pl.lit(i, dtype=pl.Int32).alias(_FILE)) for i, f in enumerate(frames)]
    combined = tagged[0] if len(tagged) == 1 else pl.concat(tagged, how="diagonal")
    keys = ["store_id", "service_id"]
    if combined.select(pl.struct(keys).n_unique()).item() == combined.height:
        return combined, 0
    # Decided on a narrow frame. Exports without 暂完结时间 use the latest clock checkpoint
    # instead: the later download of an order has progressed at least as far; a missing one
    # loses (nulls sort first).
    complete = pl.coalesce(
        "complete_time", pl.max_horizontal("first_process_time", "first_audit_time")
    )
    present = [c for c in DATETIME_COLUMNS if c in combined.columns]
    ranked = combined.select(
        *keys,
        _FILE,
        complete.alias("__complete"),
        latest_timestamp(present, now=now).alias("__latest"),
    ).with_row_index(_SEQ)
    files = pl.DataFrame(
        {_FILE: list(range(len(frames))), "__mtime": list(mtimes)},
        schema={_FILE: pl.Int32, "__mtime": DATETIME},
    )
    per_file = ranked.group_by(_FILE).agg(pl.col("__latest").max().alias("__file_as_of"))
    ranked = ranked.join(per_file, on=_FILE, how="left").join(files, on=_FILE, how="left")
    kept = (
        ranked.sort(["__file_as_of", "__mtime", "__complete", _SEQ], nulls_last=False)
        .unique(subset=keys, keep="last")
        .get_column(_SEQ)
        .sort()
    )
    return combined[kept], combined.height - kept.len()


def _shared_service_ids(
    frame: pl.DataFrame,
    *,
    names: Sequence[str],
    headers: Sequence[Mapping[str, str]],
    skip_bad_rows: bool,
    errors: list[Problem],
    warnings: _Warnings,
) -> tuple[pl.DataFrame, int]:
    """One service id under two stores is an error naming the ids and files (JD service ids are
    unique across stores: a download given to two stores); with ``skip_bad_rows`` those rows
    are dropped and counted. Returns (frame, rows dropped)."""
    if frame.height == 0 or frame.select(pl.col("store_id").n_unique()).item() < 2:
        return frame, 0
    shared = (
        frame.group_by("service_id")
        .agg(
            pl.col("store_id").unique().sort().alias("stores"),
            pl.col(_FILE).unique().sort().alias("files"),
            pl.col(_FILE).first().alias("first_file"),
            pl.col(_ROW).first().alias("first_row"),
        )
        .filter(pl.col("stores").list.len() > 1)
        .sort("service_id")
    )
    if shared.height == 0:
        return frame, 0
    problems = []
    for sid, stores, files, first_file, first_row in shared.iter_rows():
        listed = ", ".join(stores)
        where = ", ".join(names[f] for f in files)
        problems.append(
            Problem(
                names[first_file],
                first_row,
                headers[first_file].get("service_id", "service_id"),
                sid,
                f"同一服务单号出现在 {len(stores)} 个店铺 {listed}（文件 {where}）；"
                f"京东服务单号跨店铺唯一 (one service id under {len(stores)} stores: {listed}, "
                f"files: {where}; JD service ids are unique across stores); 提示 (hint): "
                "检查 stores.toml、店铺文件夹和 --store-id 是否把同一份下载分给了两个店铺 (check "
                "that no download is given to two stores), 或用 --skip-bad-rows 跳过这些行 "
                "(or skip these rows)",
            )
        )
    if not skip_bad_rows:
        errors.extend(problems)
        return frame, 0
    kept = frame.filter(~pl.col("service_id").is_in(shared["service_id"].implode()))
    dropped = frame.height - kept.height
    warnings.add("service_id_in_two_stores", problems, len(problems))
    return kept, dropped


def _data_as_of(
    frame: pl.DataFrame,
    *,
    names: Sequence[str],
    headers: Sequence[Mapping[str, str]],
    mtimes: Sequence[datetime],
    now: datetime,
    warnings: _Warnings,
) -> tuple[dict[str, datetime], dict[str, datetime]]:
    """(store -> latest timestamp in its rows, store -> newest file's modification time).

    Timestamps after ``now`` are left out and counted (kind ``future_timestamp``): a download
    cannot hold the future, so they are typing or clock errors.
    """
    if frame.height == 0:
        return {}, {}
    present = [c for c in DATETIME_COLUMNS if c in frame.columns]
    counts = frame.select((pl.col(c) > now).sum().alias(c) for c in present).row(0, named=True)
    problems: list[Problem] = []
    for column, count in counts.items():
        if not count:
            continue
        hits = frame.filter(pl.col(column) > now).head(MAX_SHOWN).select(_FILE, _ROW, column)
        problems.extend(
            Problem(
                names[file],
                row,
                headers[file].get(column, column),
                str(value),
                f"时间晚于当前时间 {now}，不计入数据截至时间 (timestamp after now: left out of "
                "data_as_of)",
            )
            for file, row, value in hits.iter_rows()
        )
    warnings.add("future_timestamp", problems, sum(int(n) for n in counts.values()))
    per_store = frame.group_by("store_id").agg(
        latest_timestamp(present, now=now).max().alias("as_of"),
        pl.col(_FILE).unique().alias("files"),
    )
    as_of: dict[str, datetime] = {}
    newest: dict[str, datetime] = {}
    for sid, latest, files in per_store.iter_rows():
        if latest is not None:
            as_of[str(sid)] = latest
        if files and mtimes:
            newest[str(sid)] = max(mtimes[f] for f in files if f is not None and f < len(mtimes))
    return dict(sorted(as_of.items())), dict(sorted(newest.items()))


#: Columns a logistics export (ERP/WMS or carrier portal) can add by waybill number.
LOGISTICS_COLUMNS: tuple[str, ...] = (
    "pickup_time",
    "customer_ship_time",
    "logistics_update_time",
    "sign_time",
    "inbound_time",
    "carrier",
)


def _join_logistics(
    frame: pl.DataFrame, logistics: list[pl.DataFrame], *, warnings: _Warnings
) -> pl.DataFrame:
    """Fill the orders' missing logistics times from logistics exports, matched on 运单号.

    The export's own value wins where it has one; for a waybill listed twice the last row read
    wins. Waybills that match no order are counted as a warning.
    """
    if not logistics:
        return frame
    times = (
        pl.concat(logistics, how="diagonal")
        .filter(pl.col("waybill_no").is_not_null())
        .unique(subset="waybill_no", keep="last", maintain_order=True)
        .select("waybill_no", *(pl.col(c).alias(f"{c}__wb") for c in LOGISTICS_COLUMNS))
    )
    joined = frame.join(times, on="waybill_no", how="left")
    unmatched = times.height - times.join(frame, on="waybill_no", how="semi").height
    if unmatched:
        note = Problem(
            "",
            None,
            "waybill_no",
            None,
            f"物流数据中 {unmatched} 个运单号没有对应的服务单 "
            f"({unmatched} waybills in the logistics data match no service order)",
        )
        warnings.add("logistics_unmatched", [note], unmatched)
    return joined.with_columns(pl.coalesce(c, f"{c}__wb").alias(c) for c in LOGISTICS_COLUMNS).drop(
        f"{c}__wb" for c in LOGISTICS_COLUMNS
    )


def _value_warnings(
    frame: pl.DataFrame,
    *,
    names: Sequence[str],
    headers: Sequence[Mapping[str, str]],
    warnings: _Warnings,
) -> dict[str, dict[str, int]]:
    """Unknown enumeration values (kept; DOMAIN §3's "otherwise" rows apply), each with its
    count; returns column -> unknown value -> rows."""
    unknown: dict[str, dict[str, int]] = {}
    if frame.height == 0:
        return unknown
    for column in ENUM_COLUMNS:
        known = sorted(KNOWN_VALUES[column])
        unknown_rows = pl.col(column).is_not_null() & ~pl.col(column).is_in(known)
        if not frame.select(unknown_rows.any()).item():
            continue  # the common case: one cheap scan, no grouping
        odd = (
            frame.filter(unknown_rows)
            .group_by(column)
            .agg(pl.len().alias("n"), pl.col(_FILE).first(), pl.col(_ROW).first())
            .sort("n", column, descending=[True, False])
        )
        problems = [
            Problem(
                names[file],
                row,
                headers[file].get(column, column),
                value,
                f"未知的{column}取值，共 {n} 行，按“其他”规则处理 (unknown value in {n} rows; "
                "the scene table's otherwise rows apply)",
            )
            for value, n, file, row in odd.iter_rows()
        ]
        warnings.add("unknown_value", problems, len(problems))
        unknown[column] = {str(v): int(n) for v, n in odd.select(column, "n").iter_rows()}
    return unknown


def _order_warnings(
    frame: pl.DataFrame,
    *,
    names: Sequence[str],
    headers: Sequence[Mapping[str, str]],
    warnings: _Warnings,
) -> None:
    """Logically odd timestamps: counted per kind, the first MAX_SHOWN of each kept as Problems."""
    if frame.height == 0:
        return
    checks = {
        kind: pl.col(later) < pl.col(earlier) for kind, (later, earlier, _m) in ORDER_CHECKS.items()
    }
    checks["missing_apply_time"] = pl.col("apply_time").is_null()
    # Timestamps after now (China time) or before JD had after-sales: kept, but warned about by
    # cell; data_as_of ignores the future ones (DOMAIN §2).
    now = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=CHINA_UTC_OFFSET_HOURS)
    stamps = [c for c in DATETIME_COLUMNS if c in frame.columns]
    checks["future_time"] = pl.any_horizontal(pl.col(c) > now for c in stamps)
    checks["implausible_time"] = pl.any_horizontal(pl.col(c) < EARLIEST_TIME for c in stamps)
    flags = frame.select(_FILE, _ROW, *(e.fill_null(False).alias(k) for k, e in checks.items()))
    counts = flags.select(pl.col(k).sum() for k in checks).row(0, named=True)
    for kind, count in counts.items():
        if not count:
            continue
        hits = frame.filter(flags[kind]).head(MAX_SHOWN)
        problems = []
        for row in hits.iter_rows(named=True):
            file_headers = headers[row[_FILE]]
            if kind == "missing_apply_time":
                column, value, message = "apply_time", None, MSG_NO_APPLY_TIME
            elif kind in ("future_time", "implausible_time"):
                column = next(
                    c
                    for c in stamps
                    if row[c] is not None
                    and (row[c] > now if kind == "future_time" else row[c] < EARLIEST_TIME)
                )
                value = str(row[column])
                message = MSG_FUTURE_TIME if kind == "future_time" else MSG_IMPLAUSIBLE_TIME
            else:
                later, earlier, message = ORDER_CHECKS[kind]
                column = later
                value = f"{row[later]} < {earlier} {row[earlier]}"
            problems.append(
                Problem(
                    names[row[_FILE]], row[_ROW], file_headers.get(column, column), value, message
                )
            )
        warnings.add(kind, problems, int(count))
