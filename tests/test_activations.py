"""Every activation, as a layer type and as the `activation` of conv and linear layers: no
parameters, no MACs, the shape unchanged, the right module, and the closed form equal to the
measurement (forward and backward) on every row."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import googlenet_cost as gc
from googlenet_cost.layers import ACTIVATIONS

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
