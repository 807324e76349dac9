"""Bad input through the real command line: a clear message and an exit code, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aftersales_kit.demo import simulate as demo


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "orders.parquet"
    demo.generate(stores=2, orders=100, end="2026-03-31").write_parquet(path)
    return path


def run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aftersales_kit", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


CASES = [
    # (argv with {data}/{tmp} placeholders, exit code, words the message must contain)
    (["batch", "{tmp}/missing.parquet", "--out", "{tmp}/r"], 1, "missing.parquet"),
    (["validate", "{tmp}/missing.xlsx"], 1, "file not found"),
    (["validate", "{tmp}/orders.txt"], 1, "orders.txt"),
    (["metrics", "{data}", "--store", "nope"], 1, "1000101"),
    (["metrics", "{data}", "--store", "1000101", "--end", "2026-02-30"], 2, "2026-02-30"),
    (
        ["metrics", "{data}", "--store", "1000101", "--rules", "{tmp}/bad.toml"],
        1,
        "thresholds.audit_over_24h",
    ),
    (["report", "{data}", "--store", "../etc"], 2, "unsafe store id"),
    (["email", "{data}", "--store", "1000101"], 2, "--to"),
    (["demo", "--orders", "0", "--out", "{tmp}/d"], 2, "--orders"),
    (["batch", "{data}", "--shard", "3/2", "--out", "{tmp}/r"], 2, "3/2"),
    (["validate"], 2, "DATA"),
]


@pytest.mark.parametrize(("argv", "code", "words"), CASES, ids=[" ".join(c[0][:2]) for c in CASES])
def test_bad_input_is_a_clear_error(
    argv: list[str], code: int, words: str, data: Path, tmp_path: Path
) -> None:
    (tmp_path / "orders.txt").write_text("not an export", encoding="utf-8")
    (tmp_path / "bad.toml").write_text("[thresholds]\naudit_over_24h = -1\n", encoding="utf-8")
    args = [a.format(data=data, tmp=tmp_path) for a in argv]
    result = run(*args, cwd=tmp_path)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert words in result.stderr + result.stdout
