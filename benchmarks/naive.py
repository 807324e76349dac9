"""The naive way to make one report, the baseline of the report and batch benchmarks.

Per store: the ``papermill`` CLI on ``notebooks/store_report.ipynb`` (a fresh kernel), then the
``jupyter nbconvert --to html --no-input`` CLI on its output (a fresh interpreter and exporter).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def naive_report(
    *, store: str, data: Path, as_of: str, work: Path, end: str | None = None
) -> float:
    """Seconds for the papermill CLI then the nbconvert CLI on one store."""
    nb = work / f"{store}.ipynb"
    window = ["-p", "end", end] if end else []
    started = time.perf_counter()
    subprocess.run(
        [
            str(BIN / "papermill"),
            str(ROOT / "notebooks" / "store_report.ipynb"),
            str(nb),
            "-k",
            "python3",
            "--no-progress-bar",
            "-p",
            "store",
            store,
            *window,
            "-p",
            "as_of",
            as_of,
            "-y",
            f"data: [{data}]",
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, "AFTERSALES_REPORT": "1"},
    )
    subprocess.run(
        [str(BIN / "jupyter"), "nbconvert", "--to", "html", "--no-input", str(nb)],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started
