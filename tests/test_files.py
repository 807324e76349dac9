"""Atomic writes: the target is whole or untouched, and no temporary file is left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from aftersales_kit.files import atomic_path, atomic_write


def test_atomic_write_text_and_bytes(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "报告.html"
    assert atomic_write(target, data="<p>售后</p>") == target
    assert target.read_text(encoding="utf-8") == "<p>售后</p>"
    atomic_write(target, data=b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert [p.name for p in target.parent.iterdir()] == ["报告.html"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a.xlsx"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(target) as tmp:
        tmp.write_text("half", encoding="utf-8")
        msg = "disk full"
        raise RuntimeError(msg)
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.xlsx"]
