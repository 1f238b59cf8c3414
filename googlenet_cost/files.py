"""Writing outputs without ever leaving a half-written file behind."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import GcostError


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write text (UTF-8) atomically; see atomic_write_bytes."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename over `path` in one step, so a
    crash (or a full disk) leaves the previous file intact."""
    target = Path(path)
    if target.exists() and not target.is_file() and not target.is_dir():
        # a device or pipe (/dev/null, /dev/stdout, a FIFO): never rename over it, write through
        try:
            with open(target, "wb") as handle:
                handle.write(data)
        except OSError as e:
            raise GcostError(f"cannot write: {e.strerror}", file=str(path)) from None
        return
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise GcostError(f"cannot write: folder {str(folder)!r} does not exist", file=str(path))
    if target.is_dir():
        raise GcostError("cannot write: is a folder", file=str(path))
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise GcostError(f"cannot write: {e.strerror}", file=str(path)) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException as e:
        Path(temp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise GcostError(f"cannot write: {e.strerror}", file=str(path)) from None
        raise
