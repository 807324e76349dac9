"""Where the notebooks and nbconvert templates are: inside an installed wheel or in a checkout.

The source layout keeps ``notebooks/`` and ``templates/`` at the top of the repository (the layout
analysts open in Jupyter). The wheel carries both inside the package (``aftersales_kit/notebooks``,
``aftersales_kit/templates``, see ``[tool.setuptools]`` in pyproject.toml), so ``pip install .``
renders reports from any working directory. :func:`resource_dir` is the one lookup every module
uses.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal

from aftersales_kit.errors import ReportError
from aftersales_kit.files import atomic_write

PACKAGE = Path(__file__).resolve().parent
Kind = Literal["notebooks", "templates"]


def resource_dir(kind: Kind) -> Path:
    """The ``notebooks`` or ``templates`` folder: the wheel's copy in the package, else the
    checkout's top-level folder (an editable install or a plain ``sys.path`` checkout)."""
    for candidate in (PACKAGE / kind, PACKAGE.parent / kind):
        if candidate.is_dir():
            return candidate
    msg = (
        f"找不到 {kind}/ 文件夹 (the {kind}/ folder is missing): 既不在 {PACKAGE} 中也不在"
        f" {PACKAGE.parent} 中; 请重新安装 aftersales-kit (reinstall the package)"
    )
    raise ReportError(msg)


def notebook(name: str) -> Path:
    """A packaged notebook by file name, e.g. ``notebook("store_report.ipynb")``."""
    return resource_dir("notebooks") / name


def checkout_root() -> Path | None:
    """The source checkout this package runs from, or None for an installed wheel."""
    root = PACKAGE.parent
    return root if (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir() else None


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
    # the stub makes ``snippet`` required; the runtime default (globals on window) is the one used
    text = vl_convert.javascript_bundle()  # type: ignore[call-arg]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data=text)
    except OSError:
        pass  # a read-only home only costs the rebuild next time
    return text
