"""What the four users of issue 34 asked of a report: the notebook researcher (the terminal's width,
the API's own remedies, no empty columns, torch-order sizes in pandas, frozen params, hints in the
API's words), the student of the paper (Table 1's sums and structural columns, --verify's agreement
as a note) — each on the report's data and its views."""
from __future__ import annotations

import json
import sys
import types

import pytest
import torch
from torch import nn

import googlenet_cost as gc
from conftest import invoke
from googlenet_cost.views.text import WIDE, report_text, text_width

# The GoogLeNet paper's Table 1 (Szegedy et al. 2014), typed from the paper: depth, #1x1, #3x3 reduce,
# #3x3, #5x5 reduce, #5x5, pool proj of every row that prints them.
TABLE_1 = {
    "conv1": (1, None, None, None, None, None, None), "pool1": (0,) + (None,) * 6,
    "conv2": (2, None, 64, 192, None, None, None), "pool2": (0,) + (None,) * 6,
    "inception_3a": (2, 64, 96, 128, 16, 32, 32), "inception_3b": (2, 128, 128, 192, 32, 96, 64),
    "pool3": (0,) + (None,) * 6,
    "inception_4a": (2, 192, 96, 208, 16, 48, 64), "inception_4b": (2, 160, 112, 224, 24, 64, 64),
    "inception_4c": (2, 128, 128, 256, 24, 64, 64), "inception_4d": (2, 112, 144, 288, 32, 64, 64),
    "inception_4e": (2, 256, 160, 320, 32, 128, 128), "pool4": (0,) + (None,) * 6,
    "inception_5a": (2, 256, 160, 320, 32, 128, 128), "inception_5b": (2, 384, 192, 384, 48, 128, 128),
    "pool5": (0,) + (None,) * 6, "dropout": (0,) + (None,) * 6, "fc": (1,) + (None,) * 6,
    "softmax": (0,) + (None,) * 6,
}
# The paper's params column (K) and ops column (M), as printed; their sums are the totals.
PAPER_PARAMS_K = [2.7, 112, 159, 380, 364, 437, 463, 580, 840, 1072, 1388, 1000]
PAPER_OPS_M = [34, 360, 128, 304, 73, 88, 100, 119, 170, 54, 71, 1]


@pytest.fixture(scope="module")
def googlenet():
    return gc.analyze("googlenet")


def test_table_1s_columns_are_the_papers(googlenet):
    rows = {row.name: row for row in googlenet.layers}
    columns = ("1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool_proj")
    for name, (depth, *widths) in TABLE_1.items():
        assert rows[name].depth == depth, name
        assert tuple(rows[name].filters.get(column) for column in columns) == tuple(widths), name
    assert googlenet.totals.depth == 22  # "The network is 22 layers deep when counting only layers with parameters"


def test_the_totals_carry_the_sums_of_the_papers_figures(googlenet):
    assert googlenet.totals.paper_params == sum(round(k * 1024) for k in PAPER_PARAMS_K)
    assert googlenet.totals.paper_ops == sum(m * 10**6 for m in PAPER_OPS_M)
    total = next(line for line in report_text(googlenet, width=300).splitlines() if line.startswith("│ total"))
    assert "6,798K" in total and "1,502M" in total  # the table's totals row, in the paper's units
    assert gc.analyze("example_5x5_conv").totals.paper_params is None  # no figures, no sum


def test_table_1s_columns_are_columns_of_the_cli(runner):
    result = invoke(runner, "analyze", "googlenet", "--no-latency", "--depth", "top", "--format", "csv",
                    "--columns", "name,depth,1x1,3x3_reduce,#3x3,5x5 reduce,5x5,pool_proj")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "name,parent,depth,#1x1,#3x3_reduce,#3x3,#5x5_reduce,#5x5,#pool_proj"
    assert "inception_4e,,2,256,160,320,32,128,128" in lines and "conv2,,2,,64,192,,," in lines
    table = invoke(runner, "analyze", "googlenet", "--no-latency", "--depth", "top", "--columns",
                   "name,depth,#1x1,#3x3 reduce,#3x3,#5x5 reduce,#5x5,pool proj")
    assert "┃ depth ┃ #1x1 ┃ #3x3 reduce ┃ #3x3 ┃ #5x5 reduce ┃ #5x5 ┃ pool proj ┃" in table.stdout
    assert "│ total        │    22 │" in table.stdout


def test_verify_agreement_is_a_note_not_a_warning(runner):
    result = invoke(runner, "analyze", "example_5x5_conv", "--verify", "--no-latency")
    assert result.exit_code == 0 and "warning" not in result.stderr
    assert result.stderr.strip() == "--verify: fvcore's MACs equal gcost's on its one row"
    report = gc.analyze("example_5x5_conv", verify=True)
    assert report.notes == ["--verify: fvcore's MACs equal gcost's on its one row"] and report.warnings == []
    text = str(report)
    assert "--verify: fvcore's MACs equal gcost's on its one row" in text and "warning" not in text


def small_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 64, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(64, 10))


