"""Reading user files without being fooled (sizes, devices, FIFOs, YAML bombs, duplicate keys) and
the one writer of every file gcost writes: atomic, never through a symlink, FIFO or device, never
over an input; gcost's own files (the peaks cache) private to the user and locked while written."""
from __future__ import annotations

import contextlib
import errno
import functools
import glob
import os
import re
import stat
import tempfile
import time
from pathlib import Path
from typing import Iterator

from .errors import GcostError, one_line

MAX_INPUT_BYTES = 5_000_000
MAX_ALIASES = 1_000  # YAML aliases allowed in one file; more is an "alias bomb"
MAX_DEPTH = 64  # nesting of YAML collections; the real specs need about 8
MAX_VALUES = 1_000_000  # values in a document once aliases are expanded
STALE_TEMP_S = 600  # our own temporary files older than this were left by a killed process


def read_text(path: str | Path, *, max_bytes: int = MAX_INPUT_BYTES) -> str:
    """A user's input file as text, or a GcostError naming it. Only regular files are read, and
    never more than max_bytes + 1 bytes (/dev/zero, a FIFO or a huge file are refused, not read)."""
    where = str(path)
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise GcostError("is a folder, not a file", file=where)
        if not stat.S_ISREG(info.st_mode):
            raise GcostError("not a regular file (a device, FIFO or socket): give a file", file=where)
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as e:
        raise GcostError(f"cannot read: {_reason(e)}", file=where) from None
    if len(data) > max_bytes:
        raise GcostError(f"file is larger than {max_bytes // 1_000_000} MB", file=where)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise GcostError("not UTF-8 text", file=where) from None


def _reason(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "symlink loop"
    return error.strerror or type(error).__name__


def load_yaml(text: str, *, where: str):
    """yaml.safe_load (no object-constructing tags) that first walks the event stream to refuse
    documents nested deeper than MAX_DEPTH, with more than MAX_ALIASES aliases, or expanding to
    more than MAX_VALUES values (alias "bombs"); a key given twice in one mapping is an error
    naming both lines. Errors carry their line."""
    import yaml

    try:
        _check_events(yaml.parse(text, Loader=_base_loader()), where)
        return yaml.load(text, Loader=_strict_loader())  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as e:
        _check_events_one_by_one(text, where)
        if isinstance(e, yaml.MarkedYAMLError):
            mark = e.problem_mark or e.context_mark
            line = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            layer = _layer_at(text, mark) if isinstance(e, yaml.constructor.ConstructorError) and mark else None
            raise GcostError(f"malformed YAML: {line}{one_line(e.problem or e)}", file=where, layer=layer) from None
        if isinstance(e, yaml.reader.ReaderError):
            raise GcostError(f"malformed YAML: {_unacceptable(text, e)}", file=where) from None
        raise GcostError(f"malformed YAML: {one_line(e, 200)}", file=where) from None
    except RecursionError:
        raise GcostError("YAML nested too deeply", file=where) from None


def _unacceptable(text: str, error) -> str:
    """PyYAML's refusal of a character (NUL, BEL, ESC...), on one line with its line and column:
    the library gives an offset on a second line (in characters, or from libyaml in UTF-8 bytes).
    Every occurrence of such a character is refused, so the first one is where it stopped."""
    at = text.find(chr(error.character)) if isinstance(error.character, int) else -1
    if at < 0:
        return one_line(error, 200)
    line, column = text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)
    return (f"line {line}, column {column}: unacceptable character #x{error.character:04x} "
            "(control characters are not allowed in YAML)")


def _check_events_one_by_one(text: str, where: str) -> None:
    """gcost's own limits, checked again with the pure-Python parser after the library refused a
    document. libyaml scans ahead of the events it hands out and has limits of its own (PyYAML
    6.0.4's stops flow collections nested 1,000 deep), so which check fires first depends on the
    library; the pure-Python parser yields one event at a time, so a document over gcost's limits
    is named as such whatever the library does. A document within them keeps the library's error."""
    import yaml

    try:
        _check_events(yaml.parse(text, Loader=yaml.SafeLoader), where)
    except (yaml.YAMLError, RecursionError):
        pass


