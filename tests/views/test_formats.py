"""The report's file formats (views/formats.py) on hand-built data (no torch): every format shows the
same numbers. hand_report is the hand-built report the other views' tests read too."""
from __future__ import annotations

import csv
import io
import json

from googlenet_cost.views.formats import render
from googlenet_cost.report import SourceInfo, LayerRow, PaperComparison, Report, totals_of


def hand_report() -> Report:
    rows = [
        LayerRow("conv1", None, "conv", "7x7/2", [64, 112, 112], 9472, 9408, 118_013_952, [7, 7],
                 PaperComparison("2.7K", 2765, False, "34M", 34_000_000, False, [64, 112, 112], True)),
        LayerRow("mod", None, "inception", "", [32, 56, 56], 300, 280, 1000, [11, 11]),
        LayerRow("mod/1x1", "mod", "conv", "1x1/1", [16, 56, 56], 100, 90, 400, [7, 7]),
        LayerRow("mod/3x3", "mod", "conv", "3x3/1", [16, 56, 56], 200, 190, 600, [11, 11]),
        LayerRow("fc", None, "linear", "", [10], 1010, 1000, 1000, [224, 224]),
    ]
    return Report(spec=SourceInfo("hand"), counting={"macs": "rule"}, input_shape=[3, 224, 224], batch=1,
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
