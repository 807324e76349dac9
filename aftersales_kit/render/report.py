"""Render one store's diagnosis report: papermill runs the notebook, nbconvert exports offline HTML.

The steps read as the pipeline (papermill's ``execute_notebook`` is the model): validate the
parameters → choose the output path → execute ``notebooks/store_report.ipynb`` → export it with the
``templates/aftersales`` template → write the HTML and the executed notebook atomically. A failed
cell keeps the executed notebook (papermill marks the failing cell) and raises :class:`ReportError`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, Unpack, cast
from zoneinfo import ZoneInfo

from aftersales_kit import resources
from aftersales_kit._version import __version__
from aftersales_kit.errors import ReportError, UsageError
from aftersales_kit.files import atomic_write, fresh_file, safe_dir, writable_dir
from aftersales_kit.host import pid_alive
from aftersales_kit.render import portfolio
from aftersales_kit.render._compat import html_exporter_class, skip_rfc3987_syntax

# re-exported: the report's names for the kernel's imports, environment and flag
from aftersales_kit.render.engine import ENV_FLAG as ENV_FLAG
from aftersales_kit.render.engine import WARM_IMPORTS as WARM_IMPORTS
from aftersales_kit.render.engine import report_env as report_env
from aftersales_kit.resources import resource_dir, vega_bundle

if TYPE_CHECKING:
    import polars as pl
    from nbconvert import HTMLExporter
    from nbformat import NotebookNode

    from aftersales_kit.model import Diagnosis
    from aftersales_kit.rules import Rules
    from aftersales_kit.window import Window

# in a checkout or inside the installed wheel (resources.py)
NOTEBOOK = resource_dir("notebooks") / "store_report.ipynb"
TEMPLATES = resource_dir("templates")
TEMPLATE_NAME = "aftersales"
DEMO_STORE = "1000101"
# = sections.META_MIME / BUNDLE_TAG (repeated so this module imports no polars/altair)
META_MIME = "application/vnd.aftersales.report+json"
BUNDLE_TAG = "aftersales_vega_bundle"
SECTION_MIME = "application/vnd.aftersales.section+html"
#: cells a report page never shows (the parameters and the notebook's own introduction)
HIDDEN_TAGS = frozenset({"parameters", "injected-parameters", "remove_cell"})
#: The kernel variable through which the toolkit hands a pickled ``Diagnosis`` (in its private
#: 0700 folder) to the store notebook. Not in the notebook's parameters cell: nobody sets it by
#: hand, and ``sections.prepare`` accepts only files in the private folder.
HANDOFF_PARAM = "_aftersales_handoff"
#: the configuration file for a kernel that loads data itself (the user's fallback variable).
_SAFE_STORE = re.compile(r"^[\w][\w.\-]{0,99}$")  # \w is Unicode: 旗舰店 ids are fine
#: the toolkit's private temporary folders (``tempfile.gettempdir()/aftersales-<kind>-<pid>-…``):
#: pickled diagnoses live only there, never in the output folder that gets zipped and shared.
PRIVATE_PREFIX = "aftersales-"
SIDECAR_SUFFIX = ".json"


class EngineOptions(TypedDict, total=False):
    """What papermill and the warm engine take besides the notebook and its parameters."""

    #: variables the kernel gets on top of this process's environment (default :func:`report_env`)
    kernel_env: Mapping[str, str]
    #: modules a new warm kernel imports before its first notebook
    warm_imports: Sequence[str]
    #: seconds a cell may run
    execution_timeout: float
    #: the kernel's working directory
    cwd: str
    #: seconds the whole notebook may run (the warm engine)
    wall_timeout: float


@dataclass(frozen=True)
class ReportParams:
    """The notebook's parameters (names match the CLI options); build once, never mutate.

    ``data`` is kept as a tuple (hashable); :meth:`as_papermill` turns it into the list papermill
    needs. Numeric "not given" markers follow the notebook: 0 for ``target_hours``/``star``, -1 for
    the rank rates. Path parameters (``data``, ``rules``) become absolute against the caller's
    working directory, because the kernel may run elsewhere; ``data`` may be one path (a string)
    or several. ``cache`` is refused unless it is in the toolkit's private temporary folder.
    """

    store: str = DEMO_STORE
    start: str = ""
    end: str = ""
    data: tuple[str, ...] = field(default_factory=tuple)
    rules: str = ""
    lang: str = "zh"
    as_of: str = ""
    target_hours: float = 0.0
    star: float = 0.0
    aftersales_rank: float = -1.0
    dispute_rank: float = -1.0
    cache: str = ""
    skip_bad_rows: bool = False
    store_id: str = ""
    published_hours: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", data_paths(self.data))
        object.__setattr__(self, "rules", path_param(self.rules))
        if self.cache:
            object.__setattr__(self, "cache", str(check_cache(self.cache)))
        object.__setattr__(self, "skip_bad_rows", bool(self.skip_bad_rows))
        object.__setattr__(self, "store_id", str(self.store_id or ""))
        if self.lang not in {"zh", "en"}:
            msg = f"不支持的语言 (unsupported lang): {self.lang!r}; 可选 (allowed): zh, en"
            raise UsageError(msg)

    def as_papermill(self) -> dict[str, object]:
        """Plain str/float/list values, as papermill's Python translator expects (TOOLING §1.2)."""
        values = dataclasses.asdict(self)
        values["data"] = list(self.data)
        cache = values.pop("cache")
        if cache:
            values[HANDOFF_PARAM] = cache
        for name in ("target_hours", "star", "aftersales_rank", "dispute_rank", "published_hours"):
            values[name] = float(values[name])
        return values


