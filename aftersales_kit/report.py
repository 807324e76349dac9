"""Render one store's diagnosis report: papermill runs the notebook, nbconvert exports offline HTML.

The steps read as the pipeline (papermill's ``execute_notebook`` is the model): validate the
parameters → choose the output path → execute ``notebooks/store_report.ipynb`` → export it with the
``templates/aftersales`` template → write the HTML and the executed notebook atomically. A failed
cell keeps the executed notebook (papermill marks the failing cell) and raises :class:`ReportError`.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import os
import re
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aftersales_kit import __version__
from aftersales_kit.errors import ReportError, UsageError
from aftersales_kit.files import atomic_write

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "store_report.ipynb"
TEMPLATES = ROOT / "templates"
TEMPLATE_NAME = "aftersales"
DEMO_STORE = "1000101"
# = sections.META_MIME / BUNDLE_TAG (repeated so this module imports no polars/altair)
META_MIME = "application/vnd.aftersales.report+json"
BUNDLE_TAG = "aftersales_vega_bundle"
#: set in the kernel's environment so the notebook knows the template supplies the vega bundle.
ENV_FLAG = "AFTERSALES_REPORT"
#: modules a new kernel imports before its first notebook (what the store notebook imports).
WARM_IMPORTS = (
    "polars",
    "altair",
    "great_tables",
    "aftersales_kit.charts",
    "aftersales_kit.sections",
    "aftersales_kit.diagnose",
    "aftersales_kit.load",
)
_SAFE_STORE = re.compile(r"^[\w][\w.\-]{0,99}$")  # \w is Unicode: 旗舰店 ids are fine


@dataclass(frozen=True)
class ReportParams:
    """The notebook's parameters (names match the CLI options); build once, never mutate.

    ``data`` is kept as a tuple (hashable); :meth:`as_papermill` turns it into the list papermill
    needs. Numeric "not given" markers follow the notebook: 0 for ``target_hours``/``star``, -1 for
    the rank rates.
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

    def __post_init__(self) -> None:
        if isinstance(self.data, str | Path):
            object.__setattr__(self, "data", (str(self.data),))
        else:
            object.__setattr__(self, "data", tuple(str(p) for p in self.data))
        if self.lang not in {"zh", "en"}:
            msg = f"不支持的语言 (unsupported lang): {self.lang!r}; 可选 (allowed): zh, en"
            raise UsageError(msg)

    def as_papermill(self) -> dict[str, object]:
        """Plain str/float/list values, as papermill's Python translator expects (TOOLING §1.2)."""
        values = dataclasses.asdict(self)
        values["data"] = list(self.data)
        for name in ("target_hours", "star", "aftersales_rank", "dispute_rank"):
            values[name] = float(values[name])
        return values


# --- paths --------------------------------------------------------------------------------------


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


def report_path(out_dir: str | Path, *, store: str, window: Any) -> Path:
    """``out_dir/<store>/<start>_<end>.html``; unsafe store ids (``../``, ``/``, NUL …) refused."""
    return (
        Path(out_dir)
        / safe_store(store)
        / f"{window.start.isoformat()}_{window.end.isoformat()}.html"
    )


# --- execute ------------------------------------------------------------------------------------


@functools.cache
def notebook_parameters(notebook: Path = NOTEBOOK) -> dict[str, Any]:
    """The parameters cell of ``notebook`` (``papermill.inspect_notebook``), cached per process."""
    _quiet_imports()
    import papermill as pm

    return pm.inspect_notebook(str(notebook))


