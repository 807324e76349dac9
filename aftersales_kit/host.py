"""Facts about this machine and its processes: the CPUs we may use, whether a process lives.

Shared by the batch (worker count), the loader (parallel reads) and the clean-up of files left by
dead runs (report and engine).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: The environment variable naming the configuration file (here, not in ``config``: a report
#: kernel reads it without importing the configuration models).
CONFIG_ENV = "AFTERSALES_CONFIG"
#: Set in a report kernel's environment: the page's template supplies the chart library (read by
#: the charts in the kernel, set by the engine that starts it).
REPORT_ENV = "AFTERSALES_REPORT"
#: The configuration file looked for in the working directory.
DEFAULT_CONFIG = Path("aftersales.toml")
#: Names of the variables ``config.expand_env`` has read in this process: they hold webhook keys
#: and robot secrets, so report kernels never get them (``render.engine.kernel_env``). Here, not
#: in ``config``: the kernel start reads it without importing the configuration models (0.4 s of a
#: report's critical path).
EXPANDED_NAMES: set[str] = set()


def cgroup_cpus(root: Path = CGROUP_ROOT) -> float | None:
    """The CPU quota of this container (cgroup v2 ``cpu.max``, else v1 CFS files), in CPUs."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError, ZeroDivisionError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def usable_cpus(*, cgroup_root: Path = CGROUP_ROOT) -> int:
    """The CPUs this process may use: its affinity mask, capped by a cgroup quota (a k8s pod)."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        count = os.cpu_count() or 1
    quota = cgroup_cpus(cgroup_root)
    if quota is not None:
        count = min(count, max(1, int(quota)))
    return max(1, count)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (another user's process counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def default_config_path(
    given: str | Path | None, *, env: Mapping[str, str], cwd: Path
) -> Path | None:
    """The configuration file of a command-line run, as an absolute path: ``given`` (``--config``),
    else the user's ``AFTERSALES_CONFIG`` variable (the toolkit never sets it), else
    ``aftersales.toml`` in ``cwd`` when present, else None (the defaults). Here rather than in
    ``config``: the command line resolves it (and starts a report's kernel) before importing the
    configuration models."""
    explicit = given or env.get(CONFIG_ENV)
    if explicit:
        return (cwd / Path(explicit)).resolve()
    candidate = cwd / DEFAULT_CONFIG
    return candidate.resolve() if candidate.exists() else None