def data_paths(value: object, *, cwd: str | Path | None = None) -> tuple[str, ...]:
    """The ``data`` parameter as absolute path strings.

    ``papermill nb.ipynb out.ipynb -p data exports/all.parquet`` passes a string: that is one path,
    never one path per character (``"/"`` alone would make the loader walk the whole disk). A list
    or tuple gives several. Relative paths resolve against ``cwd`` (default: this process's working
    directory, i.e. where the user ran the command).
    """
    if value is None or value == "":
        return ()
    items = [value] if isinstance(value, str | os.PathLike) else value
    if not isinstance(items, list | tuple):
        msg = f"data 参数应为路径或路径列表 (data must be a path or a list of paths): {value!r}"
        raise UsageError(msg)
    base = Path(cwd) if cwd is not None else Path.cwd()
    paths = []
    for item in items:
        if not isinstance(item, str | os.PathLike) or not str(item).strip():
            msg = f"data 中有空路径或非路径 (empty or non-path entry in data): {item!r}"
            raise UsageError(msg)
        paths.append(os.path.abspath(base / Path(item).expanduser()))
    return tuple(paths)


def path_param(value: object, *, cwd: str | Path | None = None) -> str:
    """A single path parameter (``rules``) as an absolute path string; ``""`` stays ``""``.

    A one-element list is accepted too, so ``-y '{rules: [x.toml]}'`` means the same as ``-p``.
    """
    if isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    if value is None or value == "":
        return ""
    if not isinstance(value, str | os.PathLike):
        msg = f"路径参数应为一个路径 (a path parameter must be one path): {value!r}"
        raise UsageError(msg)
    base = Path(cwd) if cwd is not None else Path.cwd()
    return os.path.abspath(base / Path(value).expanduser())


# --- private temporary folders --------------------------------------------------------------------


def _private_root() -> Path:
    return Path(tempfile.gettempdir()).resolve()


