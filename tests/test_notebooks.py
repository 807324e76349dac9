"""The notebooks as an analyst uses them (issue 12): all three run with their defaults, every
output is self-contained, an executed notebook renders as the command line's page, and a server
rooted above notebooks/ keeps them output-free on save. In JupyterLab itself: tests/test_lab.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from net import free_port

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ("store_report.ipynb", "portfolio.ipynb", "explore.ipynb")
TOKEN = "aftersales-test"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_are_committed_output_free(name: str) -> None:
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, name


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_with_defaults(name: str, tmp_path: Path) -> None:
    env_flag = os.environ.pop("AFTERSALES_REPORT", None)  # as in a plain Jupyter session
    try:
        nb = pm.execute_notebook(
            str(ROOT / "notebooks" / name),
            str(tmp_path / name),
            kernel_name="python3",
            cwd=str(ROOT / "notebooks"),  # where Jupyter starts kernels for these files
            progress_bar=False,
            execution_timeout=300,
            parameters={"out_dir": str(tmp_path)} if name == "explore.ipynb" else {},
        )
    finally:
        if env_flag is not None:
            os.environ["AFTERSALES_REPORT"] = env_flag
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o for o in outputs if "text/html" in o.get("data", {})]
    assert html and all("text/plain" in o["data"] for o in html)  # text/plain beside HTML
    # every view carries its own scoped CSS, and every chart its static picture: no output
    # depends on an earlier one (a page reload, a second tab, an untrusted notebook)
    for out in html:
        view = out["data"]["text/html"]
        if "report-chart" in view or "kpi" in view:
            assert view.startswith('<div class="aftersales-view"><style>'), view[:200]
            assert view.count('class="report-chart"') == view.count(
                '<img class="report-chart__static"'
            )
    if name == "store_report.ipynb":
        _executed_notebook_renders_the_cli_page(tmp_path / name, tmp_path)


def _page_outline(html: str) -> tuple[list[str], int, str]:
    """What makes two report pages "the same page": the sections in order, the charts, the h1."""
    sections = re.findall(r'<section class="report-section" id="([^"]+)"', html)
    h1 = re.search(r"<h1>(.*?)</h1>", html, flags=re.DOTALL)
    return sections, html.count('class="report-chart"'), h1.group(1) if h1 else ""


def _executed_notebook_renders_the_cli_page(executed: Path, tmp_path: Path) -> None:
    """An executed notebook (papermill by hand) through `aftersales render` and through stock
    `jupyter nbconvert --template aftersales` gives the page `aftersales report` writes: the same
    header, sections and charts, no code cells, no parameters."""
    env = {k: v for k, v in os.environ.items() if k != "AFTERSALES_REPORT"}
    env["JUPYTER_CONFIG_PATH"] = str(ROOT / "etc" / "jupyter")
    nbconvert = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--template",
         "aftersales", "--output", "stock.html", "--output-dir", str(tmp_path), str(executed)],
        capture_output=True, text=True, timeout=300, check=False, env=env,
    )  # fmt: skip
    assert nbconvert.returncode == 0, nbconvert.stderr[-2000:]
    rendered = subprocess.run(
        [sys.executable, "-m", "aftersales_kit", "render", str(executed), "--out",
         str(tmp_path / "render.html")],
        capture_output=True, text=True, timeout=300, check=False, env=env,
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    assert rendered.stdout.strip() == str(tmp_path / "render.html")
    cli = subprocess.run(
        [sys.executable, "-m", "aftersales_kit", "report", "--out", str(tmp_path / "cli")],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr[-2000:]
    expected = _page_outline(Path(cli.stdout.strip()).read_text(encoding="utf-8"))
    assert len(expected[0]) >= 14 and expected[1] >= 4 and "1000101" in expected[2]
    for page in (tmp_path / "stock.html", tmp_path / "render.html"):
        html = page.read_text(encoding="utf-8")
        assert _page_outline(html) == expected, page.name
        assert "built-in method" not in html and "aftersales-view" not in html
        assert "sections." not in html and "hl-ipython3" not in html  # no code cells
        assert "store: str" not in html  # no parameters cell
        assert html.count("vegaEmbed=") <= 1 and "cdn.jsdelivr" not in html


# --- a running Jupyter server with the project configuration --------------------------------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """JupyterLab on a copy of the repository's notebooks with etc/jupyter's configuration."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    port = free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_PATH": str(ROOT / "etc" / "jupyter"),
        "AFTERSALES_NOTEBOOKS": str(root / "notebooks"),
        "JUPYTER_RUNTIME_DIR": str(root / ".runtime"),
    }
    env.pop("AFTERSALES_REPORT", None)
    argv = [
        str(Path(sys.executable).with_name("jupyter")),
        "lab",
        "--no-browser",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={TOKEN}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "getuid") and os.getuid() == 0:
        argv.append("--allow-root")
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail((root / "server.log").read_text())
        yield base, root
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _put(base: str, path: str, nb: nbformat.NotebookNode) -> None:
    body = json.dumps({"type": "notebook", "format": "json", "content": nb}).encode()
    request = urllib.request.Request(
        f"{base}/api/contents/{path}?token={TOKEN}",
        data=body,
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=30).read()


@pytest.mark.slow
def test_saving_through_the_server_strips_outputs_in_notebooks(lab: tuple[str, Path]) -> None:
    base, root = lab
    nb = nbformat.read(ROOT / "notebooks" / "store_report.ipynb", as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * 1000)]
    code.execution_count = 7
    _put(base, "notebooks/saved.ipynb", nb)
    _put(base, "elsewhere.ipynb", nb)
    on_disk = nbformat.read(root / "notebooks" / "saved.ipynb", as_version=4)
    assert all(
        c.outputs == [] and c.execution_count is None
        for c in on_disk.cells
        if c.cell_type == "code"
    )
    kept = nbformat.read(root / "elsewhere.ipynb", as_version=4)
    assert any(c.get("outputs") for c in kept.cells)  # executed copies elsewhere keep outputs
