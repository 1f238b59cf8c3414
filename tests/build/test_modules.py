"""The built modules (build/): each layer type's module computes what the network it comes from
computes, parameters land on
the device asked for, and paths that share an input never overwrite it."""
from __future__ import annotations

import pytest
import torch
import yaml

import googlenet_cost as gc
from googlenet_cost.build.builder import build_model, build_row


def _spec(layers: list, shape=(8, 6, 6)):
    return gc.parse_spec(yaml.safe_dump({"name": "t", "input": list(shape), "layers": layers}))


def test_layernorm_on_a_map_normalizes_each_positions_channels_as_convnext():
    """torchvision's LayerNorm2d: permute to N x H x W x C, F.layer_norm over C, permute back."""
    spec = _spec([{"name": "ln", "type": "layernorm", "eps": 1e-6}])
    model = build_model(spec)
    x = torch.randn(2, 8, 6, 6)
    reference = torch.nn.functional.layer_norm(x.permute(0, 2, 3, 1), (8,), eps=1e-6).permute(0, 3, 1, 2)
    with torch.no_grad():
        assert torch.allclose(model(x), reference, atol=1e-6)
    assert model(x).is_contiguous()


def test_an_activation_after_a_merge_is_applied_to_the_sum():
    spec = _spec([{"name": "res", "type": "branches", "merge": "add", "activation": "relu", "branches": [
        [], [{"name": "c", "type": "conv", "out": 8, "kernel": 3, "padding": 1, "activation": "none"}]]}])
    model = build_model(spec)
    with torch.no_grad():
        x = torch.randn(2, 8, 6, 6)
        conv = model.layers[0].paths[1][0]
        assert torch.equal(model(x), torch.relu(x + conv(x)))  # the ReLU after the add (no row of its own)


def test_se_gate_multiplies_the_input():
    spec = gc.parse_spec("name: g\ninput: [4, 5, 5]\nlayers:\n  - {name: se, type: se, reduce: 2}\n")
    model = build_model(spec)
    fc1, fc2 = (module for module in model.modules() if isinstance(module, torch.nn.Conv2d))
    x = torch.randn(3, 4, 5, 5)
    with torch.no_grad():
        squeezed = torch.relu(torch.nn.functional.conv2d(x.mean((2, 3), keepdim=True), fc1.weight, fc1.bias))
        gate = torch.sigmoid(torch.nn.functional.conv2d(squeezed, fc2.weight, fc2.bias))
        assert fc1.weight.shape == (2, 4, 1, 1) and torch.allclose(model(x), x * gate)


def test_batchnorm_momentum_and_eps_reach_the_module():
    spec = _spec([{"name": "bn", "type": "batchnorm", "momentum": 0.01, "eps": 0.001}])
    bn = build_model(spec).layers[0]
    assert (type(bn), bn.momentum, bn.eps) == (torch.nn.BatchNorm2d, 0.01, 0.001)


def test_a_convs_norm_and_activation_are_built_by_their_own_types():
    """conv's `norm: batchnorm` is the batchnorm type's module, its `activation` the activation type's."""
    spec = _spec([{"name": "c", "type": "conv", "out": 4, "kernel": 1, "norm": "batchnorm", "norm_eps": 0.01,
                   "activation": "leaky_relu"}])
    conv, bn, act = build_model(spec).layers[0]
    assert (type(conv), type(bn), bn.eps, bn.num_features) == (torch.nn.Conv2d, torch.nn.BatchNorm2d, 0.01, 4)
    assert (type(act), act.negative_slope, act.inplace) == (torch.nn.LeakyReLU, 0.01, True)


def test_an_in_place_activation_first_on_a_path_runs_out_of_place():
    """Every path reads the block's input: a ReLU in place first on one would overwrite it for the next."""
    spec = _spec([{"name": "b", "type": "branches", "branches": [[{"name": "r", "type": "relu"}],
                                                                 [{"name": "s", "type": "sigmoid"}]]}])
    model = build_model(spec)
    assert model.layers[0].paths[0][0].inplace is False
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        assert torch.equal(model(x), torch.cat((torch.relu(x), torch.sigmoid(x)), dim=1))


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_parameters_are_made_on_the_device_asked_for(device):
    spec = _spec([{"name": "c", "type": "conv", "out": 4, "kernel": 3, "norm": "batchnorm"},
                  {"name": "ln", "type": "layernorm"}, {"name": "ls", "type": "layer_scale"},
                  {"name": "f", "type": "flatten"}, {"name": "fc", "type": "linear", "out": 3}])
    model = build_model(spec, device=device)
    assert {p.device.type for p in model.parameters()} == {device}


def test_a_row_alone_is_one_module_named_by_its_row():
    spec = _spec([{"name": "mix", "type": "branches", "branches": [[{"name": "a", "type": "conv", "out": 2,
                                                                      "kernel": 1}], []]}])
    row = build_row(spec.layers[0], spec.input_shape)
    assert [name for name, _ in row.row_children()] == ["mix"]
    assert [name for name, _ in row[0].row_children()] == ["a"]
