"""A papermill engine that keeps one warm Jupyter kernel per process and reuses it.

Starting a kernel and importing polars/altair in it costs 2–3 s, while executing a store report
on a warm kernel takes about 0.1 s. The batch therefore keeps one long-lived kernel per worker
process and executes every store's notebook on it, resetting the user namespace (``%reset -f``)
before each run and checking that no user name survived. Imported modules stay loaded: that is
the point.

Use it through papermill like any engine::

    papermill.execute_notebook(src, dst, parameters=..., engine_name=ENGINE_NAME,
                               kernel_name="python3")

It is registered under ``ENGINE_NAME`` by the ``papermill.engine`` entry point of this package, and
:func:`register` registers it programmatically (for processes where entry points are stale).

Extra engine keyword arguments (forwarded by ``execute_notebook(**engine_kwargs)``):
``wall_timeout`` (seconds for the whole notebook; the kernel is killed and replaced when it is hit),
``warm_imports`` (modules imported in a new kernel before its first notebook) and ``kernel_env``
(variables the kernel gets on top of this process's environment; a kernel started with other
values is replaced). The caller's ``os.environ`` is never changed.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aftersales_kit.errors import ReportError
from aftersales_kit.host import CONFIG_ENV, EXPANDED_NAMES, REPORT_ENV, pid_alive
from aftersales_kit.render._compat import (
    RFC3987_PRELUDE,
    outputs_validated_with_the_notebook,
    skip_rfc3987_syntax,
)

if TYPE_CHECKING:
    from jupyter_client.asynchronous.client import AsyncKernelClient
    from jupyter_client.manager import AsyncKernelManager
    from nbformat import NotebookNode

ENGINE_NAME = "aftersales-warm"
#: set in the kernel's environment so the notebook knows the template supplies the vega bundle.
ENV_FLAG = REPORT_ENV
#: modules a new kernel imports before its first notebook (what the store notebook imports; a
#: report kernel never loads or diagnoses, so not the loader and the diagnosis).
WARM_IMPORTS = (
    "polars",
    "altair",
    "great_tables",
    "aftersales_kit.render.charts",
    "aftersales_kit.render.sections",
)
#: kernel start attempts; ZMQ port races and slow starts are transient (TOOLING §1.9).
START_ATTEMPTS = 3
#: a kernel is replaced after this many notebooks, so slow leaks (caches) stay bounded.
MAX_RUNS_PER_KERNEL = 400
#: what the reset leaves in the namespace is checked with this expression.
_LEFTOVER_EXPR = (
    "sorted(k for k in get_ipython().user_ns "
    "if not k.startswith('_') and k not in get_ipython().user_ns_hidden)"
)

logger = logging.getLogger("aftersales_kit.render.engine")


def skip_slow_imports() -> None:
    """Stop jsonschema from importing rfc3987-syntax in this process (see
    :func:`aftersales_kit.render._compat.skip_rfc3987_syntax`)."""
    skip_rfc3987_syntax()


#: AF_UNIX socket paths are limited to 107 bytes; jupyter_client appends ``-<port>``.
_MAX_IPC_PREFIX = 96
_IPC_DIRS: list[str] = []


def kernel_transport() -> dict[str, str]:
    """KernelManager settings for a kernel on IPC (Unix socket) transport, fresh path prefix.

    Over TCP, ipykernel 7 prints "Kernel is running over TCP without encryption…" to the terminal
    at every start: noise to a merchant. The kernel only ever talks to this machine, so Unix sockets
    in the private (0700) Jupyter runtime directory are both quieter and safer than localhost
    ports, and they cannot hit the TCP port races of parallel kernel starts (TOOLING §1.9). When the
    runtime directory's path is too long for a socket, a private temporary directory is used.
    """
    from jupyter_core.paths import jupyter_runtime_dir

    name = f"aftersales-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    base = jupyter_runtime_dir()
    if len(os.path.join(base, name)) > _MAX_IPC_PREFIX:
        if not _IPC_DIRS:
            _IPC_DIRS.append(tempfile.mkdtemp(prefix="as-"))  # mode 0700
            atexit.register(_remove_ipc_dirs)
        base = _IPC_DIRS[0]
    else:
        os.makedirs(base, mode=0o700, exist_ok=True)
    return {"transport": "ipc", "ip": os.path.join(base, name)}


#: environment variables a notebook never needs and must never see (the README promises that the
#: SMTP password does not reach a notebook: a kernel could print or save its environment).
SECRET_ENV = frozenset({"AFTERSALES_SMTP_PASSWORD"})
#: Names that hold credentials by convention (``WECOM_KEY``, ``DINGTALK_TOKEN``, ``DT_SECRET``,
#: ``*_PASSWORD``, webhook URLs): kept from every kernel too. The recipients file may name its
#: variables anything, so those it expands are added by name as well (see ``secret_names``), but
#: a batch worker is a fresh process that never read that file: the pattern is what covers it.
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|HOOK|AUTH", re.IGNORECASE)


def secret_names() -> frozenset[str]:
    """Every variable of this process's environment a kernel must not get."""
    return frozenset(
        {*SECRET_ENV, *EXPANDED_NAMES, *(k for k in os.environ if SECRET_NAME.search(k))}
    )


