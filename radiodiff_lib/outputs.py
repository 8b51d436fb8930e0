"""Where the workbench writes: output paths checked before the work, files replaced whole, one writer a folder.

A command that works for minutes must not find out at the end that it cannot write its result:
``check_output_file`` (``--json``) and ``check_output_folder`` (``--out``, ``--figures``) run
first. Each probes the nearest existing folder of the path by creating and removing a file in it:
the one test that a read-only mount, a root user and an ACL all answer truthfully (``os.access``
says yes to root on a read-only ``/sys``). ``write_text_atomic`` writes a temporary file beside the
target and renames it over the target, so a reader sees the old file or the new one, never half.
``folder_lock`` is ``flock`` on a file in the folder: the kernel releases it when its process ends,
however it ends (``flock`` is advisory, and not reliable on some network file systems).
``not_regular`` names what a path is when it is not a regular file: the lock, the PNG reader and the
log reader refuse such a file in those words (a pipe would block a reader, ``/dev/zero`` never ends).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import stat
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

from .errors import OutputError


_NOT_REGULAR = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def not_regular(mode: int) -> str | None:
    """What a file of this ``st_mode`` is when it is not a regular file ("a named pipe (FIFO)"), else None."""
    if stat.S_ISREG(mode):
        return None
    return next((what for test, what in _NOT_REGULAR if test(mode)), "a special file")


def _nearest_existing(path: Path) -> Path:
    """``path`` or the closest of its parents that exists."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path.cwd()


def _probe(folder: Path, target: Path, what: str) -> None:
    """Create and remove a file in ``folder``, or say in one line why ``target`` cannot be written."""
    if not folder.is_dir():
        raise OutputError(f"{what} {target}: {folder} is a file, so no folder can be made there; give another path.")
    try:
        fd, probe = tempfile.mkstemp(prefix=".radiodiff-write-test-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{what} {target}: cannot write in {folder} ({exc.strerror or exc}); "
                          "give a folder you can write.") from None


def check_output_folder(path: str | Path, what: str) -> Path:
    """``path`` if it is a folder that can be written, or one that can be made; else an OutputError."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{what} {folder} is a file, not a folder: give a folder (it is made when missing).")
    _probe(_nearest_existing(folder.absolute()), folder, what)
    return folder


def check_output_file(path: str | Path, what: str) -> Path:
    """``path`` if a file can be written there (its folder made when missing); else an OutputError.
    An existing device or pipe (``/dev/stdout``) is accepted as it is: it is written, never replaced."""
    file = Path(path)
    if file.is_dir():
        raise OutputError(f"{what} {file} is a folder: give a file name, e.g. {file / 'out.json'}.")
    if file.exists() and not file.is_file():
        return file
    if file.exists():  # opened for appending and closed: nothing changes, a read-only file says so
        try:
            os.close(os.open(file, os.O_WRONLY | os.O_APPEND))
        except OSError as exc:
            raise OutputError(f"{what} {file}: cannot write the file ({exc.strerror or exc}); "
                              "give another file or make it writable.") from None
    _probe(_nearest_existing(file.absolute().parent), file, what)
    return file


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` (UTF-8) through a temporary file renamed over it; a device or pipe
    is written directly, a symbolic link's target is the file replaced."""
    target = Path(os.path.realpath(path))
    if target.exists() and not target.is_file():
        with open(target, "w", encoding="utf-8") as stream:
            stream.write(text)
        return Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o666 & ~_umask()
        os.chmod(tmp, mode)  # mkstemp makes 0600; the file gets what a plain write would give it
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return Path(path)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def folder_lock(folder: str | Path, lock_name: str, busy: Callable[[str], Exception]) -> Iterator[None]:
    """Hold ``folder/lock_name`` (``flock``) for the ``with`` block; when another process holds it,
    raise ``busy(holder)``, where holder is the pid, host and start time that process wrote."""
    path = Path(folder) / lock_name
    # O_NOFOLLOW: a symbolic link planted at the lock's name never makes us truncate its target
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    try:
        what = not_regular(os.fstat(fd).st_mode)
        if what is not None:
            raise OutputError(f"{path} is {what}, not a regular file; remove it (it is the lock of {folder}).")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy(_holder(fd)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
                 .encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _holder(fd: int) -> str:
    """Who holds the lock, as its holder wrote it."""
    text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    return text or "pid unknown"
