"""Every activation, as a layer type and as the `activation` of conv and linear layers: no
parameters, no MACs, the shape unchanged, the right module, and the closed form equal to the
measurement (forward and backward) on every row."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import googlenet_cost as gc
from googlenet_cost.spec.layers import ACTIVATIONS

MODULES = {"relu": nn.ReLU, "relu6": nn.ReLU6, "leaky_relu": nn.LeakyReLU, "sigmoid": nn.Sigmoid,
           "hardsigmoid": nn.Hardsigmoid, "tanh": nn.Tanh, "silu": nn.SiLU, "hardswish": nn.Hardswish, "gelu": nn.GELU}


def _spec(function: str) -> str:
    extra = ", slope: 0.2" if function == "leaky_relu" else ""
    return (f"name: a\ninput: [3, 8, 8]\nlayers:\n"
            f"  - {{name: c1, type: conv, out: 4, kernel: 3, padding: 1, activation: {function}}}\n"
            f"  - {{name: act, type: {function}{extra}}}\n"
            f"  - {{name: flat, type: flatten}}\n"
            f"  - {{name: fc, type: linear, out: 5, activation: {function}}}\n")


def test_every_activation_has_a_module():
    assert set(MODULES) == set(ACTIVATIONS)


@pytest.mark.parametrize("function", ACTIVATIONS)
def test_an_activation_costs_nothing_and_builds_its_module(function):
    spec = gc.parse_spec(_spec(function))
    report = gc.analyze(spec, optimizer="sgd")
    rows = {row.name: row for row in report.layers}
    assert report.warnings == []  # closed form = measured, forward and backward, on every row
    assert (rows["act"].params, rows["act"].macs, rows["act"].backward_macs) == (0, 0, 0)
    assert rows["act"].output_shape == rows["c1"].output_shape == [4, 8, 8]
    assert rows["c1"].macs == 4 * 64 * 27 and rows["fc"].macs == 256 * 5
    model = gc.build_model(spec)
    assert [type(m) for m in model.modules() if type(m) is MODULES[function]] and \
        sum(isinstance(m, MODULES[function]) for m in model.modules()) == 3
    if function == "leaky_relu":
        slopes = sorted(m.negative_slope for m in model.modules() if isinstance(m, nn.LeakyReLU))
        assert slopes == [0.01, 0.01, 0.2]  # the layer's own slope; the activation key's default
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 8, 8)).shape == (1, 5)


def test_dilated_convs_and_max_pools_have_the_shapes_torch_computes():
    spec = gc.parse_spec("name: d\ninput: [3, 16, 16]\nlayers:\n"
                         "  - {name: dil, type: conv, out: 4, kernel: 3, dilation: 2, padding: same}\n"
                         "  - {name: dil2, type: conv, out: 4, kernel: 3, dilation: [2, 3]}\n"
                         "  - {name: amax, type: adaptive_maxpool, output: [3, 2]}\n"
                         "  - {name: gmax, type: global_maxpool}\n")
    report = gc.analyze(spec, verify=True)
    rows = {row.name: row for row in report.layers}
    (verified,) = report.notes  # closed form = FlopCounterMode = fvcore on every row: one note says so
    assert report.warnings == []
    assert verified.startswith("--verify:") and "equal gcost's on all" in verified
    assert rows["dil"].output_shape == [4, 16, 16] and rows["dil"].macs == 4 * 256 * 27
    assert rows["dil"].receptive_field == [5, 5] and rows["dil"].kernel == "3x3/1 d2"
    assert rows["dil2"].output_shape == [4, 12, 10] and rows["dil2"].receptive_field == [9, 11]
    assert rows["amax"].output_shape == [4, 3, 2] and rows["gmax"].output_shape == [4, 1, 1]
    model = gc.build_model(spec)
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 16, 16)).shape == (1, 4, 1, 1)
    bad = "name: d\ninput: [3, 16, 16]\nlayers:\n  - {name: dil, type: conv, out: 4, kernel: 2, dilation: 3, padding: same}\n"
    with pytest.raises(gc.SpecError, match="odd kernel"):
        gc.parse_spec(bad)
