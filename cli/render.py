"""All terminal output of the CLI: the console, the latency panel, warnings, file writing."""
from __future__ import annotations

import functools
import io
import sys
from typing import Any, Callable

import click

from googlenet_cost.escaping import printable


def console(stderr: bool = False):
    from rich.console import Console

    class Terminal(Console):
        def on_broken_pipe(self) -> None:
            raise BrokenPipeError  # rich would raise SystemExit(1); the CLI boundary decides

    width = fit_width()
    terminal = Terminal(stderr=stderr, highlight=False, width=width, height=environment_size("LINES"),
                        _environ=rich_environment())
    if not terminal.is_terminal:
        terminal.width = width or NATURAL_WIDTH  # piped: COLUMNS when set, else nothing is squeezed
    return terminal


NATURAL_WIDTH = 100_000  # "as wide as the content": tables and panels never expand to it


def fit_width() -> int | None:
    """The width tables are fitted to: the terminal's; COLUMNS when set (also when piped); else
    None, the tables' natural width (a pipe or a file never gets a squeezed table)."""
    import shutil

    columns = environment_size("COLUMNS")
    if columns:
        return columns
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def environment_size(name: str) -> int | None:
    """COLUMNS or LINES, through the one bounded number parser: None when unset, empty or 0, at
    most NATURAL_WIDTH. Anything but ASCII digits is ignored with one warning naming the variable,
    as terminals and GNU tools do: the terminal's own size (or the tables' natural width) is used."""
    import os

    return _size_from(name, os.environ.get(name, ""))


SIZES = ("COLUMNS", "LINES")


def rich_environment() -> dict[str, str]:
    """The environment rich's consoles read: without an unreadable COLUMNS or LINES. rich reads
    them itself, with int() after str.isdigit() ("²" passes one and breaks the other), on every
    size query, even of a console given its width; without them it uses the terminal's own size.
    (`_environ`, a keyword of rich's Console, is there in rich 13.0, the oldest gcost allows.)"""
    import os

    return {key: value for key, value in os.environ.items() if key not in SIZES or not unreadable(key)}


def unreadable(name: str) -> bool:
    """Whether COLUMNS or LINES is set to something that is not a size (warned about, ignored)."""
    import os

    text = os.environ.get(name, "")
    return bool(text.strip()) and _size_from(name, text) is None and text.strip() != "0"


@functools.lru_cache(maxsize=None)
def _size_from(name: str, text: str) -> int | None:
    """environment_size for one value: cached, so an unreadable value is warned about once."""
    from googlenet_cost.errors import quoted
    from googlenet_cost.quantity import NumberError, parse_int

    if not text.strip():
        return None
    try:
        size = parse_int(text, low=0)
    except NumberError:
        say(f"warning: the {name} environment variable is not a whole number (got {quoted(text)}): ignored, "
            "the terminal's own size is used")
        return None
    return min(size, NATURAL_WIDTH) or None


def plain_text(text: str):
    """A rich Text that is shown as written: no markup, no control characters."""
    from rich.text import Text

    return Text(printable(text))


def say(line: str) -> None:
    """One line to stderr, made inert (escaping.printable: one line, no control character, nothing
    a CI runner reads as a command). A stderr that cannot be written (closed, a full disk) loses
    the line, never the exit code: gcost's ending must not fail on it."""
    line = printable(line, one_line=True)
    for stream in (sys.stderr, sys.__stderr__):  # the analyzed code may have replaced or closed sys.stderr
        try:
            click.echo(line, err=True, file=stream)
            return
        except (OSError, ValueError, AttributeError, TypeError):
            continue


def say_progress(line: str) -> None:
    """A line of progress on stderr (a slow step the user should know about), made printable."""
    say(line)


def warn(message: str) -> None:
    """One warning line on stderr, its text inert as say's."""
    from rich.text import Text

    line = Text("warning: ", style="bold yellow") + Text(printable(message, one_line=True))
    console(stderr=True).print(line, soft_wrap=True)


def emit(text: str | None, renderables: Callable[[], list], output: str | None) -> None:
    """Print `text`, or when it is None the rich views `renderables()` builds; with `output`,
    write atomically to that file instead (rich views as plain text)."""
    from googlenet_cost.files import atomic_write_text

    if text is None:
        from rich.console import Console

        buffer = io.StringIO()
        plain = Console(file=buffer, width=NATURAL_WIDTH, no_color=True, highlight=False,
                        _environ=rich_environment()) if output else console()
        for item in renderables():
            if isinstance(item, str):  # a view's sentence names user files: plain text, never rich markup
                item = plain_text(item)
            needed = getattr(item, "needed_width", 0)  # views.fit.Rendered, views.gate.FittedTable: never cut
            width = plain.width
            plain.width = max(width, needed)
            plain.print(item)
            plain.width = width
        text = buffer.getvalue() if output else None
    if output:
        atomic_write_text(output, text or "")
        say(f"wrote {output}")
    elif text is not None:
        click.echo(text, nl=False)


class Progress:
    """A rich progress bar on stderr for timing loops (they take seconds). It is drawn only when
    the loops report, which they do between timed iterations, and at most every REDRAW_S: rich's
    own refresh thread (10 a second) would draw during timed iterations, taking the host's time
    from the launches being timed."""

    REDRAW_S = 0.25

    def __init__(self, enabled: bool):
        self.enabled = enabled and console(stderr=True).is_terminal  # nothing on a redirected stderr
        self._bar = None
        self._tasks: dict[str, Any] = {}
        self._drawn_at = float("-inf")

    def __enter__(self) -> "Progress":
        if self.enabled:
            from rich.progress import Progress as Bar

            self._bar = Bar(console=console(stderr=True), transient=True, auto_refresh=False)
            self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def __call__(self, label: str, fraction: float, detail: str = "") -> None:
        import time

        if self._bar is None:
            return
        if label not in self._tasks:
            self._tasks[label] = self._bar.add_task(label, total=1.0)  # drawn at once
            self._drawn_at = time.monotonic()
        description = f"{label}: {detail}" if detail else label
        self._bar.update(self._tasks[label], completed=fraction, description=description)
        if time.monotonic() - self._drawn_at >= self.REDRAW_S:
            self._bar.refresh()
            self._drawn_at = time.monotonic()
