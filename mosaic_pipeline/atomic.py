"""Atomic outputs: write to a temporary name beside the target, then rename.

A crash leaves either the old complete output or nothing, never a half-written file or folder. A full
disk is an ``OutputError`` naming the target (nothing of it written); a process killed mid-write (no
``finally`` runs) leaves its temporary beside the target, and the next successful write of that target
removes it (docs/bad_input.md). Temporaries are named ``.<target>.<host>-<pid>.<random>.tmp`` so that
only those of dead processes on this host are ever removed: one writer per target at a time.
"""
from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import OutputError

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _prefix(target: Path) -> str:
    return f".{target.name}.{socket.gethostname()}-{os.getpid()}."


@contextmanager
def atomic_file(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path; on success it replaces ``target`` (same folder, so rename is atomic)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(target), suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        with _disk_full_names(target):
            yield tmp_path
            os.replace(tmp_path, target)
        _remove_stale(target)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_dir(target: Path | str) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces the folder ``target`` as a whole."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(target), suffix=".tmp", dir=target.parent))
    try:
        with _disk_full_names(target):
            yield tmp
            if target.exists():
                old = target.with_name(f".{target.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(target, old)
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, target)
        _remove_stale(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def _disk_full_names(target: Path) -> Iterator[None]:
    """A full disk while writing ``target`` becomes an OutputError naming it; other errors pass unchanged."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in DISK_FULL or isinstance(exc, OutputError):
            raise
        raise OutputError(exc.errno, f"{os.strerror(exc.errno)} while writing {target}: nothing of it was "
                                     "written (an older version, if any, is intact); free space and rerun") from exc


def _remove_stale(target: Path) -> None:
    """Remove temporaries of ``target`` left by killed processes of this host (and ``.old`` of atomic_dir)."""
    host = socket.gethostname()
    for path in target.parent.glob(f".{target.name}.{host}-*.tmp"):
        pid = path.name[len(f".{target.name}.{host}-"):].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    shutil.rmtree(target.with_name(f".{target.name}.old"), ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
