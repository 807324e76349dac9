"""`make notebook` as an analyst uses it, in headless Chromium (every request outside loopback
blocked): Lab opens the working folder (copies of the templates), the templates the command line
executes cannot be changed from Lab, and every report output renders on its own — after Run All,
after a page reload, in a second tab, in JupyterLab Dark (text contrast ≥ 4.5:1) and in an
untrusted executed notebook (a readable static view with the hint to trust it)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from chromium import ARGS, CHROMIUM, block_outside
from net import free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "aftersales-lab-test"
#: text of the report that must stay readable in any theme (WCAG AA for normal text: 4.5:1)
READABLE = (
    ".aftersales-view .report-h2",
    ".aftersales-view .kpi__value",
    ".aftersales-view .kpi__label",
    ".aftersales-view .report-callout",
    ".aftersales-view .report-table td",
    ".aftersales-view .report-table th",
    ".aftersales-view .gt_row",
)
CONTRAST_JS = """(selectors) => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = (c) => {
    const f = (v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  const root = window.jupyterapp.shell.currentWidget.node;
  for (const sel of selectors) {
    for (const el of root.querySelectorAll(sel)) {
      if (!el.offsetParent || !el.textContent.trim()) continue;
      const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      out.push([sel, ratio, el.textContent.trim().slice(0, 30)]);
    }
  }
  return out;
}"""
#: every chart of the page drawn: the interactive SVG/canvas, or the static picture loaded
DRAWN_JS = """() => {
  const root = window.jupyterapp.shell.currentWidget.node;
  const charts = Array.from(root.querySelectorAll('.report-chart'));
  const drawn = charts.filter((el) => el.querySelector('svg, canvas')
    || Array.from(el.querySelectorAll('img')).some((i) => i.complete && i.naturalWidth > 0));
  return [charts.length, drawn.length];
}"""
#: in the notebook on screen: (KPI grid display, hint shown, tables, scripts kept in outputs)
STATE_JS = """() => {
  const root = window.jupyterapp.shell.currentWidget.node;
  const grid = root.querySelector('.kpi-grid');
  const hint = root.querySelector('.aftersales-hint');
  return [grid ? getComputedStyle(grid).display : null,
          hint ? getComputedStyle(hint).display !== 'none' : null,
          hint ? hint.textContent : '',
          root.querySelectorAll('.jp-OutputArea table').length,
          root.querySelectorAll('.jp-OutputArea script').length];
}"""
#: the last section rendered in the notebook on screen (sanitizing renames id to data-jupyter-id)
LAST_JS = (
    # the page may still be loading (after a reload): no app yet is "not yet", not an error
    "(() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
    " return w && w.node"
    '.querySelectorAll(\'[id="sec-views"], [data-jupyter-id="sec-views"]\').length > 0; })()'
)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`make notebook` itself, with its working folder in a temporary directory."""
    root = tmp_path_factory.mktemp("lab")
    work = root / "work"
    port = free_port()
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        "JUPYTER_DATA_DIR": str(root / "data"),  # a fresh trust database
        "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"),  # the theme choice stays here
        "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"),
    }
    env.pop("AFTERSALES_REPORT", None)
    args = " ".join(
        [
            "--no-browser",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={TOKEN}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
    )
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(
        ["make", "-s", "notebook", f"PORT={port}", f"WORK={work}", f"JUPYTER_ARGS={args}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # make and Jupyter in one process group, ended together below
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=1)
                break
            except OSError:
                time.sleep(0.25)
        else:
            pytest.fail((root / "server.log").read_text())
        yield base, work
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
        text = (root / "server.log").read_text()
        assert "Overriding existing pre_save_hook" not in text  # the config loads cleanly


def _api(base: str, path: str, *, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{base}/api/contents/{path}?token={TOKEN}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_make_notebook_opens_copies_and_lab_cannot_change_the_templates(
    lab: tuple[str, Path], tmp_path: Path
) -> None:
    base, work = lab
    template = ROOT / "notebooks" / "store_report.ipynb"
    before = _digest(template)
    listed = {item["name"] for item in _api(base, "")["content"]}
    assert {"store_report.ipynb", "portfolio.ipynb", "explore.ipynb"} <= listed
    assert _digest(work / "store_report.ipynb") == before  # a copy of the template

    # what autosave does after an edit: a scratch print and a typo in the analyst's copy
    model = _api(base, "store_report.ipynb")
    code = [c for c in model["content"]["cells"] if c["cell_type"] == "code"]
    code[-1]["source"] = "print('scratch')\nsections.stagez\n" + "".join(code[-1]["source"])
    code[-1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "kept\n"}]
    _api(base, "store_report.ipynb", method="PUT", body={"type": "notebook", **model})
    saved = nbformat.read(work / "store_report.ipynb", as_version=4)
    assert any(c.get("outputs") for c in saved.cells)  # the working copy keeps its outputs
    # the templates are outside the server's root: no path reaches them
    with pytest.raises(urllib.error.HTTPError):
        _api(base, "../notebooks/x.ipynb", method="PUT", body={"type": "notebook", **model})

    assert _digest(template) == before
    out = subprocess.run(
        [sys.executable, "-m", "aftersales_kit", "report", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    executed = nbformat.read(Path(out.stdout.strip()).with_suffix(".ipynb"), as_version=4)
    text = json.dumps([c.get("outputs", []) for c in executed.cells])
    assert "scratch" not in text and "stagez" not in json.dumps([c.source for c in executed.cells])
    # a second `make notebook` never overwrites the analyst's copy
    subprocess.run(
        ["make", "-s", "notebook", f"WORK={work}", "JUPYTER_ARGS=--version"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=120,
    )
    assert "stagez" in (work / "store_report.ipynb").read_text(encoding="utf-8")
    (work / "store_report.ipynb").write_bytes(template.read_bytes())  # for the next test


def _open(page: Any, base: str, name: str) -> None:
    page.goto(f"{base}/lab/tree/{name}?token={TOKEN}")
    # the notebook asked for is on screen and loaded (not one the workspace restored)
    page.wait_for_function(
        "(name) => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
        " return w && w.context && w.context.path === name && w.context.isReady"
        " && w.node.querySelector('.jp-Notebook') !== null; }",
        arg=name,
        timeout=60_000,
    )


def _wait_idle(page: Any) -> None:
    page.wait_for_function(
        "(() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
        " return w && w.sessionContext && w.sessionContext.session"
        " && w.sessionContext.session.kernel"
        " && w.sessionContext.session.kernel.status === 'idle'; })()",
        timeout=60_000,
    )


def _run_all(page: Any) -> None:
    _wait_idle(page)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(LAST_JS, timeout=90_000)
    _wait_idle(page)


def _assert_rendered(page: Any, *, styled: bool) -> None:
    page.wait_for_function(
        f"(({DRAWN_JS})()[0] >= 6) && (({DRAWN_JS})()[0] === ({DRAWN_JS})()[1])",
        timeout=30_000,
    )
    assert page.locator(".vega-error").count() == 0
    grid, hint_shown, hint, tables, scripts = page.evaluate(STATE_JS)
    assert tables >= 5
    if styled:
        assert grid == "grid" and hint_shown is False
    else:
        # sanitized: no styles, no scripts, yet readable, and the one line saying to trust it
        assert hint_shown is True and "Trust Notebook" in hint, (grid, hint_shown, hint)
        assert scripts == 0


def _assert_readable(page: Any) -> list[list[Any]]:
    found = page.evaluate(CONTRAST_JS, list(READABLE))
    kinds = {sel for sel, _ratio, _text in found}
    assert len(kinds) >= 5, kinds
    low = [row for row in found if row[1] < 4.5]
    assert not low, low[:10]
    return list(found)


@pytest.mark.slow
@pytest.mark.browser
def test_every_output_renders_on_its_own_in_any_page(lab: tuple[str, Path]) -> None:
    from playwright.sync_api import sync_playwright

    base, work = lab
    assert Path(CHROMIUM).exists(), "needs Debian's chromium (make sysdeps)"
    external: list[str] = []

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        block_outside(context, allowed=(base, "data:", "blob:"), external=external)
        page = context.new_page()
        _open(page, base, "store_report.ipynb")
        _run_all(page)
        _assert_rendered(page, styled=True)
        _assert_readable(page)
        page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
        page.wait_for_function(
            "!window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000
        )

        # the kernel lives on; a reloaded page renders the saved outputs, then Run All again
        page.reload()
        page.wait_for_function(LAST_JS, timeout=60_000)
        _assert_rendered(page, styled=True)
        _run_all(page)
        _assert_rendered(page, styled=True)

        # a second tab on the same notebook and kernel
        second = context.new_page()
        _open(second, base, "store_report.ipynb")
        second.wait_for_function(LAST_JS, timeout=60_000)
        _assert_rendered(second, styled=True)

        # JupyterLab Dark: the report keeps its own readable colours
        second.evaluate(
            "window.jupyterapp.commands.execute('apputils:change-theme',"
            " {theme: 'JupyterLab Dark'})"
        )
        second.wait_for_function(
            "document.body.dataset.jpThemeLight === 'false'", timeout=30_000
        )  # fmt: skip
        second.wait_for_timeout(500)  # the theme's stylesheet applied
        found = _assert_readable(second)
        assert any(sel.endswith("kpi__value") for sel, _r, _t in found)
        second.close()

        # an executed notebook from elsewhere is untrusted: a readable static view and the hint
        executed = nbformat.read(work / "store_report.ipynb", as_version=4)
        assert any(c.get("outputs") for c in executed.cells)  # saved with its outputs
        executed.metadata["copied"] = True  # another file's signature: not trusted here
        nbformat.write(executed, work / "untrusted.ipynb")
        _open(page, base, "untrusted.ipynb")
        page.wait_for_function(LAST_JS, timeout=60_000)
        _assert_rendered(page, styled=False)
        _assert_readable(page)
        browser.close()
    assert not external, external
