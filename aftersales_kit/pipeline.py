"""The one pipeline: load → window → diagnose, for every entry point.

:func:`diagnose_data` resolves a run's inputs (data, rules, window, report time, the per-store
``[stores]`` entries) once and diagnoses the selected stores against every store of the data.
The store notebook (``sections.prepare``), the report and batch commands and the Python API
(:mod:`aftersales_kit.api`) all call it, so a number seen anywhere is the number in the report.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from aftersales_kit.config import (
    Config,
    StoreEntry,
    load_config,
    store_entries,
    store_inputs,
    store_peer_hours,
    store_targets,
)
from aftersales_kit.diagnose import diagnose_iter
from aftersales_kit.errors import DataError
from aftersales_kit.load import load
from aftersales_kit.metrics import stores_in, unknown_store_error
from aftersales_kit.rules import Rules, load_rules
from aftersales_kit.schema import COLUMNS, REQUIRED, latest_timestamp
from aftersales_kit.text import t
from aftersales_kit.views import configure as configure_views
from aftersales_kit.window import (
    STALE_AFTER,
    is_as_of_data,
    parse_as_of,
    parse_window,
    resolve_clock,
)

if TYPE_CHECKING:
    from aftersales_kit.load import LoadReport
    from aftersales_kit.model import Diagnosis
    from aftersales_kit.window import Clock, Window

#: A file or folder path.
StrPath = str | os.PathLike[str]
#: ``data`` may be one path, several, or a canonical polars frame.
Data = StrPath | Sequence[StrPath] | pl.DataFrame | pl.LazyFrame


def _frame_input(frame: pl.DataFrame | pl.LazyFrame, *, store_id: str | None) -> pl.DataFrame:
    """A caller's frame in the canonical schema: required columns checked, optional ones added
    as nulls, canonical dtypes, extra columns kept after them (as ``load`` returns them)."""
    df = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    if store_id and "store_id" not in df.columns:
        df = df.with_columns(pl.lit(store_id, dtype=pl.String).alias("store_id"))
    elif store_id:
        df = df.with_columns(pl.col("store_id").cast(pl.String).fill_null(store_id))
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        msg = (
            f"数据表缺少必需的列 (the frame lacks required columns): {', '.join(missing)}; "
            "提示 (hint): 列名用 aftersales_kit.schema.COLUMNS 的规范名，或传入导出文件路径"
        )
        raise DataError(msg)
    canonical = [
        (pl.col(name) if name in df.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in COLUMNS.items()
    ]
    extra = [c for c in df.columns if c not in COLUMNS]
    return df.select(*canonical, *extra)


@dataclass(frozen=True)
class Inputs:
    """A run's inputs, resolved once (:func:`resolve_inputs`): what every entry point diagnoses
    or measures from."""

    #: the canonical frame (every store loaded: the peers)
    frame: pl.DataFrame
    load_report: LoadReport | None
    rules: Rules
    #: the report time and window (DOMAIN §2 "Data as of")
    clock: Clock
    #: the stores to diagnose, in the caller's order
    stores: tuple[str, ...]
    config: Config
    #: store -> observed star / rank rates (the arguments win over the ``[stores]`` entries)
    observed: Mapping[str, Mapping[str, float]]
    #: store -> the published 风向标 figure
    published: Mapping[str, float]
    #: store -> the category/peer mean the merchant gave
    peer_hours: Mapping[str, float]
    #: the short-board target the caller gave, for every store (None: each store's own)
    target_hours: float | None = None
    #: store -> its ``[stores]`` entry's ``target_hours`` (used where the caller gave none)
    targets: Mapping[str, float] = field(default_factory=dict)

    #: store -> its ``[stores]`` entry (the config's and the data folders' stores.toml)
    entries: Mapping[str, StoreEntry] = field(default_factory=dict)

    @property
    def window(self) -> Window:
        return self.clock.window

    @property
    def as_of(self) -> datetime:
        return self.clock.as_of


@dataclass(frozen=True)
class Computed:
    """What :func:`diagnose_inputs` computed: the diagnoses, and the inputs they came from."""

    diagnoses: dict[str, Diagnosis]
    inputs: Inputs

    @property
    def frame(self) -> pl.DataFrame:
        """The canonical frame diagnosed (every store loaded)."""
        return self.inputs.frame

    @property
    def rules(self) -> Rules:
        return self.inputs.rules

    @property
    def window(self) -> Window:
        return self.inputs.window

    @property
    def as_of(self) -> datetime:
        return self.inputs.as_of

    @property
    def clock(self) -> Clock:
        """What the report time and window follow (DOMAIN §2 "Data as of")."""
        return self.inputs.clock

    @property
    def load_report(self) -> LoadReport | None:
        return self.inputs.load_report


def as_rules(rules: StrPath | Rules | Mapping[str, object] | None) -> Rules:
    """A rules file, a mapping of the rules file's keys, a :class:`Rules` or None (defaults)."""
    if isinstance(rules, Rules):
        return rules
    return load_rules(rules if isinstance(rules, Mapping) else os.fspath(rules) if rules else None)


