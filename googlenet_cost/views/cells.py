"""The text of one cell, shared by every view: a shape, milliseconds, a row's name at its level."""
from __future__ import annotations

from ..escaping import printable


def shape_text(shape: list[int]) -> str:
    """The paper's HxWxC for feature maps, the length for flat vectors."""
    if len(shape) == 3:
        c, h, w = shape
        return f"{h}x{w}x{c}"
    return "x".join(map(str, shape))


def ms_text(value: float | None) -> str:
    """Milliseconds as a table shows them: 3 decimals, or 3 significant digits below 0.1 ms (a
    datasheet GPU's bounds are microseconds: 0.000 would hide them)."""
    if value is None:
        return ""
    return f"{value:,.3f}" if value >= 0.1 or value == 0 else f"{value:.3g}"


def fixed(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def count(value: int) -> str:
    """A count with thousands separators; 0 for none."""
    return f"{value:,}" if value else "0"


def row_level(name: str) -> int:
    """0 for a top-level row, 1 for its children ("inception_4a/3x3"), and so on."""
    return name.count("/")


def indented(name: str, level: int | None = None) -> str:
    """A row's name as the table shows it: children indented under their parent; `level` counts
    from a row shown with its whole path (by default the top)."""
    level = row_level(name) if level is None else level
    name = printable(name, one_line=True)  # a user's module name: one line, inert
    return name if not level else "  " * level + "└ " + name.rsplit("/", 1)[1]


def levels_shown(depth: str) -> int | None:
    """--depth as a number of row levels: top = 1, a number N = N, branches or all = every level."""
    if depth == "top":
        return 1
    if depth in ("branches", "all"):
        return None
    return int(depth)
