"""Fitting a table to the terminal, for every view (analyze's, compare's, check's): the ways a table
can be drawn, widest first (Layout), and the first that fits (fit). A table too wide still says
the width it needs (Rendered.needed_width): drawn narrower it wraps, never cutting a number."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from ..escaping import printable


def table_width(headers: list[str], rows: list[list[str]], footer: list[str] | None = None) -> int:
    """Characters a boxed table needs to show every cell whole: the widest cell of each column,
    one space of padding on each side, and the column rules."""
    def widest(cell: str) -> int:
        return max(len(line) for line in cell.split("\n"))

    widths = [max([widest(header)] + [widest(row[i]) for row in rows] + ([widest(footer[i])] if footer else []))
              for i, header in enumerate(headers)]
    return sum(widths) + 3 * len(widths) + 1


@dataclass(frozen=True)
class Layout:
    """One way to draw a table: its title, headers, rows and footer (None: no totals row), the
    indexes of its right-aligned columns, each row's style, and what it leaves out of the widest
    way (`left_out`: the headers gone; `name`: the view's word for it)."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    right: set[int]
    footer: list[str] | None = None
    styles: list[str | None] | None = None
    left_out: tuple[str, ...] = ()
    name: str = ""

    @property
    def width(self) -> int:
        return table_width(self.headers, self.rows, self.footer)


def fit(layouts: Iterable[Layout], width: int | None) -> Rendered:
    """The first of `layouts` (widest first, made as they are asked for) that fits `width`
    columns, else the last, the narrowest; the first when `width` is None (a file, a pipe)."""
    chosen = None
    for chosen in layouts:
        if width is None or chosen.width <= width:
            break
    if chosen is None:
        raise ValueError("fit needs at least one layout")
    return Rendered(rich_table(chosen.title, chosen.headers, chosen.rows, right=chosen.right, styles=chosen.styles,
                               footer=chosen.footer),
                    chosen.width, plain_table(chosen.title, chosen.headers, chosen.rows, chosen.footer, chosen.right),
                    chosen)


def rich_table(title: str, headers: list[str], rows: list[list[str]], *, right: set[int],
               styles: list[str | None] | None = None, footer: list[str] | None = None):
    """A rich Table whose number columns never shrink below their widest cell: a narrow terminal
    wraps names, never truncates a count. Every cell is plain text (no rich markup, control
    characters shown as escapes): names come from user files."""
    from rich.table import Table
    from rich.text import Text

    def plain(cell: str) -> Text:
        return Text(printable(cell))

    # a title wraps at spaces, never inside a word: a word cut in two could start a line with `::`
    table = Table(title=Text(printable(title, one_line=True), overflow="ellipsis"), header_style="bold",
                  show_footer=footer is not None, footer_style="bold")
    for index, header in enumerate(headers):
        cells = [row[index] for row in rows] + ([footer[index]] if footer else [])
        table.add_column(plain(header), footer=footer[index] if footer else "", justify="right" if index in right else "left",
                         no_wrap=index in right or index == 0,
                         min_width=max((len(line) for cell in cells for line in cell.split("\n")), default=0) if index in right else None)
    for row, style in zip(rows, styles or [None] * len(rows)):
        table.add_row(*map(plain, row), style=style)
    return table


@dataclass(frozen=True)
class Rendered:
    """A rich renderable and the width it needs: printed narrower than that, a table wraps in the
    terminal instead of cutting a number (cli/render.emit widens its console to it). `plain` is the
    same table as rich draws it without colour, when it is known (plain_table): a console that
    writes no styles (a pipe, a file) and has the room prints those lines, without rich's layout
    (for googlenet's 110 rows, 50 ms of a run that takes a few hundred). `layout`: the
    Layout fit() chose."""

    renderable: Any
    needed_width: int = 0
    plain: tuple[str, ...] | None = None
    layout: Layout | None = field(default=None, compare=False)  # what fit() chose

    def __rich_console__(self, console: Any, options: Any):
        if self.plain is not None and console.color_system is None and options.max_width >= self.needed_width:
            from rich.segment import Segment

            for line in self.plain:
                yield Segment(line)
                yield Segment.line()
            return
        yield self.renderable

    def __rich_measure__(self, console: Any, options: Any) -> Any:
        from rich.measure import Measurement

        return Measurement.get(console, options, self.renderable)


# rich's box.HEAVY_HEAD, the tables' box: top, header, below the header, between rows and the footer, bottom
_BOX = {"top": "┏━┳┓", "head": "┃┃┃", "below_head": "┡━╇┩", "row": "│││", "above_foot": "├─┼┤", "bottom": "└─┴┘"}
_ONE_CELL = frozenset("≠└↳")  # the non-ASCII characters gcost's own cells hold, each one terminal cell wide


def plain_table(title: str, headers: list[str], rows: list[list[str]], footer: list[str] | None,
                right: set[int]) -> tuple[str, ...] | None:
    """The lines rich draws for rich_table(...) on a console without styles, wide enough for every
    cell (each column as wide as its widest cell, one space of padding each side, the title centred
    over the table); None where only rich can say (text that is not one line of one-cell-wide
    characters: a user's name in another script, an escape shown on several lines)."""
    texts = [title, *headers, *(cell for row in rows for cell in row), *(footer or [])]
    if not rows or any(not (text.isascii() or set(text) - set(map(chr, range(128))) <= _ONE_CELL) or "\n" in text
                       or not text.isprintable() for text in map(printable, texts)):
        return None
    widths = [max(len(printable(cell)) for cell in [header, *(row[i] for row in rows), *([footer[i]] if footer else [])])
              for i, header in enumerate(headers)]

    def rule(chars: str) -> str:
        return chars[0] + chars[2].join(chars[1] * (width + 2) for width in widths) + chars[3]

    def line(cells: list[str], rules: str) -> str:
        shown = [printable(cell).rjust(width) if i in right else printable(cell).ljust(width)
                 for i, (cell, width) in enumerate(zip(cells, widths))]
        return rules[0] + rules[1].join(f" {cell} " for cell in shown) + rules[2]

    width = sum(widths) + 3 * len(widths) + 1
    title = printable(title)
    if len(title) > width:
        return None
    excess = width - len(title)
    lines = [" " * (excess // 2) + title + " " * (excess - excess // 2), rule(_BOX["top"]), line(headers, _BOX["head"]),
             rule(_BOX["below_head"]), *(line(row, _BOX["row"]) for row in rows)]
    if footer is not None:
        lines += [rule(_BOX["above_foot"]), line(footer, _BOX["row"])]
    return (*lines, rule(_BOX["bottom"]))