def resolve_inputs(
    data: Data,
    *,
    stores: Sequence[str] | None = None,
    start: str | None = None,
    end: str | None = None,
    rules: StrPath | Rules | Mapping[str, object] | None = None,
    as_of: str | datetime | None = None,
    target_hours: float | None = None,
    star: float | None = None,
    aftersales_rank: float | None = None,
    dispute_rank: float | None = None,
    store_id: str | None = None,
    skip_bad_rows: bool = False,
    published_hours: float | None = None,
    config: StrPath | None = None,
    cache_dir: Path | None = None,
) -> Inputs:
    """Load ``data``, check the selected ``stores`` (default all), fix the report time and window
    and gather each store's inputs: the arguments win, a store's ``[stores]`` entry (the config's
    or a data folder's ``stores.toml``) fills what they do not give. ``None`` is "not given".
    ``cache_dir``: reuse spreadsheets parsed before (:mod:`aftersales_kit.parse_cache`)."""
    ruleset = as_rules(rules)
    config_path = None if config is None else os.fspath(config)
    if not isinstance(as_of, datetime) and not is_as_of_data(as_of):
        parse_as_of(as_of or None)  # a bad --as-of is a usage error before any data is read
    if start or end:
        parse_window(start or None, end=end or None, rules=ruleset)  # likewise a bad window
    report: LoadReport | None = None
    paths: list[str] = []
    if isinstance(data, pl.DataFrame | pl.LazyFrame):
        frame = _frame_input(data, store_id=store_id)
        if frame.height == 0:
            # an empty filter result is the likely cause; "store not found: none" would mislead
            msg = f"{t('api.empty_frame', 'zh')} ({t('api.empty_frame', 'en')})"
            raise DataError(msg)
    else:
        # a single path given as a string is one path, not a list of characters
        paths = [os.fspath(p) for p in ([data] if isinstance(data, str | os.PathLike) else data)]
        loaded = load(
            paths,
            store_id=store_id or None,
            config=config_path,
            skip_bad_rows=skip_bad_rows,
            cache_dir=cache_dir,
        )
        frame, report = loaded.frame, loaded.report
    found = stores_in(frame)
    selected = found if stores is None else [str(s) for s in stores]
    missing = [sid for sid in selected if sid not in found]
    if missing:
        raise unknown_store_error(", ".join(missing), stores=found)
    # The clock follows every store's data (the estate), not the selection: `report --store X`
    # runs on the clock the whole batch would (aftersales_kit.estate).
    clock = run_clock(frame, report, stores=found, as_of=as_of, start=start, end=end, rules=ruleset)
    loaded_config = load_config(config_path)
    entries = store_entries(loaded_config, data=paths)
    configured, published = store_inputs(entries, selected)
    given: dict[str, float] = {}
    if star is not None:
        given["star"] = float(star)
    if aftersales_rank is not None:
        given["aftersales_rank"] = float(aftersales_rank)
    if dispute_rank is not None:
        given["dispute_rank"] = float(dispute_rank)
    observed = {sid: {**configured.get(sid, {}), **given} for sid in selected}
    if published_hours is not None:
        published = dict.fromkeys(selected, float(published_hours))
    return Inputs(
        frame=frame,
        load_report=report,
        rules=ruleset,
        clock=clock,
        stores=tuple(selected),
        config=loaded_config,
        observed={k: v for k, v in observed.items() if v},
        published=published,
        peer_hours=store_peer_hours(entries, selected),
        target_hours=target_hours,
        targets={} if target_hours is not None else store_targets(entries, selected),
        entries=entries,
    )