def kernel_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the secrets (:func:`secret_names`), plus ``extra``,
    for the kernels it starts (given to the kernel manager explicitly; this process's
    environment stays as it is)."""
    hidden = secret_names()
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    env.update(extra or {})
    return env


def _env_key(extra: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((extra or {}).items()))


def env_kernel_manager(extra: Mapping[str, str]) -> type[AsyncKernelManager]:
    """An ``AsyncKernelManager`` class whose kernels start with :func:`kernel_env` (``extra``).

    For papermill's stock engine, which starts its kernel through nbclient without an ``env``:
    nbclient accepts the class as ``kernel_manager_class`` and still owns (and shuts down) the
    manager it creates.
    """
    from jupyter_client.manager import AsyncKernelManager

    values = dict(extra)

    class EnvKernelManager(AsyncKernelManager):
        # jupyter_client types the async start_kernel as KernelManager's sync one (and ignores
        # the mismatch in its own class body)
        async def start_kernel(self, **kw: object) -> None:  # type: ignore[override]
            kw.setdefault("env", kernel_env(values))
            await super().start_kernel(**kw)

    return EnvKernelManager


_STALE_IPC = re.compile(r"^aftersales-(\d+)-[0-9a-f]{8}")


def remove_stale_ipc() -> list[str]:
    """Remove the IPC sockets and kernel connection files of kernels whose owner process is dead.

    A process killed with SIGKILL runs no atexit handler, so its kernels' Unix sockets
    (``aftersales-<pid>-…``) and connection files stay in the Jupyter runtime directory.
    """
    from jupyter_core.paths import jupyter_runtime_dir

    removed: list[str] = []
    base = jupyter_runtime_dir()
    try:
        names = os.listdir(base)
    except OSError:
        return removed
    for name in names:
        match = _STALE_IPC.match(name)
        if match and int(match.group(1)) != os.getpid() and not pid_alive(int(match.group(1))):
            path = os.path.join(base, name)
            try:
                os.unlink(path)
                removed.append(path)
            except OSError:
                pass
    for name in names:
        if not (name.startswith("kernel-") and name.endswith(".json")):
            continue
        path = os.path.join(base, name)
        try:
            with open(path, encoding="utf-8") as fh:
                ip = str(json.load(fh).get("ip", ""))
        except (OSError, ValueError, AttributeError):
            continue
        match = _STALE_IPC.match(os.path.basename(ip))
        if match and int(match.group(1)) != os.getpid() and not pid_alive(int(match.group(1))):
            try:
                os.unlink(path)
                removed.append(path)
            except OSError:
                pass
    return removed


def die_with_parent(*, parent: int | None = None, poll: float = 1.0) -> None:
    """Make this worker process exit, with its kernels, when its parent dies (even by SIGKILL).

    On Linux the kernel delivers SIGTERM at the parent's death (``prctl(PR_SET_PDEATHSIG)``);
    elsewhere, and as a second line, a daemon thread polls the parent pid. Either way the kernels
    are killed first: they would otherwise keep ~650 MB each, forever. ``parent``: the pid the
    parent gave this worker; a worker whose parent died while it was still starting (before this
    call) exits at once instead of watching its new parent.
    """
    parent = os.getppid() if parent is None else parent

    def stop(*_args: object) -> None:
        kill_kernels()
        os._exit(1)

    signal.signal(signal.SIGTERM, stop)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):
            logger.debug("prctl(PR_SET_PDEATHSIG) unavailable", exc_info=True)
    if os.getppid() != parent:  # the parent died before prctl took effect
        stop()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        stop()

    threading.Thread(target=watch, name="aftersales-parent-watch", daemon=True).start()


def kill_kernels() -> None:
    """SIGKILL every kernel of this process at once (no handshake: the process is going away)."""
    for kernel in list(_KERNELS.values()):
        if kernel.pid is not None:
            try:
                os.kill(kernel.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _remove_ipc_dirs() -> None:
    import shutil

    for path in _IPC_DIRS:
        shutil.rmtree(path, ignore_errors=True)


#: run silently in every new kernel, before its first notebook.
_KERNEL_PRELUDE = RFC3987_PRELUDE


def _warm_code(modules: Iterable[str]) -> str:
    lines = ["import importlib as _il"]
    for name in modules:
        # A module that is missing here fails later in the notebook with a proper cell error.
        lines.append(f"try:\n    _il.import_module({name!r})\nexcept ImportError:\n    pass")
    lines.append("del _il")
    return "\n".join(lines) + "\n"


def _reset_code(cwd: str) -> str:
    # Not ``%reset -f``: it runs gc.collect() twice, 0.3 s per store on this machine with polars and
    # altair loaded. Dropping every user name (and restoring the builtins IPython put in the
    # namespace, in case a notebook rebound one) gives the same clean namespace; the outputs cache
    # is cleared so old results are not kept alive. execution_count = 1 numbers the cells exactly
    # like a fresh kernel. polars display options are process state, so they go back to defaults.
    return (
        # the function removes itself with every other user name
        "def _aftersales_reset(cwd):\n"
        "    import os, sys\n"
        "    ip = get_ipython()\n"
        "    ns, hidden = ip.user_ns, ip.user_ns_hidden\n"
        "    for name in list(ns):\n"
        "        if name in hidden:\n"
        "            if ns[name] is not hidden[name]:\n"
        "                ns[name] = hidden[name]\n"
        "        else:\n"
        "            del ns[name]\n"
        "    ns['Out'].clear()\n"
        "    del ns['In'][1:]\n"
        "    ip.execution_count = 1\n"
        "    if 'polars' in sys.modules:\n"
        "        sys.modules['polars'].Config.restore_defaults()\n"
        "    os.chdir(cwd)\n"
        f"_aftersales_reset({cwd!r})\n"
    )


@dataclass
class WarmKernel:
    """One started kernel, its manager and its long-lived client."""

    kernel_name: str
    km: AsyncKernelManager
    kc: AsyncKernelClient  # kept connected between notebooks
    pid: int | None
    env: tuple[tuple[str, str], ...] = ()  # the ``extra`` of kernel_env it was started with
    runs: int = 0
    broken: bool = field(default=False)

    def run_silent(self, code: str, *, timeout: float = 60.0) -> dict[str, Any]:
        """Execute control code (not stored in history) and return the reply content."""
        from jupyter_core.utils import run_sync

        reply = run_sync(self.kc.execute_interactive)(
            code,
            silent=False,
            store_history=False,
            user_expressions={"leftover": _LEFTOVER_EXPR},
            timeout=timeout,
            output_hook=lambda _msg: None,
        )
        content: dict[str, Any] = reply["content"]  # a Jupyter message: JSON
        if content.get("status") != "ok":
            msg = (
                f"预热内核执行控制代码失败 (warm kernel control code failed): "
                f"{content.get('ename')}: {content.get('evalue')}"
            )
            raise ReportError(msg)
        return content

    def reset(self, *, cwd: str) -> None:
        """Clear the user namespace and fail loudly if any user name survives."""
        content = self.run_silent(_reset_code(cwd))
        leftover = content["user_expressions"]["leftover"]
        if leftover.get("status") != "ok" or leftover["data"]["text/plain"] != "[]":
            msg = (
                "内核命名空间重置后仍有变量 (names survived the kernel reset): "
                f"{leftover.get('data', leftover)}"
            )
            raise ReportError(msg)

    def kill(self) -> None:
        """Kill the kernel process now (used by the wall-clock watchdog, from another thread)."""
        self.broken = True
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def shutdown(self) -> None:
        from jupyter_core.utils import run_sync

        try:
            self.kc.stop_channels()
            # Killed and reaped here: jupyter_client's own kill polls the process every 0.1 s, so
            # a report waited 0.1 s for a kernel that exits in milliseconds. Its shutdown below
            # then finds the process gone and only cleans up.
            process = getattr(self.km.provisioner, "process", None)
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            logger.debug("kernel kill failed", exc_info=True)
        finally:
            try:
                run_sync(self.km.shutdown_kernel)(now=True)
            except Exception:  # the process may already be gone; the manager still cleans up
                logger.debug("kernel shutdown failed", exc_info=True)


#: this process's kernels, by kernel name
_KERNELS: dict[str, WarmKernel] = {}
_LOCK = threading.Lock()


def _manager(kernel_name: str) -> AsyncKernelManager:
    """A kernel manager on :func:`kernel_transport`, its spec looked up in jupyter's kernel
    folders and ``~/.ipython/kernels`` given by path: jupyter_client's default list imports
    IPython (~0.06 s before the kernel process starts) only to find that folder."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.paths import jupyter_path

    ipython_dir = os.environ.get("IPYTHONDIR") or os.path.join(os.path.expanduser("~"), ".ipython")
    folders = [*jupyter_path("kernels"), os.path.join(ipython_dir, "kernels")]
    specs = KernelSpecManager(kernel_dirs=folders)
    return AsyncKernelManager(
        kernel_name=kernel_name, kernel_spec_manager=specs, **kernel_transport()
    )


