"""The warm-kernel papermill engine: one kernel reused, namespace reset between notebooks."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

from aftersales_kit.render import engine


def _notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"},
            "language_info": {"name": "python"},
        }
    )
    nb.cells = [
        nbformat.v4.new_code_cell('tag = "a"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import os, sys\n"
            "seen = sorted(k for k in globals() if k.startswith('leak_'))\n"
            "slow = [m for m in ('rfc3987_syntax', 'debugpy', 'isoduration') if m in sys.modules]\n"
            "print(os.getpid(), tag, seen, slow)\n"
            "globals()['leak_' + tag] = 1"
        ),
    ]
    return nb


def _run(tag: str) -> nbformat.NotebookNode:
    import papermill as pm

    return pm.execute_notebook(
        _notebook(),
        None,
        parameters={"tag": tag},
        engine_name=engine.register(),
        kernel_name="python3",
        progress_bar=False,
    )


@pytest.mark.slow
def test_kernel_is_reused_and_namespace_reset() -> None:
    first, second = _run("a"), _run("b")
    pid_a, tag_a, seen_a, rfc_a = first.cells[2].outputs[0]["text"].split(" ", 3)
    pid_b, tag_b, seen_b, _ = second.cells[2].outputs[0]["text"].split(" ", 3)
    assert pid_a == pid_b  # one kernel served both notebooks
    assert (tag_a, tag_b) == ("a", "b")
    assert seen_a == "[]" and seen_b == "[]"  # leak_a from the first run is gone
    # kernel_boot kept the debugger and unused jsonschema format checkers out, and the blocks
    # are gone again (None entries would make the analyst's own imports of them fail)
    assert rfc_a.strip() == "[]"
    # cells are numbered like on a fresh kernel: parameters 1, injected 2, body 3
    assert [c.execution_count for c in second.cells] == [1, 2, 3]
    kernel = engine.get_kernel("python3")
    assert str(kernel.pid) == pid_a


@pytest.mark.slow
def test_wall_timeout_kills_and_replaces_kernel() -> None:
    import papermill as pm

    nb = _notebook()
    nb.cells.append(nbformat.v4.new_code_cell("import time; time.sleep(30)"))
    old = engine.get_kernel("python3").pid
    with pytest.raises(TimeoutError, match="wall-clock"):
        pm.execute_notebook(
            nb,
            None,
            engine_name=engine.register(),
            kernel_name="python3",
            progress_bar=False,
            wall_timeout=2,
        )
    fresh = _run("c")
    pid = fresh.cells[2].outputs[0]["text"].split(" ", 1)[0]
    assert pid != str(old)


def test_skip_slow_imports_only_before_jsonschema(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "rfc3987_syntax", raising=False)
    monkeypatch.setitem(sys.modules, "jsonschema", object())
    engine.skip_slow_imports()
    assert "rfc3987_syntax" not in sys.modules  # too late to matter: leave the process alone
    monkeypatch.delitem(sys.modules, "jsonschema")
    engine.skip_slow_imports()
    assert sys.modules["rfc3987_syntax"] is None


def test_report_command_starts_one_kernel_early_and_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``aftersales report`` starts its kernel before importing the report modules, and the
    report runs on that kernel: one start, and no kernel left behind."""
    from aftersales_kit import cli

    starts: list[tuple[str, ...]] = []
    real = engine._start_kernel

    def counting(*args: object, **kwargs: object) -> object:
        starts.append(tuple(kwargs.get("warm_imports", ())))  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "_start_kernel", counting)
    engine.shutdown_kernels()
    out = tmp_path / "r"
    assert cli.main(["report", "--as-of", "2026-11-25 09:00", "--out", str(out)]) == 0
    assert starts == [engine.WARM_IMPORTS]
    assert engine.take_early_start() is None and not engine.has_kernel()