def diagnose_inputs(
    inputs: Inputs, *, orders: bool = False, failed: dict[str, str] | None = None
) -> Computed:
    """Diagnose ``inputs.stores`` against every store of ``inputs.frame`` (``orders``: keep each
    store's per-order frame, as the API does).

    With ``failed`` (the batch), a pass that raises is repeated store by store, so one store's
    bad data fails only that store: its reason lands in ``failed`` and it has no diagnosis.
    """
    found = dict(iter_diagnoses(inputs, orders=orders, failed=failed))
    return Computed({sid: found[sid] for sid in inputs.stores if sid in found}, inputs)


def iter_diagnoses(
    inputs: Inputs, *, orders: bool = False, failed: dict[str, str] | None = None
) -> Iterator[tuple[str, Diagnosis]]:
    """:func:`diagnose_inputs` one store at a time, each ``(store_id, Diagnosis)`` as soon as it
    is assembled (the batch renders the first stores while the rest are assembled).

    Stores with their own target (a ``[stores]`` entry) are diagnosed with it, in one pass per
    target; the peers are every store's either way. With ``failed``, the stores not yielded when
    a pass raises are diagnosed one by one, and a store that still fails lands in ``failed``.
    """
    groups: dict[float | None, list[str]] = {}
    for sid in inputs.stores:
        groups.setdefault(inputs.targets.get(sid, inputs.target_hours), []).append(sid)

    def run(target: float | None, stores: list[str]) -> Iterator[tuple[str, Diagnosis]]:
        return diagnose_iter(
            inputs.frame,
            window=inputs.window,
            rules=inputs.rules,
            as_of=inputs.as_of,
            target_hours=target,
            observed=dict(inputs.observed) or None,
            stores=stores,
            load_report=inputs.load_report,
            published_hours=dict(inputs.published) or None,
            orders=orders,
        )

    if inputs.clock.data_as_of is None:
        # Whether a store's data is stale is judged against the newest diagnosis: all first.
        found = _diagnosed_one_by_one_on_error(groups, run, failed=failed)
        yield from _finished(dict(found), inputs=inputs).items()
        return
    for sid, d in _diagnosed_one_by_one_on_error(groups, run, failed=failed):
        yield sid, _finished({sid: d}, inputs=inputs)[sid]


def _diagnosed_one_by_one_on_error(
    groups: Mapping[float | None, list[str]],
    run: Callable[[float | None, list[str]], Iterator[tuple[str, Diagnosis]]],
    *,
    failed: dict[str, str] | None,
) -> Iterator[tuple[str, Diagnosis]]:
    done: set[str] = set()
    try:
        for target, some in groups.items():
            for sid, d in run(target, some):
                done.add(sid)
                yield sid, d
    except Exception:
        if failed is None:
            raise
        for target, some in groups.items():
            for store in some:
                if store in done:
                    continue
                try:
                    yield from run(target, [store])
                except Exception as exc:  # this store's data: its reason, the others go on
                    failed[store] = f"诊断失败 (diagnosis failed): {type(exc).__name__}: {exc}"


