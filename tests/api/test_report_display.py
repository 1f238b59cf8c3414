"""A report where Python users look at it: print(report) draws the table `gcost analyze` prints,
_repr_html_ an escaped HTML table for notebooks, to_pandas flat columns; the data stays the one
pipeline's."""
from __future__ import annotations

import sys
import types

import pytest
import torch
from torch import nn

import googlenet_cost as gc
from googlenet_cost.analysis import analyze
from googlenet_cost.options import RunOptions
from googlenet_cost.sources import SpecSource
from googlenet_cost.views.cells import shape_text
from googlenet_cost.views.text import FRAME_COLUMNS, report_text


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


@pytest.fixture(scope="module")
def small():
    return gc.analyze("example_5x5_bottleneck")


@pytest.mark.parametrize("name", ["example_5x5_bottleneck", pytest.param("googlenet", marks=pytest.mark.slow)])
def test_str_is_the_table_gcost_analyze_prints_at_100_columns(runner, monkeypatch, name):
    """googlenet does not fit 100 columns: the same columns are left out, and the note names what a
    Python user does about it (the CLI's names its flags)."""
    from gcost_cli.main import gcost

    monkeypatch.setenv("COLUMNS", "100")
    result = runner.invoke(gcost, ["analyze", name, "--no-latency"], env={"COLUMNS": "100"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    api, cli = _lines(str(gc.analyze(name))), _lines(result.stdout)
    if not any(line.startswith("Left out") for line in cli):
        assert api == cli
        return
    table = next(i for i, line in enumerate(cli) if line.startswith("Left out"))
    assert api[:table] == cli[:table] and api[table].startswith(cli[table].split(". ")[0] + ".")
    note = " ".join(api[table:api.index(next(line for line in api if line.startswith("Totals:")))])
    assert "report.to_text(width=200)" in note and "report.to_pandas()" in note and "--columns" not in note


def test_print_shows_every_row_and_the_totals(capsys, small):
    print(small)
    printed = capsys.readouterr().out
    assert printed == str(small) + "\n"
    for row in small.layers:
        assert row.name.rsplit("/", 1)[-1] in printed and f"{row.macs:,}" in printed
    total = next(line for line in printed.splitlines() if "total" in line)
    assert f"{small.totals.params:,}" in total and f"{small.totals.macs:,}" in total
    assert f"Totals: {small.totals.params:,} params" in printed


def test_a_narrow_width_leaves_columns_out_and_says_so(small):
    wide, narrow = report_text(small, width=200), report_text(small, width=60)
    assert "RF" in wide and "Left out to fit 60 columns" in narrow
    assert f"{small.totals.macs:,}" in narrow  # a number is never cut


def test_warnings_are_printed_under_the_table():
    class WithFFT(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)

        def forward(self, x):
            return torch.fft.fft2(self.conv(x)).real

    report = gc.summary(WithFFT(), input_size=(1, 3, 8, 8))
    assert report.warnings and "warning: operators with no MAC formula" in str(report)


def test_the_report_is_the_pipelines_with_the_same_json(small):
    plain = analyze(SpecSource(gc.load_spec("example_5x5_bottleneck")), RunOptions())
    assert small.to_dict() == plain.to_dict()
    assert isinstance(small, gc.Report)


class Hostile(nn.Module):
    def __init__(self):
        super().__init__()
        self.add_module("<script>alert(1)", nn.Conv2d(3, 4, 3))
        self.add_module("a&b", nn.ReLU())

    def forward(self, x):
        for module in self.children():
            x = module(x)
        return x


Hostile.__name__ = "<img src=x onerror=alert(2)>"


def test_html_escapes_every_user_supplied_name():
    report = gc.summary(Hostile(), input_size=(1, 3, 8, 8))
    page = report._repr_html_()
    assert "&lt;script&gt;alert(1)" in page and "a&amp;b" in page
    assert "&lt;img src=x onerror=alert(2)&gt;: per-layer cost" in page
    assert "<script" not in page and "<img" not in page


def test_html_holds_the_rows_the_totals_and_the_counting_rule(small):
    page = small._repr_html_()
    assert page.count("<tr>") == 1 + len(small.layers) + 1  # headings, rows, totals
    assert "<tfoot><tr>" in page and f"{small.totals.macs:,}</th>" in page
    assert "multiply-accumulates" in page and "&lt;" not in page


def test_to_pandas_without_pandas_says_how_to_get_it(monkeypatch, small):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas raises ImportError
    with pytest.raises(gc.GcostError) as raised:
        small.to_pandas()
    assert str(raised.value) == "to_pandas needs pandas: pip install pandas"


def test_to_pandas_gives_one_flat_row_per_layer(monkeypatch, small):
    made = []

    class DataFrame:
        def __init__(self, data, columns):
            made.append((data, columns))

    monkeypatch.setitem(sys.modules, "pandas", types.SimpleNamespace(DataFrame=DataFrame))
    frame = small.to_pandas()
    assert isinstance(frame, DataFrame)
    (records, columns), = made
    assert columns == list(FRAME_COLUMNS)
    assert [record["name"] for record in records] == [row.name for row in small.layers]
    assert all(list(record) == columns for record in records)
    for record, row in zip(records, small.layers):
        assert record["macs"] == row.macs and record["params"] == row.params and record["bytes"] == row.bytes
        assert record["output"] == shape_text(row.output_shape)  # the table's text: HxWxC for a map
        assert record["output_size"] == [small.batch, *row.output_shape]  # torch's order, the batch first
        assert all(not isinstance(value, (list, dict, tuple)) for key, value in record.items() if key != "output_size")
    assert sum(r["macs"] for r in records if r["parent"] is None) == small.totals.macs


def test_to_pandas_with_pandas_when_installed(small):
    pandas = pytest.importorskip("pandas")
    frame = small.to_pandas()
    assert isinstance(frame, pandas.DataFrame) and list(frame.columns) == list(FRAME_COLUMNS)
    assert int(frame[frame["parent"].isna()]["macs"].sum()) == small.totals.macs


def test_training_and_roofline_columns_reach_the_text_and_the_html():
    report = gc.analyze("example_5x5_conv", step="train", roofline="h100-sxm")
    text, page = report_text(report, width=240), report._repr_html_()
    for heading in ("backward MACs", "saved bytes", "bound ms", "limit"):
        assert heading in text and f">{heading}</th>" in page
    assert "Training step (momentum SGD" in text and "Roofline (datasheet peaks" in text
    assert f"{report.training.backward_macs:,}</th>" in page  # the totals row
