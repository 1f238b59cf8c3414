"""Every row's operators (issue 32): named as torch names them (schema names, which torch.profiler
shows for the same calls), summed per name and kind within a row, their FLOPs and bytes adding up
to the row's; and bytes_fused, a row's traffic as one kernel would move it, by hand on small layers
(the closed form equals the recorder on every shipped spec: test_shipped_specs.py)."""
from __future__ import annotations

import json

import pytest
import torch
import yaml
from torch import nn

import googlenet_cost as gc
from googlenet_cost.count.counting import measure_model


def _report(layers: list[dict], shape: list[int], batch: int = 1, **keywords):
    spec = gc.parse_spec(yaml.safe_dump({"name": "t", "input": shape, "layers": layers}))
    report = gc.analyze(spec, batch=batch, **keywords)
    assert report.warnings == []  # closed forms (bytes, bytes_fused) equal what the recorder saw
    return report


def _ops(row) -> dict:
    return {(op.name, op.kind): (op.calls, op.flops, op.bytes) for op in row.operators}


CONV = {"name": "c", "type": "conv", "out": 4, "kernel": 3, "padding": 1, "activation": "relu"}
LRN = {"name": "n", "type": "lrn", "size": 5}


def test_an_lrn_row_is_the_operators_torch_runs_for_it():
    row = _report([LRN], [8, 6, 6]).layers[0]
    names = [op.name for op in row.operators]
    assert names == ["aten::mul", "aten::view", "aten::constant_pad_nd", "aten::avg_pool3d", "aten::squeeze",
                     "aten::add", "aten::pow", "aten::div"]
    ops = _ops(row)
    assert ops[("aten::mul", "")][0] == 2  # x * x and the scale by alpha: summed within the row
    assert sum(op.bytes for op in row.operators) == row.bytes and all(op.flops == 0 for op in row.operators)


@pytest.mark.parametrize("batch", [1, 3])
def test_a_rows_operator_flops_and_bytes_add_up_to_the_row(batch):
    report = _report([CONV, {"name": "p", "type": "maxpool", "kernel": 3, "stride": 2},
                      {"name": "f", "type": "flatten"}, {"name": "fc", "type": "linear", "out": 5}], [3, 9, 9], batch)
    for row in report.layers:
        assert sum(op.flops for op in row.operators) == 2 * row.macs * batch, row.name
        assert sum(op.bytes for op in row.operators) == row.bytes, row.name
    conv = _ops(report.layers[0])
    assert conv[("aten::convolution", "conv kxk")][:2] == (1, 2 * report.layers[0].macs * batch)
    assert ("aten::max_pool2d_with_indices", "strided") in _ops(report.layers[1])
    assert _ops(report.layers[2]) == {("aten::view", ""): (1, 0, 0)}  # a view: a call that moves nothing
    assert ("aten::addmm", "matmul") in _ops(report.layers[3])


@pytest.mark.parametrize("conv, kind", [({"kernel": 1}, "conv 1x1"), ({"kernel": 3, "padding": 1}, "conv kxk"),
                                        ({"kernel": 3, "padding": 1, "groups": 4, "out": 4}, "conv depthwise")])
def test_a_convolution_is_classed_by_its_kernel_and_groups(conv, kind):
    row = _report([{"name": "c", "type": "conv", "out": 8, **conv}], [4, 6, 6]).layers[0]
    assert {op.kind for op in row.operators if op.name == "aten::convolution"} == {kind}


def test_a_parents_operators_are_its_childrens_and_its_own():
    report = _report([{"name": "m", "type": "inception", "1x1": 2, "3x3_reduce": 2, "3x3": 3, "5x5_reduce": 1,
                       "5x5": 2, "pool_proj": 2}], [4, 6, 6])
    parent, children = report.layers[0], report.layers[1:]
    ops = _ops(parent)
    assert ops[("aten::convolution", "conv 1x1")][0] == 4 and ops[("aten::convolution", "conv kxk")][0] == 2
    assert ops[("aten::max_pool2d_with_indices", "stride 1")][0] == 1 and ops[("aten::cat", "")][0] == 1
    assert sum(op.bytes for op in parent.operators) - sum(op.bytes for row in children for op in row.operators) \
        == ops[("aten::cat", "")][2]  # what the parent adds itself: the concat


