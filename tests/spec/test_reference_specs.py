"""Shipped specs that must equal their reference implementation exactly. The figures were measured
on the live torchvision models (torch 2.14.1, torchvision 0.29.1, in a separate environment; see
docs/zoo.md for the command): per block its output shape (C, H, W) and params, and the totals."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import googlenet_cost as gc

# torchvision.models.mobilenet_v2(): features[0..18] as (output shape, params)
MOBILENET_V2_FEATURES = [
    ((32, 112, 112), 928), ((16, 112, 112), 896), ((24, 56, 56), 5136), ((24, 56, 56), 8832),
    ((32, 28, 28), 10000), ((32, 28, 28), 14848), ((32, 28, 28), 14848), ((64, 14, 14), 21056),
    ((64, 14, 14), 54272), ((64, 14, 14), 54272), ((64, 14, 14), 54272), ((96, 14, 14), 66624),
    ((96, 14, 14), 118272), ((96, 14, 14), 118272), ((160, 7, 7), 155264), ((160, 7, 7), 320000),
    ((160, 7, 7), 320000), ((320, 7, 7), 473920), ((1280, 7, 7), 412160)]


@pytest.mark.slow
def test_mobilenet_v2_equals_torchvision_block_by_block():
    report = gc.analyze(gc.load_spec("mobilenet_v2"))
    top = [row for row in report.layers if row.parent is None]
    features = top[:19]  # stem, block1..block17, last
    assert [(tuple(row.output_shape), row.params) for row in features] == MOBILENET_V2_FEATURES
    assert (report.totals.params, report.totals.weights, report.totals.macs) == (3_504_872, 3_469_760, 300_774_272)
    assert report.warnings == []  # closed form = measured on every row
    assert top[-1].name == "fc" and top[-1].params == 1280 * 1000 + 1000

# torchvision.models.densenet121(): features' dense blocks and transitions as (output shape, params)
DENSENET121_STAGES = {"dense1": ((256, 56, 56), 335_040), "transition1": ((128, 28, 28), 33_280),
                      "dense2": ((512, 28, 28), 919_680), "transition2": ((256, 14, 14), 132_096),
                      "dense3": ((1024, 14, 14), 2_837_760), "transition3": ((512, 7, 7), 526_336),
                      "dense4": ((1024, 7, 7), 2_158_080)}


@pytest.mark.slow
def test_densenet121_equals_torchvision_stage_by_stage():
    report = gc.analyze(gc.load_spec("densenet121"))
    top = [row for row in report.layers if row.parent is None]
    for stage, (shape, params) in DENSENET121_STAGES.items():
        rows = [row for row in top if row.name == stage or row.name.startswith(stage + "_")]
        assert tuple(rows[-1].output_shape) == shape and sum(row.params for row in rows) == params, stage
    assert (report.totals.params, report.totals.weights, report.totals.macs) == (7_978_856, 7_894_208, 2_834_161_664)
    assert report.warnings == []


# Every row of the reference specs against the live torchvision model, as measured by
# benchmarks/reference_rows.py (torch 2.14.1, torchvision 0.29.1) into tests/data/reference_rows.json.
REFERENCE_ROWS = json.loads((Path(__file__).parents[1] / "data" / "reference_rows.json").read_text())
CASES = [(spec, mode) for spec, modes in REFERENCE_ROWS["specs"].items() for mode in modes]


@pytest.mark.slow
@pytest.mark.parametrize(("spec_name", "mode"), CASES, ids=[f"{s}-{m}" for s, m in CASES])
def test_reference_spec_equals_torchvision_row_by_row(spec_name, mode):
    expected = REFERENCE_ROWS["specs"][spec_name][mode]
    report = gc.analyze(gc.load_spec(spec_name), train=mode == "train")
    assert (report.totals.params, report.totals.macs) == (expected["params"], expected["macs"])
    rows = {row.name: row for row in report.layers}
    problems = [f"{name}: gcost {rows[name].output_shape} {rows[name].params:,} params, torchvision "
                f"{figures['modules']} {figures['output_shape']} {figures['params']:,}"
                for name, figures in expected["rows"].items()
                if (rows[name].output_shape, rows[name].params) != (figures["output_shape"], figures["params"])]
    assert problems == []
    # every row was either matched to a torchvision module or is known to have none of its own
    assert sorted(rows) == sorted([*expected["rows"], *expected["without_module"]])
    # and the closed form equals the measured count on every row (training counts at batch 2, said once)
    assert [w for w in report.warnings if not w.startswith("counted at batch 2: AuxLogits/conv1")] == []


@pytest.mark.parametrize(("spec_name", "mode"), CASES, ids=[f"{s}-{m}" for s, m in CASES])
def test_rows_without_a_torchvision_module_hold_no_cost_of_their_own(spec_name, mode):
    """The rows left unmatched are torchvision's functional poolings and flatten, and gcost's own
    grouping levels (a repeat, a nested branches, a dense layer's concat, ShuffleNetV2's split and
    concat), whose children are matched, and ShuffleNetV2's channel shuffle (torchvision's function
    channel_shuffle): never a conv, a linear layer or a normalization. (ConvNeXt's layer scale has
    no module of its own either, yet it is matched, to its parameter: see the next test.)"""
    from googlenet_cost.spec.plan import plan_rows

    unmatched = set(REFERENCE_ROWS["specs"][spec_name][mode]["without_module"])
    kinds = {row.type for row in plan_rows(gc.load_spec(spec_name), train=mode == "train") if row.name in unmatched}
    assert kinds <= {"avgpool", "maxpool", "adaptive_avgpool", "global_avgpool", "flatten", "relu", "branches",
                     "repeat", "channel_shuffle"}


@pytest.mark.parametrize(("spec_name", "mode"), CASES, ids=[f"{s}-{m}" for s, m in CASES])
def test_parameters_without_a_torchvision_module_are_each_one_layer_scale_row(spec_name, mode):
    """A parameter torchvision holds in a container rather than in a module of its own (ConvNeXt's
    CNBlock.layer_scale, used as `self.layer_scale * self.block(x)`) is matched to exactly one row,
    a layer_scale row directly inside the row matched to that container, whose params are that
    parameter's and nothing else's. Any other name a row is matched to is a torchvision module."""
    from googlenet_cost.spec.plan import plan_rows

    expected = REFERENCE_ROWS["specs"][spec_name][mode]
    loose = expected.get("parameters_without_module", {})
    rows = {row.name: row for row in plan_rows(gc.load_spec(spec_name), train=mode == "train")}
    holders = {name: [m for m in figures["modules"] if m in loose] for name, figures in expected["rows"].items()}
    holders = {name: named for name, named in holders.items() if named}
    assert sorted(m for named in holders.values() for m in named) == sorted(loose)  # each one, once
    for name, named in holders.items():
        row, (parameter,) = rows[name], named
        assert (row.type, row.cost.params, expected["rows"][name]["params"]) == ("layer_scale", loose[parameter],
                                                                                   loose[parameter])
        assert expected["rows"][row.parent]["modules"] == [parameter.rsplit(".", 1)[0]]
        assert expected["rows"][name]["modules"][-1] not in loose  # its shape is a module's output
    if spec_name == "convnext_tiny":
        assert len(holders) == 18  # one per CNBlock: 3 + 3 + 9 + 3


@pytest.mark.parametrize(("spec_name", "mode"), CASES, ids=[f"{s}-{m}" for s, m in CASES])
def test_rows_matched_to_a_channels_last_module_are_per_pixel_layers(spec_name, mode):
    """Modules that run on a permuted N x H x W x C map (ConvNeXt's MLP, between its block's two
    Permutes) had their measured H x W x C recorded as C x H x W. Only rows computing each pixel
    over its channels alone may be matched to them: a layer norm, an activation, or a 1x1 conv at
    stride 1 without groups (torchvision's Linear on every pixel), so the order of the dimensions
    is the only difference."""
    from googlenet_cost.spec.plan import plan_rows

    expected = REFERENCE_ROWS["specs"][spec_name][mode]
    permuted = set(expected.get("channels_last", []))
    rows = {row.name: row for row in plan_rows(gc.load_spec(spec_name), train=mode == "train")}
    matched = {name for name, figures in expected["rows"].items() if permuted & set(figures["modules"])}
    assert {m for name in matched for m in expected["rows"][name]["modules"]} == permuted  # each one matched
    for name in matched:
        layer = rows[name].layer
        assert rows[name].type in ("layernorm", "gelu") or (
            rows[name].type == "conv" and (layer.kernel, layer.stride, layer.groups) == ((1, 1), (1, 1), 1)), name
        assert rows[name].in_shape[1:] == rows[name].out_shape[1:], name
    if spec_name == "convnext_tiny":
        assert len(matched) == 4 * 18  # each block's norm, pwconv1, act, pwconv2
