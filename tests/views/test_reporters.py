"""Formatters on hand-built data (no torch): every view shows the same numbers."""
from __future__ import annotations

import csv
import io
import json

from googlenet_cost.views.formats import render
from googlenet_cost.views.prose import conventions
from googlenet_cost.views.table import to_rich_table
from googlenet_cost.report import LayerRow, PaperComparison, Report, totals_of


def hand_report() -> Report:
    rows = [
        LayerRow("conv1", None, "conv", "7x7/2", [64, 112, 112], 9472, 9408, 118_013_952, [7, 7],
                 PaperComparison("2.7K", 2765, False, "34M", 34_000_000, False, [64, 112, 112], True)),
        LayerRow("mod", None, "inception", "", [32, 56, 56], 300, 280, 1000, [11, 11]),
        LayerRow("mod/1x1", "mod", "conv", "1x1/1", [16, 56, 56], 100, 90, 400, [7, 7]),
        LayerRow("mod/3x3", "mod", "conv", "3x3/1", [16, 56, 56], 200, 190, 600, [11, 11]),
        LayerRow("fc", None, "linear", "", [10], 1010, 1000, 1000, [224, 224]),
    ]
    return Report(spec={"name": "hand"}, counting={"macs": "rule"}, input_shape=[3, 224, 224], batch=1,
                  mode="eval", layers=rows, totals=totals_of(rows))


def test_totals_sum_top_level_rows_only():
    report = hand_report()
    assert report.totals.params == 9472 + 300 + 1010
    assert report.totals.macs == 118_013_952 + 1000 + 1000
    assert report.totals.flops == 2 * report.totals.macs


def test_json_contract_fields():
    data = json.loads(render(hand_report(), "json"))
    assert data["schema"] == 3
    assert set(data) >= {"spec", "counting", "input_shape", "batch", "mode", "layers", "totals", "latency"}
    first = data["layers"][0]
    assert set(first) >= {"name", "parent", "type", "output_shape", "params", "weights", "macs",
                          "receptive_field", "paper"}
    assert first["paper"]["params_ok"] is False and first["paper"]["params_text"] == "2.7K"
    assert data["layers"][2]["parent"] == "mod"
    assert data["totals"]["macs"] == sum(row["macs"] for row in data["layers"] if row["parent"] is None)


def test_csv_has_every_row_and_the_same_numbers():
    report = hand_report()
    table = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert [r["name"] for r in table] == [row.name for row in report.layers]
    assert [int(r["macs"]) for r in table] == [row.macs for row in report.layers]
    assert sum(int(r["params"]) for r in table if not r["parent"]) == report.totals.params


def test_csv_top_depth_drops_children():
    table = list(csv.DictReader(io.StringIO(render(hand_report(), "csv", depth="top"))))
    assert [r["name"] for r in table] == ["conv1", "mod", "fc"]


def test_markdown_shows_totals_flags_and_the_counting_rule():
    text = render(hand_report(), "markdown")
    assert "| **total** |" in text and f"**{hand_report().totals.macs:,}**" in text
    assert "2.7K ≠" in text
    assert "multiply-accumulates of convolutions, linear layers, matrix and vector products" in text


def test_rich_table_has_a_row_per_layer_and_a_footer():
    from rich.console import Console

    console = Console(file=io.StringIO(), width=200)
    console.print(to_rich_table(hand_report())[0])
    text = console.file.getvalue()
    for name in ("conv1", "└ 1x1", "└ 3x3", "fc", "total"):
        assert name in text
    assert f"{hand_report().totals.params:,}" in text


def test_conventions_state_the_counting_rule_and_paper_figures_only_when_there_are_some():
    from dataclasses import replace

    text = conventions(hand_report())
    assert "FLOPs = 2 x MACs" in text and "weights are the parameters read as a matrix or kernel" in text
    assert "Paper figures" in text
    no_paper = replace(hand_report(), layers=[replace(r, paper=None) for r in hand_report().layers])
    assert "Paper figures" not in conventions(no_paper)


def _many_modules(modules: int) -> Report:
    rows = []
    for i in range(modules):
        rows += [LayerRow(f"m{i}", None, "inception", "", [32, 8, 8], 30, 28, 100, [3, 3]),
                 LayerRow(f"m{i}/1x1", f"m{i}", "conv", "1x1/1", [16, 8, 8], 10, 9, 40, [1, 1]),
                 LayerRow(f"m{i}/3x3", f"m{i}", "conv", "3x3/1", [16, 8, 8], 20, 19, 60, [3, 3])]
    return Report(spec={"name": "many"}, counting={}, input_shape=[3, 8, 8], batch=1, mode="eval",
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



def test_columns_offer_weights_flops_and_activations_and_the_error_lists_every_name(runner):
    from conftest import invoke

    data = json.loads(invoke(runner, "analyze", "example_3x3_bottleneck", "--no-latency", "--format", "json").stdout)
    text = invoke(runner, "analyze", "example_3x3_bottleneck", "--no-latency", "--format", "csv",
                  "--columns", "name,weights,flops,activations").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["name"], int(r["weights"]), int(r["flops"]), int(r["activations"])) for r in rows] == \
        [(r["name"], r["weights"], 2 * r["macs"], r["activations"]) for r in data["layers"]]
    bad = invoke(runner, "analyze", "example_3x3_bottleneck", "--no-latency", "--columns", "name,mac")
    assert bad.exit_code == 2 and "name" in bad.stderr.split("known:")[1] and "weights" in bad.stderr