def _launch(km: AsyncKernelManager, *, cwd: str, env: Mapping[str, str] | None) -> None:
    """Start ``km``'s kernel process (not waiting for it to answer)."""
    from jupyter_core.utils import run_sync

    boot_without_debugger(km)
    # An in-memory history avoids SQLite lock clashes between parallel kernels.
    run_sync(km.start_kernel)(
        extra_arguments=["--HistoryManager.hist_file=:memory:"], cwd=cwd, env=kernel_env(env)
    )


def _start_kernel(
    kernel_name: str,
    *,
    cwd: str,
    startup_timeout: float,
    warm_imports: Iterable[str],
    env: Mapping[str, str] | None = None,
    launched: AsyncKernelManager | None = None,
) -> WarmKernel:
    """Start, connect and warm a kernel (``launched``: its process already started by
    :func:`start_early`; a failed first attempt starts a new one)."""
    import zmq
    from jupyter_core.utils import run_sync

    last: BaseException | None = None
    for attempt in range(1, START_ATTEMPTS + 1):
        km = launched if launched is not None else _manager(kernel_name)
        try:
            if launched is None:
                _launch(km, cwd=cwd, env=env)
            launched = None
            # One client for the kernel's life: a new client per notebook costs ~0.2 s in
            # wait_for_ready (it drains IOPub for 0.2 s), and two clients would share the session
            # id that jupyter_client uses as ZMQ identity, so replies could reach the wrong one.
            kc = km.client()
            kc.start_channels()
            run_sync(kc.wait_for_ready)(timeout=startup_timeout)
        except (RuntimeError, TimeoutError, zmq.ZMQError) as exc:
            launched = None
            last = exc
            logger.warning("kernel start attempt %d failed: %s", attempt, exc)
            try:
                run_sync(km.shutdown_kernel)(now=True)
            except Exception:
                logger.debug("cleanup after failed start failed", exc_info=True)
            time.sleep(0.2 * attempt)
            continue
        pid = getattr(km.provisioner, "pid", None)
        kernel = WarmKernel(kernel_name=kernel_name, km=km, kc=kc, pid=pid, env=_env_key(env))
        kernel.run_silent(_KERNEL_PRELUDE + _warm_code(warm_imports), timeout=startup_timeout * 2)
        return kernel
    msg = (
        f"内核 {kernel_name} 启动失败，已重试 {START_ATTEMPTS} 次 "
        f"(kernel failed to start after {START_ATTEMPTS} attempts): {last}"
    )
    raise ReportError(msg)


