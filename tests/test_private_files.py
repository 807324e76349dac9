"""Private intermediate files: pickles only in the toolkit's temporary folders, no orphans after
kill -9, the worker cap."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pytest

from aftersales_kit import host
from aftersales_kit.errors import UsageError
from aftersales_kit.render import batch, report
from aftersales_kit.render.report import ReportParams

AS_OF = "2026-04-01 09:00"
STORES = ["1000101", "1000102", "1000103"]


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from aftersales_kit.demo import simulate as demo

    path = tmp_path_factory.mktemp("hb") / "orders.parquet"
    demo.generate(stores=3, orders=150, end=date(2026, 3, 31)).write_parquet(path)
    return path


# --- item 3: intermediate files never in the output folder --------------------------------------


def test_cache_parameter_pointing_elsewhere_is_refused(tmp_path: Path) -> None:
    planted = tmp_path / "reports" / ".cache" / "x.pkl"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(UsageError, match="cache"):
        ReportParams(cache=str(planted))
    # a look-alike folder name in another place is not the private folder either
    fake = tmp_path / "aftersales-batch-1-x" / "x.pkl"
    fake.parent.mkdir()
    fake.write_bytes(b"")
    with pytest.raises(UsageError, match="cache"):
        ReportParams(cache=str(fake))
    with report.private_dir("test") as private:
        ok = private / "d.pkl"
        ok.write_bytes(b"")
        assert ReportParams(cache=str(ok)).cache == str(ok.resolve())
        os.chmod(private, 0o755)  # a folder others can read is not private
        with pytest.raises(UsageError, match="cache"):
            ReportParams(cache=str(ok))
    assert not private.exists()


def test_private_dir_is_removed_on_error_and_ctrl_c() -> None:
    for exc in (RuntimeError, KeyboardInterrupt):
        with pytest.raises(exc), report.private_dir("test") as private:
            (private / "x.pkl").write_bytes(b"1")
            raise exc
        assert not private.exists()


@pytest.mark.slow
def test_batch_leaves_no_intermediate_files_in_the_output(
    demo_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "reports"
    # A temporary folder of this test alone: parallel test workers run batches of their own.
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    result = batch.run_batch(
        [demo_data], out_dir=out, end="2026-03-31", as_of=AS_OF, workers=1, progress=False
    )
    assert not result.failed
    assert not list(out.rglob("*.pkl"))
    assert list(private.iterdir()) == []


# --- item 4: kill -9 of the parent ---------------------------------------------------------------


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.add(int(entry.name))
    return found


def _descendants(pid: int) -> set[int]:
    todo, seen = [pid], set()
    while todo:
        for child in _children(todo.pop()):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_kill_9_of_the_batch_parent_leaves_no_workers_or_kernels(
    demo_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "reports"
    argv = [sys.executable, "-m", "aftersales_kit", "batch", str(demo_data), "--out", str(out)]
    argv += ["--workers", "2", "--end", "2026-03-31", "--as-of", AS_OF, "--force"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    family: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        # wait until the workers' kernels run (a worker plus its kernel per worker)
        while len(family) < 4:
            assert proc.poll() is None, "batch ended before the kill"
            assert time.monotonic() < deadline, f"workers/kernels not started: {family}"
            family = _descendants(proc.pid)
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 30
        while any(_alive(p) for p in family) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in family if _alive(p)], "orphaned workers or kernels"
    finally:
        for pid in family | {proc.pid}:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    # The next run cleans what the killed one could not, and finishes.
    result = batch.run_batch(
        [demo_data], out_dir=out, end="2026-03-31", as_of=AS_OF, workers=1, progress=False
    )
    assert not result.failed
    assert not [p for p in out.rglob(".running-*")]
    stale = [
        p
        for p in Path(tempfile.gettempdir()).glob("aftersales-batch-*")
        if p.name.startswith(f"aftersales-batch-{proc.pid}-")
    ]
    assert not stale


def test_stale_running_files_of_dead_runs_are_removed(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".running-{dead.pid}-1.ipynb"
    stale_tmp = tmp_path / f".x.html.{dead.pid}.7.tmp"
    mine = tmp_path / f".running-{os.getpid()}-1.ipynb"
    other = tmp_path / "keep.ipynb"
    for p in (stale, stale_tmp, mine, other):
        p.write_text("{}")
    assert set(report.remove_stale_running(tmp_path)) == {stale, stale_tmp}
    assert mine.exists() and other.exists()
    old = Path(tempfile.mkdtemp(prefix=f"aftersales-batch-{dead.pid}-"))
    assert old in report.remove_stale_private_dirs()
    assert not old.exists()


# --- item 8: --workers capped by the stores and the usable CPUs ----------------------------------


def test_workers_capped_by_stores_and_cpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cgroup = tmp_path / "cg"
    cgroup.mkdir()
    (cgroup / "cpu.max").write_text("150000 100000\n")
    assert host.cgroup_cpus(cgroup) == 1.5
    (cgroup / "cpu.max").write_text("max 100000\n")
    assert host.cgroup_cpus(cgroup) is None
    monkeypatch.setattr(batch, "usable_cpus", lambda **_: 2)
    assert batch.worker_count(64, stores=10) == 2
    assert batch.worker_count(None, stores=1) == 1
    assert batch.worker_count(None, stores=None) == 2
    assert batch.worker_count(1, stores=5) == 1
    monkeypatch.undo()
    # 4 CPUs in the affinity mask, a quota of 1.5 CPUs (a pod): one worker's worth.
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3}, raising=False)
    (cgroup / "cpu.max").write_text("150000 100000\n")
    assert host.usable_cpus(cgroup_root=cgroup) == 1
    monkeypatch.undo()
    assert 1 <= host.usable_cpus() <= (os.cpu_count() or 1)
