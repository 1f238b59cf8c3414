"""Writing outputs without ever leaving a half-written file behind."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import GcostError


MAX_INPUT_BYTES = 5_000_000
MAX_ALIASES = 1_000  # YAML aliases allowed in one file; more is an "alias bomb"


def read_text(path: str | Path, *, max_bytes: int = MAX_INPUT_BYTES) -> str:
    """A user's input file as text, or a GcostError naming it."""
    target = Path(path)
    try:
        if target.is_dir():
            raise GcostError("is a folder, not a file", file=str(path))
        if target.stat().st_size > max_bytes:
            raise GcostError(f"file is larger than {max_bytes // 1_000_000} MB", file=str(path))
        return target.read_bytes().decode("utf-8")
    except OSError as e:
        raise GcostError(f"cannot read: {e.strerror}", file=str(path)) from None
    except UnicodeDecodeError:
        raise GcostError("not UTF-8 text", file=str(path)) from None


def load_yaml(text: str, *, where: str):
    """yaml.safe_load (no object-constructing tags) that refuses alias bombs (aliases are counted
    on the event stream before anything is built) and reports errors with their line."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: same rules, faster
    try:
        aliases = sum(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=loader))
        if aliases > MAX_ALIASES:
            raise GcostError(f"more than {MAX_ALIASES} YAML aliases (an alias bomb?)", file=where)
        return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise GcostError(f"malformed YAML: {line}{e.problem or e}", file=where) from None
    except yaml.YAMLError as e:
        raise GcostError(f"malformed YAML: {e}", file=where) from None
    except RecursionError:
        raise GcostError("YAML nested too deeply", file=where) from None


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
