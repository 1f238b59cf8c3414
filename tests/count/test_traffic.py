"""Bytes moved per row (issue 22): hand computations of the traffic model on small layers, at batch
1 and batch > 1 (parameters are read once per batch, activations once per sample), the report's
dtype, and the recorder on a Python model (in place or not, the same traffic)."""
from __future__ import annotations

import pytest
import torch
import yaml
from torch import nn

import googlenet_cost as gc
from googlenet_cost.count.counting import measure_model
from googlenet_cost.spec.layers import Traffic


def _rows(layers: list[dict], shape: list[int], batch: int, **keywords) -> dict:
    spec = gc.parse_spec(yaml.safe_dump({"name": "t", "input": shape, "layers": layers}))
    report = gc.analyze(spec, batch=batch, **keywords)
    assert report.warnings == []  # the closed form equals what the recorder saw, row by row
    return {row.name: row for row in report.layers} | {"(totals)": report.totals}


CONV = {"name": "c", "type": "conv", "out": 4, "kernel": 3, "padding": 1, "bias": False, "activation": "none"}


@pytest.mark.parametrize("batch", [1, 3])
def test_a_conv_without_bias_or_activation_reads_input_and_kernel_and_writes_its_output(batch):
    row = _rows([CONV], [3, 8, 8], batch)["c"]
    inputs, kernel, outputs = 3 * 8 * 8, 4 * 3 * 3 * 3, 4 * 8 * 8
    assert row.bytes == 4 * (batch * inputs + kernel + batch * outputs)  # the kernel once per batch
    assert row.arithmetic_intensity == pytest.approx(2 * row.macs * batch / row.bytes)


@pytest.mark.parametrize("batch", [1, 2])
def test_a_conv_with_relu_adds_reading_and_writing_its_output(batch):
    plain = _rows([CONV], [3, 8, 8], batch)["c"].bytes
    with_relu = _rows([CONV | {"activation": "relu", "bias": True}], [3, 8, 8], batch)["c"].bytes
    assert with_relu - plain == 4 * (4 + 2 * batch * 4 * 8 * 8)  # the bias (4 values), then relu_ reads and writes


@pytest.mark.parametrize("batch", [1, 4])
def test_a_max_pool_writes_its_int64_indices_too(batch):
    row = _rows([{"name": "p", "type": "maxpool", "kernel": 3, "stride": 2}], [4, 8, 8], batch)["p"]
    out = 4 * 3 * 3
    assert row.macs == 0 and row.arithmetic_intensity == 0.0
    assert row.bytes == 4 * batch * (4 * 8 * 8 + out) + 8 * batch * out
    half = _rows([{"name": "p", "type": "maxpool", "kernel": 3, "stride": 2}], [4, 8, 8], batch, dtype="bf16")["p"]
    assert half.bytes == 2 * batch * (4 * 8 * 8 + out) + 8 * batch * out  # indices stay int64


@pytest.mark.parametrize("batch", [1, 2])
def test_an_inception_module_is_its_branches_plus_the_concat(batch):
    module = {"name": "m", "type": "inception", "1x1": 2, "3x3_reduce": 2, "3x3": 3, "5x5_reduce": 1, "5x5": 2,
              "pool_proj": 2, "activation": "none"}
    rows = _rows([module], [4, 6, 6], batch)
    children = sum(row.bytes for name, row in rows.items() if name.startswith("m/"))
    branch_outputs, merged = (2 + 3 + 2 + 2) * 36, 9 * 36
    assert rows["m"].bytes - children == 4 * batch * (branch_outputs + merged)  # cat reads them all, writes the whole
    assert rows["m/1x1"].bytes == 4 * (batch * 4 * 36 + 2 * 4 + 2 + batch * 2 * 36)
    assert rows["(totals)"].bytes == rows["m"].bytes


def test_a_residual_add_reads_both_operands_and_an_identity_path_once():
    block = {"name": "r", "type": "branches", "merge": "add", "activation": "relu",
             "branches": [[], [CONV | {"out": 3}]]}
    rows = _rows([block], [3, 5, 5], 2)
    n = 2 * 3 * 5 * 5
    assert rows["r"].bytes - rows["r/c"].bytes == 4 * (3 * n + 2 * n)  # x + conv(x) -> new; relu_ on it
    twice = {"name": "r", "type": "branches", "merge": "add", "branches": [[], []]}
    assert _rows([twice], [3, 5, 5], 2)["r"].bytes == 4 * 2 * n  # x + x reads x once


def test_dropout_moves_nothing_in_eval_and_its_mask_in_training():
    layers = [{"name": "d", "type": "dropout", "p": 0.4}]
    assert _rows(layers, [2, 1, 5], 2)["d"].bytes == 0
    assert _rows(layers, [2, 1, 5], 2)["d"].arithmetic_intensity is None
    assert _rows(layers, [2, 1, 5], 2, train=True)["d"].bytes == 4 * 7 * 20  # mask drawn, scaled, multiplied


def test_a_python_models_rows_are_recorded_and_in_place_moves_the_same():
    def model(inplace: bool) -> nn.Module:
        return nn.Sequential(nn.Conv2d(2, 3, 1, bias=False), nn.ReLU(inplace=inplace), nn.Flatten(), nn.Linear(12, 5))

    rows = {row.name: row for row in measure_model(model(True), (2, 2, 2), batch=2, depth=2).rows}
    assert rows["0"].traffic.bytes(4) == 4 * (2 * 8 + 6 + 2 * 12)
    assert rows["1"].traffic.bytes(4) == 4 * 2 * 2 * 12
    assert rows["2"].traffic.bytes(4) == 0  # a view
    assert rows["3"].traffic.bytes(4) == 4 * (2 * 12 + 12 * 5 + 5 + 2 * 5)
    out_of_place = {row.name: row.traffic for row in measure_model(model(False), (2, 2, 2), batch=2, depth=2).rows}
    assert out_of_place == {name: row.traffic for name, row in rows.items()}


def test_reads_are_the_memory_spanned_lookups_broadcasts_and_slices():
    """A lookup reads the rows it writes, not its whole table; a broadcast (stride-0) view reads the
    row it spans; two disjoint halves of one tensor add up."""
    class Lookup(nn.Module):
        def __init__(self):
            super().__init__()
            self.table = nn.Embedding(100_000, 64)

        def forward(self, x):
            return self.table(x.long())

    class Broadcast(nn.Module):
        def __init__(self):
            super().__init__()
            self.bias = nn.Parameter(torch.ones(1, 8))

        def forward(self, x):
            return x + self.bias.expand_as(x)

    class Halves(nn.Module):
        def forward(self, x):
            a, b = x.chunk(2, 1)
            return a * b

    lookup = {r.name: r.traffic for r in measure_model(Lookup(), (4,), batch=2, depth=2).rows}
    assert lookup["table"] == Traffic(2 * 2 * 4 * 64, 8 * 2 * 4)  # 8 rows read and written, int64 indices
    broadcast = measure_model(Broadcast(), (8,), batch=2, depth=2).rows[-1].traffic
    assert broadcast == Traffic(16 + 8 + 16)  # x, the one bias row, the sum
    halves = measure_model(Halves(), (8,), batch=2, depth=2).rows[-1].traffic
    assert halves == Traffic(16 + 8)  # both halves of x read, the product written