def test_frozen_params_are_counted_shown_and_in_the_json():
    model = small_model()
    model[0].requires_grad_(False)  # a frozen stem
    report = gc.summary(model, input_size=(1, 3, 32, 32))
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    assert (report.totals.frozen_params, report.totals.trainable_params) == (frozen, 650) and frozen == 1792
    assert [row.frozen_params for row in report.layers] == [1792, 0, 0, 0, 0]
    data = report.to_dict()
    assert (data["totals"]["frozen_params"], data["totals"]["trainable_params"]) == (1792, 650)
    assert data["layers"][0]["frozen_params"] == 1792
    text = report.to_text(width=200)
    assert "┃ frozen ┃" in text and "(2,368 weights, 1,792 frozen)" in text
    assert "frozen" not in gc.summary(small_model(), input_size=(1, 3, 32, 32)).to_text(width=200)


def test_a_column_with_nothing_in_it_is_not_shown():
    text = gc.summary(small_model(), input_size=(1, 3, 32, 32)).to_text(width=200)
    assert "RF" not in text and "kernel/stride" in text  # a Python model has no receptive field
    assert "RF" in gc.analyze("example_5x5_conv").to_text(width=200)
    no_kernels = gc.summary(nn.Sequential(nn.Flatten(), nn.Linear(12, 2)), input_size=(1, 3, 4)).to_text(width=200)
    assert "kernel/stride" not in no_kernels
    assert "RF" in gc.summary(small_model(), input_size=(1, 3, 32, 32)).to_text(width=200, columns="name,rf")


def test_to_pandas_gives_torchs_order_with_the_batch_beside_the_tables_text(monkeypatch):
    from googlenet_cost.views.text import frame_records

    records = frame_records(gc.summary(small_model(), input_size=(2, 3, 32, 32)))
    assert (records[0]["output"], records[0]["output_size"]) == ("16x16x64", [2, 64, 16, 16])  # torchinfo's
    assert (records[4]["output"], records[4]["output_size"]) == ("10", [2, 10])


def test_str_fits_the_terminal_a_width_or_a_notebook(monkeypatch):
    report = gc.analyze("googlenet", roofline="h100-sxm")
    monkeypatch.setenv("COLUMNS", "120")
    assert text_width() == 120 and max(len(line) for line in str(report).splitlines()[:5]) <= 120
    monkeypatch.delenv("COLUMNS")
    assert text_width() == 100  # no terminal: pytest captures standard output
    assert text_width(160) == 160
    with pytest.raises(TypeError):
        text_width(5)
    shell = type("ZMQInteractiveShell", (), {})()
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    assert text_width() == WIDE
    wide = str(report)
    assert "Left out" not in wide and "FLOP/B" in wide  # nothing squeezed in a notebook


def test_the_note_on_columns_left_out_names_the_apis_remedy():
    report = gc.summary(small_model(), input_size=(1, 3, 32, 32), roofline="h100-sxm")
    text = " ".join(report.to_text(width=70).split())
    assert "Left out to fit 70 columns:" in text and "--columns" not in text and "--format" not in text
    assert "print(report.to_text(width=200)) or report.to_text(columns=[...]) shows them" in text
    assert "report.to_pandas() has every column" in text
    shown = report.to_text(width=70, columns=["name", "bytes", "bound"])
    assert "bytes" in shown and "bound ms" in shown and "Left out" not in shown
    with pytest.raises(gc.GcostError, match="^columns: unknown column 'colour'"):
        report.to_text(columns="name,colour")


class ImageText(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.embed, self.head = nn.Conv2d(3, 8, 3, padding=1), nn.Embedding(100, 8), nn.Linear(16, 2)

    def forward(self, image, text):
        return self.head(torch.cat([self.conv(image).mean((2, 3)), self.embed(text).mean(1)], 1))


def test_an_api_hint_speaks_the_api_and_a_cli_hint_the_cli(runner, tmp_path):
    with pytest.raises(gc.GcostError) as sized:
        gc.summary(ImageText(), input_size=[(1, 3, 8, 8), (1, 7)])
    assert str(sized.value).endswith("token ids need an integer input: dtypes=[torch.float, torch.long] beside "
                                     "input_size") and "--input" not in str(sized.value)
    with pytest.raises(gc.GcostError) as data:
        gc.summary(ImageText(), input_data=(torch.zeros(1, 3, 8, 8), torch.zeros(1, 7)))
    assert "give input_data a torch.long tensor" in str(data.value) and "--input" not in str(data.value)
    (tmp_path / "two.py").write_text("from tests.views.test_users_round2 import ImageText\n"
                                     "def build():\n    return ImageText()\n", encoding="utf-8")
    result = invoke(runner, "analyze", "--model", f"{tmp_path}/two.py:build", "--input", "3x8x8,7", "--no-latency")
    assert result.exit_code == 2 and "token ids need an integer input: --input ...,77:int64" in result.stderr
    assert "dtypes" not in result.stderr


def test_json_of_a_spec_carries_the_new_totals(runner):
    data = json.loads(invoke(runner, "analyze", "googlenet", "--no-latency", "--format", "json").stdout)
    totals = data["totals"]
    assert (totals["paper_params"], totals["paper_ops"], totals["depth"]) == (6_960_845, 1_502_000_000, 22)
    assert (totals["trainable_params"], totals["frozen_params"]) == (totals["params"], 0)
    inception = next(row for row in data["layers"] if row["name"] == "inception_3a")
    assert inception["depth"] == 2 and inception["filters"]["5x5_reduce"] == 16
