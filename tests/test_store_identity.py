"""Store identity and overlapping downloads (DOMAIN §2): folders load as exactly their stores.

Files are written by hand with xlsxwriter in the real 京麦 layout (A1 申请信息 merged over its
group, A2 服务单号, IDs as text, amounts as numbers), not with the project's own writer.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import xlsxwriter
from factory import planned_jobs

from aftersales_kit import cli
from aftersales_kit.errors import DataError, UsageError
from aftersales_kit.load import load, load_unchecked

HEADERS = [
    "服务单号",
    "客户期望",
    "服务单状态",
    "售后申请时间",
    "商品金额",
    "商家首次审核时间",
    "商家首次处理时间",
]


def export(path: Path, ids: list[str], *, audit: str = "2026-03-10 10:00:00") -> Path:
    """A small 京麦 download: row 1 申请信息 merged over A1:D1, 订单信息 in E1, 时效信息 over
    F1:G1; open orders (待处理, no first processing yet)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    sheet.merge_range(0, 0, 0, 3, "申请信息")
    sheet.write_string(0, 4, "订单信息")
    sheet.merge_range(0, 5, 0, 6, "时效信息")
    sheet.write_row(1, 0, HEADERS)
    for r, sid in enumerate(ids, start=2):
        sheet.write_string(r, 0, sid)
        sheet.write_string(r, 1, "退货")
        sheet.write_string(r, 2, "待处理")
        sheet.write_string(r, 3, "2026-03-10 08:00:00")
        sheet.write_number(r, 4, 1088.0)
        sheet.write_string(r, 5, audit)
    book.close()
    return path


def stores_toml(folder: Path, table: dict[str, list[str]]) -> Path:
    lines = []
    for sid, globs in table.items():
        lines += [f'[stores."{sid}"]', "files = [" + ", ".join(f'"{g}"' for g in globs) + "]"]
    path = folder / "stores.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_stores_toml_applies_to_its_folder_and_below(tmp_path: Path) -> None:
    data = tmp_path / "data"
    export(data / "exports" / "甲店_1.xlsx", ["3200000001", "3200000002"])
    export(data / "exports" / "2026-03" / "乙店_1.xlsx", ["3300000001"])
    stores_toml(data / "exports", {"1000101": ["甲店_*.xlsx"], "1000102": ["乙店_*.xlsx"]})
    assert load(data).report.stores == {"1000101": 2, "1000102": 1}
    # given directly, the folder's own stores.toml still applies
    assert load(data / "exports").report.stores == {"1000101": 2, "1000102": 1}


def test_the_nearest_stores_toml_wins(tmp_path: Path) -> None:
    data = tmp_path / "data"
    export(data / "a" / "店_1.xlsx", ["3200000001"])
    export(data / "b" / "店_1.xlsx", ["3300000001"])
    stores_toml(data, {"1000101": ["店_*.xlsx"]})
    stores_toml(data / "b", {"1000102": ["店_*.xlsx"]})
    assert load(data).report.stores == {"1000101": 1, "1000102": 1}


def test_a_folder_is_a_store_only_when_named_like_one_and_unmapped(tmp_path: Path) -> None:
    data = tmp_path / "data"
    export(data / "1000101" / "x.xlsx", ["3200000001"])
    export(data / "store_id=1000102" / "x.xlsx", ["3300000001"])
    assert load(data).report.stores == {"1000101": 1, "1000102": 1}
    # a folder holding a stores.toml is a set of stores, never one store
    stores_toml(data / "1000101", {"1000109": ["x.xlsx"]})
    assert load(data).report.stores == {"1000109": 1, "1000102": 1}
    # a deeper folder's name is not a store
    other = tmp_path / "other"
    export(other / "downloads" / "1000103" / "x.xlsx", ["3400000001"])
    report = load_unchecked(other).report
    assert report.stores == {}
    assert "没有店铺列" in report.errors[0].message
    assert "文件夹名 'downloads' 不是店铺ID" in report.errors[0].message


@pytest.mark.parametrize("name", ["exports", "1234", "<img src=x onerror=alert(1)>", "1" * 13])
def test_a_folder_not_named_like_a_store_id_says_so(tmp_path: Path, name: str) -> None:
    data = tmp_path / "data"
    export(data / name / "x.xlsx", ["3200000001"])
    report = load_unchecked(data).report
    assert report.stores == {}
    [problem] = report.errors
    assert problem.column == "store_id"
    assert f"文件夹名 {name!r} 不是店铺ID" in problem.message
    assert "--store-id" in problem.message and "stores.toml" in problem.message


