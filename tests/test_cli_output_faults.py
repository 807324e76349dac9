"""Output faults and edge values on the command line: unwritable output, command-line edge values,
the Makefile, set-up."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from aftersales_kit import files
from aftersales_kit.deliver import mail as deliver
from aftersales_kit.errors import ReportError
from aftersales_kit.render import engine, report
from aftersales_kit.render.report import ReportParams
from aftersales_kit.window import Window

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aftersales_kit", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from aftersales_kit.demo import simulate as demo

    path = tmp_path_factory.mktemp("cli") / "orders.parquet"
    demo.generate(stores=2, orders=100, end=date(2026, 3, 31)).write_parquet(path)
    return path


@contextlib.contextmanager
def tmpfs(path: Path, *options: str) -> Iterator[Path]:
    """A real small or read-only file system (skips where mounting is not permitted)."""
    path.mkdir(parents=True, exist_ok=True)
    opts = ",".join(("size=64k", *options))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


# --- item 7: unwritable --out ---------------------------------------------------------------------


@pytest.mark.parametrize("command", ["report", "batch", "email"])
def test_out_is_a_file(command: str, data: Path, tmp_path: Path) -> None:
    target = tmp_path / "not-a-folder"
    target.write_text("x")
    extra = (
        ["--store", "1000101", "--to", "a@example.com", "--dry-run"] if command == "email" else []
    )
    result = run(command, str(data), *extra, "--out", str(target), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "not writable" in result.stderr and str(target) in result.stderr


@pytest.mark.parametrize("command", ["report", "batch"])
def test_out_in_proc_and_read_only(command: str, data: Path, tmp_path: Path) -> None:
    result = run(command, str(data), "--out", "/proc/aftersales-reports", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "not writable" in result.stderr
    with tmpfs(tmp_path / "ro", "ro") as ro:
        result = run(command, str(data), "--out", str(ro / "reports"), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "not writable" in result.stderr


@pytest.mark.slow
def test_full_disk_is_a_clear_error(data: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small") as small:
        with pytest.raises(OSError):
            files.atomic_write(small / "big.html", data=b"x" * 200_000)
        assert not list(small.iterdir())  # no half file, no temporary left
        with contextlib.suppress(OSError):
            (small / "filler").write_bytes(b"x" * 200_000)
        result = run("batch", str(data), "--out", str(small / "r"), "--workers", "1", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "No space left on device" in result.stderr


# --- item 8: command-line edge values -------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["metrics", "{data}", "--store", "1000101", "--end", "9999-12-31"],
        ["metrics", "{data}", "--store", "1000101", "--start", "1999-12-31"],
        ["report", "{data}", "--as-of", "0001-01-01 00:00"],
        ["batch", "{data}", "--end", "2100-01-01"],
        ["email", "{data}", "--store", "1000101", "--to", "a@b.c", "--start", "9999-12-31"],
        ["batch", "{data}", "--stores", ","],
        ["batch", "{data}", "--stores", " , "],
        ["report", "{data}", "--store", ""],
        ["metrics", "{data}", "--store", " "],
        ["validate", "{data}", "--store-id", ""],
    ],
    ids=lambda argv: " ".join(argv[2:]),
)
def test_out_of_range_dates_and_empty_stores_are_usage_errors(
    argv: list[str], data: Path, tmp_path: Path
) -> None:
    result = run(*[a.format(data=data) for a in argv], cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "OverflowError" not in result.stderr


def test_attachment_names_are_safe_on_windows(data: Path) -> None:
    import polars as pl

    from aftersales_kit.diagnose import diagnose_store
    from aftersales_kit.rules import load_rules

    real = diagnose_store(
        pl.read_parquet(data),
        store_id="1000101",
        window=Window(start=date(2026, 3, 2), end=date(2026, 3, 31)),
        rules=load_rules(),
        as_of=datetime(2026, 4, 1, 9, 0),
    )
    d = dataclasses.replace(real, store_name='A<B>:C"/D\\E|F?G*H. ')
    for name in (*deliver.attachment_names(d), *deliver.attachment_names(d, zipped=True)):
        assert not set('<>:"/\\|?*') & set(name), name
        stem = name.rsplit(".", 1)[0]
        assert not stem.endswith((".", " ")), name
    assert deliver.safe_filename("CON.html") == "_CON.html"
    assert deliver.safe_filename("report. .") == "report"
    assert deliver.safe_filename("a\x00b.xlsx") == "a_b.xlsx"


def test_smtp_password_is_not_in_the_kernel_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AFTERSALES_SMTP_PASSWORD", "hunter2-secret")
    assert "AFTERSALES_SMTP_PASSWORD" not in engine.kernel_env()
    kernel = engine._start_kernel("python3", cwd=os.getcwd(), startup_timeout=60, warm_imports=())
    try:
        content = kernel.run_silent("import os as _os")
        assert content["status"] == "ok"
        from jupyter_core.utils import run_sync

        reply = run_sync(kernel.kc.execute_interactive)(
            "_os.environ.get('AFTERSALES_SMTP_PASSWORD')",
            user_expressions={"v": "_os.environ.get('AFTERSALES_SMTP_PASSWORD')"},
            output_hook=lambda _m: None,
            timeout=30,
        )
        assert reply["content"]["user_expressions"]["v"]["data"]["text/plain"] == "None"
    finally:
        kernel.shutdown()


def test_reports_are_not_written_through_a_planted_symlink(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "reports"
    out.mkdir()
    (out / "1000101").symlink_to(elsewhere)
    params = ReportParams(store="1000101", as_of="2026-04-01 09:00")
    with pytest.raises(ReportError, match="symlink"):
        report._render(params, store_dir=out / "1000101", out_dir=out, engine_name="unused")
    assert not list(elsewhere.iterdir())
    # a planted link at the file or temporary name is replaced, never written through
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (out / "page.html").symlink_to(victim)
    files.atomic_write(out / "page.html", data="report")
    tmp_name = out / f".x.html.{os.getpid()}.1.tmp"
    tmp_name.symlink_to(victim)
    files.fresh_file(tmp_name)
    assert victim.read_text() == "keep"
    assert not (out / "page.html").is_symlink() and (out / "page.html").read_text() == "report"


# --- item 8: Makefile variables are values, item 9: set-up on a fresh machine ---------------------


def _make_n(target: str, **variables: str) -> str:
    argv = ["make", "-s", "-n", "-o", ".venv/.installed", "-o", "setup", target]
    argv += [f"{k}={v}" for k, v in variables.items()]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True)
    return result.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make")
def test_makefile_variables_are_quoted() -> None:
    out = _make_n("report", DATA="my exports/x.xlsx", STORE="x; touch /tmp/pwned", START="a'b")
    line = next(li for li in out.splitlines() if "aftersales_kit report" in li)
    words = shlex.split(line)
    assert "my exports/x.xlsx" in words
    assert words[words.index("--store") + 1] == "x; touch /tmp/pwned"
    assert words[words.index("--start") + 1] == "a'b"
    out = _make_n("reports", STORES="a,b", WORKERS="2 && id")
    words = shlex.split(" ".join(out.replace("\\\n", " ").splitlines()))
    assert words[words.index("--workers") + 1] == "2 && id"


@pytest.mark.skipif(shutil.which("make") is None, reason="make")
def test_make_test_installs_system_packages_or_names_the_command(tmp_path: Path) -> None:
    # A machine without chromium and fonts, not root: one clear line, non-zero exit, nothing run.
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for tool in ("grep", "cat", "sh"):
        found = shutil.which(tool)
        assert found
        (stubs / tool).symlink_to(found)
    (stubs / "id").write_text("#!/bin/sh\necho 1000\n")
    (stubs / "id").chmod(0o755)
    (stubs / "apt-get").write_text(f"#!/bin/sh\necho called > {tmp_path}/apt\n")
    (stubs / "apt-get").chmod(0o755)
    make = shutil.which("make")
    assert make
    result = subprocess.run(
        [make, "-s", "sysdeps"], cwd=ROOT, capture_output=True, text=True, env={"PATH": str(stubs)}
    )
    assert result.returncode != 0
    lines = [li for li in result.stderr.splitlines() if "apt-get install" in li]
    assert lines == [
        "缺少系统软件包 (missing system packages), run: "
        "sudo apt-get install chromium fonts-noto-cjk"
    ]
    assert not (tmp_path / "apt").exists()
    # as root it installs them with apt-get
    (stubs / "id").write_text("#!/bin/sh\necho 0\n")
    result = subprocess.run(
        [make, "-s", "sysdeps"], cwd=ROOT, capture_output=True, text=True, env={"PATH": str(stubs)}
    )
    assert (tmp_path / "apt").exists(), result.stderr
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("exec make test")
