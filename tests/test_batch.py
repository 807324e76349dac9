"""Batch: shards, fingerprints/resume, failure isolation, no leaks between stores, the index."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aftersales_kit.errors import UsageError
from aftersales_kit.render import batch

STORES = ["1000101", "1000102", "1000103", "1000104", "1000105"]
BROKEN = "1000103"


@given(
    stores=st.sets(st.text(min_size=1, max_size=12), max_size=40),
    n=st.integers(min_value=1, max_value=12),
)
def test_shards_partition_the_stores_exactly(stores: set[str], n: int) -> None:
    parts = [batch.in_shard(stores, shard=(k, n)) for k in range(1, n + 1)]
    flat = [s for part in parts for s in part]
    assert len(flat) == len(set(flat))  # no store twice
    assert set(flat) == stores  # none lost


def test_shard_is_stable_and_parsed() -> None:
    assert batch.shard_of("1000101", n=7) == batch.shard_of("1000101", n=7)
    assert batch.shard_of("1000101", n=1) == 1
    assert batch.parse_shard("3/10") == (3, 10)
    assert batch.parse_shard(None) is None
    for bad in ("0/3", "4/3", "a/b", "3", "1/0"):
        with pytest.raises(UsageError, match="K/N"):
            batch.parse_shard(bad)


def test_store_digests_ignore_row_order() -> None:
    import polars as pl

    frame = pl.DataFrame({"store_id": ["a", "b", "a"], "x": [1, 2, 3]})
    shuffled = frame.reverse()
    assert batch.store_digests(frame) == batch.store_digests(shuffled)
    changed = frame.with_columns(
        pl.when(pl.col("x") == 3).then(4).otherwise(pl.col("x")).alias("x")
    )
    before, after = batch.store_digests(frame), batch.store_digests(changed)
    assert before["b"] == after["b"] and before["a"] != after["a"]


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from aftersales_kit.demo import simulate as demo

    out = tmp_path_factory.mktemp("demo")
    return demo.write_demo(out, stores=5, orders=200, end="2026-03-31").parquet


@pytest.mark.slow
def test_batch_isolates_a_broken_store_and_resumes(
    demo_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aftersales_kit import cli

    real_write = batch._write_cache

    def corrupt_one(path: Path, diagnosis: object, *, rules: object) -> None:
        # A truncated cache file (disk full, killed writer) for one store: its notebook's first
        # cell fails to unpickle it, the other stores must not notice.
        if path.parent.name == BROKEN:
            batch.atomic_write(path, data=b"\x80\x05truncated")
        else:
            real_write(path, diagnosis, rules=rules)

    monkeypatch.setattr(batch, "_write_cache", corrupt_one)
    out = tmp_path / "reports"
    argv = [
        "batch",
        str(demo_data),
        "--out",
        str(out),
        "--workers",
        "2",
        "--end",
        "2026-03-31",
        "--as-of",
        "2026-04-01 09:00",
    ]
    assert cli.main(argv) == 1

    htmls = {p.parent.name: p for p in out.glob("*/2026-03-02_2026-03-31.html")}
    assert sorted(htmls) == [s for s in STORES if s != BROKEN]
    kept = out / BROKEN / "2026-03-02_2026-03-31.ipynb"
    assert kept.exists() and "UnpicklingError" in kept.read_text(encoding="utf-8")
    assert not list(out.rglob("*.tmp"))  # nothing half-written

    # No state leaks between stores on a reused kernel: a store's name is only in its own page.
    names = {}
    for store, path in htmls.items():
        side = batch.read_sidecar(path)
        assert side is not None
        names[store] = side["summary"]["store_name"]
    for store, path in htmls.items():
        text = path.read_text(encoding="utf-8")
        assert names[store] in text
        for other, name in names.items():
            if other != store:
                assert name not in text, (store, other)

    # The index links every rendered store, relatively, to a file that exists.
    index = (out / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'href="([^"#:]+\.html)"', index)
    assert sorted({Path(link).parent.name for link in links}) == sorted(htmls)
    assert all((out / link).is_file() for link in links)

    # Rerun: the four current reports are skipped, the broken store is retried (and now works).
    monkeypatch.setattr(batch, "_write_cache", real_write)
    mtimes = {s: p.stat().st_mtime_ns for s, p in htmls.items()}
    result = batch.run_batch(
        [demo_data],
        out_dir=out,
        end="2026-03-31",
        as_of="2026-04-01 09:00",
        workers=1,
        progress=False,
    )
    status = {o.store: o.status for o in result.outcomes}
    assert status == {
        **{s: "skipped" for s in htmls},
        BROKEN: "done",
    }
    assert {s: p.stat().st_mtime_ns for s, p in htmls.items()} == mtimes
    assert "1000103/2026-03-02_2026-03-31.html" in (out / "index.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_shard_renders_only_its_stores_and_writes_the_estate(
    demo_data: Path, tmp_path: Path
) -> None:
    mine = batch.in_shard(STORES, shard=(2, 3))
    result = batch.run_batch(
        [demo_data],
        out_dir=tmp_path,
        shard=(2, 3),
        end="2026-03-31",
        as_of="2026-04-01 09:00",
        workers=1,
        progress=False,
        index=False,
    )
    assert [o.store for o in result.outcomes] == mine
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith((".", "_"))) == mine
    # the estate figures cover every store, not the shard's
    estate = json.loads((tmp_path / "_estate.json").read_text(encoding="utf-8"))
    assert sorted(estate["stores"]) == STORES


@pytest.mark.slow
def test_batch_html_is_identical_to_a_single_report(demo_data: Path, tmp_path: Path) -> None:
    from aftersales_kit.render import report

    store = "1000102"
    result = batch.run_batch(
        [demo_data],
        out_dir=tmp_path / "batch",
        end="2026-03-31",
        as_of="2026-04-01 09:00",
        workers=1,
        progress=False,
        index=False,
    )
    assert {o.status for o in result.outcomes} == {"done"}
    from_batch = tmp_path / "batch" / store / "2026-03-02_2026-03-31.html"
    single = report.render(
        report.ReportParams(
            store=store, end="2026-03-31", data=(str(demo_data),), as_of="2026-04-01 09:00:00"
        ),
        out_dir=tmp_path / "single",
    )
    assert single == tmp_path / "single" / store / "2026-03-02_2026-03-31.html"
    html = single.read_bytes()
    assert "本批店铺中位".encode() in html  # the peer median line: peers come from all stores
    from aftersales_kit.render import assets

    # The batch page links the folder's shared chart library and stylesheet; inlined again it
    # is the single report byte for byte.
    light = from_batch.read_text(encoding="utf-8")
    assert "data-aftersales-asset" in light and len(light.encode()) <= 250_000
    assert assets.inline(light, page_dir=from_batch.parent).encode() == html
    assert b"data-aftersales-asset" not in html  # report alone stays self-contained


@pytest.mark.slow
def test_ctrl_c_leaves_no_half_written_report_and_the_rerun_resumes(
    demo_data: Path, tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "reports"
    argv = [
        sys.executable,
        "-m",
        "aftersales_kit",
        "batch",
        str(demo_data),
        "--out",
        str(out),
        "--workers",
        "1",
        "--end",
        "2026-03-31",
        "--as-of",
        "2026-04-01 09:00",
    ]
    # A new session stands in for the terminal: Ctrl-C reaches the whole process group.
    proc = subprocess.Popen(
        argv, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 90
        while not list(out.glob("*/2026-03-02_2026-03-31.json")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no report within 90 s"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    assert "Traceback" not in stderr
    finished = {p.parent.name for p in out.glob("*/2026-03-02_2026-03-31.json")}
    assert finished and len(finished) < len(STORES)  # interrupted part-way
    # Every report present is whole: its sidecar (written last) exists and the page is complete.
    for html in out.glob("*/*.html"):
        if html.name == "index.html":
            continue
        assert html.with_suffix(".json").exists(), html
        assert html.read_text(encoding="utf-8").rstrip().endswith("</html>")
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]

    result = batch.run_batch(
        [demo_data],
        out_dir=out,
        end="2026-03-31",
        as_of="2026-04-01 09:00",
        workers=1,
        progress=False,
    )
    status = {o.store: o.status for o in result.outcomes}
    assert {s for s, v in status.items() if v == "skipped"} == finished
    assert {s for s, v in status.items() if v == "done"} == set(STORES) - finished


@pytest.mark.slow
def test_sharded_runs_then_index_only_cover_every_store(demo_data: Path, tmp_path: Path) -> None:
    import re

    from aftersales_kit import cli

    out = tmp_path / "reports"
    common = ["--out", str(out), "--end", "2026-03-31", "--as-of", "2026-04-01 09:00"]
    for k in (1, 2):
        argv = ["batch", str(demo_data), "--shard", f"{k}/2", "--workers", "1", *common]
        assert cli.main(argv) == 0
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("*/*.html")}
    assert len(mtimes) == len(STORES)

    assert cli.main(["batch", "--index-only", *common]) == 0
    index = (out / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'href="([^"#:]+\.html)"', index)
    assert sorted({Path(link).parent.name for link in links}) == sorted(STORES)
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/*.html")} == mtimes  # nothing re-rendered


def test_index_only_without_reports_is_a_usage_error(tmp_path: Path) -> None:
    from aftersales_kit import cli

    argv = ["batch", "--index-only", "--out", str(tmp_path), "--end", "2026-03-31"]
    assert cli.main(argv) == 2


@pytest.mark.slow
def test_a_star_added_to_stores_toml_re_renders_that_store(demo_data: Path, tmp_path: Path) -> None:
    # The batch's parameters are the same for every store: the per-store inputs a stores.toml
    # gives (star, rank rates, published hours) must reach the fingerprint, or the page showing
    # 无法判断 stays "current" after the manager sent the 风向标 figures.
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy2(demo_data, data / "orders.parquet")
    out = tmp_path / "reports"

    def run() -> dict[str, str]:
        result = batch.run_batch(
            [data],
            out_dir=out,
            stores=["1000101", "1000102"],
            end="2026-03-31",
            as_of="2026-04-01 09:00",
            workers=1,
            progress=False,
            index=False,
        )
        return {o.store: o.status for o in result.outcomes}

    assert run() == {"1000101": "done", "1000102": "done"}
    assert run() == {"1000101": "skipped", "1000102": "skipped"}
    (data / "stores.toml").write_text(
        '[stores."1000101"]\nstar = 3.2\naftersales_rank = 0.1\ndispute_rank = 0.15\n',
        encoding="utf-8",
    )
    assert run() == {"1000101": "done", "1000102": "skipped"}
    page = (out / "1000101" / "2026-03-02_2026-03-31.html").read_text(encoding="utf-8")
    assert "3.2" in page


@pytest.mark.slow
def test_a_store_is_the_same_however_it_is_produced(demo_data: Path, tmp_path: Path) -> None:
    # `report --store X`, the whole batch, `batch --stores X` and two shards: the same figures
    # (pages equal once the shared assets are inlined) and the same fingerprint for X. Before the
    # estate pass a selection loaded only its stores: no peer median, other stores' files
    # counted as "no data rows", a different fingerprint.
    from aftersales_kit import cli
    from aftersales_kit.render import assets, report

    store = "1000102"
    page = f"{store}/2026-03-02_2026-03-31"
    common = ["--end", "2026-03-31", "--as-of", "2026-04-01 09:00", "--workers", "1"]
    runs = {
        "report": ["report", str(demo_data), "--store", store],
        "batch": ["batch", str(demo_data)],
        "stores": ["batch", str(demo_data), "--stores", store],
        "shard": ["batch", str(demo_data), "--shard", f"{batch.shard_of(store, n=2)}/2"],
    }
    pages: dict[str, bytes] = {}
    digests: dict[str, str] = {}
    for name, argv in runs.items():
        out = tmp_path / name
        extra = common if name != "report" else common[:4]
        assert cli.main([*argv, "--out", str(out), *extra]) == 0, name
        html = out / f"{page}.html"
        pages[name] = assets.inline(html.read_text(encoding="utf-8"), page_dir=html.parent).encode()
        side = report.read_sidecar(html)
        assert side is not None
        digests[name] = side["fingerprint"]
        estate = json.loads((out / "_estate.json").read_text(encoding="utf-8"))
        assert sorted(estate["stores"]) == STORES, name
    assert len(set(digests.values())) == 1, digests
    assert all(p == pages["report"] for p in pages.values())
    assert "本批店铺中位".encode() in pages["stores"]
    assert "读取时的警告".encode() not in pages["stores"]


@pytest.mark.slow
def test_a_selection_of_per_store_downloads_shows_no_other_store_as_a_warning(
    tmp_path: Path,
) -> None:
    # One 京麦 download per store (xlsx) and `--stores X`: the other stores' files are part of
    # the estate, not "files without data rows" in X's data quality.
    from aftersales_kit.demo import simulate as demo
    from aftersales_kit.render import report

    files = demo.write_demo(tmp_path / "demo", stores=3, orders=80, end="2026-03-31")
    store = files.stores[1]
    result = batch.run_batch(
        [files.exports],
        out_dir=tmp_path / "out",
        stores=[store],
        end="2026-03-31",
        as_of="2026-04-01 09:00",
        workers=1,
        progress=False,
        index=False,
    )
    assert [(o.store, o.status) for o in result.outcomes] == [(store, "done")]
    page = tmp_path / "out" / store / "2026-03-02_2026-03-31.html"
    assert "读取时的警告" not in page.read_text(encoding="utf-8")
    estate = json.loads((tmp_path / "out" / "_estate.json").read_text(encoding="utf-8"))
    assert sorted(estate["stores"]) == sorted(files.stores)
    single = report.render_store(
        report.ReportParams(
            store=store, end="2026-03-31", data=(str(files.exports),), as_of="2026-04-01 09:00:00"
        ),
        out_dir=tmp_path / "single",
    )
    side_batch, side_single = report.read_sidecar(page), report.read_sidecar(single)
    assert side_batch is not None and side_single is not None
    assert side_batch["fingerprint"] == side_single["fingerprint"]


class _RecordingPool:
    """Stands in for the worker pool: records each submitted store, renders nothing."""

    def __init__(self, events: list[str]) -> None:
        self.events = events

    def submit(self, fn: object, job: batch.Job) -> object:
        from concurrent.futures import Future

        self.events.append(f"submit {job.store}")
        done: Future[batch.Outcome] = Future()
        done.set_result(batch.Outcome(job.store, "done"))
        return done

    def shutdown(self, **_: object) -> None:
        pass


def _recording_run(
    demo_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, fail: str | None = None
) -> tuple[list[str], batch.BatchResult]:
    from aftersales_kit import diagnose as diagnose_module

    events: list[str] = []
    real_assemble = diagnose_module._assemble

    def assemble(sid: str, **kwargs: object) -> object:
        if sid == fail:
            msg = "bad data in this store"
            raise ValueError(msg)
        events.append(f"assemble {sid}")
        return real_assemble(sid, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(diagnose_module, "_assemble", assemble)
    monkeypatch.setattr(batch, "_start_pool", lambda workers, **_: _RecordingPool(events))
    result = batch.run_batch(
        [demo_data], out_dir=tmp_path / "r", as_of="2026-04-01 09:00", progress=False, index=False
    )
    return events, result


def test_batch_renders_each_store_as_soon_as_it_is_diagnosed(
    demo_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store's job goes to the workers before the next store is assembled: the first reports
    render while the parent assembles the rest."""
    events, result = _recording_run(demo_data, tmp_path, monkeypatch)
    assert events == [e for s in STORES for e in (f"assemble {s}", f"submit {s}")]
    assert [o.status for o in result.outcomes] == ["done"] * len(STORES)