@contextmanager
def private_dir(kind: str) -> Iterator[Path]:
    """A 0700 temporary folder for intermediate files, removed on exit (error and Ctrl-C too).

    The pid in the name lets the next run remove the folder of a run that was killed (SIGKILL
    runs no ``finally``), see :func:`remove_stale_private_dirs`.
    """
    remove_stale_private_dirs()
    path = Path(tempfile.mkdtemp(prefix=f"{PRIVATE_PREFIX}{kind}-{os.getpid()}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def remove_stale_private_dirs() -> list[Path]:
    """Remove this user's private folders whose creating process is gone; returns them."""
    removed: list[Path] = []
    pattern = re.compile(rf"^{re.escape(PRIVATE_PREFIX)}[a-z]+-(\d+)-")
    try:
        entries = list(_private_root().iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if not match or int(match.group(1)) == os.getpid() or pid_alive(int(match.group(1))):
            continue
        try:
            info = entry.lstat()
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def check_cache(path: str | Path) -> Path:
    """``path`` when it is a file inside one of this user's private temporary folders.

    A cache is a pickle, and unpickling runs code: only files the toolkit itself wrote to a 0700
    folder of its own are accepted, never a path into the shared output folder or elsewhere.
    """
    target = Path(path).resolve()
    root = _private_root()
    if not _in_private_dir(target, root=root):
        msg = (
            "cache 参数只能指向工具自己的临时文件夹 "
            "(cache must be a file in the toolkit's private temporary folder "
            f"{root}/{PRIVATE_PREFIX}…): {path}; "
            "提示 (hint): 不要手动传 cache，留空即可 (leave cache empty)"
        )
        raise UsageError(msg)
    return target


def _in_private_dir(target: Path, *, root: Path) -> bool:
    """``target`` is a file below a 0700 ``aftersales-…`` folder of this user in ``root``."""
    try:
        rel = target.relative_to(root)
    except ValueError:
        return False
    if len(rel.parts) < 2 or not rel.parts[0].startswith(PRIVATE_PREFIX):
        return False
    try:
        info = (root / rel.parts[0]).lstat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and not info.st_mode & 0o077
        and target.is_file()
    )


# --- paths ----------------------------------------------------------------------------------------


def safe_store(store: str) -> str:
    """The store id itself when it is safe as one path component, else :class:`UsageError`."""
    text = str(store)
    if not _SAFE_STORE.fullmatch(text) or text in {".", ".."}:
        msg = (
            f"店铺ID不能用作文件夹名 (unsafe store id for a path): {text!r}; "
            "只允许字母、数字、汉字、下划线、点和连字符 (letters, digits, _ . - only), "
            "不能以点开头 (no leading dot), 最长100个字符"
        )
        raise UsageError(msg)
    return text


def report_path(out_dir: str | Path, *, store: str, window: Window) -> Path:
    """``out_dir/<store>/<start>_<end>.html``; unsafe store ids (``../``, ``/``, NUL …) refused."""
    return (
        Path(out_dir)
        / safe_store(store)
        / f"{window.start.isoformat()}_{window.end.isoformat()}.html"
    )


# --- execute --------------------------------------------------------------------------------------


@functools.cache
def notebook_parameters(notebook: Path = NOTEBOOK) -> dict[str, object]:
    """The parameters cell of ``notebook`` (``papermill.inspect_notebook``), cached per process."""
    _quiet_imports()
    import papermill as pm

    declared: dict[str, object] = pm.inspect_notebook(str(notebook))
    return declared


def check_parameters(values: Mapping[str, object], *, notebook: Path = NOTEBOOK) -> None:
    """Refuse parameter names the notebook does not declare (papermill would only warn)."""
    declared = notebook_parameters(notebook)
    unknown = sorted(set(values) - set(declared) - {HANDOFF_PARAM})
    if unknown:
        msg = (
            f"未知的报告参数 (unknown report parameters): {', '.join(unknown)}; "
            f"notebook {notebook.name} declares: {', '.join(declared)}"
        )
        raise UsageError(msg)


def execute(
    params: ReportParams | Mapping[str, object],
    *,
    output: str | Path,
    engine_name: str | None = None,
    notebook: Path = NOTEBOOK,
    **engine_kwargs: Unpack[EngineOptions],
) -> NotebookNode:
    """Run the report notebook with papermill and return the executed ``NotebookNode``.

    Unknown parameter names raise :class:`UsageError` before any kernel starts. Extra keyword
    arguments go to papermill / the engine (e.g. ``execution_timeout``, ``cwd``); ``kernel_env``
    (default :func:`report_env`) is added to the kernel's environment, with any engine.
    """
    values = params.as_papermill() if isinstance(params, ReportParams) else dict(params)
    check_parameters(values, notebook=notebook)
    _quiet_imports()
    import papermill as pm

    options = _papermill_options(engine_name, engine_kwargs)
    _quiet_handoff_warning()
    nb: NotebookNode = pm.execute_notebook(
        str(notebook), str(output), parameters=values, engine_name=engine_name, **options
    )
    return nb


class _HandoffFilter(logging.Filter):
    """papermill warns about parameters the notebook does not declare; the hand-off is one on
    purpose (the other unknown names were refused by :func:`check_parameters`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return HANDOFF_PARAM not in record.getMessage()


@functools.cache
def _quiet_handoff_warning() -> None:
    logging.getLogger("papermill").addFilter(_HandoffFilter())


def _papermill_options(engine_name: str | None, engine_kwargs: EngineOptions) -> dict[str, object]:
    """papermill's keyword arguments for one report run (``engine_kwargs`` win)."""
    from traitlets.config import Config

    from aftersales_kit.render import engine

    env = dict(engine_kwargs.pop("kernel_env", {}) or report_env())
    options: dict[str, object] = {
        "kernel_name": "python3",
        "progress_bar": False,
        "log_output": False,
        "start_timeout": 120,
        "request_save_on_cell_execute": False,
        "cwd": os.getcwd(),
        # nothing survives the run, so skip the graceful shutdown handshake (~0.5 s per report)
        "shutdown_kernel": "immediate",
        # Unix sockets, not localhost TCP: no "running over TCP without encryption" warning
        # printed by every kernel (the warm engine ignores this; it starts its kernels the same way)
        "config": Config({"KernelManager": engine.kernel_transport()}),
    }
    # The kernel sees ENV_FLAG from its start (charts use the template's bundle).
    if engine_name == engine.ENGINE_NAME:
        options["kernel_env"] = env
    else:  # papermill's stock engine: nbclient starts the kernel through this manager class
        options["kernel_manager_class"] = engine.env_kernel_manager(env)
    options.update(engine_kwargs)
    return options


def _quiet_imports() -> None:
    # jsonschema compiles the rfc3987_syntax grammar on import (~1.4 s) for IRI formats that
    # nbformat/nbconvert never check; skip it unless something already imported it.
    skip_rfc3987_syntax()


# --- export ---------------------------------------------------------------------------------------

_export_lock = threading.Lock()


def _new_exporter(exporter_class: type[HTMLExporter], *, lang: str) -> HTMLExporter:
    """An exporter of ``exporter_class`` set up for reports (template, no code, no prompts)."""
    from traitlets.config import Config

    config = Config()
    config.TagRemovePreprocessor.remove_cell_tags = {
        "parameters",
        "injected-parameters",
        "remove_cell",
    }
    return exporter_class(
        config=config,
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        language_code=lang,
        # Validate the notebook once after the preprocessors, not after each of them (nbconvert's
        # own option; each full validation cost about as much as the rest of the export).
        optimistic_validation=True,
    )


@functools.cache
def _exporter(lang: str) -> HTMLExporter:
    _quiet_imports()
    # without nbconvert's BeautifulSoup pass on the pinned release (_compat.html_exporter_class)
    return _new_exporter(html_exporter_class(), lang=lang)


def _take_meta(nb: NotebookNode) -> dict[str, object] | None:
    """Remove the report-metadata (and any vega bundle) output from ``nb`` in place; return meta.

    A section displayed outside a report run (Lab, papermill by hand) carries its notebook view
    as ``text/html`` and the page markup as :data:`SECTION_MIME`: the page gets the markup."""
    found = None
    for cell in nb.cells:
        outputs = cell.get("outputs", [])
        keep = []
        for out in outputs:
            data = out.get("data", {})
            if META_MIME in data:
                found = dict(data[META_MIME])
            elif out.get("metadata", {}).get(BUNDLE_TAG):
                continue  # the interactive copy of the vega bundle; the template has its own
            else:
                if SECTION_MIME in data:
                    data["text/html"] = data.pop(SECTION_MIME)
                keep.append(out)
        if len(keep) != len(outputs):
            cell["outputs"] = keep
    return found


class ReportPreprocessor:
    """What :func:`export_html` does before the template, for stock ``jupyter nbconvert
    --template aftersales`` (listed in the template's conf.json): the header values, the inlined
    chart library, no parameter cells. A no-op when our exporter has prepared the notebook.

    A plain callable (nbconvert accepts any ``(nb, resources) -> (nb, resources)``), so this
    module still imports no nbconvert."""

    def __init__(self, *, enabled: bool = True, **_config: object) -> None:
        self.enabled = enabled

    def __call__(
        self, nb: NotebookNode, resources: dict[str, object]
    ) -> tuple[NotebookNode, dict[str, object]]:
        if not self.enabled or isinstance(resources.get("report"), dict):
            return nb, resources
        lang = str(resources.get("language_code") or "zh")
        nb.cells = [
            c for c in nb.cells if not HIDDEN_TAGS & set(c.get("metadata", {}).get("tags", []))
        ]
        meta = _take_meta(nb)
        if meta is None:
            meta = _fallback_meta(nb, lang if lang in {"zh", "en"} else "zh")
        nb.metadata["title"] = f"{meta['title']} · {meta['store_name']} · {meta['window']}"
        resources["report"] = meta
        resources["vega_bundle"] = vega_bundle()
        return nb, resources


def _fallback_meta(nb: NotebookNode, lang: str) -> dict[str, object]:
    from aftersales_kit.text import t

    params = nb.metadata.get("papermill", {}).get("parameters", {})
    store = str(params.get("store", ""))
    return {
        "title": t("report.title", lang),
        "store_id": store,
        "store_name": store,
        "store_label": t("report.store", lang),
        "window": "—",
        "window_label": t("report.window", lang),
        "data_until": "—",
        "data_until_label": t("report.data_until", lang),
        "as_of": "—",
        "as_of_label": t("report.as_of", lang),
        "version": __version__,
        "version_label": t("report.version", lang),
        "nav_label": t("report.nav", lang),
        "nav": [],
        "footer": "",
        "generated_by": t("report.generated_by", lang, version=__version__),
    }


def export_html(nb: NotebookNode, *, lang: str = "zh", consume: bool = False) -> str:
    """The executed notebook as one self-contained HTML page (no code, no CDN, vega once).

    ``consume``: ``nb`` is not used afterwards and may be changed (no copy of it is made)."""
    page, resources = _export_input(nb, lang=lang, copy_nb=not consume)
    exporter = _exporter(lang)
    with _export_lock:  # one shared exporter per language; its preprocessors are not reentrant
        body, _ = exporter.from_notebook_node(page, resources=resources)
    return body


def _export_input(
    nb: NotebookNode, *, lang: str, copy_nb: bool = True
) -> tuple[NotebookNode, dict[str, object]]:
    """``nb`` (a copy unless ``copy_nb`` is false) without the metadata output, and the
    template's resources."""
    page = copy.deepcopy(nb) if copy_nb else nb
    meta = _take_meta(page) or _fallback_meta(page, lang)
    page.metadata["title"] = f"{meta['title']} · {meta['store_name']} · {meta['window']}"
    return page, {"vega_bundle": resources.vega_bundle(), "report": meta}


# --- render ---------------------------------------------------------------------------------------


def _window(params: ReportParams) -> Window:
    from aftersales_kit.rules import load_rules
    from aftersales_kit.window import parse_as_of, parse_window

    rules = load_rules(params.rules or None)
    return parse_window(
        params.start or None,
        end=params.end or None,
        rules=rules,
        as_of=parse_as_of(params.as_of or None),
    )


def _failed_cell(nb_path: Path) -> str:
    """``#index `first line``` of the cell with an error output in the kept notebook."""
    try:
        nb = _read_notebook(nb_path)
    except (OSError, ValueError):
        return "?"
    code_index = 0
    for cell in nb.cells:
        if cell.cell_type != "code" or "papermill-error-cell-tag" in cell.metadata.get("tags", []):
            continue
        code_index += 1
        if any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
            first = next((line for line in cell.source.splitlines() if line.strip()), "")
            return f"#{code_index} `{first.strip()}`"
    return "?"


def _read_notebook(path: Path) -> NotebookNode:
    import nbformat

    nb: NotebookNode = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]  # nbformat
    return nb


def render(
    params: ReportParams,
    *,
    out_dir: str | Path = Path("reports"),
    engine_name: str | None = None,
    light: bool = False,
    **engine_kwargs: Unpack[EngineOptions],
) -> Path:
    """Execute, export, write ``out_dir/<store>/<start>_<end>.html`` and the executed ``.ipynb``.

    ``light``: the page links the reports folder's shared chart library and stylesheet
    (:mod:`aftersales_kit.render.assets`, the batch's pages) instead of inlining them.

    Both files are written through a temporary file and ``os.replace``, so a reader never sees a
    half file. When a cell fails, the executed notebook (with papermill's error banner) is kept at
    the ``.ipynb`` path and :class:`ReportError` names the failing cell.

    Without ``engine_name`` the notebook runs on this process's warm kernel
    (:mod:`aftersales_kit.render.engine`), started at once so that its imports overlap the
    preparation here, and shut down afterwards unless it existed before the call.

    Examples
    --------
    >>> render(ReportParams(store="1000101"))  # doctest: +SKIP
    PosixPath('reports/1000101/2026-10-27_2026-11-25.html')
    """
    params = _fixed_now(params)
    store_dir = Path(out_dir) / safe_store(params.store)
    with _kernel(engine_name, engine_kwargs) as name:
        return _render(
            params,
            store_dir=store_dir,
            out_dir=Path(out_dir),
            engine_name=name,
            light=light,
            **engine_kwargs,
        )


def _fixed_now(params: ReportParams) -> ReportParams:
    if params.as_of:
        return params
    # Fix "now" once, so the notebook's window and the file name cannot straddle midnight.
    now = datetime.now(ZoneInfo("Asia/Shanghai")).replace(microsecond=0, tzinfo=None)
    return dataclasses.replace(params, as_of=now.isoformat(sep=" "))


@contextmanager
def _kernel(engine_name: str | None, engine_kwargs: EngineOptions) -> Iterator[str]:
    """The engine to run on: the given one, or this process's warm kernel started now.

    Start the kernel first and let it import the notebook's modules (~2 s together) while this
    process imports papermill, checks the parameters and prepares the export (and, for
    :func:`render_store`, loads and diagnoses). The notebook then runs on that kernel through the
    warm engine, still by papermill.
    """
    if engine_name is not None:
        yield engine_name
        return
    from aftersales_kit.render import engine

    _quiet_imports()
    engine_kwargs.setdefault("warm_imports", WARM_IMPORTS)
    # The same variables for the kernel started here and for the engine that then runs on it.
    engine_kwargs.setdefault("kernel_env", report_env())
    # A kernel the command line started before importing this module is this run's own.
    own_kernel = engine.take_early_start()
    if own_kernel is None and not engine.has_kernel():
        own_kernel = engine.start_in_background(
            warm_imports=engine_kwargs["warm_imports"], env=engine_kwargs["kernel_env"]
        )
    try:
        yield engine.register()  # imports papermill: after the kernel start is under way
    finally:
        if own_kernel is not None:
            own_kernel.join()
            engine.shutdown_kernel()


def _render(
    params: ReportParams,
    *,
    store_dir: Path,
    out_dir: Path,
    engine_name: str,
    light: bool = False,
    **engine_kwargs: Unpack[EngineOptions],
) -> Path:
    check_parameters(params.as_papermill())
    # The window (rules → polars), nbconvert and the vega bundle load in a thread while the kernel
    # starts and runs: the main thread only waits on the kernel then (~1.5 s off one report).
    warm = _Warm(params, out_dir)
    warm.start()
    try:
        store_dir = safe_dir(out_dir, store_dir.name)
        remove_stale_running(store_dir)
        tmp_nb = fresh_file(store_dir / f".running-{os.getpid()}-{threading.get_ident()}.ipynb")
    except OSError as exc:
        raise _write_error(store_dir, exc) from None
    from papermill.exceptions import PapermillExecutionError

    try:
        try:
            nb = execute(params, output=tmp_nb, engine_name=engine_name, **engine_kwargs)
        except PapermillExecutionError as exc:
            nb_path = warm.html_path().with_suffix(".ipynb")
            kept = tmp_nb.exists()
            if kept:
                os.replace(tmp_nb, nb_path)
            cell = _failed_cell(nb_path) if kept else f"#{exc.exec_count}"
            msg = (
                f"报告生成失败 (report failed) for store {params.store}: 单元格 (cell) {cell}: "
                f"{exc.ename}: {exc.evalue}; "
                f"已保留执行后的笔记本 (executed notebook kept): {nb_path}"
            )
            raise ReportError(msg) from exc
        html_path = warm.html_path()
        html = export_html(nb, lang=params.lang, consume=True)  # written already (tmp_nb)
        if light:  # lightened before the write: the 1 MB page is never written and read back
            from aftersales_kit.render.assets import lighten

            html = lighten(html, out_dir=out_dir, page_dir=html_path.parent)
        try:
            atomic_write(html_path, data=html)
            os.replace(tmp_nb, html_path.with_suffix(".ipynb"))
        except OSError as exc:  # disk full, folder removed or made read-only meanwhile
            raise _write_error(html_path, exc) from None
    finally:
        tmp_nb.unlink(missing_ok=True)
    return html_path


def _write_error(path: Path, exc: OSError) -> ReportError:
    msg = f"报告无法写入 (cannot write the report): {path}: {exc.strerror or exc}"
    return ReportError(msg)


_RUNNING = re.compile(r"^\.(?:running-(\d+)-\d+\.ipynb|.+\.(\d+)\.\d+\.tmp)$")


def remove_stale_running(folder: Path) -> list[Path]:
    """Remove ``.running-<pid>-…`` notebooks and atomic-write temporaries of dead processes.

    A run killed with SIGKILL leaves them behind; the pid in the name tells whether the writer is
    still alive (another worker of a live batch keeps its files).
    """
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _RUNNING.match(entry.name)
        if not match:
            continue
        pid = int(match.group(1) or match.group(2))
        if pid != os.getpid() and not pid_alive(pid):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


@functools.cache
def warm_exporter(lang: str) -> None:
    """One throw-away export compiles the templates off the critical path, once per process
    (a batch worker exported an empty notebook before every store)."""
    import nbformat

    empty = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]  # nbformat: untyped
    export_html(empty, lang=lang)


