"""Path parameters and every CLI option reaching the notebook's parameters."""

from __future__ import annotations

import argparse
import os
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from factory import planned_jobs

from aftersales_kit import cli
from aftersales_kit.config import default_config_path, load_config
from aftersales_kit.errors import UsageError
from aftersales_kit.render import batch, engine, report
from aftersales_kit.render.report import ReportParams
from aftersales_kit.rules import load_rules

AS_OF = "2026-04-01 09:00:00"


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from aftersales_kit.demo import simulate as demo

    path = tmp_path_factory.mktemp("params") / "orders.parquet"
    demo.generate(stores=2, orders=120, end=date(2026, 3, 31)).write_parquet(path)
    return path


@pytest.fixture(scope="module")
def bad_csv(orders: Path) -> Path:
    """Two stores' orders as CSV with one unparseable application time (Excel row 5)."""
    frame = pl.read_parquet(orders)
    frame = frame.with_columns(pl.col(c).cast(pl.String) for c in frame.columns)
    bad = pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("not a date"))
    frame = frame.with_columns(bad.otherwise(pl.col("apply_time")).alias("apply_time"))
    path = orders.with_name("bad.csv")
    frame.write_csv(path)
    return path


# --- item 1: a string is one path; relative paths resolve against the caller's cwd -------------


def test_data_string_is_one_path_not_one_per_character(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    params = ReportParams(data="exports/all.parquet")
    assert params.data == (str(tmp_path / "exports" / "all.parquet"),)
    assert params.as_papermill()["data"] == [str(tmp_path / "exports" / "all.parquet")]
    assert report.data_paths("/") == ("/",)  # never ("/",) per character of a longer path
    assert report.data_paths(["a.csv", "b/c.xlsx"], cwd="/x") == ("/x/a.csv", "/x/b/c.xlsx")
    assert report.data_paths("") == () and report.data_paths([]) == ()
    assert ReportParams(rules="my rules.toml").rules == str(tmp_path / "my rules.toml")
    assert ReportParams(rules=["r.toml"]).rules == str(tmp_path / "r.toml")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="data"):
        report.data_paths(["ok.csv", ""])
    with pytest.raises(UsageError, match="data"):
        report.data_paths(7)


