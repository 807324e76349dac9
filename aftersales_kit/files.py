"""Atomic file writes: a reader, a crash or a Ctrl-C never leaves half a report, cache or mail.

Everything goes to a hidden temporary sibling first and is renamed over the target with
``os.replace``, which is atomic on one file system.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; it replaces ``path`` only on success.

    Examples
    --------
    >>> with atomic_path("reports/a.xlsx") as tmp:  # doctest: +SKIP
    ...     frame.write_excel(tmp)
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # pid and thread keep parallel writers (batch workers, threads) off each other's files.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | Path, *, data: bytes | str) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
    return Path(path)