def test_overlapping_globs_are_an_error_naming_the_file_and_stores(tmp_path: Path) -> None:
    folder = tmp_path / "downloads"
    a = export(folder / "示例旗舰店_售后服务单_20260331.xlsx", ["3200000001"])
    export(folder / "优品数码专营店_售后服务单_20260331.xlsx", ["3300000001"])
    stores_toml(
        folder,
        {
            "1000101": ["*.xlsx"],  # a catch-all listed first
            "1000102": ["优品数码专营店_*.xlsx"],
        },
    )
    report = load_unchecked(folder).report
    [problem] = report.errors
    assert problem.file == str(folder / "优品数码专营店_售后服务单_20260331.xlsx")
    assert "1000101, 1000102" in problem.message
    assert str(folder / "stores.toml") in problem.message
    assert report.stores == {"1000101": 1}  # only the file one store claims
    with pytest.raises(DataError, match="多个店铺 1000101, 1000102"):
        load(folder)
    # the order of the tables does not matter
    stores_toml(folder, {"1000102": ["优品数码专营店_*.xlsx"], "1000101": ["*.xlsx"]})
    assert [p.file for p in load_unchecked(folder).report.errors] == [problem.file]
    assert a.exists()


def test_one_file_matched_by_two_stores_specific_globs(tmp_path: Path) -> None:
    folder = tmp_path / "downloads"
    export(folder / "示例旗舰店_售后服务单_20260331.xlsx", ["3200000001"])
    stores_toml(
        folder, {"1000101": ["示例旗舰店_*.xlsx"], "1000102": ["*_售后服务单_20260331.xlsx"]}
    )
    [problem] = load_unchecked(folder).report.errors
    assert "1000101, 1000102" in problem.message


def test_config_and_folder_stores_toml_disagreeing_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "downloads"
    export(folder / "店_1.xlsx", ["3200000001"])
    stores_toml(folder, {"1000101": ["店_*.xlsx"]})
    config = tmp_path / "aftersales.toml"
    config.write_text('[stores."1000109"]\nfiles = ["店_*.xlsx"]\n', encoding="utf-8")
    [problem] = load_unchecked(folder, config=config).report.errors
    assert "1000109, 1000101" in problem.message
    # agreeing is fine (the configuration may add the name)
    config.write_text('[stores."1000101"]\nname = "配置名"\nfiles = ["店_*.xlsx"]\n', "utf-8")
    loaded = load(folder, config=config)
    assert loaded.report.stores == {"1000101": 1}
    assert loaded.frame["store_name"].to_list() == ["配置名"]


