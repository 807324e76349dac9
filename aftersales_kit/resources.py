"""Where the notebooks and nbconvert templates are: inside an installed wheel or in a checkout.

The source layout keeps ``notebooks/`` and ``templates/`` at the top of the repository (the layout
analysts open in Jupyter). The wheel carries both inside the package (``aftersales_kit/notebooks``,
``aftersales_kit/templates``, see ``[tool.setuptools]`` in pyproject.toml), so ``pip install .``
renders reports from any working directory. :func:`resource_dir` is the one lookup every module
uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from aftersales_kit.errors import ReportError

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
