"""Jupyter server configuration of ``make notebook``: templates in notebooks/ stay output-free.

``make notebook`` roots Lab at the working folder ``work/`` (copies of the templates, outputs
kept), so Lab cannot reach ``notebooks/``, the templates ``aftersales report`` executes. As a
second guard, when a server with this configuration is rooted higher up (the repository), the
contents manager's ``pre_save_hook`` strips outputs and execution counts of every notebook saved
inside ``notebooks/``; notebooks saved anywhere else keep their outputs.
"""

from __future__ import annotations

import os
import warnings
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


# Jupyter applies this file's configuration to the contents manager twice (server and Lab
# extension); the second, identical assignment is not an override worth a warning.
warnings.filterwarnings("ignore", message=r"Overriding existing pre_save_hook \(strip_outputs\)")

c = get_config()  # type: ignore[name-defined]  # noqa: F821 -- provided by the Jupyter config loader
c.ContentsManager.pre_save_hook = strip_outputs