def _finished(diagnoses: Mapping[str, Diagnosis], *, inputs: Inputs) -> dict[str, Diagnosis]:
    """The run's clock, the peers' hours and the staff masking on the diagnoses."""
    return configure_views(
        with_clock(diagnoses, clock=inputs.clock),
        peer_hours=inputs.peer_hours,
        staff_masked=inputs.config.mask_staff,
    )


def diagnose_data(
    data: Data,
    *,
    stores: Sequence[str] | None = None,
    start: str | None = None,
    end: str | None = None,
    rules: StrPath | Rules | Mapping[str, object] | None = None,
    as_of: str | datetime | None = None,
    target_hours: float | None = None,
    star: float | None = None,
    aftersales_rank: float | None = None,
    dispute_rank: float | None = None,
    store_id: str | None = None,
    skip_bad_rows: bool = False,
    published_hours: float | None = None,
    config: StrPath | None = None,
    orders: bool = False,
    cache_dir: Path | None = None,
) -> Computed:
    """Load ``data``, fix the window and diagnose ``stores`` (default all) against every store:
    :func:`resolve_inputs` then :func:`diagnose_inputs`, the sequence behind every report, the
    store notebook and the API."""
    inputs = resolve_inputs(
        data,
        stores=stores,
        start=start,
        end=end,
        rules=rules,
        as_of=as_of,
        target_hours=target_hours,
        star=star,
        aftersales_rank=aftersales_rank,
        dispute_rank=dispute_rank,
        store_id=store_id,
        skip_bad_rows=skip_bad_rows,
        published_hours=published_hours,
        config=config,
        cache_dir=cache_dir,
    )
    return diagnose_inputs(inputs, orders=orders)


def run_clock(
    frame: pl.DataFrame,
    report: LoadReport | None,
    *,
    stores: Sequence[str],
    as_of: str | datetime | None,
    start: str | None,
    end: str | None,
    rules: Rules,
) -> Clock:
    """The report time and window of a run over ``stores`` (DOMAIN §2 "Data as of"): the
    selected stores' data_as_of (from the load report, else from the frame) and their newest
    files' modification times (none for a frame: never shifted unless ``as_of="data"``)."""
    wanted = set(stores)
    if report is not None:
        data_as_of = {k: v for k, v in report.data_as_of.items() if k in wanted}
        newest_file = {k: v for k, v in report.newest_file.items() if k in wanted}
    else:
        latest = (
            frame.filter(pl.col("store_id").is_in(sorted(wanted)))
            .group_by("store_id")
            .agg(latest_timestamp(frame.columns).max().alias("as_of"))
        )
        data_as_of = {str(k): v for k, v in latest.iter_rows() if v is not None}
        newest_file = {}
    return resolve_clock(
        as_of=as_of,
        start=start or None,
        end=end or None,
        rules=rules,
        data_as_of=data_as_of,
        newest_file=newest_file,
    )


def with_clock(diagnoses: Mapping[str, Diagnosis], *, clock: Clock) -> dict[str, Diagnosis]:
    """The diagnoses with the run's clock: where ``as_of`` came from, each store's data age
    against the run's now, and 数据过期 for a store whose data is more than 48 h older than the
    newest store's (left out of rankings)."""
    # The newest store of the estate (the clock is computed over every store), so one selected
    # store is judged as it is in the whole batch.
    newest = clock.data_as_of or max(
        (d.data_as_of for d in diagnoses.values() if d.data_as_of), default=None
    )
    out = {}
    for sid, d in diagnoses.items():
        age = None if d.data_as_of is None else (clock.now - d.data_as_of).total_seconds() / 3600
        stale = (
            newest is not None and d.data_as_of is not None and newest - d.data_as_of > STALE_AFTER
        )
        out[sid] = replace(d, as_of_source=clock.source, data_age_hours=age, data_stale=stale)
    return out