#: The stock launcher in a kernel spec's command, and ours (:mod:`.kernel_boot`).
_STOCK_LAUNCHER = "ipykernel_launcher"
_BOOT = "aftersales_kit.render.kernel_boot"
#: Python's flag in ipykernel's spec that only its debugger needs (frozen modules start faster).
_DEBUGGER_FLAG = "-Xfrozen_modules=off"


def boot_without_debugger(km: AsyncKernelManager) -> None:
    """Start ``km``'s kernel through :mod:`.kernel_boot` (ipykernel without the debugger and
    the imports no report uses) when its spec runs the stock launcher on this interpreter; any
    other spec (another Python, another kernel) is left as it is."""
    spec = km.kernel_spec
    if spec is None:
        return
    argv = list(spec.argv)
    try:
        at = argv.index(_STOCK_LAUNCHER)
        same_python = os.path.samefile(argv[0], sys.executable)
    except (ValueError, OSError, IndexError):
        return
    if at > 0 and argv[at - 1] == "-m" and same_python:
        argv[at] = _BOOT
        spec.argv = [a for a in argv if a != _DEBUGGER_FLAG]


def get_kernel(
    kernel_name: str = "python3",
    *,
    cwd: str | None = None,
    startup_timeout: float = 60.0,
    warm_imports: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
    launched: AsyncKernelManager | None = None,
) -> WarmKernel:
    """This process's warm kernel for ``kernel_name``, started (and warmed) on first use.

    ``env`` is added to the kernel's environment (:func:`kernel_env`); a kernel started with other
    values is replaced. ``None`` takes the kernel there is, or starts one without additions.
    ``launched``: a kernel process already started with ``env`` (:func:`start_early`), used
    when a new kernel is needed.
    """
    with _LOCK:
        kernel = _KERNELS.get(kernel_name)
        if kernel is not None and (
            kernel.broken
            or kernel.runs >= MAX_RUNS_PER_KERNEL
            or (env is not None and kernel.env != _env_key(env))
            or not _alive(kernel)
        ):
            _KERNELS.pop(kernel_name)
            kernel.shutdown()
            kernel = None
        if kernel is None:
            kernel = _start_kernel(
                kernel_name,
                cwd=cwd or os.getcwd(),
                startup_timeout=startup_timeout,
                warm_imports=warm_imports,
                env=env,
                launched=launched,
            )
            _KERNELS[kernel_name] = kernel
        elif launched is not None:
            _discard(launched)
        return kernel


