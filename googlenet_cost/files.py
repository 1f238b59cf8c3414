"""Reading user files without being fooled (sizes, devices, FIFOs, YAML bombs, duplicate keys) and
writing outputs without ever leaving a half-written file behind or replacing an input."""
from __future__ import annotations

import errno
import functools
import glob
import os
import re
import stat
import tempfile
import time
from pathlib import Path

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


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write text (UTF-8) atomically; see atomic_write_bytes."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename over `path` in one step, so a
    crash (or a full disk) leaves the previous file intact. A new file gets the mode the umask
    gives; a replaced file keeps its mode. A symlink stays a symlink: the file it finally points
    to is the one replaced (created, when the link dangles), as `>` in a shell would write it.
    Temporary files of ours that a killed process left beside the file are removed."""
    target = Path(path)
    if str(path) == "":
        raise GcostError("cannot write: an empty file name")
    if target.exists() and not target.is_file() and not target.is_dir():
        # a device or pipe (/dev/null, /dev/stdout, a FIFO): never rename over it, write through
        try:
            with open(target, "wb") as handle:
                handle.write(data)
        except OSError as e:
            raise GcostError(f"cannot write: {_reason(e)}", file=str(path)) from None
        return
    target = _link_target(target, str(path))
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise GcostError(f"cannot write: folder {str(folder)[:80]!r} does not exist", file=str(path))
    if target.is_dir():
        raise GcostError("cannot write: is a folder", file=str(path))
    mode = _mode_for(target)
    _remove_stale_temps(folder, target.name)
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise GcostError(f"cannot write: {_reason(e)}", file=str(path)) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException as e:
        Path(temp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise GcostError(f"cannot write: {_reason(e)}", file=str(path)) from None
        raise


def _link_target(path: Path, where: str) -> Path:
    """`path` itself, or the file a symlink finally points to (through every link in the chain)."""
    if not path.is_symlink():
        return path
    try:
        return Path(os.path.realpath(path, strict=True))
    except FileNotFoundError:
        return Path(os.path.realpath(path))  # a dangling link: create the file it names
    except OSError as e:
        raise GcostError(f"cannot write: {_reason(e)}", file=where) from None


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
