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

The blocked imports are blocked only while the kernel initialises and jsonschema is imported;
the ``sys.modules`` entries are removed before the kernel serves its first request, so code in
the kernel can still import those libraries itself. Stdlib only at the top: this runs before
anything else in the kernel process.
"""

from __future__ import annotations

import importlib
import sys
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


def main() -> None:
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