def _discard(km: AsyncKernelManager) -> None:
    """Stop a kernel process that is not needed after all."""
    from jupyter_core.utils import run_sync

    try:
        run_sync(km.shutdown_kernel)(now=True)
    except Exception:  # already gone; the manager still cleans up
        logger.debug("kernel shutdown failed", exc_info=True)


def _alive(kernel: WarmKernel) -> bool:
    from jupyter_core.utils import run_sync

    return bool(run_sync(kernel.km.is_alive)())


def has_kernel(kernel_name: str = "python3") -> bool:
    """Whether this process already holds a warm kernel for ``kernel_name``."""
    with _LOCK:
        return kernel_name in _KERNELS


def shutdown_kernel(kernel_name: str = "python3") -> None:
    """Shut down this process's warm kernel for ``kernel_name`` (if any)."""
    with _LOCK:
        kernel = _KERNELS.pop(kernel_name, None)
    if kernel is not None:
        kernel.shutdown()


def shutdown_kernels() -> None:
    """Shut down every warm kernel of this process (also registered with atexit)."""
    with _LOCK:
        kernels = list(_KERNELS.values())
        _KERNELS.clear()
    for kernel in kernels:
        kernel.shutdown()


atexit.register(shutdown_kernels)


def prewarm(
    kernel_name: str = "python3",
    *,
    warm_imports: Iterable[str] = (),
    startup_timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
    launched: AsyncKernelManager | None = None,
) -> int | None:
    """Start this process's kernel ahead of the first notebook; returns the kernel pid."""
    kernel = get_kernel(
        kernel_name,
        startup_timeout=startup_timeout,
        warm_imports=warm_imports,
        env=env,
        launched=launched,
    )
    return kernel.pid


