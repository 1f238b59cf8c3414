"""Shipped specs that must equal their reference implementation exactly. The figures were measured
on the live torchvision models (torch 2.14.1, torchvision 0.29.1, in a separate environment; see
docs/zoo.md for the command): per block its output shape (C, H, W) and params, and the totals."""
from __future__ import annotations

import googlenet_cost as gc

# torchvision.models.mobilenet_v2(): features[0..18] as (output shape, params)
MOBILENET_V2_FEATURES = [
    ((32, 112, 112), 928), ((16, 112, 112), 896), ((24, 56, 56), 5136), ((24, 56, 56), 8832),
    ((32, 28, 28), 10000), ((32, 28, 28), 14848), ((32, 28, 28), 14848), ((64, 14, 14), 21056),
    ((64, 14, 14), 54272), ((64, 14, 14), 54272), ((64, 14, 14), 54272), ((96, 14, 14), 66624),
    ((96, 14, 14), 118272), ((96, 14, 14), 118272), ((160, 7, 7), 155264), ((160, 7, 7), 320000),
    ((160, 7, 7), 320000), ((320, 7, 7), 473920), ((1280, 7, 7), 412160)]


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


def test_densenet121_equals_torchvision_stage_by_stage():
    report = gc.analyze(gc.load_spec("densenet121"))
    top = [row for row in report.layers if row.parent is None]
    for stage, (shape, params) in DENSENET121_STAGES.items():
        rows = [row for row in top if row.name == stage or row.name.startswith(stage + "_")]
        assert tuple(rows[-1].output_shape) == shape and sum(row.params for row in rows) == params, stage
    assert (report.totals.params, report.totals.weights, report.totals.macs) == (7_978_856, 7_894_208, 2_834_161_664)
    assert report.warnings == []
