"""A private cache of parsed downloads, so the same 京麦 export is parsed once, not every run.

Reading a folder of ``.xlsx`` downloads is most of a single report's time (calamine, the text
clean-up and the timestamp parsing: ~0.15 s of CPU per 3,000-row file), and an agency renders
the same folder for store after store, every morning. Each file's parsed result is kept under a
key that covers everything the parse depends on: the file's bytes (sha256), its path, the store
identity and store filter given to it, the column aliases, and the versions of the toolkit,
polars and fastexcel. Any change is a new key, so a stale entry is never read; an entry not used
for :data:`KEEP_DAYS` days is removed.

The cache holds the downloads' rows as they are (customer names and phones included): it lives
in the user's private cache folder (``~/.cache/aftersales-kit``, mode 0700, files 0600), never in
a reports folder that gets zipped and mailed. ``AFTERSALES_CACHE=off`` turns it off. A cache that
cannot be read or written is a miss, never an error: the file is parsed again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from aftersales_kit._version import __version__

if TYPE_CHECKING:
    import polars as pl

#: Bumped when the stored layout changes: older entries are then never read.
CACHE_VERSION = 1
#: An entry not read or written for this many days is removed at the next write.
KEEP_DAYS = 14
_FRAME, _META = "frame.arrow", "meta.json"


def default_dir(env: Mapping[str, str], *, home: Path) -> Path | None:
    """``$AFTERSALES_CACHE`` (``off``/``0``/``no``/empty: no cache), else
    ``$XDG_CACHE_HOME/aftersales-kit/parsed``, else ``~/.cache/aftersales-kit/parsed``."""
    given = env.get("AFTERSALES_CACHE")
    if given is not None:
        if given.strip().lower() in ("", "0", "off", "no", "false"):
            return None
        return Path(given).expanduser()
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else home / ".cache"
    return base / "aftersales-kit" / "parsed"


def file_key(path: Path, *, context: Mapping[str, object]) -> str:
    """sha256 over the parse's inputs (``context``), the versions and the file's bytes."""
    import fastexcel
    import polars as pl

    digest = hashlib.sha256()
    header = {
        "cache": CACHE_VERSION,
        "toolkit": __version__,
        "polars": pl.__version__,
        "fastexcel": fastexcel.__version__,
        **context,
    }
    digest.update(json.dumps(header, sort_keys=True, default=str).encode("utf-8"))
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read(cache_dir: Path, key: str) -> tuple[pl.DataFrame | None, dict[str, object]] | None:
    """The stored (frame, metadata) of ``key``, or ``None`` (not there, or unreadable)."""
    import polars as pl

    entry = cache_dir / key[:2] / key
    try:
        meta = json.loads((entry / _META).read_text(encoding="utf-8"))
        # From bytes, not a memory map: a concurrent prune may remove the file.
        frame = pl.read_ipc((entry / _FRAME).read_bytes()) if meta.get("has_frame") else None
        os.utime(entry)  # used: kept for another KEEP_DAYS
    except (OSError, ValueError, pl.exceptions.PolarsError):
        return None
    return frame, meta


def write(
    cache_dir: Path, key: str, *, frame: pl.DataFrame | None, meta: Mapping[str, object]
) -> None:
    """Store ``key``'s frame and metadata (the metadata last: an entry without it is a miss).
    Concurrent writers of one key write the same bytes; each file is replaced atomically."""
    import polars as pl

    try:
        entry = cache_dir / key[:2] / key
        _private_dirs(cache_dir, entry)
        if frame is not None:
            tmp = entry / f".{_FRAME}.{os.getpid()}.tmp"
            frame.write_ipc(tmp, compression="lz4")
            os.chmod(tmp, 0o600)
            os.replace(tmp, entry / _FRAME)
        tmp = entry / f".{_META}.{os.getpid()}.tmp"
        text = json.dumps({**meta, "has_frame": frame is not None}, ensure_ascii=False)
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, entry / _META)
    except (OSError, pl.exceptions.PolarsError):
        return  # a cache that cannot be written only costs the next run a parse


def prune(cache_dir: Path, *, keep_days: float = KEEP_DAYS) -> int:
    """Remove the entries not used for ``keep_days`` days; returns how many. Run once per load
    (a folder scan per file written was quadratic in a folder of thousands of downloads)."""
    cutoff = time.time() - keep_days * 86400
    removed = 0
    for entry in cache_dir.glob("??/*"):
        with contextlib.suppress(OSError):
            if entry.is_dir() and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry)
                removed += 1
    return removed


def _private_dirs(root: Path, entry: Path) -> None:
    """``entry`` and its parents up to ``root`` created private (0700)."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    for folder in (entry.parent, entry):
        folder.mkdir(exist_ok=True, mode=0o700)
