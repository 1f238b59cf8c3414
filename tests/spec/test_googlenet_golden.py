"""specs/googlenet.yaml against numbers from independent sources: the paper's Table 1 and its
arithmetic, and the BVLC Caffe replication's deploy network (6,998,552 parameters)."""
from __future__ import annotations

import pytest

import googlenet_cost as gc
from googlenet_cost.spec.plan import plan_rows

# Table 1, "output size" column (H x W x C), for every row that has one.
TABLE1_OUTPUTS = {
    "conv1": (112, 112, 64), "pool1": (56, 56, 64), "conv2": (56, 56, 192), "pool2": (28, 28, 192),
    "inception_3a": (28, 28, 256), "inception_3b": (28, 28, 480), "pool3": (14, 14, 480),
    "inception_4a": (14, 14, 512), "inception_4b": (14, 14, 512), "inception_4c": (14, 14, 512),
    "inception_4d": (14, 14, 528), "inception_4e": (14, 14, 832), "pool4": (7, 7, 832),
    "inception_5a": (7, 7, 832), "inception_5b": (7, 7, 1024), "pool5": (1, 1, 1024),
}


@pytest.fixture(scope="module")
def eval_report():
    return gc.analyze(gc.load_spec("googlenet"))


@pytest.fixture(scope="module")
def train_report():
    return gc.analyze(gc.load_spec("googlenet"), train=True)


def test_eval_totals_match_bvlc_deploy_network(eval_report):
    assert eval_report.totals.params == 6_998_552
    assert eval_report.totals.weights == 6_990_272
    assert eval_report.totals.macs == 1_582_671_872


def test_train_mode_adds_both_auxiliary_heads(train_report):
    assert train_report.totals.params == 13_378_280
    assert train_report.totals.macs == 1_591_044_096
    names = [row.name for row in train_report.layers if row.parent is None]
    assert names.index("aux1") == names.index("inception_4a") + 1
    assert names.index("aux2") == names.index("inception_4d") + 1


@pytest.mark.slow
def test_params_equal_the_built_modules_parameter_count():
    spec = gc.load_spec("googlenet")
    for train in (False, True):
        model = gc.build_model(spec, train=train, device="meta")
        assert sum(p.numel() for p in model.parameters()) == gc.analyze(spec, train=train).totals.params


@pytest.mark.parametrize("name,hwc", sorted(TABLE1_OUTPUTS.items()))
def test_every_row_has_table1_output_size(eval_report, name, hwc):
    row = next(r for r in eval_report.layers if r.name == name)
    h, w, c = hwc
    assert row.output_shape == [c, h, w]


def test_inception_3a_weights_are_the_papers_159k(eval_report):
    row = next(r for r in eval_report.layers if r.name == "inception_3a")
    assert row.weights == 163_328
    assert row.weights // 1024 == 159  # the paper's K is 1024
    assert row.paper.params_ok


def test_paper_column_flags_exactly_the_rows_where_table1_disagrees(eval_report):
    flagged_params = {r.name for r in eval_report.layers if r.paper and r.paper.params_ok is False}
    flagged_ops = {r.name for r in eval_report.layers if r.paper and r.paper.ops_ok is False}
    assert flagged_params == {"conv1", "inception_4a", "inception_4c", "inception_4d",
                              "inception_4e", "inception_5a", "inception_5b"}
    assert "conv1" in flagged_ops
    assert len(flagged_ops) <= 2  # most ops match
    assert all(r.paper.output_ok is not False for r in eval_report.layers if r.paper)


def test_conv1_printed_figures_fit_a_depthwise_separable_hypothesis(eval_report):
    conv1 = gc.load_spec("googlenet").layers[0]
    separable_weights = 7 * 7 * 3 * 8 + 24 * 64  # depthwise 7x7, multiplier 8, then 1x1 to 64
    assert separable_weights == 2712
    assert conv1.paper.params.matches(separable_weights)  # printed 2.7K
    assert conv1.paper.ops.matches(112 * 112 * separable_weights)  # printed 34M
    row = next(r for r in eval_report.layers if r.name == "conv1")
    assert row.weights == 7 * 7 * 3 * 64 and not conv1.paper.params.matches(row.weights)


def test_module_rows_are_sums_of_their_children(train_report):
    for parent in (r for r in train_report.layers if r.parent is None):
        children = [r for r in train_report.layers if r.parent == parent.name]
        if children:
            for key in ("params", "weights", "macs"):
                assert getattr(parent, key) == sum(getattr(c, key) for c in children), (parent.name, key)


def test_totals_are_sums_of_top_level_rows(train_report):
    top = [r for r in train_report.layers if r.parent is None]
    assert train_report.totals.params == sum(r.params for r in top)
    assert train_report.totals.macs == sum(r.macs for r in top)


def test_inception_branch_rows_are_named_by_table1_columns(eval_report):
    children = [r.name for r in eval_report.layers if r.parent == "inception_4a"]
    assert children == [f"inception_4a/{c}" for c in
                        ("1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool", "pool_proj")]


def test_receptive_field_grows_by_kernel_times_jump(eval_report):
    rf = {r.name: r.receptive_field for r in eval_report.layers}
    assert rf["conv1"] == [7, 7]
    assert rf["pool1"] == [7 + 2 * 2, 7 + 2 * 2]  # 3x3 window, jump 2 after conv1
    assert rf["inception_3a/5x5"][0] > rf["inception_3a/3x3"][0] > rf["inception_3a/1x1"][0]


@pytest.mark.slow
def test_closed_form_equals_built_model_on_every_row():
    spec = gc.load_spec("googlenet")
    report = gc.analyze(spec, train=True)
    planned = plan_rows(spec, train=True)
    assert report.warnings == []
    assert [p.name for p in planned] == [r.name for r in report.layers]
    for plan, row in zip(planned, report.layers):
        assert (plan.cost.params, plan.cost.macs, list(plan.out_shape)) == (row.params, row.macs, row.output_shape)