def check_parameters(values: Mapping[str, object], *, notebook: Path = NOTEBOOK) -> None:
    """Refuse parameter names the notebook does not declare (papermill would only warn)."""
    declared = notebook_parameters(notebook)
    unknown = sorted(set(values) - set(declared))
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
    **engine_kwargs: Any,
) -> Any:
    """Run the report notebook with papermill and return the executed ``NotebookNode``.

    Unknown parameter names raise :class:`UsageError` before any kernel starts. Extra keyword
    arguments go to papermill / the engine (e.g. ``execution_timeout``, ``cwd``).
    """
    values = params.as_papermill() if isinstance(params, ReportParams) else dict(params)
    check_parameters(values, notebook=notebook)
    _quiet_imports()
    import papermill as pm
    from traitlets.config import Config

    from aftersales_kit.engine import kernel_transport

    os.environ[ENV_FLAG] = "1"  # inherited by the kernel: charts use the template's bundle
    options: dict[str, Any] = {
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
        "config": Config({"KernelManager": kernel_transport()}),
    }
    options.update(engine_kwargs)
    return pm.execute_notebook(
        str(notebook), str(output), parameters=values, engine_name=engine_name, **options
    )


def _quiet_imports() -> None:
    # jsonschema compiles the rfc3987_syntax grammar on import (~1.4 s) for IRI formats that
    # nbformat/nbconvert never check; skip it unless something already imported it.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


# --- export -------------------------------------------------------------------------------------

_export_lock = threading.Lock()


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aftersales-kit"


@functools.cache
def vega_bundle() -> str:
    """vega + vega-lite + vega-embed as one script (defines ``window.vegaEmbed``), ~0.9 MB.

    ``vl_convert.javascript_bundle()`` builds it from the installed package, which takes seconds,
    so the result is kept on disk per vl-convert version (a cache, never downloaded).
    """
    import vl_convert

    version = getattr(vl_convert, "__version__", "unknown")
    path = _cache_dir() / f"vega-bundle-{version}.js"
    try:
        text = path.read_text(encoding="utf-8")
        if "vegaEmbed" in text:
            return text
    except OSError:
        pass
    text = vl_convert.javascript_bundle()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data=text)
    except OSError:
        pass  # a read-only home only costs the rebuild next time
    return text


#: an output area's opening tag as nbconvert's lab template writes it (class attribute first).
_OUTPUT_DIV = re.compile(r'(<div class="[^"<>]*\bjp-OutputArea-output\b[^"<>]*"[^<>]*?)(/?)>')


def _focusable_outputs(html: str) -> str:
    """``tabindex="0"`` on every output area, as nbconvert's HTMLExporter adds it."""

    def add(match: re.Match[str]) -> str:
        tag = match.group(1)
        return match.group(0) if " tabindex=" in tag else f'{tag} tabindex="0"{match.group(2)}>'

    return _OUTPUT_DIV.sub(add, html)


@functools.cache
def _report_exporter_class() -> type:
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class ReportHTMLExporter(HTMLExporter):
        """HTMLExporter without its final BeautifulSoup pass.

        After rendering, nbconvert 7 parses the whole page with BeautifulSoup (html.parser) only to
        add ``alt`` to ``<img>`` tags and ``tabindex`` to input/output areas, then re-serialises it:
        0.5–1 s per report, more than the rest of the export. A report has no input areas
        (``exclude_input``) and no ``<img>`` outputs (charts are vega-embed, tables are HTML), so
        the same page is produced by adding the output areas' ``tabindex`` directly.
        """

        def from_notebook_node(  # type: ignore[override]
            self, nb: Any, resources: dict[str, Any] | None = None, **kw: Any
        ) -> tuple[str, dict[str, Any]]:
            # The filter set-up of HTMLExporter.from_notebook_node (nbconvert 7.17), minus the soup.
            langinfo = nb.metadata.get("language_info", {})
            lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
            highlight_code = self.filters.get(
                "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)
            )
            resources = self._init_resources(resources)
            filter_data_type = WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources
            )
            self.register_filter("highlight_code", highlight_code)
            self.register_filter("filter_data_type", filter_data_type)
            html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            return _focusable_outputs(html), resources

    return ReportHTMLExporter


