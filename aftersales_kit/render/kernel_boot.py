"""The command of the kernels the engine starts: ipykernel's own launcher, minus what a report
kernel never uses (``python -m aftersales_kit.render.kernel_boot -f <connection file>``).

A report kernel's start and imports are the longest step of ``aftersales report`` (and a batch
worker's first page), and two things in them serve nobody here:

- ipykernel imports debugpy for the Jupyter debugger (~0.1 s). Nobody attaches a debugger to a
  kernel that runs one notebook and exits; ipykernel treats debugpy as optional and starts
  without the debugger when it cannot be imported.
- jsonschema (imported by altair) looks for the libraries of six optional format checkers (date-
  time, duration, hostname, idn-hostname, json-pointer, uri-template; ~0.06 s). Neither the
  Vega-Lite schema altair validates against nor nbformat's use any of those formats (the
  ``uri`` and ``color-hex`` checkers altair does use stay).

It also exits with the process that launched it from its first moment (:func:`watch_parent`).
The blocked imports are blocked only while the kernel initialises and jsonschema is imported;
the ``sys.modules`` entries are removed before the kernel serves its first request, so code in
the kernel can still import those libraries itself. Stdlib only at the top: this runs before
anything else in the kernel process.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: ipykernel's optional debugger
DEBUGGER = ("debugpy",)
#: jsonschema's optional format-checker libraries for formats no report schema uses
UNUSED_FORMAT_CHECKERS = (
    "fqdn",
    "idna",
    "rfc3339_validator",
    "jsonpointer",
    "uri_template",
    "isoduration",
    # the lark grammar behind the "iri" checker (see _compat.skip_rfc3987_syntax)
    "rfc3987_syntax",
)


@contextmanager
def blocked(names: tuple[str, ...]) -> Iterator[None]:
    """Imports of ``names`` fail (ImportError) inside the block; afterwards they work again."""
    added = [n for n in names if n not in sys.modules]
    for name in added:
        # None in sys.modules is the documented way to make an import fail; typeshed says Module
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in added:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


def watch_parent(*, poll: float = 0.5) -> None:
    """Exit when the process that launched this kernel is gone, from the kernel's first moment.

    ipykernel's own parent poller starts only after the kernel has initialised (imports, ~1 s),
    and if the parent died meanwhile the poller takes the new parent for the original: a batch
    worker killed while its kernel started left that kernel running for ever wherever orphans
    go to a subreaper rather than pid 1 (systemd user sessions, some containers). Only for a
    kernel launched as a dependent child (``JPY_PARENT_PID``, set by jupyter_client, names its
    parent); a kernel whose parent is already gone exits at once."""
    expected = os.environ.get("JPY_PARENT_PID", "")
    if sys.platform == "win32" or not expected.isdigit():
        return  # not a dependent child (on Windows the variable holds a handle)
    parent = int(expected)
    if os.getppid() != parent:
        os._exit(1)  # orphaned before this line ran

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        os._exit(1)

    threading.Thread(target=watch, name="aftersales-kernel-parent", daemon=True).start()


def main() -> None:
    watch_parent()
    # As ipykernel_launcher: the working directory leaves sys.path while ipykernel loads
    # (IPython puts it back when the shell initialises).
    if sys.path and (sys.path[0] == "" or Path(sys.path[0]) == Path.cwd()):
        del sys.path[0]
    from ipykernel.kernelapp import IPKernelApp

    with blocked(DEBUGGER + UNUSED_FORMAT_CHECKERS):
        try:
            # its optional format checkers are looked for now, once
            importlib.import_module("jsonschema")
        except ImportError:
            pass
        app = IPKernelApp.instance()
        app.initialize()  # type: ignore[no-untyped-call]  # ipykernel is untyped
    app.start()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
