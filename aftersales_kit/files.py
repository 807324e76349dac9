"""Safe file writes: a reader, a crash or a Ctrl-C never leaves half a report, cache or mail, and
nothing is written through a symlink someone planted in the output folder.

Everything goes to a hidden temporary sibling first and is renamed over the target with
``os.replace``, which is atomic on one file system and replaces a symlink at the target itself
instead of following it. The temporary file is created exclusively (``O_EXCL | O_NOFOLLOW``), so a
link planted under its name cannot redirect the write either.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aftersales_kit.errors import AftersalesError, ReportError


def fresh_file(path: str | Path) -> Path:
    """Create ``path`` as a new empty regular file of ours (whatever was there is unlinked first).

    Writers that open the path by name afterwards (papermill, xlsxwriter) then write into this
    file, not through a symlink that was at that name.
    """
    target = Path(path)
    target.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    os.close(os.open(target, flags, 0o644))
    return target


def safe_dir(base: str | Path, *parts: str) -> Path:
    """``base/parts…`` created as real folders; a symlink among ``parts`` is refused.

    ``base`` itself is the user's choice (it may be a link); below it, the toolkit owns the layout.
    """
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    for part in parts:
        path = path / part
        if path.is_symlink():
            msg = (
                f"输出文件夹中有符号链接，拒绝写入 (refusing to write through a symlink in the "
                f"output folder): {path} -> {os.readlink(path)}; 请删除它 (remove it)"
            )
            raise ReportError(msg)
        path.mkdir(exist_ok=True)
    return path


def writable_dir(
    path: str | Path, *, error: type[AftersalesError] = ReportError, option: str = "--out"
) -> Path:
    """``path`` as a folder this process can write to (created if missing), else ``error``.

    Checked by writing a probe file, because permission bits say nothing for root, read-only
    mounts or /proc. The message names the folder and the reason instead of a traceback.
    """
    folder = Path(path)
    try:
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(folder))
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}-{threading.get_ident()}"
        fresh_file(probe)
        probe.unlink()
    except OSError as exc:
        msg = (
            f"{option} 输出文件夹不可写 (output folder is not writable): {folder}: "
            f"{exc.strerror or exc}; 请换一个文件夹 (choose another folder)"
        )
        raise error(msg) from None
    return folder


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
        fresh_file(tmp)
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


LOCK_NAME = ".aftersales.lock"


@contextmanager
def folder_lock(
    folder: str | Path, *, error: type[AftersalesError] = ReportError, what: str = "daily"
) -> Iterator[Path]:
    """Hold the one delivery lock of ``folder`` (``flock`` on ``folder/.aftersales.lock``).

    Two runs that mail from one output folder would both read the sent-log before either wrote
    it and send everything twice; the second run therefore stops at once with a line naming the
    holder instead of waiting (a cron run stuck behind a hung one would otherwise pile up). The
    kernel drops the lock when its holder dies, so a killed run never leaves the folder locked.
    """
    import fcntl

    path = Path(folder) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
            msg = (
                f"另一个运行正在使用此输出文件夹 (another run is delivering from this folder, "
                f"pid {holder}): {folder}; 请等它结束后再运行 {what} (wait for it to finish; "
                f"nothing was sent twice)"
            )
            raise error(msg) from None
        with contextlib.suppress(OSError):  # a full disk must not stop the run here
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield path
    finally:
        os.close(fd)  # closing releases the lock


def describe_os_error(exc: OSError) -> str:
    """An ``OSError`` in one line: what went wrong (a full disk named as such) and the file."""
    where = f": {exc.filename}" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"磁盘空间不足 (no space left on device){where}; 请清理空间后重试 (free space, rerun)"
        )
    if exc.errno == errno.EROFS:
        return f"文件系统只读 (read-only file system){where}"
    return f"{exc.strerror or type(exc).__name__}{where}"
