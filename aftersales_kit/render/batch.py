"""Every store's report plus the portfolio index, fast: ``aftersales batch`` / ``make reports``.

The flow: load the data once (every store: the estate figures of :mod:`aftersales_kit.estate` are
read or computed and written to ``_estate.json``) → ``diagnose()`` every selected store in one
polars pass → per store, a fingerprint of its rows, the peers it is compared with, the parameters,
the rules file, the notebook and the toolkit version → stores whose HTML and sidecar fingerprint are
current are skipped → the others' ``Diagnosis`` objects are pickled to a cache and their notebooks
executed by papermill in worker processes (spawn), each worker keeping one warm kernel
(:mod:`aftersales_kit.render.engine`) and rendering HTML in-process (:func:`report.render`) → the
sidecar JSON (fingerprint + portfolio summary) is written last, so a killed batch simply resumes
→ the portfolio notebook renders ``index.html`` from the sidecars.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import sys
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.queues import SimpleQueue
from pathlib import Path
from typing import TYPE_CHECKING

from aftersales_kit.config import StoreEntry
from aftersales_kit.errors import AftersalesError, ReportError, UsageError
from aftersales_kit.files import atomic_write, writable_dir
from aftersales_kit.host import usable_cpus
from aftersales_kit.metrics import stores_in, unknown_store_error
from aftersales_kit.pipeline import Computed, iter_diagnoses, resolve_inputs
from aftersales_kit.render import report as _report
from aftersales_kit.render.report import EngineOptions, ReportParams, Sidecar

if TYPE_CHECKING:
    import polars as pl

    from aftersales_kit.model import Diagnosis
    from aftersales_kit.rules import Rules
    from aftersales_kit.window import Clock, Window

#: wall-clock limit for one store's notebook; the kernel is killed and replaced when it is hit.
STORE_TIMEOUT = 300.0
SIDECAR_SUFFIX = _report.SIDECAR_SUFFIX
INDEX_NAME = "index.html"


# --- shards ---------------------------------------------------------------------------------------


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"K/N"`` → ``(K, N)`` with 1 ≤ K ≤ N; ``None`` stays ``None``."""
    if text is None or text == "":
        return None
    k_text, sep, n_text = text.partition("/")
    try:
        k, n = int(k_text), int(n_text)
    except ValueError:
        k = n = 0
    if not sep or n < 1 or not 1 <= k <= n:
        msg = (
            f"--shard 格式应为 K/N 且 1 ≤ K ≤ N (expected K/N with 1 ≤ K ≤ N): {text!r}; "
            "例如 (e.g.) --shard 3/10"
        )
        raise UsageError(msg)
    return k, n


def shard_of(store: str, *, n: int) -> int:
    """The 1-based shard of ``store`` among ``n``: stable across runs, machines and Python versions.

    crc32 of the UTF-8 id (not ``hash()``, which is salted per process).
    """
    return zlib.crc32(str(store).encode("utf-8")) % n + 1


def in_shard(stores: Iterable[str], *, shard: tuple[int, int] | None) -> list[str]:
    """The stores of ``shard`` (all when ``None``), sorted."""
    if shard is None:
        return sorted(set(stores))
    k, n = shard
    return sorted({s for s in stores if shard_of(s, n=n) == k})