@functools.cache
def _exporter(lang: str) -> Any:
    _quiet_imports()
    from traitlets.config import Config

    config = Config()
    config.TagRemovePreprocessor.remove_cell_tags = {
        "parameters",
        "injected-parameters",
        "remove_cell",
    }
    return _report_exporter_class()(
        config=config,
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        language_code=lang,
    )


def _take_meta(nb: Any) -> dict[str, Any] | None:
    """Remove the report-metadata (and any vega bundle) output from ``nb`` in place; return meta."""
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
                keep.append(out)
        if len(keep) != len(outputs):
            cell["outputs"] = keep
    return found


def _fallback_meta(nb: Any, lang: str) -> dict[str, Any]:
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


def export_html(nb: Any, *, lang: str = "zh") -> str:
    """The executed notebook as one self-contained HTML page (no code, no CDN, vega once)."""
    nb = copy.deepcopy(nb)
    meta = _take_meta(nb) or _fallback_meta(nb, lang)
    nb.metadata["title"] = f"{meta['title']} · {meta['store_name']} · {meta['window']}"
    resources = {"vega_bundle": vega_bundle(), "report": meta}
    exporter = _exporter(lang)
    with _export_lock:  # one shared exporter per language; its preprocessors are not reentrant
        body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body


# --- render -------------------------------------------------------------------------------------


def _window(params: ReportParams) -> Any:
    from aftersales_kit.rules import parse_as_of, parse_window
    from aftersales_kit.settings import load_rules

    rules = load_rules(params.rules or None)
    return parse_window(
        params.start or None,
        end=params.end or None,
        rules=rules,
        as_of=parse_as_of(params.as_of or None),
    )


def _failed_cell(nb_path: Path) -> str:
    """``#index `first line``` of the cell with an error output in the kept notebook."""
    import nbformat

    try:
        nb = nbformat.read(nb_path, as_version=4)
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


def render(
    params: ReportParams,
    *,
    out_dir: str | Path = Path("reports"),
    engine_name: str | None = None,
    **engine_kwargs: Any,
) -> Path:
    """Execute, export, write ``out_dir/<store>/<start>_<end>.html`` and the executed ``.ipynb``.

    Both files are written through a temporary file and ``os.replace``, so a reader never sees a
    half file. When a cell fails, the executed notebook (with papermill's error banner) is kept at
    the ``.ipynb`` path and :class:`ReportError` names the failing cell.

    Without ``engine_name`` the notebook runs on this process's warm kernel
    (:mod:`aftersales_kit.engine`), started at once so that its imports overlap the preparation
    here, and shut down afterwards unless it existed before the call.

    Examples
    --------
    >>> render(ReportParams(store="1000101"))  # doctest: +SKIP
    PosixPath('reports/1000101/2026-10-27_2026-11-25.html')
    """
    if not params.as_of:
        # Fix "now" once, so the notebook's window and the file name cannot straddle midnight.
        now = datetime.now(ZoneInfo("Asia/Shanghai")).replace(microsecond=0, tzinfo=None)
        params = dataclasses.replace(params, as_of=now.isoformat(sep=" "))
    store_dir = Path(out_dir) / safe_store(params.store)
    own_kernel = None
    if engine_name is None:
        # Start the kernel first and let it import the notebook's modules (~2 s together) while
        # this process imports papermill, checks the parameters and prepares the export. The
        # notebook then runs on that kernel through the warm engine, still by papermill.
        from aftersales_kit import engine

        _quiet_imports()
        os.environ[ENV_FLAG] = "1"  # before the kernel starts: it inherits the environment
        engine_kwargs.setdefault("warm_imports", WARM_IMPORTS)
        if not engine.has_kernel():
            # Everything the start thread imports is imported here first: two threads importing
            # jupyter_client's package at once can see a half-initialised module (ImportError).
            import jupyter_client  # noqa: F401
            import jupyter_core.paths
            import jupyter_core.utils  # noqa: F401
            import zmq  # noqa: F401

            own_kernel = _KernelStart(engine_kwargs["warm_imports"])
            own_kernel.start()
        engine_name = engine.register()  # imports papermill: after the kernel start is under way
    try:
        return _render(
            params,
            store_dir=store_dir,
            out_dir=Path(out_dir),
            engine_name=engine_name,
            **engine_kwargs,
        )
    finally:
        if own_kernel is not None:
            own_kernel.join()
            from aftersales_kit import engine

            engine.shutdown_kernel()


