"""The report's terminal table (views/table.py): a row per layer, the totals, the row limit."""
from __future__ import annotations

import io

from googlenet_cost.report import SourceInfo, LayerRow, Report, totals_of
from googlenet_cost.views.table import to_rich_table
from test_formats import hand_report


def test_rich_table_has_a_row_per_layer_and_a_footer():
    from rich.console import Console

    console = Console(file=io.StringIO(), width=200)
    console.print(to_rich_table(hand_report())[0])
    text = console.file.getvalue()
    for name in ("conv1", "└ 1x1", "└ 3x3", "fc", "total"):
        assert name in text
    assert f"{hand_report().totals.params:,}" in text


def _many_modules(modules: int) -> Report:
    rows = []
    for i in range(modules):
        rows += [LayerRow(f"m{i}", None, "inception", "", [32, 8, 8], 30, 28, 100, [3, 3]),
                 LayerRow(f"m{i}/1x1", f"m{i}", "conv", "1x1/1", [16, 8, 8], 10, 9, 40, [1, 1]),
                 LayerRow(f"m{i}/3x3", f"m{i}", "conv", "3x3/1", [16, 8, 8], 20, 19, 60, [3, 3])]
    return Report(spec=SourceInfo("many"), counting={}, input_shape=[3, 8, 8], batch=1, mode="eval",
                  layers=rows, totals=totals_of(rows))


def test_a_table_past_the_row_limit_shows_top_level_rows_and_says_so():
    from googlenet_cost.views.table import TABLE_MAX_ROWS, table_depth

    small, large = _many_modules(TABLE_MAX_ROWS // 3), _many_modules(TABLE_MAX_ROWS // 3 + 1)
    assert table_depth(small, None) == ("branches", None)
    depth, note = table_depth(large, None)
    assert depth == "top"
    assert f"{TABLE_MAX_ROWS // 3 + 1:,} top-level rows of {len(large.layers):,}" in note
    assert table_depth(large, "branches") == ("branches", None)  # asked for: every row
    assert table_depth(small, "top") == ("top", None)