class _Warm(threading.Thread):
    """Background preparation for :func:`render`; :meth:`html_path` joins and re-raises."""

    def __init__(self, params: ReportParams, out_dir: Path) -> None:
        super().__init__(daemon=True)
        self.params = params
        self.out_dir = out_dir
        self.window: Window | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.window = _window(self.params)
            resources.vega_bundle()
            warm_exporter(self.params.lang)
        except BaseException as exc:  # re-raised in the caller's thread by html_path()
            self.error = exc

    def html_path(self) -> Path:
        self.join()
        if self.error is not None:
            raise self.error
        assert self.window is not None  # run() sets it or the error
        return report_path(self.out_dir, store=self.params.store, window=self.window)


# --- freshness: one rule for report, batch and email ----------------------------------------------


def file_digest(path: str | Path | None) -> str:
    """sha256 of a file's bytes; ``""`` for no file."""
    if not path:
        return ""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def store_digests(frame: pl.DataFrame) -> dict[str, str]:
    """store_id → sha256 of that store's rows, independent of row order (one pass over the frame).

    polars row hashes are stable for one polars version only, which is part of the fingerprint.
    """
    import numpy as np
    import polars as pl

    if frame.height == 0:
        return {}
    hashed = frame.select("store_id").with_columns(pl.Series("_h", frame.hash_rows(seed=1)))
    grouped = hashed.group_by("store_id").agg(pl.col("_h").sort())
    out: dict[str, str] = {}
    for store, hashes in grouped.iter_rows():
        digest = hashlib.sha256(np.asarray(hashes, dtype=np.uint64).tobytes()).hexdigest()
        out[str(store)] = digest
    return out


