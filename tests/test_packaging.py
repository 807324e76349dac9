"""Packaging (issue 11): the wheel carries notebooks/ and templates/ inside the package, and an
installed (non-editable) toolkit finds them and renders from any working directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = {
    "aftersales_kit/resources.py",
    "aftersales_kit/rules_default.toml",
    "aftersales_kit/notebooks/store_report.ipynb",
    "aftersales_kit/notebooks/portfolio.ipynb",
    "aftersales_kit/notebooks/explore.ipynb",
    "aftersales_kit/templates/aftersales/index.html.j2",
    "aftersales_kit/templates/aftersales/conf.json",
    "aftersales_kit/templates/aftersales/report.css",
    "aftersales_kit/templates/email/store_email.html.j2",
    "aftersales_kit/py.typed",
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Build from a copy: setuptools writes build/ and *.egg-info beside the sources.
    src = tmp_path_factory.mktemp("src")
    for name in ("aftersales_kit", "notebooks", "templates"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy2(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("aftersales_kit-*.whl")
    return built


def test_wheel_carries_notebooks_and_templates(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert EXPECTED <= names, EXPECTED - names
    # nothing from outside the package: no top-level notebooks/ or templates/, no tests
    assert all(n.startswith(("aftersales_kit/", "aftersales_kit-")) for n in names), names


def test_wheel_declares_the_pinned_requirements(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        (meta,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        declared = {
            line.split(":", 1)[1].strip()
            for line in zf.read(meta).decode().splitlines()
            if line.startswith("Requires-Dist:")
        }
    pinned = {
        line.strip()
        for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert declared == pinned


def test_checkout_resources_are_the_top_level_folders() -> None:
    from aftersales_kit import resources
    from aftersales_kit.render import report

    assert resources.resource_dir("notebooks") == ROOT / "notebooks"
    assert report.TEMPLATES == ROOT / "templates"
    assert resources.checkout_root() == ROOT


@pytest.mark.slow
def test_installed_wheel_renders_from_any_directory(wheel: Path, tmp_path: Path) -> None:
    # A fresh virtual environment and a plain `pip install` of the wheel: its declared
    # dependencies are all it gets (no --no-deps, nothing from this checkout's venv).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AFTERSALES_REPORT")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import aftersales_kit.resources as r, aftersales_kit.render.report as rep;"
            "print(r.__file__); print(rep.NOTEBOOK); print(rep.TEMPLATES)",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = probe.stdout.split()
    assert all(line.startswith(str(venv)) for line in lines), lines
    from aftersales_kit.demo import simulate as demo

    files = demo.write_demo(tmp_path / "demo", stores=2, orders=120, end="2026-03-31")
    run = subprocess.run(
        [
            str(python),
            "-m",
            "aftersales_kit",
            "report",
            str(files.parquet),
            "--store",
            "1000101",
            "--end",
            "2026-03-31",
            "--as-of",
            "2026-04-01 09:00:00",
            "--out",
            "out",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    html = Path(elsewhere / run.stdout.strip().splitlines()[-1])
    assert 'class="kpi-grid"' in html.read_text(encoding="utf-8")