def _layer_at(text: str, mark) -> str | None:
    """The `name` of the innermost list item around `mark` that has one (a layer), found in the
    composed node tree: a constructor error (a tag, a duplicate key) happens after composition
    succeeded."""
    import yaml

    def inner(node, in_list: bool):
        if not node.start_mark.index <= mark.index <= node.end_mark.index:
            return None
        if isinstance(node, yaml.MappingNode):
            children = [(child, False) for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = [(child, True) for child in node.value]
        else:
            return None
        for child, listed in children:
            deeper = inner(child, listed)
            if deeper is not None:
                return deeper
        if in_list and isinstance(node, yaml.MappingNode):
            names = [v.value for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == "name"
                     and isinstance(v, yaml.ScalarNode)]
            return names[0][:80] if names else None
        return None

    try:
        root = yaml.compose(text, Loader=_base_loader())
    except yaml.YAMLError:
        return None
    return None if root is None else inner(root, False)


def _base_loader():
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: same rules, faster


def _check_events(events, where: str) -> None:
    """Depth, alias count and expanded size, from the event stream (no value is built)."""
    import yaml

    sizes: dict[str, int] = {}  # anchor -> values under it
    stack: list[list] = []  # open collections: [count, anchor]
    aliases = total = 0
    for event in events:
        if isinstance(event, yaml.CollectionStartEvent):
            stack.append([1, event.anchor])
            if len(stack) > MAX_DEPTH:
                raise GcostError(f"YAML nested deeper than {MAX_DEPTH} levels, at line {event.start_mark.line + 1}",
                                 file=where)
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            count, anchor = stack.pop()
            size = count
        elif isinstance(event, yaml.ScalarEvent):
            size, anchor = 1, event.anchor
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise GcostError(f"more than {MAX_ALIASES} YAML aliases (an alias bomb?)", file=where)
            size, anchor = sizes.get(event.anchor, 1), None
        else:
            continue
        if anchor:
            sizes[anchor] = size
        if stack:
            stack[-1][0] += size
        else:
            total += size
        if total + sum(item[0] for item in stack) > MAX_VALUES:
            raise GcostError(f"YAML expands to more than {MAX_VALUES:,} values (an alias bomb?)", file=where)


@functools.lru_cache(maxsize=1)
def _strict_loader():
    """The base loader, refusing a key that appears twice in one mapping."""
    import yaml

    class StrictLoader(_base_loader()):  # type: ignore[misc]
        def construct_mapping(self, node, deep=False):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                except TypeError:
                    continue  # an unhashable key: the base constructor reports it
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {str(key)[:40]!r} appears twice in one mapping (lines {first} and "
                                    f"{line})", key_node.start_mark)
                seen[key] = line
            return super().construct_mapping(node, deep=deep)

        def construct_yaml_int(self, node):
            try:
                return super().construct_yaml_int(node)
            except ValueError:  # more digits than Python reads from text (4,300): no size gcost takes
                raise yaml.constructor.ConstructorError(
                    None, None, f"an integer of {len(node.value):,} characters is too large to be a size or count",
                    node.start_mark) from None

    StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)
    # YAML 1.2's floats that YAML 1.1 (PyYAML's resolver) reads as text: an exponent without a dot or
    # without a sign (1e-6, 1e5, 2.5e3) and a signed leading dot (-.5). Added after the 1.1 resolvers,
    # so every int, bool, null, NaN and infinity resolves as before.
    StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", YAML12_FLOAT, list("-+0123456789."))
    return StrictLoader


YAML12_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")


def refuse_overwriting_inputs(output: str | Path | None, inputs: list[str | Path], option: str = "-o") -> None:
    """An output path that is one of the inputs (the same file, also through a symlink or a hard
    link) would replace it with the report: refuse before any work. `option` names the output in
    the message (-o, --plot)."""
    if output is None:
        return
    if str(output) == "":
        raise GcostError(f"{option} needs a file name, got an empty one")
    target = Path(output)
    if not target.exists():
        return
    for source in inputs:
        try:
            if Path(source).exists() and os.path.samefile(source, target):
                raise GcostError(f"is also an input: writing there would replace it; choose another {option}",
                                 file=str(output))
        except OSError:
            continue


def atomic_write_text(path: str | Path, text: str, *, own: bool = False) -> None:
    """Write text (UTF-8) atomically; see atomic_write_bytes."""
    atomic_write_bytes(path, text.encode("utf-8"), own=own)