@pytest.mark.slow
def test_papermill_cli_string_data_parameter(
    orders: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``papermill nb out -p data exports/all.parquet`` (a string, relative to the caller's cwd)."""
    import papermill as pm

    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "all.parquet").write_bytes(orders.read_bytes())
    monkeypatch.chdir(tmp_path)
    nb = pm.execute_notebook(
        str(report.NOTEBOOK),
        str(tmp_path / "out.ipynb"),
        parameters={"store": "1000102", "data": "exports/all.parquet", "as_of": AS_OF},
        kernel_name="python3",
        progress_bar=False,
    )
    assert nb.metadata.papermill.parameters["data"] == "exports/all.parquet"


# --- item 2: every option of report and batch reaches the notebook -----------------------------


def _options(command: str) -> dict[str, argparse.Action]:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    actions = sub.choices[command]._actions
    out = {}
    for action in actions:
        if isinstance(action, argparse._HelpAction):
            continue
        out[action.option_strings[0] if action.option_strings else action.dest] = action
    return out


def _injected(params: ReportParams, tmp: Path) -> dict[str, Any]:
    """The parameters papermill injects into the executed notebook (prepare only, no kernel)."""
    import papermill as pm

    nb = pm.execute_notebook(
        str(report.NOTEBOOK),
        str(tmp / "prepared.ipynb"),
        parameters=params.as_papermill(),
        prepare_only=True,
        kernel_name="python3",
        progress_bar=False,
    )
    return dict(nb.metadata.papermill.parameters)


def _report_values(data: Path, rules: Path) -> dict[str, list[str]]:
    return {
        "data": [str(data)],
        "--store": ["--store", "1000102"],
        "--start": ["--start", "2026-03-01"],
        "--end": ["--end", "2026-03-20"],
        "--rules": ["--rules", str(rules)],
        "--as-of": ["--as-of", AS_OF],
        "--lang": ["--lang", "en"],
        "--target-hours": ["--target-hours", "48"],
        "--star": ["--star", "4.2"],
        "--aftersales-rank": ["--aftersales-rank", "0.3"],
        "--dispute-rank": ["--dispute-rank", "0.4"],
        "--skip-bad-rows": ["--skip-bad-rows"],
        "--store-id": ["--store-id", "s9"],
        "--published-hours": ["--published-hours", "55.5"],
    }


#: options that choose where or how, not what the page shows
REPORT_EXEMPT = {"--out": "output folder", "--config": "operator config, kernel environment"}


def test_every_report_option_changes_the_notebook_parameters(
    orders: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("", encoding="utf-8")
    values = _report_values(orders, rules)
    assert set(_options("report")) == set(values) | set(REPORT_EXEMPT), "classify new options"
    captured: list[ReportParams] = []

    def fake_render_store(params: ReportParams, **_: Any) -> Path:
        captured.append(params)
        return tmp_path / "x.html"

    monkeypatch.setattr(report, "render_store", fake_render_store)
    monkeypatch.setattr(engine, "start_early", lambda **_: None)  # no kernel for a fake render
    assert cli.main(["report", "--out", str(tmp_path / "r")]) == 0
    baseline = _injected(captured[-1], tmp_path)
    for option, argv in values.items():
        assert cli.main(["report", *argv, "--out", str(tmp_path / "r")]) == 0
        changed = _injected(captured[-1], tmp_path)
        assert changed != baseline, option
    assert set(baseline) == set(report.notebook_parameters())


BATCH_EXEMPT = {
    "--out": "output folder",
    "--config": "operator config, kernel environment",
    "--workers": "parallelism",
    "--force": "re-render even when current",
    "--index-only": "renders no store notebook",
}


def test_every_batch_option_changes_the_notebook_parameters(
    orders: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("", encoding="utf-8")
    copy = tmp_path / "copy.parquet"
    copy.write_bytes(orders.read_bytes())
    stores = ["1000101", "1000102"]
    shard = next(
        f"{k}/{n}"
        for n in range(2, 20)
        for k in range(1, n + 1)
        if len(batch.in_shard(stores, shard=(k, n))) == 1
    )
    values = {
        "data": [str(copy)],
        "--stores": ["--stores", "1000102"],
        "--shard": ["--shard", shard],
        "--start": ["--start", "2026-03-01"],
        "--end": ["--end", "2026-03-20"],
        "--rules": ["--rules", str(rules)],
        "--as-of": ["--as-of", "2026-04-02 10:00"],
        "--lang": ["--lang", "en"],
        "--skip-bad-rows": ["--skip-bad-rows"],
        "--store-id": ["--store-id", "s9"],
    }
    assert set(_options("batch")) == set(values) | set(BATCH_EXEMPT), "classify new options"
    runs: list[list[ReportParams]] = []

    class NoPool:
        def shutdown(self, **_: Any) -> None:
            pass

    def fake_run_pool(pool: Any, planned: Any, outcomes: dict, **_: Any) -> None:
        jobs = planned_jobs(planned, outcomes)
        runs.append([job.params for job in jobs])
        for job in jobs:
            outcomes[job.store] = batch.Outcome(job.store, "done")

    monkeypatch.setattr(batch, "_start_pool", lambda workers, **_: NoPool())
    monkeypatch.setattr(batch, "_run_pool", fake_run_pool)
    base_argv = ["batch", "--out", str(tmp_path / "r"), "--as-of", AS_OF]

    def injected_set() -> list[dict[str, Any]]:
        out = []
        for params in runs[-1]:
            shown = _injected(params, tmp_path)
            shown["cache"] = ""  # a fresh private folder every run
            out.append(shown)
        return out

    assert cli.main([*base_argv, str(orders)]) == 0
    baseline = injected_set()
    assert len(baseline) == 2
    # --store-id is refused on a file with a store column (DOMAIN §2): give it one without
    single = tmp_path / "single.parquet"
    pl.read_parquet(orders).filter(pl.col("store_id") == "1000101").drop("store_id").write_parquet(
        single
    )
    for option, argv in values.items():
        data = [] if option == "data" else [str(single if option == "--store-id" else orders)]
        assert cli.main([*base_argv, *data, *argv]) == 0, option
        assert injected_set() != baseline, option


@pytest.mark.slow
def test_report_skip_bad_rows_works(
    bad_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r"
    argv = ["report", str(bad_csv), "--store", "1000101", "--as-of", AS_OF, "--out", str(out)]
    assert cli.main(argv) == 1
    assert "--skip-bad-rows" in capsys.readouterr().err
    assert cli.main([*argv, "--skip-bad-rows"]) == 0
    html = Path(capsys.readouterr().out.strip())
    assert html.exists()
    import nbformat

    nb = nbformat.read(html.with_suffix(".ipynb"), as_version=4)
    assert nb.metadata.papermill.parameters["skip_bad_rows"] is True
    assert not [p for p in out.rglob("*.pkl")]


def test_store_id_reaches_the_loader(
    orders: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file without a store column renders with ``--store-id`` (report loads in this process)."""
    frame = pl.read_parquet(orders).filter(pl.col("store_id") == "1000101").drop("store_id")
    single = tmp_path / "single.parquet"
    frame.write_parquet(single)
    seen: dict[str, Any] = {}

    def fake_render(params: ReportParams, **kwargs: Any) -> Path:
        import pickle

        seen["diagnosis"], seen["rules"] = pickle.loads(Path(params.cache).read_bytes())
        seen["params"] = params
        return tmp_path / "r" / "s9" / "x.html"

    monkeypatch.setattr(report, "_render", fake_render)
    monkeypatch.setattr(report, "write_sidecar", lambda *a, **k: None)
    monkeypatch.setattr(report, "_kernel", _no_kernel)
    path = report.render_store(
        ReportParams(store="s9", store_id="s9", data=(str(single),), as_of=AS_OF),
        out_dir=tmp_path / "r",
    )
    assert path.name == "x.html"
    assert seen["diagnosis"].store_id == "s9" and seen["diagnosis"].kpis.counted > 0
    assert seen["params"].store_id == "s9"
    # the rules the diagnosis was computed with travel along: the kernel does not re-read them
    assert seen["rules"] == load_rules()
    assert not Path(seen["params"].cache).exists()  # the private folder is gone


def _no_kernel(engine_name: Any, engine_kwargs: Any) -> Any:
    from contextlib import nullcontext

    return nullcontext("none")


def test_metrics_and_email_accept_store_id() -> None:
    parser = cli.build_parser()
    for command in ("validate", "metrics", "report", "batch", "email"):
        extra = ["--store", "x"] if command == "metrics" else []
        args = parser.parse_args([command, "d.csv", *extra, "--store-id", "s9"])
        assert args.store_id == "s9", command


def test_environment_is_not_needed_for_the_config(tmp_path: Path) -> None:
    given = tmp_path / "a.toml"
    before = dict(os.environ)
    found = default_config_path(str(given), env={}, cwd=tmp_path)
    assert found == given.resolve()
    # the kernel gets it explicitly; the caller's environment is left alone
    assert report.report_env(config=found)["AFTERSALES_CONFIG"] == str(found)
    assert dict(os.environ) == before


def test_the_command_line_alone_looks_the_config_up(tmp_path: Path) -> None:
    # --config wins, then the user's AFTERSALES_CONFIG, then ./aftersales.toml; the API reads
    # only the file it is given, whatever the working directory holds
    env = {"AFTERSALES_CONFIG": "from-env.toml"}
    assert default_config_path("given.toml", env=env, cwd=tmp_path) == tmp_path / "given.toml"
    assert default_config_path(None, env=env, cwd=tmp_path) == tmp_path / "from-env.toml"
    assert default_config_path(None, env={}, cwd=tmp_path) is None
    (tmp_path / "aftersales.toml").write_text("[report]\nmask_staff = true\n", encoding="utf-8")
    assert default_config_path(None, env={}, cwd=tmp_path) == tmp_path / "aftersales.toml"
    assert load_config(None).mask_staff is False  # no lookup below the command line