def test_a_store_whose_diagnosis_fails_fails_alone_in_the_stream(
    demo_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events, result = _recording_run(demo_data, tmp_path, monkeypatch, fail=BROKEN)
    status = {o.store: o.status for o in result.outcomes}
    assert status == {s: "failed" if s == BROKEN else "done" for s in STORES}
    assert "bad data in this store" in next(o.reason for o in result.outcomes if o.store == BROKEN)
    # the stores before the broken one were rendered from the estate-wide pass, the rest one by one
    assert [e for e in events if e.startswith("submit")] == [
        f"submit {s}" for s in STORES if s != BROKEN
    ]


def test_a_worker_starts_without_papermills_unused_imports_and_can_still_import_them() -> None:
    """The worker's start leaves pyarrow (papermill's HDFS handler) and the unused jsonschema
    format checkers out, and lifts the block: a later import works."""
    import subprocess
    import sys

    code = (
        "import multiprocessing as mp, os, sys\n"
        "from aftersales_kit.render import batch, engine\n"
        "batch._worker_init({}, mp.get_context('spawn').SimpleQueue(), 'zh', os.getppid())\n"
        "left_out = [m for m in ('pyarrow', 'numpy', 'rfc3339_validator') if m in sys.modules]\n"
        "import pyarrow, rfc3339_validator\n"
        "import papermill.iorw\n"
        "engine.shutdown_kernel()\n"
        "print(left_out, 'papermill' in sys.modules, pyarrow.__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.split("\n")[0] == "[] True pyarrow"
