"""The freshness fingerprint covers every input of a store's page: a change to any one of them
re-renders the page, and nothing else does."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from aftersales_kit.pipeline import diagnose_data
from aftersales_kit.render import report
from aftersales_kit.render.report import ReportParams

STORE = "1000102"
AS_OF = "2026-04-01 09:00:00"


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    from aftersales_kit.demo import simulate as demo

    return demo.generate(stores=4, orders=150, end=date(2026, 3, 31))


def _digest(
    folder: Path,
    *,
    params: ReportParams,
    config: Path | None = None,
    given: bool = True,
) -> str:
    """The fingerprint the batch, ``report`` and ``email`` compute for STORE (one pipeline)."""
    computed = diagnose_data(
        [str(folder)],
        stores=[STORE],
        start=params.start or None,
        end=params.end or None,
        rules=params.rules or None,
        as_of=params.as_of or None,
        config=config,
    )
    rows = report.store_digests(computed.frame)[STORE]
    d = computed.diagnoses[STORE]
    return report.fingerprint(params, rows=rows, inputs=report.inputs_of(d), as_of_given=given)


def _folder(tmp: Path, frame: pl.DataFrame, toml: str = "") -> Path:
    folder = tmp / "data"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    frame.write_parquet(folder / "orders.parquet")
    if toml:
        (folder / "stores.toml").write_text(toml, encoding="utf-8")
    return folder


STORES_TOML = {
    "star": "star = 3.2",
    "aftersales_rank": "aftersales_rank = 0.1",
    "dispute_rank": "dispute_rank = 0.15",
    "published_hours": "published_hours = 80.0",
    "peer_hours": "peer_hours = 45.0",
}


@pytest.mark.parametrize("key", list(STORES_TOML))
def test_each_stores_toml_input_changes_the_fingerprint(
    key: str, frame: pl.DataFrame, tmp_path: Path
) -> None:
    params = ReportParams(store=STORE, end="2026-03-31", as_of=AS_OF)
    before = _digest(_folder(tmp_path, frame), params=params)
    again = _digest(_folder(tmp_path, frame), params=params)
    assert again == before  # unchanged inputs: the page is current (skipped)
    table = f'[stores."{STORE}"]\n{STORES_TOML[key]}\n'
    after = _digest(_folder(tmp_path, frame, table), params=params)
    assert after != before, key
    # another store's entry does not touch this store's page
    other = '[stores."1000101"]\nstar = 3.2\n'
    assert _digest(_folder(tmp_path, frame, other), params=params) == before


def test_name_data_window_rules_as_of_language_config_and_version_change_it(
    frame: pl.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = ReportParams(store=STORE, end="2026-03-31", as_of=AS_OF)
    folder = _folder(tmp_path, frame)
    base = _digest(folder, params=params)
    changed: dict[str, str] = {}

    # the store's name (a stores.toml name reaches the rows)
    renamed = frame.with_columns(
        pl.when(pl.col("store_id") == STORE)
        .then(pl.lit("改名店"))
        .otherwise(pl.col("store_name"))
        .alias("store_name")
    )
    changed["name"] = _digest(_folder(tmp_path, renamed), params=params)
    # one order of the store
    one_row = pl.int_range(pl.len()) == frame["store_id"].to_list().index(STORE)
    edited = frame.with_columns(
        pl.when(one_row).then(pl.lit("其他")).otherwise(pl.col("reason")).alias("reason")
    )
    changed["data"] = _digest(_folder(tmp_path, edited), params=params)
    # another store's orders move the peer median this page shows
    slower = frame.with_columns(
        pl.when(pl.col("store_id") == "1000101")
        .then(pl.col("complete_time").dt.offset_by("30h"))
        .otherwise(pl.col("complete_time"))
        .alias("complete_time")
    )
    changed["peers"] = _digest(_folder(tmp_path, slower), params=params)
    folder = _folder(tmp_path, frame)
    changed["window"] = _digest(folder, params=dataclasses.replace(params, end="2026-03-30"))
    rules = tmp_path / "rules.toml"
    rules.write_text("warning_hours = 50\n", encoding="utf-8")
    changed["rules"] = _digest(folder, params=dataclasses.replace(params, rules=str(rules)))
    changed["as_of"] = _digest(
        folder, params=dataclasses.replace(params, as_of="2026-04-01 10:00:00")
    )
    changed["lang"] = _digest(folder, params=dataclasses.replace(params, lang="en"))
    config = tmp_path / "aftersales.toml"
    config.write_text("[report]\nmask_staff = true\n", encoding="utf-8")
    changed["mask_staff"] = _digest(folder, params=params, config=config)
    monkeypatch.setattr(report, "__version__", "99.0.0")
    changed["version"] = _digest(folder, params=params)
    monkeypatch.undo()

    assert _digest(folder, params=params) == base
    same = [k for k, v in changed.items() if v == base]
    assert same == [], f"these inputs left the fingerprint unchanged: {same}"
    assert len(set(changed.values())) == len(changed)
