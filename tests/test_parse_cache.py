"""The cache of parsed downloads: a hit gives exactly what a parse gives, any change is a miss,
bad files are never kept, the cache is private, and a broken cache is only a miss."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter
from polars.testing import assert_frame_equal

from aftersales_kit import cli, parse_cache
from aftersales_kit import load as load_module
from aftersales_kit.demo.simulate import write_demo
from aftersales_kit.load import load, load_unchecked


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three stores' 京麦 downloads (two-row header, text ids, stores.toml)."""
    out = tmp_path_factory.mktemp("demo")
    write_demo(out, stores=3, orders=300, end="2026-03-31")
    return out / "exports"


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files actually parsed (not served from the cache)."""
    seen: list[str] = []
    real = load_module._load_file

    def counting(source: object, **kwargs: object) -> object:
        seen.append(Path(str(source.path)).name)  # type: ignore[attr-defined]
        return real(source, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(load_module, "_load_file", counting)
    return seen


def test_a_hit_is_exactly_the_parse(exports: Path, tmp_path: Path, parses: list[str]) -> None:
    plain = load(exports)
    files = len(parses)
    assert files == 3
    first = load(exports, cache_dir=tmp_path)
    assert len(parses) == 2 * files  # a miss parses and stores
    again = load(exports, cache_dir=tmp_path)
    assert len(parses) == 2 * files  # a hit parses nothing
    for got in (first, again):
        assert_frame_equal(got.frame, plain.frame)
        assert got.report == plain.report


def test_any_change_is_a_miss(exports: Path, tmp_path: Path, parses: list[str]) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    for f in exports.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    cache = tmp_path / "cache"
    load(folder, cache_dir=cache)
    parses.clear()
    # other bytes in one file: that file alone is parsed again
    victim = sorted(folder.glob("*.xlsx"))[0]
    other = sorted(folder.glob("*.xlsx"))[1]
    victim.write_bytes(other.read_bytes())
    load_unchecked(folder, cache_dir=cache)
    assert parses == [victim.name]
    # another store filter or another --store-id: parsed again
    parses.clear()
    load_unchecked(folder, cache_dir=cache, stores=["1000101"])
    assert len(parses) == 3
    # another header alias table: parsed again
    parses.clear()
    config = tmp_path / "aftersales.toml"
    config.write_text('[aliases]\nreason = ["退换原因"]\n', encoding="utf-8")
    load_unchecked(folder, cache_dir=cache, config=config)
    assert len(parses) == 3


def test_bad_files_are_not_kept(tmp_path: Path, parses: list[str]) -> None:
    path = tmp_path / "bad.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["服务单号", "店铺ID", "售后申请时间", "商家首次审核时间"])
    sheet.write_row(1, 0, ["3200000001", "1000101", "2026-03-01 10:00:00", "not a time"])
    book.close()
    cache = tmp_path / "cache"
    for _ in range(2):
        report = load_unchecked(path, cache_dir=cache).report
        assert report.errors
    assert parses == ["bad.xlsx", "bad.xlsx"]
    assert not list(cache.rglob("meta.json"))


def test_the_cache_is_private_and_pruned(exports: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load(exports, cache_dir=cache)
    entries = list(cache.glob("??/*"))
    assert len(entries) == 3
    for p in [cache, *cache.rglob("*")]:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == (0o700 if p.is_dir() else 0o600), (p, oct(mode))
    old = time.time() - (parse_cache.KEEP_DAYS + 1) * 86400
    os.utime(entries[0], (old, old))
    assert parse_cache.prune(cache) == 1
    assert sorted(cache.glob("??/*")) == sorted(entries[1:])
    # a load prunes once at its end: an entry it did not use and nobody used for long goes
    stray = cache / "ff" / ("f" * 64)
    stray.mkdir(parents=True)
    os.utime(stray, (old, old))
    load(exports, cache_dir=cache)
    assert not stray.exists()
    assert len(list(cache.glob("??/*"))) == 3


def test_a_broken_entry_is_a_miss(exports: Path, tmp_path: Path, parses: list[str]) -> None:
    cache = tmp_path / "cache"
    plain = load(exports, cache_dir=cache)
    for meta in cache.rglob("meta.json"):
        meta.write_text(json.dumps({"has_frame": True, "headers": 3}), encoding="utf-8")
    for frame in list(cache.rglob("frame.arrow"))[:1]:
        frame.write_bytes(b"not arrow")
    parses.clear()
    again = load(exports, cache_dir=cache)
    assert len(parses) == 3
    assert_frame_equal(again.frame, plain.frame)


def test_default_dir() -> None:
    home = Path("/home/m")
    assert parse_cache.default_dir({}, home=home) == home / ".cache/aftersales-kit/parsed"
    xdg = {"XDG_CACHE_HOME": "/var/c"}
    assert parse_cache.default_dir(xdg, home=home) == Path("/var/c/aftersales-kit/parsed")
    assert parse_cache.default_dir({"AFTERSALES_CACHE": "/x/y"}, home=home) == Path("/x/y")
    for off in ("off", "0", "", "no"):
        assert parse_cache.default_dir({"AFTERSALES_CACHE": off}, home=home) is None


def test_the_commands_use_it_unless_turned_off(
    exports: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("AFTERSALES_CACHE", str(cache))
    assert cli.main(["validate", str(exports), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert len(list(cache.rglob("meta.json"))) == 3
    assert cli.main(["validate", str(exports), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == first
    monkeypatch.setenv("AFTERSALES_CACHE", "off")
    other = tmp_path / "elsewhere"
    monkeypatch.setenv("XDG_CACHE_HOME", str(other))
    assert cli.main(["validate", str(exports), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert not other.exists()


def test_parquet_is_read_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    pl.DataFrame(
        {"service_id": ["1"], "store_id": ["s"], "apply_time": ["2026-03-01 10:00:00"]}
    ).write_parquet(path)
    load_unchecked(path, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