def test_the_names_are_the_ones_torch_profiler_shows_for_the_same_calls():
    """The lead's per-layer profile joins its times to these operators by name."""
    from torch.profiler import ProfilerActivity, profile

    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                          nn.MaxPool2d(3, 2, ceil_mode=True), nn.LocalResponseNorm(5), nn.AvgPool2d(2),
                          nn.Conv2d(8, 8, 3, groups=8, padding=1), nn.SiLU(), nn.GELU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(8, 4), nn.Softmax(-1), nn.LayerNorm(4)).eval()
    recorded = {op.name for row in measure_model(model, (3, 16, 16), 1, device="cpu", depth=2).rows for op in row.operators}
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as run:
        model(torch.randn(1, 3, 16, 16))
    assert recorded and recorded <= {event.name for event in run.events()}


def test_operators_and_bytes_fused_are_in_the_json():
    row = json.loads(json.dumps(_report([CONV], [3, 8, 8]).to_dict()))["layers"][0]
    conv = 4 * (3 * 64 + 4 * 27 + 4 + 4 * 64)  # input, kernel, bias, output
    assert row["operators"] == [{"name": "aten::convolution", "kind": "conv kxk", "calls": 1, "flops": 2 * row["macs"],
                                 "bytes": conv}, {"name": "aten::relu_", "kind": None, "calls": 1, "flops": 0,
                                                  "bytes": 4 * 2 * 4 * 64}]
    assert row["bytes_fused"] == conv


# ---- bytes_fused by hand --------------------------------------------------------------------------

@pytest.mark.parametrize("batch", [1, 2])
def test_a_conv_with_relu_fused_reads_input_and_weights_and_writes_its_output_once(batch):
    row = _report([CONV], [3, 8, 8], batch).layers[0]
    assert row.bytes_fused == 4 * (batch * 3 * 64 + 4 * 27 + 4 + batch * 4 * 64)
    assert row.bytes - row.bytes_fused == 4 * 2 * batch * 4 * 64  # the relu's pass over the output, saved


def test_an_lrn_fused_moves_2n_where_eager_moves_13n_plus_2np():
    n, padded = 8 * 36, 12 * 36
    row = _report([LRN], [8, 6, 6]).layers[0]
    assert row.bytes_fused == 4 * 2 * n and row.bytes == 4 * (13 * n + 2 * padded)


def test_an_inception_module_fused_reads_its_input_once_and_writes_only_the_concat():
    report = _report([{"name": "m", "type": "inception", "1x1": 2, "3x3_reduce": 2, "3x3": 3, "5x5_reduce": 1,
                       "5x5": 2, "pool_proj": 2}], [4, 6, 6])
    parent = report.layers[0]
    assert parent.bytes_fused == 4 * (4 * 36 + parent.params + 9 * 36)
    assert report.totals.bytes_fused == parent.bytes_fused


def test_batch_norm_in_training_also_writes_its_running_statistics_and_step_counter():
    layer = {"name": "c", "type": "conv", "out": 4, "kernel": 1, "norm": "batchnorm", "bias": False}
    eval_row = _report([layer], [3, 4, 4], 2).layers[0]
    train_row = _report([layer], [3, 4, 4], 2, train=True).layers[0]
    assert eval_row.bytes_fused == 4 * (2 * 3 * 16 + 12 + 2 * 4 + 2 * 4 + 2 * 4 * 16)  # + mean and variance read
    assert train_row.bytes_fused - eval_row.bytes_fused == 4 * 2 * 4 + 2 * 8  # written back, and the int64 counter


def test_a_view_row_moves_nothing_fused_or_not():
    report = _report([CONV, {"name": "f", "type": "flatten"}, {"name": "d", "type": "dropout", "p": 0.5}], [3, 4, 4])
    assert [(row.bytes, row.bytes_fused) for row in report.layers[1:]] == [(0, 0), (0, 0)]


def test_a_python_models_rows_are_fused_by_the_recorder():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 1))
    rows = {row.name: row for row in measure_model(model, (3, 5, 5), 1, depth=2).rows}
    first = rows["0"].fused.total.elements
    assert first == 3 * 25 + 4 * 27 + 4 + 4 * 25
    assert rows["1"].fused.total.elements == 2 * 4 * 25


@pytest.mark.parametrize("train", [False, True])
def test_an_identity_path_with_an_activation_is_fused_as_its_input_and_output(train):
    """Found by hypothesis: a branches row of one empty path aliases its input, but its activation
    still runs (in place): the closed form follows what moves, not the aliasing."""
    layer = {"name": "b", "type": "branches", "merge": "add", "branches": [[]], "activation": "relu"}
    row = _report([layer], [1, 4, 4], 2, train=train).layers[0]
    assert row.bytes_fused == row.bytes == 4 * 2 * 2 * 16
