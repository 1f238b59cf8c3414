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


# --- one fit() for analyze's, compare's and check's tables -------------------------------------

def _check_result():
    from googlenet_cost.gate.run import CheckEntry, CheckResult

    entries = [CheckEntry("googlenet_with_a_long_name", metric, value, limit, "baseline", baseline)
               for metric, value, limit, baseline in (("params", 6_998_552, 7_000_000, 6_990_000),
                                                     ("macs", 1_585_646_400, 1_500_000_000, 1_500_000_000),
                                                     ("bytes", 123_456_789, 200_000_000, None))]
    return CheckResult(entries)


@pytest.fixture(scope="module")
def three_views():
    """Each view as (its table drawn at a width, as the CLI draws it): analyze's, compare's, check's."""
    from googlenet_cost.views import compare as compare_view
    from googlenet_cost.views import gate as gate_view

    report = gc.analyze("example_5x5_bottleneck", roofline="h100-sxm")
    comparison = gc.compare(["example_5x5_bottleneck", "example_5x5_conv"])
    result = _check_result()
    return {"analyze": lambda width: to_rich_table(report, width=width)[0],
            "compare": lambda width: compare_view.to_rich(comparison, width=width)[0],
            "check": lambda width: gate_view.to_rich(result)[0]}


def _longest(item, width: int) -> int:
    return max(map(len, printed(item, width).splitlines()))


@pytest.mark.parametrize("view", ["analyze", "compare", "check"])
def test_the_three_views_fit_the_same_way(three_views, view):
    """The whole table where it fits; else the widest of its narrower ways that fits; a table whose
    narrowest way is still too wide says how wide it needs to be (never a cut number)."""
    draw = three_views[view]
    whole = draw(None).needed_width if view != "check" else _longest(draw(None), 100_000)
    narrowest = draw(1).needed_width
    assert narrowest < whole  # each has narrower ways to fall back on
    for width in range(narrowest, whole + 2, 3):
        table = draw(width)
        longest = _longest(table, width)
        assert longest <= width
        if whole <= width:
            assert longest == whole
    assert _longest(draw(narrowest - 1), narrowest) == narrowest  # too narrow: drawn at its own width


def test_fit_takes_the_first_layout_that_fits_else_the_last():
    from googlenet_cost.views.fit import Layout, fit

    wide, narrow = (Layout("t", ["a", "b"], [["x" * n, "1"]], {1}) for n in (30, 5))
    assert fit([wide, narrow], None).layout is wide
    assert fit([wide, narrow], wide.width).layout is wide
    assert fit([wide, narrow], wide.width - 1).layout is narrow
    assert fit([wide, narrow], 3).layout is narrow  # nothing fits: the narrowest, with the width it needs
    assert fit([wide, narrow], 3).needed_width == narrow.width
