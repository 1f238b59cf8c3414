"""Every shipped spec: three independent counts agree on every row (closed form from the spec,
FlopCounterMode on the built model, fvcore on real tensors), and the reference networks match
the figures their implementations publish."""
from __future__ import annotations

import functools

import pytest
import torch

import googlenet_cost as gc
from googlenet_cost.build.builder import build_model
from googlenet_cost.count.counting import measure_plan, measure_rows
from googlenet_cost.count.cross_check import fvcore_layers, fvcore_macs
from googlenet_cost.count.spec_counts import fused_traffic
from googlenet_cost.count.units import MeasurementPlan
from googlenet_cost.spec.plan import plan_rows, top_layers

from conftest import SPEC_PARAMS, SPECS

# (spec, train): (params, MACs), as published by the reference implementation or the paper.
PUBLISHED = {
    ("googlenet", False): (6_998_552, 1_582_671_872),  # BVLC deploy network
    ("googlenet", True): (13_378_280, 1_591_044_096),
    ("torchvision_googlenet", False): (6_624_904, 1_498_376_192),  # torchvision: 1.498 GFLOPS
    ("torchvision_googlenet", True): (13_004_888, None),
    ("vgg16", False): (138_357_544, 15_470_264_320),
    ("resnet50", False): (25_557_032, 4_089_184_256),
    ("example_5x5_conv", False): (760, None),
}


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(PUBLISHED), ids=lambda k: f"{k[0]}-{'train' if k[1] else 'eval'}")
def test_reference_networks_match_published_counts(key):
    name, train = key
    params, macs = PUBLISHED[key]
    report = gc.analyze(gc.load_spec(name), train=train)
    assert report.totals.params == params
    if macs is not None:
        assert report.totals.macs == macs


@functools.lru_cache(maxsize=None)
def whole_model_rows(path, train: bool) -> tuple:
    """FlopCounterMode's rows of the whole model built on meta, batch 2: what the two tests below
    compare with, measured once per spec and mode (seconds each for the full-size networks). The
    rows are frozen; each test gets its own list."""
    spec = gc.load_spec(path)
    return tuple(measure_rows(build_model(spec, train=train, device="meta"), spec.input_shape, batch=2, depth=None))


@pytest.mark.parametrize("path", SPEC_PARAMS)
@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_closed_form_equals_flop_counter_on_every_row(path, train):
    spec = gc.load_spec(path)
    planned = plan_rows(spec, train=train)
    measured = list(whole_model_rows(path, train))
    assert [p.name for p in planned] == [m.name for m in measured]
    closed = {p.name: (p.cost.params, p.cost.weights, p.cost.macs, p.out_shape, p.layer.traffic(p.in_shape, 2, train),
                       fused_traffic(p, 2, train)) for p in planned}
    recorded = {m.name: (m.params, m.weights, m.macs, m.output_shape, m.traffic, m.fused.total) for m in measured}
    assert [(name, closed[name], recorded[name]) for name in closed if closed[name] != recorded[name]] == []


@pytest.mark.parametrize("path", SPEC_PARAMS)
@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_distinct_layers_measured_alone_equal_the_whole_model(path, train):
    spec = gc.load_spec(path)
    whole = list(whole_model_rows(path, train))
    assert measure_plan(MeasurementPlan.of(plan_rows(spec, train=train)), 2, train=train, device="meta") == whole


@pytest.mark.parametrize("path", SPEC_PARAMS)
def test_fvcore_agrees_on_every_row(path):
    spec = gc.load_spec(path)
    train = bool(spec.aux)
    batch = 2 if train else 1  # inception_v3's aux head batch-normalizes a 1x1 map: no training at batch 1
    measured = {m.name: m.macs for m in measure_rows(build_model(spec, train=train, device="meta"),
                                                     spec.input_shape, batch, depth=None)}
    torch.manual_seed(0)
    reference = fvcore_macs(build_model(spec, train=train), spec.input_shape, batch, depth=None)
    assert reference == measured
    layers = top_layers(plan_rows(spec, train=train))
    assert fvcore_layers(layers, batch, train=train).macs == reference  # --verify's layer-by-layer form


@pytest.mark.parametrize("path", SPEC_PARAMS)
def test_output_shapes_equal_a_real_forward_pass(path):
    spec = gc.load_spec(path)
    model = build_model(spec, train=False)
    with torch.no_grad():
        out = model(torch.randn(2, *spec.input_shape))
    planned = plan_rows(spec, train=False)
    last_top = [p for p in planned if p.parent is None][-1]
    assert tuple(out.shape[1:]) == last_top.out_shape


@pytest.mark.slow
def test_counting_on_cpu_and_on_meta_agree():
    spec = gc.load_spec("googlenet")
    on_meta = measure_rows(build_model(spec, train=True, device="meta"), spec.input_shape, depth=None)
    on_cpu = measure_rows(build_model(spec, train=True, device="cpu"), spec.input_shape, depth=None)
    assert on_meta == on_cpu


@pytest.mark.slow
def test_analysis_leaves_a_model_untouched():
    from googlenet_cost.count.counting import measure_rows as measure

    spec = gc.load_spec("googlenet")
    model = build_model(spec, train=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    hooks_before = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
    measure(model, spec.input_shape, depth=None)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert set(before) == set(model.state_dict())
    assert next(model.parameters()).device.type == "cpu"
    assert sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()) == hooks_before


def test_builtin_specs_are_listed_by_name():
    names = set(gc.builtin_specs())
    assert {"googlenet", "torchvision_googlenet", "vgg16", "resnet50"} <= names
    assert names == {p.stem for p in SPECS}