def test_a_glob_matching_no_file_is_a_warning_naming_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "downloads"
    export(folder / "甲店_1.xlsx", ["3200000001"])
    export(folder / "乙店_1.xlsx", ["3300000001"])
    stores_toml(folder, {"1000101": ["甲店_*.xlsx"], "1000102": ["nothing_matches_*.xlsx"]})
    report = load_unchecked(folder).report
    assert report.warning_counts["stores_glob_unmatched"] == 1
    [note] = [w for w in report.warnings if w.column == "files"]
    assert "1000102" in note.message and note.value == "nothing_matches_*.xlsx"
    # the unmapped file's error says which globs the stores.toml has
    [problem] = report.errors
    assert problem.file == str(folder / "乙店_1.xlsx")
    assert "1000102: nothing_matches_*.xlsx" in problem.message
    assert cli.main(["validate", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "店铺 1000102 的 files 没有匹配任何文件" in out
    # one file given alone: the other stores' globs are not expected to match
    alone = load(folder / "甲店_1.xlsx").report
    assert alone.stores == {"1000101": 1}
    assert "stores_glob_unmatched" not in alone.warning_counts


def test_store_id_option_is_refused_where_it_would_merge_stores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "downloads"
    export(folder / "甲店_1.xlsx", ["3200000001"])
    export(folder / "乙店_1.xlsx", ["3300000001"])
    stores_toml(folder, {"1000101": ["甲店_*.xlsx"], "1000102": ["乙店_*.xlsx"]})
    with pytest.raises(UsageError, match=r"--store-id 1000101 被拒绝.*stores.toml"):
        load(folder, store_id="1000101")
    assert cli.main(["validate", str(folder), "--store-id", "1000101"]) == 2
    assert "被拒绝 (refused)" in capsys.readouterr().err
    # files from several folders
    data = tmp_path / "data"
    export(data / "a" / "x.xlsx", ["3200000001"])
    export(data / "b" / "y.xlsx", ["3300000001"])
    with pytest.raises(UsageError, match="2 个文件夹"):
        load(data, store_id="1000101")
    # a file with its own store column
    csv = tmp_path / "with_store.csv"
    csv.write_text(
        "店铺ID,服务单号,客户期望,服务单状态,售后申请时间,商家首次审核时间,商家首次处理时间\n"
        "1000101,3200000001,退货,待处理,2026-03-10 08:00:00,2026-03-10 10:00:00,\n",
        encoding="utf-8",
    )
    with pytest.raises(UsageError, match="已有店铺列 店铺ID"):
        load_unchecked(csv, store_id="1000109")
    assert cli.main(["validate", str(csv), "--store-id", "1000109"]) == 2
    # one folder of one store's downloads: fine; so is the id the stores.toml gives anyway
    assert load(data / "a", store_id="1000101").report.stores == {"1000101": 1}
    assert load(folder / "甲店_1.xlsx", store_id="1000101").report.stores == {"1000101": 1}


def test_the_newest_download_wins_a_duplicate(tmp_path: Path) -> None:
    folder = tmp_path / "1000101"
    old = export(folder / "old.xlsx", ["3200000001"], audit="2026-03-10 10:00:00")
    new = export(folder / "new.xlsx", ["3200000001"], audit="2026-03-11 10:00:00")
    # the older data wins nothing even when its file is newer on disk
    os.utime(new, (time.time() - 3600, time.time() - 3600))
    loaded = load(tmp_path)
    assert loaded.report.duplicates_dropped == 1
    assert str(loaded.frame["first_audit_time"][0]) == "2026-03-11 10:00:00"
    # same data: the file modified last wins
    export(old, ["3200000001"], audit="2026-03-11 10:00:00")
    assert load(tmp_path).report.duplicates_dropped == 1
    assert old.exists()


def test_batch_stores_not_found_lists_the_stores_of_the_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    export(data / "1000101" / "x.xlsx", ["3200000001"])
    export(data / "1000102" / "x.xlsx", ["3300000001"])
    args = ["batch", str(data), "--stores", "9999999", "--out", str(tmp_path / "r")]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "9999999" in err and "1000101, 1000102" in err


def test_validate_json_shows_data_as_of_per_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    export(data / "1000101" / "x.xlsx", ["3200000001"], audit="2026-03-10 11:30:00")
    assert cli.main(["validate", str(data), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["data_as_of"] == {"1000101": "2026-03-10 11:30:00"}


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from aftersales_kit.demo.simulate import write_demo

    out = tmp_path_factory.mktemp("demo") / "demo"
    write_demo(out, stores=12, orders=60, end="2026-03-31", seed=7)
    return out


def test_validate_on_the_demo_folder_sees_exactly_its_12_stores(
    demo_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["validate", str(demo_folder), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert list(got["stores"]) == [str(1000101 + i) for i in range(12)]
    assert len(got["files"]) == 12  # the downloads; the canonical parquet in _canonical/ is skipped
    assert got["errors"] == []
    assert "service_id_in_two_stores" not in got["warning_counts"]


def test_batch_on_the_demo_folder_renders_exactly_its_12_stores(
    demo_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typing import Any

    from aftersales_kit.render import batch

    rendered: list[str] = []

    class NoPool:
        def shutdown(self, **_: Any) -> None:
            pass

    def fake_run_pool(pool: Any, planned: Any, outcomes: dict[str, Any], **_: Any) -> None:
        for job in planned_jobs(planned, outcomes):
            rendered.append(job.store)
            outcomes[job.store] = batch.Outcome(job.store, "done")

    monkeypatch.setattr(batch, "_start_pool", lambda workers, **_: NoPool())
    monkeypatch.setattr(batch, "_run_pool", fake_run_pool)
    args = ["batch", str(demo_folder), "--out", str(tmp_path / "r"), "--as-of", "2026-04-01 09:00"]
    assert cli.main(args) == 0
    assert rendered == [str(1000101 + i) for i in range(12)]
