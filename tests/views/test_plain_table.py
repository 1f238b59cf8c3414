"""The report table drawn without rich's layout (views.fit.plain_table) where a console writes no
styles and has the room, a pipe or a file: it must be exactly what rich draws, on every shipped spec,
and rich must still draw what plain_table cannot say (names in other scripts, text on several lines)."""
from __future__ import annotations

import io

import pytest
from rich.console import Console

import googlenet_cost as gc
from conftest import SPEC_PARAMS
from googlenet_cost.views.fit import Rendered, plain_table
from googlenet_cost.views.table import to_rich_table


def printed(item, width: int = 100_000) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, highlight=False).print(item)
    return buffer.getvalue()


@pytest.mark.parametrize("path", SPEC_PARAMS)
def test_the_plain_table_is_what_rich_draws(path):
    for report in (gc.analyze(str(path)), gc.analyze(str(path), step="train", batch=2, roofline="h100-sxm")):
        for depth in ("branches", "top"):
            table, _ = to_rich_table(report, depth, width=None)
            assert table.plain is not None
            assert printed(table) == printed(table.renderable)  # the same characters, title and padding included
            assert "\n".join(table.plain) + "\n" == printed(table)


def test_a_narrow_or_styled_console_gets_rich_s_layout():
    report = gc.analyze("example_5x5_bottleneck")
    table, _ = to_rich_table(report, "branches", width=None)
    assert printed(table, width=40) == printed(table.renderable, width=40)  # wrapped by rich, never cut
    buffer = io.StringIO()
    Console(file=buffer, width=200, force_terminal=True, color_system="standard").print(table)
    assert "\x1b[" in buffer.getvalue()  # a terminal gets rich's styles (bold headings, dim child rows)


@pytest.mark.parametrize("name", ["名前", "a\nb", "emoji 🙂", "tab\there"])
def test_text_only_rich_can_measure_is_left_to_rich(name):
    assert plain_table("t", ["layer", "MACs"], [[name, "1"]], ["total", "1"], {1}) is None


def test_rendered_without_plain_lines_is_the_renderable():
    table, _ = to_rich_table(gc.analyze("example_5x5_conv"), "branches", width=None)
    bare = Rendered(table.renderable, table.needed_width)
    assert printed(bare) == printed(table.renderable)