def _parquet_only(paths: Sequence[Path]) -> list[Path] | None:
    """The parquet files behind ``paths`` when every input is parquet, else ``None``."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            members = [
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
            ]
            if not members or any(p.suffix.lower() != ".parquet" for p in members):
                return None
            files.extend(members)
        elif path.suffix.lower() == ".parquet" and path.exists():
            files.append(path)
        else:
            return None
    return files


def list_stores(paths: Sequence[Path]) -> list[str] | None:
    """Store ids of parquet inputs from the store column (or ``store_id=`` folders) alone.

    Only that column is read: it sizes the worker pool before the data is loaded. ``None`` when
    the inputs are not all parquet with a canonical ``store_id``.
    """
    import polars as pl

    files = _parquet_only(paths)
    if not files:
        return None
    try:
        ids = (
            pl.scan_parquet(files, hive_partitioning=True, missing_columns="insert")
            .select(pl.col("store_id").cast(pl.String).str.strip_chars())
            .unique()
            .collect()
            .to_series()
        )
    except Exception:  # a non-canonical header or an unreadable file: load() reports it properly
        return None
    return sorted(s for s in ids.to_list() if s)


# --- fingerprints ---------------------------------------------------------------------------------
# One freshness rule for report, batch and email lives in report.py; these names are its.

store_digests = _report.store_digests
sidecar_path = _report.sidecar_path
read_sidecar = _report.read_sidecar
is_current = _report.is_current


def _write_cache(path: Path, diagnosis: Diagnosis, *, rules: Rules) -> None:
    _report.handoff(diagnosis, path=path, rules=rules)


# --- workers --------------------------------------------------------------------------------------


def worker_count(requested: int | None, *, stores: int | None) -> int:
    """Workers to start: the request (default every usable CPU), never more than the usable CPUs
    (each worker keeps a ~650 MB kernel busy) nor than the stores to render."""
    count = min(requested or sys.maxsize, usable_cpus())
    if stores is not None:
        count = min(count, stores)
    return max(1, count)


# --- jobs and outcomes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One store to render (picklable; sent to a worker)."""

    store: str
    params: ReportParams
    out_dir: str
    sidecar: Sidecar
    timeout: float
    kernel_env: Mapping[str, str] = field(default_factory=dict)  # report.report_env


@dataclass(frozen=True)
class Outcome:
    """What happened to one store: ``status`` is ``done``, ``skipped`` or ``failed``."""

    store: str
    status: str
    reason: str = ""
    path: str = ""
    seconds: float = 0.0