def _render(
    params: ReportParams, *, store_dir: Path, out_dir: Path, engine_name: str, **engine_kwargs: Any
) -> Path:
    check_parameters(params.as_papermill())
    # The window (rules → polars), nbconvert and the vega bundle load in a thread while the kernel
    # starts and runs: the main thread only waits on the kernel then (~1.5 s off one report).
    warm = _Warm(params, out_dir)
    warm.start()
    store_dir.mkdir(parents=True, exist_ok=True)
    tmp_nb = store_dir / f".running-{os.getpid()}-{threading.get_ident()}.ipynb"
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
        atomic_write(html_path, data=export_html(nb, lang=params.lang))
        os.replace(tmp_nb, html_path.with_suffix(".ipynb"))
    finally:
        tmp_nb.unlink(missing_ok=True)
    return html_path


class _KernelStart(threading.Thread):
    """Starts this process's warm kernel in the background; a failure is left to the engine,
    which retries the start when the notebook needs the kernel and reports it properly."""

    def __init__(self, warm_imports: Any) -> None:
        super().__init__(daemon=True)
        self.warm_imports = tuple(warm_imports)

    def run(self) -> None:
        from aftersales_kit import engine

        try:
            engine.prewarm(warm_imports=self.warm_imports)
        except Exception:  # the engine retries the start and reports its failure
            engine.logger.debug("background kernel start failed", exc_info=True)


class _Warm(threading.Thread):
    """Background preparation for :func:`render`; :meth:`html_path` joins and re-raises."""

    def __init__(self, params: ReportParams, out_dir: Path) -> None:
        super().__init__(daemon=True)
        self.params = params
        self.out_dir = out_dir
        self.window: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.window = _window(self.params)
            vega_bundle()
            # one throw-away export compiles the templates off the critical path
            import nbformat

            export_html(nbformat.v4.new_notebook(), lang=self.params.lang)
        except BaseException as exc:  # re-raised in the caller's thread by html_path()
            self.error = exc

    def html_path(self) -> Path:
        self.join()
        if self.error is not None:
            raise self.error
        return report_path(self.out_dir, store=self.params.store, window=self.window)


def command_report(args: argparse.Namespace) -> int:
    """``aftersales report [DATA...] --store ID …``: render and print the HTML path."""
    if getattr(args, "config", None):
        # The kernel's loader reads AFTERSALES_CONFIG (config.load_config); the notebook has no
        # config parameter because configuration is the operator's, not the report's.
        os.environ["AFTERSALES_CONFIG"] = str(Path(args.config).resolve())

    def given(value: float | None, missing: float) -> float:
        return missing if value is None else float(value)

    params = ReportParams(
        store=args.store or DEMO_STORE,
        start=args.start or "",
        end=args.end or "",
        data=tuple(str(Path(p).resolve()) for p in args.data),
        rules=str(Path(args.rules).resolve()) if args.rules else "",
        lang=args.lang,
        as_of=args.as_of or "",
        target_hours=given(args.target_hours, 0.0),
        star=given(args.star, 0.0),
        aftersales_rank=given(args.aftersales_rank, -1.0),
        dispute_rank=given(args.dispute_rank, -1.0),
    )
    print(render(params, out_dir=Path(args.out)), flush=True)
    # The command ends here: interpreter shutdown would otherwise garbage-collect every object of
    # ~1 300 modules (polars, nbconvert, papermill …), about 0.3 s of the merchant's wait.
    import gc

    gc.freeze()
    return 0