def report_env(*, config: str | Path | None = None) -> dict[str, str]:
    """What a report kernel gets on top of this process's environment: :data:`ENV_FLAG`, and the
    configuration file when there is one. Given to the kernel manager explicitly (engine kwarg
    ``kernel_env``); this process's ``os.environ`` is never changed."""
    env = {ENV_FLAG: "1"}
    if config:
        env[CONFIG_ENV] = str(Path(config).resolve())
    return env


class KernelStart(threading.Thread):
    """Starts this process's warm kernel in the background; a failure is left to the engine,
    which retries the start when the notebook needs the kernel and reports it properly."""

    def __init__(
        self,
        warm_imports: Iterable[str],
        *,
        env: Mapping[str, str],
        launched: AsyncKernelManager | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.warm_imports = tuple(warm_imports)
        self.env = dict(env)
        self.launched = launched

    def run(self) -> None:
        try:
            prewarm(warm_imports=self.warm_imports, env=self.env, launched=self.launched)
        except Exception:  # the engine retries the start and reports its failure
            logger.debug("background kernel start failed", exc_info=True)


_EARLY: list[KernelStart] = []


def start_in_background(
    *,
    warm_imports: Iterable[str],
    env: Mapping[str, str],
    launched: AsyncKernelManager | None = None,
) -> KernelStart:
    """Start this process's kernel in a thread (joined by the caller before shutting it down);
    ``launched``: its process already started, the thread connects to it and warms it."""
    # Everything the start thread imports is imported here first: two threads importing
    # jupyter_client's package at once can see a half-initialised module (ImportError).
    import jupyter_client  # noqa: F401
    import jupyter_core.paths
    import jupyter_core.utils  # noqa: F401
    import zmq  # noqa: F401

    start = KernelStart(warm_imports, env=env, launched=launched)
    start.start()
    return start


def start_early(*, config: str | Path | None) -> None:
    """Start ``aftersales report``'s kernel before the command imports the rest of the toolkit:
    the kernel's start and imports are the longest step of a report, and the report picks it up
    (:func:`take_early_start`) with the same warm imports and environment."""
    env = report_env(config=config)
    # The process itself starts here, before this thread imports anything more: started from
    # the background thread, it waited ~0.15 s for the GIL behind the report's imports.
    km = _manager("python3")
    launched: AsyncKernelManager | None = km
    try:
        _launch(km, cwd=os.getcwd(), env=env)
    except Exception:  # the background start tries again and the engine reports a failure
        logger.debug("early kernel launch failed", exc_info=True)
        _discard(km)
        launched = None
    _EARLY.append(start_in_background(warm_imports=WARM_IMPORTS, env=env, launched=launched))


def take_early_start() -> KernelStart | None:
    """The start begun by :func:`start_early`, once (its taker owns the kernel)."""
    return _EARLY.pop() if _EARLY else None


def _make_engine() -> type:
    from papermill.engines import NBClientEngine

    # papermill has no type hints (pyproject: ignore_missing_imports), so its base class is Any
    class WarmKernelEngine(NBClientEngine):  # type: ignore[misc]
        """papermill engine executing on this process's warm kernel (namespace reset per run)."""

        @classmethod
        def execute_managed_notebook(
            cls,
            nb_man: object,
            kernel_name: str,
            log_output: bool = False,
            stdout_file: object = None,
            stderr_file: object = None,
            start_timeout: float = 60,
            execution_timeout: float | None = None,
            **kwargs: Any,
        ) -> NotebookNode:
            # papermill's signature (nb_man is its NotebookExecutionManager, the files any stream)
            wall_timeout = kwargs.pop("wall_timeout", None)
            kernel = _kernel_for_run(
                kernel_name,
                start_timeout=start_timeout,
                warm_imports=kwargs.pop("warm_imports", ()),
                env=kwargs.pop("kernel_env", None),
            )
            client = _notebook_client(
                nb_man,
                kernel,
                kwargs,
                timeout=execution_timeout,
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
            )
            return _execute_watched(client, kernel, wall_timeout=wall_timeout)

    return WarmKernelEngine


def _kernel_for_run(
    kernel_name: str,
    *,
    start_timeout: float,
    warm_imports: Iterable[str],
    env: Mapping[str, str] | None,
) -> WarmKernel:
    """This process's warm kernel, its namespace reset for the next notebook."""
    kernel = get_kernel(
        kernel_name, startup_timeout=start_timeout, warm_imports=warm_imports, env=env
    )
    # papermill has already chdir'ed into its ``cwd`` argument; a reused kernel must follow.
    kernel.reset(cwd=os.getcwd())
    kernel.runs += 1
    return kernel


def _notebook_client(
    nb_man: object, kernel: WarmKernel, kwargs: dict[str, object], **options: object
) -> Any:
    """papermill's notebook client on ``kernel`` (its manager and its long-lived client)."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.utils import merge_kwargs, remove_args

    kwargs = remove_args(["input_path", "timeout", "startup_timeout", "km"], **kwargs)
    client = PapermillNotebookClient(
        nb_man,
        km=kernel.km,
        **merge_kwargs(kwargs, log=logging.getLogger("papermill"), **options),
    )
    # With km and kc given, nbclient neither starts nor shuts down anything (it does not own the
    # manager), so the kernel outlives this notebook.
    client.kc = kernel.kc
    return client


def _execute_watched(
    client: Any, kernel: WarmKernel, *, wall_timeout: float | None
) -> NotebookNode:
    """``client.execute()``, the kernel killed when it runs past ``wall_timeout`` seconds."""
    watchdog = None
    fired = threading.Event()

    def expire() -> None:
        fired.set()
        kernel.kill()

    if wall_timeout:
        watchdog = threading.Timer(wall_timeout, expire)
        watchdog.daemon = True
        watchdog.start()
    try:
        with outputs_validated_with_the_notebook():
            nb: NotebookNode = client.execute()  # papermill's client: untyped
        return nb
    except BaseException:
        # A timeout, a dead kernel or Ctrl-C can leave the kernel busy: never reuse it.
        kernel.broken = True
        if fired.is_set():
            msg = (
                f"笔记本执行超过 {wall_timeout:g} 秒，已终止 "
                f"(notebook exceeded the wall-clock timeout of {wall_timeout:g} s)"
            )
            raise TimeoutError(msg) from None
        raise
    finally:
        if watchdog is not None:
            watchdog.cancel()


_ENGINE: type | None = None


def engine_class() -> type:
    """The engine class (built lazily so importing this module does not import papermill)."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = _make_engine()
    return _ENGINE


def register(name: str = ENGINE_NAME) -> str:
    """Register the engine in papermill's registry; returns the name to pass as engine_name."""
    from papermill.engines import papermill_engines

    papermill_engines.register(name, engine_class())
    return name


def __getattr__(name: str) -> type:
    # The entry point names ``aftersales_kit.render.engine:WarmKernelEngine``; build it on access.
    if name == "WarmKernelEngine":
        return engine_class()
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