SPECIAL_KINDS = ((stat.S_ISLNK, "a symlink"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
                 (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))
OWN_FILE_MODE = 0o600  # gcost's own files (the peaks cache and its lock): the user's alone


def special_kind(path: str | Path) -> str | None:
    """"a symlink", "a FIFO", "a device" or "a socket" for what stands at `path` itself (never
    followed), None for a regular file, a folder or nothing."""
    try:
        mode = os.lstat(path).st_mode
    except (OSError, ValueError):
        return None
    return next((name for test, name in SPECIAL_KINDS if test(mode)), None)


def atomic_write_bytes(path: str | Path, data: bytes, *, own: bool = False) -> None:
    """The one writer of every file gcost writes: a temporary file created anew (O_EXCL) in the
    same folder, written, synced, then renamed over `path` in one step, so a crash (or a full disk)
    leaves the previous file intact and nothing is ever written through what stands at `path`.

    A symlink, FIFO, device or socket at `path` is handled by its name, never opened: an output the
    user named is refused (a one-line GcostError: gcost writes regular files only); gcost's own
    files (`own`: the peaks cache) replace it, the rename swapping the directory entry itself (a
    link's target is left untouched). New outputs get the mode the umask gives and a replaced
    output keeps its mode; own files are always 0o600. Temporary files of ours that a killed
    process left beside the file are removed."""
    target = Path(path)
    if str(path) == "":
        raise GcostError("cannot write: an empty file name")
    kind = special_kind(target)
    if kind is not None and not own:
        raise GcostError(f"cannot write: is {kind}; gcost writes regular files only, never through {kind} "
                         "(give the path of a regular file, or leave the option out to print)", file=str(path))
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise GcostError(f"cannot write: folder {str(folder)[:80]!r} does not exist", file=str(path))
    if kind is None and target.is_dir():
        raise GcostError("cannot write: is a folder", file=str(path))
    mode = OWN_FILE_MODE if own else _mode_for(target)
    _remove_stale_temps(folder, target.name)
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise GcostError(f"cannot write: {_reason(e)}", file=str(path)) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException as e:
        Path(temp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise GcostError(f"cannot write: {_reason(e)}", file=str(path)) from None
        raise


def append_text(path: str | Path, text: str) -> None:
    """Append to a regular file (created 0o600 when missing, never truncated), as a CI runner's
    $GITHUB_STEP_SUMMARY and $GITHUB_OUTPUT are written: a symlink is not followed and a FIFO or
    device is refused without blocking. OSError and ValueError (a NUL in the path) are the caller's."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) \
        | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, OWN_FILE_MODE)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a FIFO or device)")
        data = text.encode("utf-8")
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)


def read_own_file(path: str | Path, *, max_bytes: int) -> bytes:
    """A file gcost wrote for itself (the peaks cache), read only if what stands at `path` is a
    regular file owned by this user: a symlink is not followed, a FIFO or device is refused
    without blocking. Raises OSError (FileNotFoundError when there is none) or ValueError saying
    why it is not one."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    kind = special_kind(path)
    if kind is not None:
        raise ValueError(f"it is {kind}, not a regular file")
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("it is not a regular file")
        if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
            raise ValueError(f"it is owned by another user (uid {info.st_uid})")
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise ValueError(f"it is larger than {max_bytes:,} bytes")
    return data


LOCK_WAIT_S = 300.0  # how long a process waits for another's measurement before going on without the lock


@contextlib.contextmanager
def exclusive_lock(path: str | Path, *, wait_s: float = LOCK_WAIT_S, poll_s: float = 0.05) -> Iterator[bool]:
    """An fcntl lock on the file `path` (created 0o600; a symlink, FIFO or device there is replaced
    by a regular file), held for the block: concurrent gcost processes take turns. Yields True
    when held; False when it could not be taken (no fcntl, an unwritable folder, `wait_s` passed):
    the block then runs unlocked."""
    try:
        import fcntl
    except ImportError:  # not on a POSIX system
        yield False
        return
    fd = _open_lock(Path(path))
    if fd is None:
        yield False
        return
    held = False
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(poll_s)
        yield held
    finally:
        if held:
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _open_lock(path: Path) -> int | None:
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) \
        | getattr(os, "O_CLOEXEC", 0)
    for _ in range(2):
        try:
            if special_kind(path) is not None:
                path.unlink()  # by name: a link's target is untouched
            fd = os.open(path, flags, OWN_FILE_MODE)
        except OSError:
            return None
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and (not hasattr(os, "geteuid") or info.st_uid == os.geteuid()):
            return fd
        os.close(fd)
        try:
            path.unlink()
        except OSError:
            return None
    return None


def _mode_for(target: Path) -> int:
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _remove_stale_temps(folder: Path, name: str) -> None:
    now = time.time()
    for temp in folder.glob(f".{glob.escape(name)}.*.tmp"):
        try:
            if now - temp.lstat().st_mtime > STALE_TEMP_S and temp.is_file() and not temp.is_symlink():
                temp.unlink()
        except OSError:
            continue
