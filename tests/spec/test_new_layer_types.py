"""layernorm, layer_scale, channel_shuffle and a branches `split`: their closed forms worked by hand,
and their built modules computing what ConvNeXt's and ShuffleNetV2's do in torchvision (rewritten
here from torchvision's source, so the suite needs no torchvision)."""
from __future__ import annotations

import pytest
import torch
import yaml

import googlenet_cost as gc
from googlenet_cost.errors import SpecError
from googlenet_cost.spec.plan import plan_rows


def _spec(layers: list, shape=(8, 6, 6)):
    return gc.parse_spec(yaml.safe_dump({"name": "t", "input": list(shape), "layers": layers}))


def _rows(spec, batch: int = 1) -> dict:
    report = gc.analyze(spec, batch=batch)
    assert report.warnings == []  # closed form = the built module, every row
    return {row.name: row for row in report.layers}


def test_layernorm_has_2c_params_no_macs_on_a_map_and_on_a_vector():
    rows = _rows(_spec([{"name": "ln", "type": "layernorm", "eps": 1e-6}, {"name": "flat", "type": "flatten"},
                        {"name": "lnf", "type": "layernorm"}]), batch=2)
    assert (rows["ln"].params, rows["ln"].macs, rows["ln"].output_shape) == (16, 0, [8, 6, 6])
    assert (rows["lnf"].params, rows["lnf"].output_shape) == (2 * 288, [288])
    # batch 2, N = 2 x 288 values: layer_norm reads N + 2C and writes N + 2 x 72 statistics (one mean and
    # one inverse deviation per position); the copy back to N x C x H x W reads and writes N
    assert rows["ln"].bytes == 4 * (576 + 16 + 576 + 2 * 72 + 2 * 576)
    assert rows["lnf"].bytes == 4 * (576 + 2 * 288 + 576 + 2 * 2)  # a vector: one group per sample


def test_layer_scale_has_c_params_and_multiplies_each_channel():
    spec = _spec([{"name": "ls", "type": "layer_scale", "init": 0.5}])
    rows = _rows(spec, batch=2)
    assert (rows["ls"].params, rows["ls"].macs) == (8, 0)
    assert rows["ls"].bytes == 4 * (2 * 2 * 288 + 8)  # one product: reads the input and 8 multipliers
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        assert torch.equal(gc.build_model(spec)(x), 0.5 * x)


def _torchvision_channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """torchvision.models.shufflenetv2.channel_shuffle, as written there."""
    batchsize, num_channels, height, width = x.size()
    x = x.view(batchsize, groups, num_channels // groups, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batchsize, num_channels, height, width)


@pytest.mark.parametrize("groups", [1, 2, 4, 8])
def test_channel_shuffle_orders_channels_as_torchvision(groups):
    spec = _spec([{"name": "cs", "type": "channel_shuffle", "groups": groups}])
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        assert torch.equal(gc.build_model(spec)(x), _torchvision_channel_shuffle(x, groups))
    rows = _rows(spec, batch=2)
    assert (rows["cs"].params, rows["cs"].macs, rows["cs"].bytes) == (0, 0, 4 * 2 * 576)  # one copy


SHUFFLE_UNIT = [{
    "name": "unit", "type": "sequence", "layers": [
        {"name": "halves", "type": "branches", "split": True, "branches": [[], [
            {"name": "pw1", "type": "conv", "out": 4, "kernel": 1, "bias": False, "norm": "batchnorm"},
            {"name": "dw", "type": "conv", "out": 4, "kernel": 3, "padding": 1, "groups": 4, "bias": False,
             "norm": "batchnorm", "activation": "none"},
            {"name": "pw2", "type": "conv", "out": 4, "kernel": 1, "bias": False, "norm": "batchnorm"}]]},
        {"name": "shuffle", "type": "channel_shuffle", "groups": 2}]}]


def test_a_split_hands_each_path_its_slice_as_shufflenet_v2s_unit():
    """torchvision's InvertedResidual at stride 1: x1, x2 = x.chunk(2, dim=1); cat(x1, branch2(x2));
    channel_shuffle(out, 2). Its branch2 reads 4 of the 8 channels: 1x1 (16 + 8 BN), 3x3 depthwise
    (36 + 8), 1x1 (16 + 8)."""
    spec = _spec(SHUFFLE_UNIT)
    rows = _rows(spec, batch=2)
    assert rows["unit/halves/pw1"].params == 4 * 4 + 2 * 4
    assert rows["unit/halves"].params == 24 + 44 + 24 and rows["unit/halves"].output_shape == [8, 6, 6]
    assert rows["unit/halves/pw1"].macs == 36 * 4 * 4
    model = gc.build_model(spec).eval()
    x = torch.randn(2, 8, 6, 6)
    halves = model.layers[0][0]
    with torch.no_grad():
        x1, x2 = x.chunk(2, dim=1)
        expected = _torchvision_channel_shuffle(torch.cat((x1, halves.paths[1](x2)), dim=1), 2)
        assert torch.equal(model(x), expected)


def test_a_split_copies_each_slice_in_closed_form():
    """Each path's slice is copied (a channel slice of N x C x H x W spans (N - 1) x C x H x W + k x H x W
    elements of the input) and the identity path's copy is concatenated: at batch 2 on 8 x 6 x 6, two
    4-channel slices each read 288 + 144 and write 288, the concat reads 576 and writes 576."""
    rows = _rows(_spec([{"name": "s", "type": "branches", "split": True, "branches": [[], []]}]), batch=2)
    assert rows["s"].bytes == 4 * (2 * (288 + 144 + 288) + 576 + 576)


@pytest.mark.parametrize("layer,fragment", [
    ({"name": "s", "type": "branches", "split": [3, 4], "branches": [[], []]}, "split [3, 4] must add up to the "
                                                                               "input's 8 channels"),
    ({"name": "s", "type": "branches", "split": True, "branches": [[], [], []]}, "3 must divide 8"),
    ({"name": "s", "type": "branches", "split": [8], "branches": [[], []]}, "a list of 2 channel counts"),
    ({"name": "s", "type": "branches", "split": "half", "branches": [[], []]}, "split must be true, false or"),
    ({"name": "cs", "type": "channel_shuffle", "groups": 3}, "groups 3 must divide the input's 8 channels"),
    ({"name": "cs", "type": "channel_shuffle"}, "missing required key 'groups'"),
    ({"name": "ln", "type": "layernorm", "eps": 0}, "eps"),
])
def test_bad_new_constructs_are_refused_naming_the_layer(layer, fragment):
    with pytest.raises(SpecError, match=None) as error:
        _spec([layer])
    assert fragment in str(error.value) and layer["name"] in str(error.value)


def test_a_split_needs_a_feature_map():
    with pytest.raises(SpecError, match="a split needs a C x H x W feature map"):
        _spec([{"name": "flat", "type": "flatten"}, {"name": "s", "type": "branches", "split": True,
                                                     "branches": [[], []]}])


def test_the_new_types_train_and_count_a_backward():
    spec = _spec([{"name": "ln", "type": "layernorm"}, {"name": "ls", "type": "layer_scale"}, *SHUFFLE_UNIT,
                  {"name": "c", "type": "conv", "out": 4, "kernel": 1}])
    report = gc.analyze(spec, batch=2, optimizer="sgd")
    assert report.warnings == []
    rows = {row.name: row for row in report.layers}
    assert rows["c"].backward_macs == 2 * rows["c"].macs  # its input needs a gradient: ln has parameters
    assert [row.name for row in plan_rows(spec, train=False)][:4] == ["ln", "ls", "unit", "unit/halves"]
