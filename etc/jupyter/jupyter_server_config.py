"""Jupyter server configuration of ``make notebook``: templates in notebooks/ stay output-free.

Lab autosaves every two minutes; without this hook an executed report (about 1 MB of outputs,
the inlined chart library among them) would be written into the template that papermill runs.
The contents manager's ``pre_save_hook`` strips outputs and execution counts of every notebook
saved inside ``notebooks/``; notebooks saved anywhere else keep their outputs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: the folder whose notebooks are templates (resolved against the server's root directory)
TEMPLATES_DIR = Path(
    os.environ.get("AFTERSALES_NOTEBOOKS") or Path(__file__).resolve().parents[2] / "notebooks"
)


def strip_outputs(model: dict[str, Any], path: str, contents_manager: Any, **_kwargs: Any) -> None:
    """Remove outputs of a notebook saved under :data:`TEMPLATES_DIR` (the model is changed
    in place, before it is written)."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    root = Path(getattr(contents_manager, "root_dir", ".")).resolve()
    target = (root / path.lstrip("/")).resolve()
    if not target.is_relative_to(TEMPLATES_DIR.resolve()):
        return
    for cell in model["content"].get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell.get("metadata", {}).pop("execution", None)


c = get_config()  # type: ignore[name-defined]  # noqa: F821 -- provided by the Jupyter config loader
c.ContentsManager.pre_save_hook = strip_outputs