def test_only_this_pythons_stock_launcher_is_replaced(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from jupyter_client.kernelspec import KernelSpec

    class Manager:
        def __init__(self, argv: list[str]) -> None:
            self.kernel_spec = KernelSpec(argv=argv, display_name="x", language="python")

    ours = Manager(
        [sys.executable, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{c}"]
    )
    engine.boot_without_debugger(ours)  # type: ignore[arg-type]
    assert ours.kernel_spec.argv == [sys.executable, "-m", engine._BOOT, "-f", "{c}"]
    other_python = tmp_path / "python"
    other_python.write_text("")
    for argv in (
        [str(other_python), "-m", "ipykernel_launcher", "-f", "{c}"],  # another interpreter
        [sys.executable, "-m", "other_kernel", "-f", "{c}"],  # another kernel
    ):
        other = Manager(list(argv))
        engine.boot_without_debugger(other)  # type: ignore[arg-type]
        assert other.kernel_spec.argv == argv


@pytest.mark.slow
def test_a_launched_kernel_is_used_once_and_never_left_behind() -> None:
    """start_early launches the process on the main thread: the engine connects to that one;
    given while a kernel is already running, the extra process is stopped, not leaked."""
    import os as _os

    from jupyter_core.utils import run_sync

    engine.shutdown_kernels()
    km = engine._manager("python3")
    engine._launch(km, cwd=_os.getcwd(), env={"AFTERSALES_REPORT": "launched"})
    kernel = engine.get_kernel("python3", env={"AFTERSALES_REPORT": "launched"}, launched=km)
    try:
        assert kernel.km is km  # connected to the launched process, none started besides
        extra = engine._manager("python3")
        engine._launch(extra, cwd=_os.getcwd(), env={"AFTERSALES_REPORT": "launched"})
        again = engine.get_kernel("python3", env={"AFTERSALES_REPORT": "launched"}, launched=extra)
        assert again is kernel
        assert not run_sync(extra.is_alive)()  # the unneeded process was stopped
    finally:
        engine.shutdown_kernels()


_LAUNCH_AND_DIE = """
import os, subprocess, sys
from jupyter_client.connect import write_connection_file
path, _ = write_connection_file(fname=sys.argv[1], transport="ipc", ip=sys.argv[2])
env = dict(os.environ, JPY_PARENT_PID=str(os.getpid()))
kernel = subprocess.Popen(
    [sys.executable, "-m", "aftersales_kit.render.kernel_boot", "-f", path],
    env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
)
print(kernel.pid, flush=True)
os._exit(0)
"""
#: A subreaper (as systemd user sessions and some containers have) adopts the orphaned kernel:
#: its parent is then neither the launcher nor pid 1, the case ipykernel's poller misses.
_SUBREAPER = """
import ctypes, os, subprocess, sys, time
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
out = subprocess.run([sys.executable, "-c", sys.argv[1], *sys.argv[2:]], capture_output=True,
                     text=True, check=True)
pid = int(out.stdout.strip())
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    done, _ = os.waitpid(pid, os.WNOHANG)
    if done:
        print("exited")
        break
    time.sleep(0.1)
else:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    print("outlived its launcher")
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl")
def test_a_kernel_whose_launcher_dies_while_it_starts_exits(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A batch worker killed while its kernel is still importing: the kernel must not outlive
    it (ipykernel's own poller starts only after the imports, and then misses the death)."""
    import subprocess

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _SUBREAPER,
            _LAUNCH_AND_DIE,
            str(tmp_path / "k.json"),
            str(tmp_path / "k"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == "exited"


def test_a_worker_whose_parent_died_before_it_watched_exits_at_once() -> None:
    """A batch worker is given its parent's pid: if that parent is gone by the time the worker
    starts watching (it was killed while the worker imported), the worker exits instead of
    taking its new parent for the one to watch."""
    import subprocess

    code = (
        "import os, time\n"
        "from aftersales_kit.render import engine\n"
        "engine.die_with_parent(parent={parent})\n"
        "time.sleep(0.5)\n"
        "print('still running')\n"
    )
    gone = subprocess.run(
        [sys.executable, "-c", code.format(parent=2**22 + 7)],  # no process has this pid
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert gone.returncode == 1 and "still running" not in gone.stdout
    kept = subprocess.run(
        [sys.executable, "-c", code.format(parent="os.getppid()")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert kept.returncode == 0 and "still running" in kept.stdout