def fingerprint(
    params: ReportParams, *, rows: str, inputs: Mapping[str, object], as_of_given: bool
) -> str:
    """The one freshness rule: a report is current when its sidecar records this digest.

    Everything the page depends on: the store's rows, its other inputs (:func:`inputs_of`: the
    peers it is compared with and what the configuration or stores.toml gave for it), every
    parameter (language, window, target, observed values, store-id and skip options), the rules
    file's content, the notebook and the versions. ``as_of`` counts only when the user gave it: a
    report made "now" stays current until its data, peers or options change, so an interrupted
    batch resumes and an email reuses the morning's report; a report for an explicit as-of is
    never reused for another. The batch, ``aftersales report`` and ``aftersales email`` all call
    this, so none of them can reuse a page another would have rendered differently.
    """
    import polars as pl

    as_of = ""
    if as_of_given and params.as_of:
        # "2026-04-01 09:00" and "2026-04-01 09:00:00" are the same moment
        try:
            as_of = datetime.fromisoformat(params.as_of.strip()).isoformat(sep=" ")
        except ValueError:
            as_of = params.as_of
    shown = dataclasses.asdict(params) | {
        "as_of": as_of,
        "data": "",  # the rows digest covers the data, wherever it is
        "cache": "",
        "rules": "",  # the rules file's content counts, not its path
    }
    payload = {
        "rows": rows,
        "params": shown,
        "inputs": dict(inputs),
        "rules": file_digest(params.rules),
        "notebook": file_digest(NOTEBOOK),
        "version": __version__,
        "polars": pl.__version__,
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def inputs_of(diagnosis: Diagnosis) -> dict[str, object]:
    """What a store's page depends on besides its rows and the run's parameters: the peers it is
    compared with and every per-store input from the configuration or stores.toml (star, rank
    rates, the published 风向标 figure, the peer mean, staff masking). A batch's parameters are the
    same for every store, so without these a star added to stores.toml left the page "current"."""
    rec = diagnosis.reconciliation
    views = diagnosis.views
    return {
        "median": diagnosis.peer_median_hours,
        "count": diagnosis.peer_count,
        "observed": dict(sorted(diagnosis.observed.items())),
        "published_hours": None if rec is None else rec.published_hours,
        "peer_hours": None if views is None else views.peer_hours,
        "staff_masked": False if views is None else views.staff_masked,
        "target_hours": diagnosis.target_hours if diagnosis.target_given else None,
        # Estate facts the page shows (aftersales_kit.estate): 数据过期 against the newest
        # store, the old-data notice, which alert rules the estate's columns allow, and JD's
        # whole-hour rounding (the reconciliation's tolerance).
        "store_name": diagnosis.store_name,
        "data_stale": diagnosis.data_stale,
        "as_of_source": diagnosis.as_of_source,
        "data_old": (diagnosis.data_age_hours or 0.0) > 48,
        "rules_available": _rules_available(diagnosis),
        "jd_matched": None
        if diagnosis.jd_check is None
        else [diagnosis.jd_check.compared, diagnosis.jd_check.matched],
    }


def _rules_available(diagnosis: Diagnosis) -> list[str]:
    alerts = diagnosis.alerts
    if "available" not in alerts.columns or not alerts.columns:
        return []
    key = alerts.columns[0]
    return sorted(str(r[key]) for r in alerts.iter_rows(named=True) if r["available"])


class Sidecar(TypedDict, total=False):
    """The JSON written beside each report (``<start>_<end>.json``) by report, batch and email.

    :func:`sidecar` fills every key; they are optional because a file on disk may come from an
    older version (readers use ``.get``).
    """

    #: :func:`fingerprint` of what the page was rendered from
    fingerprint: str
    #: the toolkit version that wrote it
    version: str
    lang: str
    #: the diagnosis' as-of moment, ``YYYY-MM-DD HH:MM:SS``
    rendered_at: str
    #: ``portfolio.store_summary``: the store's row of ``index.html`` (JSON values)
    summary: portfolio.StoreRow


def sidecar_path(html_path: Path) -> Path:
    return html_path.with_suffix(SIDECAR_SUFFIX)


def read_sidecar(html_path: Path) -> Sidecar | None:
    """The sidecar beside ``html_path``; ``None`` when missing or not a JSON object."""
    try:
        data = json.loads(sidecar_path(html_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    # JSON boundary: written by write_sidecar; readers use .get() for every key
    return cast("Sidecar", data) if isinstance(data, dict) else None


def is_current(html_path: Path, *, digest: str) -> bool:
    """The HTML exists and its sidecar records ``digest``."""
    side = read_sidecar(html_path)
    return html_path.exists() and side is not None and side.get("fingerprint") == digest


def sidecar(
    diagnosis: Diagnosis, *, html_path: Path, out_dir: Path, digest: str, lang: str
) -> Sidecar:
    """The sidecar JSON: the fingerprint plus the store's portfolio summary for ``index.html``."""
    rel = Path(os.path.relpath(html_path, out_dir)).as_posix()
    return {
        "fingerprint": digest,
        "version": __version__,
        "lang": lang,
        "rendered_at": diagnosis.as_of.isoformat(sep=" "),
        "summary": portfolio.store_summary(diagnosis, report=rel),
    }


def write_sidecar(html_path: Path, data: Sidecar) -> Path:
    """Written last, after the HTML: a sidecar only ever vouches for a complete report."""
    text = json.dumps(dict(data), ensure_ascii=False, indent=1, default=str)
    return atomic_write(sidecar_path(html_path), data=text.encode("utf-8"))


# --- one store from the command line --------------------------------------------------------------


def demo_data() -> Path:
    """The demo parquet (generated when missing), where the notebook's demo default finds it."""
    from aftersales_kit.demo.simulate import ensure_demo

    return ensure_demo()


def render_store(
    params: ReportParams,
    *,
    out_dir: str | Path = Path("reports"),
    config: str | Path | None = None,
    as_of_given: bool | None = None,
    on_notice: Callable[[str], object] | None = None,
    cache_dir: Path | None = None,
) -> Path:
    """Load and diagnose the store here (as the batch does), then render it from that diagnosis.

    ``on_notice`` receives the one-line "old data" notice (DOMAIN §2 "Data as of"), if any.
    ``cache_dir``: reuse spreadsheets parsed before (:mod:`aftersales_kit.parse_cache`).

    The loader's options (``store_id``, ``skip_bad_rows``, the config's header aliases) thus
    apply exactly as in ``validate`` and the batch, the pickled diagnosis stays in a private
    temporary folder, and the sidecar with the shared :func:`fingerprint` is written beside the
    report so that ``batch`` and ``email`` know whether it is current.
    """
    given = bool(params.as_of) if as_of_given is None else as_of_given
    params = _fixed_now(params)
    out = writable_dir(out_dir)
    safe_store(params.store)  # refused before any kernel starts
    engine_kwargs: EngineOptions = {"kernel_env": report_env(config=config)}
    with _kernel(None, engine_kwargs) as engine_name:
        if not params.data:
            params = dataclasses.replace(params, data=(str(demo_data()),))
        # Without --as-of the run's clock decides (an old download is diagnosed as of its data).
        asked = params if given else dataclasses.replace(params, as_of="")
        diagnosis, rows, window, rules = _diagnose_one(
            asked, config=config, out=out, cache_dir=cache_dir
        )
        from aftersales_kit.text import data_notice_both

        notice = data_notice_both(diagnosis)
        if notice and on_notice is not None:
            on_notice(notice)
        params = dataclasses.replace(
            params,
            start=window.start.isoformat(),
            end=window.end.isoformat(),
            as_of=diagnosis.as_of.isoformat(sep=" "),
        )
        digest = fingerprint(params, rows=rows, inputs=inputs_of(diagnosis), as_of_given=given)
        html_path = _render_diagnosis(
            diagnosis, params, rules=rules, out=out, engine_name=engine_name, **engine_kwargs
        )
        side = sidecar(diagnosis, html_path=html_path, out_dir=out, digest=digest, lang=params.lang)
        try:
            write_sidecar(html_path, side)
        except OSError as exc:
            raise _write_error(sidecar_path(html_path), exc) from None
    return html_path


def _diagnose_one(
    params: ReportParams,
    *,
    config: str | Path | None,
    out: Path | None = None,
    cache_dir: Path | None = None,
) -> tuple[Diagnosis, str, Window, Rules]:
    """(Diagnosis, rows digest, window, rules) of ``params.store``, compared with every store of
    the data.

    The API's one load → window → diagnose sequence (:func:`aftersales_kit.pipeline.diagnose_data`):
    the command line wins, a ``[stores]`` entry of the store fills what it does not give.
    """
    from aftersales_kit.pipeline import diagnose_data

    computed = diagnose_data(
        list(params.data),
        stores=[params.store],
        start=params.start or None,
        end=params.end or None,
        rules=params.rules or None,
        as_of=params.as_of or None,
        target_hours=params.target_hours or None,
        star=params.star or None,
        aftersales_rank=None if params.aftersales_rank < 0 else params.aftersales_rank,
        dispute_rank=None if params.dispute_rank < 0 else params.dispute_rank,
        store_id=params.store_id or None,
        skip_bad_rows=params.skip_bad_rows,
        published_hours=params.published_hours or None,
        config=config,
        cache_dir=cache_dir,
    )
    digests = store_digests(computed.frame)
    if out is not None:  # the estate figures beside the reports, as the batch writes them
        from aftersales_kit import estate

        estate.ensure(
            out,
            computed.frame,
            window=computed.window,
            rules=computed.rules,
            digests=digests,
            groups=estate.groups_of(computed.inputs.entries),
        )
    return (
        computed.diagnoses[params.store],
        digests.get(params.store, ""),
        computed.window,
        computed.rules,
    )


def handoff(diagnosis: Diagnosis, *, path: Path, rules: Rules | None = None) -> Path:
    """Write ``diagnosis`` for a report kernel: the one hand-off of a diagnosis already computed
    to the store notebook (the report, the batch, the email and ``Diagnosis.to_html``).

    ``path`` lies in the toolkit's private folder (:func:`private_dir`; :func:`check_cache`
    refuses any other, since unpickling runs code). The pickle is ``(diagnosis, rules)``: the
    data type (:class:`aftersales_kit.model.Diagnosis`) without the per-order frame, which no
    page shows, and the rules it was computed with (``None``: the kernel reads the notebook's
    ``rules`` parameter; given, the kernel does not parse and validate the rules file again).
    """
    import pickle

    import polars as pl

    from aftersales_kit.model import Diagnosis as Data

    data = Data(**{**vars(diagnosis), "orders": pl.DataFrame()})
    atomic_write(path, data=pickle.dumps((data, rules), protocol=pickle.HIGHEST_PROTOCOL))
    return path


def _render_diagnosis(
    diagnosis: Diagnosis,
    params: ReportParams,
    *,
    rules: Rules,
    out: Path,
    engine_name: str,
    **engine_kwargs: Unpack[EngineOptions],
) -> Path:
    """Render ``params.store`` from ``diagnosis``, handed to the notebook (:func:`handoff`)."""
    with private_dir("report") as tmp:
        cache = handoff(diagnosis, path=tmp / "diagnosis.pkl", rules=rules)
        return _render(
            dataclasses.replace(params, cache=str(cache)),
            store_dir=out / safe_store(params.store),
            out_dir=out,
            engine_name=engine_name,
            **engine_kwargs,
        )


def render_executed(notebook: str | Path, *, out: str | Path | None = None) -> Path:
    """The report page of an executed store notebook (papermill by hand, or saved from Lab):
    the same exporter and template as ``aftersales report``; written to ``out`` (default: the
    notebook's path with ``.html``).

    Examples
    --------
    >>> render_executed("work/store_report.ipynb")  # doctest: +SKIP
    PosixPath('work/store_report.html')
    """
    import nbformat

    path = Path(notebook)
    if not path.is_file():
        msg = f"笔记本不存在 (notebook not found): {path}"
        raise UsageError(msg)
    try:
        nb = _read_notebook(path)
    except (OSError, ValueError, nbformat.ValidationError) as exc:
        msg = f"无法读取笔记本 (cannot read the notebook) {path}: {exc}"
        raise ReportError(msg) from exc
    outputs = [o for c in nb.cells if c.get("cell_type") == "code" for o in c.get("outputs", [])]
    if not outputs:
        msg = (
            f"笔记本没有输出 (the notebook has no outputs): {path}; "
            "提示 (hint): 先运行它 (run it first: Run All, or papermill)"
        )
        raise ReportError(msg)
    meta: Mapping[str, object] = next(
        (o["data"][META_MIME] for o in outputs if META_MIME in o.get("data", {})),
        {},
    )
    lang = str(meta.get("lang") or "zh")
    html = export_html(nb, lang=lang if lang in {"zh", "en"} else "zh")
    target = Path(out) if out else path.with_suffix(".html")
    try:
        atomic_write(target, data=html)
    except OSError as exc:
        raise _write_error(target, exc) from exc
    return target
