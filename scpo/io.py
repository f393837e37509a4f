"""Crash-safe writes: write a temporary file beside the target, fsync, rename."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` then move the finished file over ``path`` in one rename.

    Ctrl-C (SIGINT) and SIGTERM are held back while the file is written (main thread, POSIX),
    so a stop lands before or after a write, never between the temporary file's creation
    and its clean-up.
    """
    path = Path(path)
    with _sigint_deferred():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
        except OSError as exc:  # name the user's path, not the temporary file
            raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from None
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            write(tmp_path)
            os.chmod(tmp_path, 0o644)  # mkstemp's 0600 would surprise users sharing results
            with open(tmp_path, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp_path, path)
        finally:
            tmp_path.unlink(missing_ok=True)
    return path


@contextlib.contextmanager
def _sigint_deferred():
    """Block SIGINT and SIGTERM in this thread for the block; one that came meanwhile is delivered after it."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def check_writable(path: str | Path, kind: str = "file", what: str = "") -> Path:
    """Fail now, naming ``path``, if a ``kind`` ("file" or "directory") cannot be written there later.

    Walks up to the nearest existing folder and creates (and at once removes) an unnamed
    temporary file in it, so permissions, read-only and pseudo file systems all show;
    nothing is left on disk. Raises OSError with a one-line message; returns ``path``.
    """
    if kind not in ("file", "directory"):
        raise ValueError(f"kind must be 'file' or 'directory', got {kind!r}")
    path = Path(path)
    label = f"{what} {path}" if what else str(path)
    if kind == "file" and path.is_dir():
        raise OSError(f"cannot write {label}: it is a directory")
    if kind == "directory" and path.exists() and not path.is_dir():
        raise OSError(f"cannot write {label}: it exists and is not a directory")
    folder = path if kind == "directory" else path.parent
    folder = folder if str(folder) else Path(".")
    while not folder.exists():
        if folder.is_symlink():
            raise OSError(f"cannot write {label}: {folder} is a broken link")
        folder = folder.parent
    if not folder.is_dir():
        raise OSError(f"cannot write {label}: {folder} is not a directory")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OSError(f"cannot write {label}: {folder} is not writable ({exc.strerror or exc})") from None
    return path


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def json_text(data: Any) -> str:
    """``data`` as indented JSON text with a final newline (numpy arrays and scalars as lists and numbers)."""
    return json.dumps(data, indent=2, default=_jsonable) + "\n"


def write_if_changed(path: str | Path, data: str | bytes) -> bool:
    """Write ``data`` atomically, or skip the write (keeping the file's mtime) when ``path``
    already holds exactly ``data``; returns whether it wrote."""
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if path.exists() and path.read_bytes() == raw:
        return False
    atomic_write(path, lambda tmp: tmp.write_bytes(raw))
    return True


def write_json(path: str | Path, data: Any) -> Path:
    return write_text(path, json_text(data))


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