@dataclass
class BatchResult:
    outcomes: list[Outcome] = field(default_factory=list)
    index: Path | None = None
    seconds: float = 0.0
    #: store -> the one-line "old data" notice (DOMAIN §2 "Data as of"), printed with the table
    notices: dict[str, str] = field(default_factory=dict)

    def by_status(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def failed(self) -> list[Outcome]:
        return self.by_status("failed")


# --- worker side ----------------------------------------------------------------------------------


#: Optional imports of papermill a batch worker never uses (its HDFS handler).
WORKER_UNUSED = ("pyarrow",)


def _worker_init(
    env: Mapping[str, str], pids: SimpleQueue[int], lang: str = "zh", parent: int | None = None
) -> None:
    """Runs once per worker process: reports its pid, cheap imports, the engine, and a kernel
    started right away with ``env`` added to its environment (this process's stays as it is)."""
    # Ctrl-C is the parent's to handle: it stops the pool; a worker dying mid-write is what the
    # atomic writes are for, but there is no point in tracebacks from every worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pids.put(os.getpid())  # the parent stops its workers by these, not by the pool's internals
    from aftersales_kit.render import engine

    # A parent killed with SIGKILL must not leave this worker and its kernel running forever.
    engine.die_with_parent(parent=parent)
    engine.skip_slow_imports()
    # The kernel starts first and imports the notebook's modules while this process imports
    # papermill and nbconvert (one after the other, a second more before the first store).
    start = engine.start_in_background(warm_imports=engine.WARM_IMPORTS, env=env)
    from aftersales_kit.render.kernel_boot import UNUSED_FORMAT_CHECKERS, blocked

    # As in the kernels (kernel_boot), minus what a worker never uses: papermill's optional HDFS
    # handler (pyarrow, and numpy with it) and jsonschema's unused format checkers (idna stays:
    # papermill's requests needs it), ~0.2 s of every worker's start; imported later, they load
    # as usual.
    unused = (*(m for m in UNUSED_FORMAT_CHECKERS if m != "idna"), *WORKER_UNUSED)
    with blocked(unused):
        from aftersales_kit import resources
        from aftersales_kit.render import report

        engine.register()
        resources.vega_bundle()
        report.warm_exporter(lang)  # the batch's language: its pages' templates
    start.join()  # a failed start is retried by the first store, which reports it as its own


def render_job(job: Job) -> Outcome:
    """Render one store on this process's warm kernel; never raises for a store's own failure."""
    from aftersales_kit.render import engine, report

    started = time.perf_counter()
    try:
        html = report.render(
            job.params,
            out_dir=Path(job.out_dir),
            engine_name=engine.ENGINE_NAME,
            wall_timeout=job.timeout,
            warm_imports=report.WARM_IMPORTS,
            kernel_env=job.kernel_env,
            # One chart library and stylesheet per reports folder (aftersales_kit.render.assets).
            light=True,
        )
        report.write_sidecar(html, job.sidecar)
    except Exception as exc:  # a store's failure must not stop the batch; the reason is reported
        reason = str(exc) or type(exc).__name__
        if not isinstance(exc, AftersalesError):
            reason = f"{type(exc).__name__}: {reason}"
        return Outcome(job.store, "failed", reason=reason, seconds=time.perf_counter() - started)
    return Outcome(job.store, "done", path=str(html), seconds=time.perf_counter() - started)


def render_index(
    summary: Path,
    *,
    out_dir: Path,
    lang: str = "zh",
    engine_name: str | None = None,
    kernel_env: Mapping[str, str] | None = None,
) -> Path:
    """Execute ``notebooks/portfolio.ipynb`` with papermill and write ``out_dir/index.html``."""
    from papermill.exceptions import PapermillExecutionError

    from aftersales_kit.render import portfolio, report

    html_path = Path(out_dir) / "index.html"
    nb_path = Path(out_dir) / portfolio.SUMMARY_DIR / "index.ipynb"
    nb_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        nb = report.execute(
            {"summary": str(summary), "lang": lang},
            output=nb_path,
            engine_name=engine_name,
            notebook=portfolio.NOTEBOOK,
            **(EngineOptions() if kernel_env is None else EngineOptions(kernel_env=kernel_env)),
        )
    except PapermillExecutionError as exc:
        msg = (
            f"总览生成失败 (portfolio index failed): {exc.ename}: {exc.evalue}; "
            f"已保留执行后的笔记本 (executed notebook kept): {nb_path}"
        )
        raise ReportError(msg) from exc
    atomic_write(html_path, data=report.export_html(nb, lang=lang))
    return html_path


def render_index_job(
    summary: str, *, out_dir: str, lang: str, kernel_env: Mapping[str, str]
) -> str:
    """Execute and render the portfolio notebook in a worker; returns the index path."""
    from aftersales_kit.render import engine

    return str(
        render_index(
            Path(summary),
            out_dir=Path(out_dir),
            lang=lang,
            engine_name=engine.ENGINE_NAME,
            kernel_env=kernel_env,
        )
    )


# --- parent side ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Batch:
    """One batch run's settings, fixed before any data is loaded."""

    out: Path
    data: list[Path]
    rules: Rules
    as_of: datetime
    window: Window
    #: the stores asked for (``--stores``), ``None`` for all
    wanted: list[str] | None
    shard: tuple[int, int] | None
    #: every store's parameters but ``store`` and ``cache``
    base_params: ReportParams
    as_of_given: bool
    #: ``--as-of`` as given ("" none, "data", or a time): the clock is fixed after the load
    as_of_arg: str
    start_arg: str
    end_arg: str
    force: bool
    config: str | Path | None
    timeout: float
    progress: bool
    index: bool
    kernel_env: Mapping[str, str]
    began: float
    clock: Clock | None = None
    #: where parsed spreadsheets are kept between runs (``None``: parse every file)
    cache_dir: Path | None = None


def run_batch(
    paths: Sequence[str | Path],
    *,
    out_dir: str | Path = Path("reports"),
    stores: Sequence[str] | None = None,
    shard: tuple[int, int] | None = None,
    start: str | None = None,
    end: str | None = None,
    lang: str = "zh",
    rules: str | Path | None = None,
    as_of: str | None = None,
    workers: int | None = None,
    force: bool = False,
    config: str | Path | None = None,
    skip_bad_rows: bool = False,
    store_id: str | None = None,
    timeout: float = STORE_TIMEOUT,
    progress: bool = True,
    index: bool = True,
    prepared: Computed | None = None,
    cache_dir: Path | None = None,
) -> BatchResult:
    """Render the selected stores' reports (skipping current ones) and the portfolio index.

    Intermediate files (each store's pickled diagnosis) live in a private temporary folder that is
    removed at the end, on failure and on Ctrl-C too; nothing but reports, their notebooks and
    sidecars lands in ``out_dir``. ``prepared``: data already loaded and diagnosed by the caller
    with the same inputs (``daily``), so it is not loaded and diagnosed twice. ``cache_dir``:
    reuse spreadsheets parsed before (:mod:`aftersales_kit.parse_cache`).
    """
    from aftersales_kit.render.engine import skip_slow_imports

    skip_slow_imports()
    batch = _prepare(
        paths,
        out_dir=out_dir,
        stores=stores,
        shard=shard,
        start=start,
        end=end,
        lang=lang,
        rules=rules,
        as_of=as_of,
        force=force,
        config=config,
        skip_bad_rows=skip_bad_rows,
        store_id=store_id,
        timeout=timeout,
        progress=progress,
        index=index,
    )
    batch = dataclasses.replace(batch, cache_dir=cache_dir)
    with _report.private_dir("batch") as tmp:
        # Workers start (and warm their kernels, ~2 s) while this process loads and diagnoses.
        count = worker_count(workers, stores=_store_count(batch))
        pool = _start_pool(count, env=batch.kernel_env, lang=batch.base_params.lang)
        try:
            return _run_batch(pool, batch, tmp=tmp, prepared=prepared)
        except OSError as exc:  # the output folder filled up or vanished mid-run
            _stop_pool(pool)
            msg = f"报告无法写入 (cannot write the reports) in {batch.out}: {exc.strerror or exc}"
            raise ReportError(msg) from None
        except BaseException:
            _stop_pool(pool)
            raise


def _prepare(
    paths: Sequence[str | Path],
    *,
    out_dir: str | Path,
    stores: Sequence[str] | None,
    shard: tuple[int, int] | None,
    start: str | None,
    end: str | None,
    lang: str,
    rules: str | Path | None,
    as_of: str | None,
    force: bool,
    config: str | Path | None,
    skip_bad_rows: bool,
    store_id: str | None,
    timeout: float,
    progress: bool,
    index: bool,
) -> _Batch:
    """Check the options, clean what dead runs left, fix the window: the run's settings."""
    from aftersales_kit.render.engine import remove_stale_ipc
    from aftersales_kit.rules import load_rules
    from aftersales_kit.window import is_as_of_data, parse_as_of, parse_window

    began = time.perf_counter()
    out = writable_dir(out_dir).resolve()
    remove_stale_ipc()
    data = [Path(p).resolve() for p in paths]
    ruleset = load_rules(rules or None)
    # Provisional until the data is loaded (DOMAIN §2 "Data as of": an old download moves them).
    moment = parse_as_of(None if is_as_of_data(as_of) else as_of or None)
    window = parse_window(start or None, end=end or None, rules=ruleset, as_of=moment)
    base_params = ReportParams(
        start=window.start.isoformat(),
        end=window.end.isoformat(),
        data=tuple(str(p) for p in data),
        rules=str(rules or ""),
        lang=lang,
        as_of=moment.isoformat(sep=" "),
        skip_bad_rows=skip_bad_rows,
        store_id=store_id or "",
    )
    return _Batch(
        out=out,
        data=data,
        rules=ruleset,
        as_of=moment,
        window=window,
        wanted=_wanted(stores),
        shard=shard,
        base_params=base_params,
        as_of_given=bool(as_of),
        as_of_arg=as_of or "",
        start_arg=start or "",
        end_arg=end or "",
        force=force,
        config=config,
        timeout=timeout,
        progress=progress,
        index=index,
        kernel_env=_report.report_env(config=config),
        began=began,
    )


def _wanted(stores: Sequence[str] | None) -> list[str] | None:
    """``--stores`` as sorted ids; an empty selection is a usage error."""
    if stores is None:
        return None
    wanted = sorted({str(s).strip() for s in stores if str(s).strip()})
    if not wanted:
        msg = "--stores 中没有店铺ID (no store ids in --stores)"
        raise UsageError(msg)
    return wanted


def _store_count(batch: _Batch) -> int | None:
    """How many stores the run renders at most, when known without loading (sizes the pool)."""
    if batch.wanted:
        return len(batch.wanted)
    if batch.shard is None:
        listed = list_stores(batch.data)  # parquet: the store column alone, cheap
        return len(listed) if listed else None
    return None


def _run_batch(
    pool: WorkerPool, batch: _Batch, *, tmp: Path, prepared: Computed | None = None
) -> BatchResult:
    """Load → select → diagnose → skip current reports → render the rest and the index.

    Each store's job goes to the workers as soon as its diagnosis is assembled: the first
    reports render while this process assembles the others, and a store's diagnosis is dropped
    once it is handed over (they are not all held at once)."""
    failed: dict[str, str] = {}
    if prepared is None:
        # The one pipeline (aftersales_kit.pipeline), as `report`: every store loaded (the
        # estate's peers, traits and clock), only the selected ones diagnosed.
        inputs = resolve_inputs(
            batch.data,
            start=batch.start_arg or None,
            end=batch.end_arg or None,
            rules=batch.rules,
            as_of=batch.as_of_arg or None,
            store_id=batch.base_params.store_id or None,
            skip_bad_rows=batch.base_params.skip_bad_rows,
            config=batch.config,
            cache_dir=batch.cache_dir,
        )
        selected = _selected(batch, inputs.stores)
        inputs = dataclasses.replace(inputs, stores=tuple(selected))
        diagnosed: Iterable[tuple[str, Diagnosis]] = iter_diagnoses(inputs, failed=failed)
    else:
        inputs = prepared.inputs
        selected = _selected(batch, stores_in(prepared.frame))
        diagnosed = ((s, prepared.diagnoses[s]) for s in selected)
    batch = _with_clock(batch, inputs.clock)
    digests = store_digests(inputs.frame)
    _ensure_estate(batch, inputs.frame, digests=digests, entries=inputs.entries)
    outcomes: dict[str, Outcome] = {}
    notices: dict[str, str] = {}

    def planned() -> Iterator[Outcome | Job]:
        from aftersales_kit.text import data_notice_both

        for store, d in diagnosed:
            if notice := data_notice_both(d):
                notices[store] = notice
            yield _plan_store(batch, store, d, rows=digests.get(store, ""), tmp=tmp)
        for store in selected:
            if store in failed:
                yield Outcome(store, "failed", reason=failed[store])

    index_path = _run_pool(pool, planned(), outcomes, batch=batch, expected=len(selected))
    ordered = [outcomes[s] for s in selected]
    if "__index__" in outcomes:
        ordered.append(outcomes["__index__"])
    return BatchResult(
        outcomes=ordered,
        index=index_path,
        seconds=time.perf_counter() - batch.began,
        notices={s: notices[s] for s in selected if s in notices},
    )


def _ensure_estate(
    batch: _Batch,
    frame: pl.DataFrame,
    *,
    digests: Mapping[str, str],
    entries: Mapping[str, StoreEntry],
) -> None:
    """Read (or compute and write) ``<out>/_estate.json`` for this data, window and rules."""
    from aftersales_kit import estate

    estate.ensure(
        batch.out,
        frame,
        window=batch.window,
        rules=batch.rules,
        digests=digests,
        groups=estate.groups_of(entries),
    )


def _selected(batch: _Batch, found: Sequence[str]) -> list[str]:
    """The stores to render; a ``--stores`` id missing from the data is an error."""
    if batch.wanted is not None:
        missing = [s for s in batch.wanted if s not in set(found)]
        if missing:
            raise unknown_store_error(", ".join(missing), stores=list(found))
    return in_shard(list(found) if batch.wanted is None else batch.wanted, shard=batch.shard)


def _with_clock(batch: _Batch, clock: Clock) -> _Batch:
    """``batch`` with the clock's report time and window (the index and file names follow)."""
    params = dataclasses.replace(
        batch.base_params,
        start=clock.window.start.isoformat(),
        end=clock.window.end.isoformat(),
        as_of=clock.as_of.isoformat(sep=" "),
    )
    return dataclasses.replace(
        batch, as_of=clock.as_of, window=clock.window, base_params=params, clock=clock
    )


def _plan_store(batch: _Batch, store: str, d: Diagnosis, *, rows: str, tmp: Path) -> Outcome | Job:
    """A failed or skipped :class:`Outcome` for ``store``, or the :class:`Job` that renders it
    (its diagnosis pickled to ``tmp``)."""
    from aftersales_kit.render import report

    try:
        html = report.report_path(batch.out, store=store, window=batch.window)
    except UsageError as exc:
        return Outcome(store, "failed", reason=str(exc))
    params = dataclasses.replace(batch.base_params, store=store)
    digest = report.fingerprint(
        params, rows=rows, inputs=report.inputs_of(d), as_of_given=batch.as_of_given
    )
    if not batch.force and is_current(html, digest=digest):
        return Outcome(store, "skipped", reason="已是最新 (up to date)", path=str(html))
    cache = tmp / report.safe_store(store) / f"{html.stem}.pkl"
    _write_cache(cache, d, rules=batch.rules)
    side = report.sidecar(d, html_path=html, out_dir=batch.out, digest=digest, lang=params.lang)
    params = dataclasses.replace(params, cache=str(cache))
    return Job(store, params, str(batch.out), side, batch.timeout, kernel_env=batch.kernel_env)


def _worker_ready() -> int:
    return os.getpid()


class WorkerPool(ProcessPoolExecutor):
    """A spawn process pool whose workers report their pids from their initializer, so that the
    pool can be stopped without reading the executor's private process table."""

    def __init__(self, workers: int, *, env: Mapping[str, str], lang: str = "zh") -> None:
        context = multiprocessing.get_context("spawn")  # fork + kernels misbehaves (TOOLING §1.9)
        self._pids: SimpleQueue[int] = context.SimpleQueue()
        self.kernel_env = dict(env)
        super().__init__(
            max_workers=workers,
            mp_context=context,
            initializer=_worker_init,
            # the parent's pid: a worker that starts after its parent died knows it
            initargs=(self.kernel_env, self._pids, lang, os.getpid()),
        )

    def worker_pids(self) -> list[int]:
        """The pids of every worker started so far."""
        pids = []
        while not self._pids.empty():
            pids.append(self._pids.get())
        return pids


def _start_pool(workers: int, *, env: Mapping[str, str], lang: str = "zh") -> WorkerPool:
    """A spawn pool whose ``workers`` processes are started now (they warm a kernel each)."""
    pool = WorkerPool(workers, env=env, lang=lang)
    for _ in range(workers):  # a spawn pool starts a process per submit while none is idle
        pool.submit(_worker_ready)
    return pool


def _stop_pool(pool: WorkerPool) -> None:
    # Stop the workers first, then wait for the executor's manager thread to notice and finish:
    # shutting down without waiting left that thread to write to a closed pipe at interpreter
    # exit, which printed a traceback after our clear error message.
    for pid in pool.worker_pids():
        try:
            os.kill(pid, signal.SIGTERM)  # what Process.terminate() sends
        except ProcessLookupError:
            pass  # already gone
    pool.shutdown(wait=True, cancel_futures=True)


def _run_pool(
    pool: WorkerPool,
    planned: Iterable[Outcome | Job],
    outcomes: dict[str, Outcome],
    *,
    batch: _Batch,
    expected: int,
) -> Path | None:
    """Render the ``planned`` jobs on the pool as they come (the other outcomes, skipped or
    failed stores, go straight into ``outcomes``), then the index; shut the pool down.
    ``expected``: how many stores are planned (the progress bar's length until they are)."""
    _render_stores(pool, planned, outcomes, progress=batch.progress, expected=expected)
    index_path = _render_index(pool, outcomes, batch=batch) if batch.index else None
    pool.shutdown(wait=True)  # on an exception, run_batch stops the pool instead
    return index_path


def _render_stores(
    pool: WorkerPool,
    planned: Iterable[Outcome | Job],
    outcomes: dict[str, Outcome],
    *,
    progress: bool,
    expected: int,
) -> None:
    """Each job on a worker as soon as it is planned, a progress bar on stderr; a dead worker
    fails only its store."""
    from tqdm import tqdm  # type: ignore[import-untyped]  # no types-tqdm in the environment

    bar = tqdm(
        total=expected,
        file=sys.stderr,
        unit="店",
        desc="报告 (reports)",
        disable=not progress,
        dynamic_ncols=True,
        delay=0.5,  # nothing shown for a batch with nothing to render
    )
    pending: dict[Future[Outcome], Job] = {}

    def collect(timeout: float | None) -> None:
        done, _ = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
        for fut in done:
            job = pending.pop(fut)
            try:
                outcome = fut.result()
            except Exception as exc:  # a worker process died (OOM, kill): that store fails
                reason = f"工作进程异常 (worker died): {exc!r}"
                outcome = Outcome(job.store, "failed", reason=reason)
            outcomes[job.store] = outcome
            bar.update(1)
            if outcome.status == "failed":
                bar.set_postfix_str(f"失败 (failed) {len(_failed(outcomes))}")

    try:
        for item in planned:
            if isinstance(item, Outcome):
                outcomes[item.store] = item
                bar.total -= 1  # the bar counts the reports rendered
                continue
            pending[pool.submit(render_job, item)] = item
            if pending:
                collect(0)  # finished reports are counted while the rest are planned
        while pending:
            collect(None)
    finally:
        bar.close()


def _render_index(pool: WorkerPool, outcomes: dict[str, Outcome], *, batch: _Batch) -> Path | None:
    """``index.html`` from the sidecars, on a worker; a failure is the ``__index__`` outcome."""
    from aftersales_kit.render import portfolio

    summary = portfolio.write_summary(
        batch.out,
        window=batch.window,
        min_orders=_min_orders(batch.config),
        lang=batch.base_params.lang,
    )
    try:
        return Path(
            pool.submit(
                render_index_job,
                str(summary),
                out_dir=str(batch.out),
                lang=batch.base_params.lang,
                kernel_env=batch.kernel_env,
            ).result()
        )
    except Exception as exc:
        outcomes["__index__"] = Outcome(INDEX_NAME, "failed", reason=str(exc))
        return None


def _min_orders(config: str | Path | None) -> int:
    """``[report] min_orders``: the index's minimum sample for a ranked store."""
    from aftersales_kit.config import load_config

    return load_config(config).min_orders


def _failed(outcomes: Mapping[str, Outcome]) -> list[Outcome]:
    return [o for o in outcomes.values() if o.status == "failed"]


def summary_table(result: BatchResult, *, width: int = 110) -> str:
    """The final table: counts, then one line per failed store with the reason."""
    done, skipped, failed = (result.by_status(s) for s in ("done", "skipped", "failed"))
    lines = [
        f"完成 (done) {len(done)} · 跳过 (skipped, up to date) {len(skipped)} · "
        f"失败 (failed) {len(failed)} · 用时 (time) {result.seconds:.1f} s",
    ]
    if failed:
        lines.append(f"{'店铺 (store)':<16} 原因 (reason)")
        for o in failed:
            first = o.reason.strip().splitlines()[0] if o.reason.strip() else "?"
            if len(first) > width:
                first = first[: width - 1] + "…"
            lines.append(f"{o.store:<16} {first}")
    lines.extend(result.notices.values())
    if result.index is not None:
        lines.append(f"总览 (index): {result.index}")
    return "\n".join(lines)


def rebuild_index(
    out_dir: str | Path,
    *,
    start: str | None = None,
    end: str | None = None,
    rules: str | Path | None = None,
    as_of: str | None = None,
    lang: str = "zh",
    config: str | Path | None = None,
) -> Path:
    """Rebuild ``out_dir/index.html`` from the store reports already written for the window.

    The last step after sharded runs: it reads only the per-store sidecars, no data, so every
    store of the estate appears in one overview without re-rendering anything.
    """
    from aftersales_kit.render import engine, portfolio
    from aftersales_kit.rules import load_rules
    from aftersales_kit.window import is_as_of_data, parse_as_of, parse_window

    ruleset = load_rules(rules or None)
    moment = parse_as_of(None if is_as_of_data(as_of) else as_of)
    window = parse_window(start or None, end=end or None, rules=ruleset, as_of=moment)
    out = Path(out_dir).resolve()
    if not portfolio.collect_summaries(out, window=window):
        msg = (
            f"{out} 中没有 {window.start}~{window.end} 的店铺报告 (no store reports for this "
            "window); 先运行 aftersales batch (run the batch first, with the same --start/--end)"
        )
        raise UsageError(msg)
    summary = portfolio.write_summary(out, window=window, min_orders=_min_orders(config), lang=lang)
    engine.skip_slow_imports()
    engine.register()
    try:
        return Path(
            render_index_job(
                str(summary), out_dir=str(out), lang=lang, kernel_env=_report.report_env()
            )
        )
    finally:
        engine.shutdown_kernels()
