"""One measurement plan: a spec is planned once, and every distinct unit (count.units) is built
and measured once, for one analyze and across all the variants of a compare."""
from __future__ import annotations

import json
from collections import Counter

import pytest

import googlenet_cost as gc
from googlenet_cost.count import counting
from googlenet_cost.count.units import MeasurementPlan
from googlenet_cost.spec import plan as plan_module
from googlenet_cost.spec.variants import build_variants
from tests.conftest import SPECS, invoke


@pytest.fixture
def recorded(monkeypatch):
    """Every planning of a spec (by the spec object) and every unit built for counting (by build key)."""
    plans: Counter = Counter()
    builds: Counter = Counter()
    real_plan, real_build = plan_module._plan, counting.build_row

    def plan(spec):
        plans[id(spec)] += 1
        return real_plan(spec)

    def build(layer, in_shape, device="cpu"):
        builds[layer.build_key(in_shape)] += 1
        return real_build(layer, in_shape, device)

    monkeypatch.setattr(plan_module, "_plan", plan)
    monkeypatch.setattr(counting, "build_row", build)
    return plans, builds


def test_compare_of_three_variants_plans_each_spec_once_and_builds_each_distinct_unit_once(runner, recorded):
    plans, builds = recorded
    result = invoke(runner, "compare", "--reduce", "16", "--reduce", "32", "--no-reduce", "--no-latency",
                    "--format", "json")
    assert result.exit_code == 0, result.output
    labels = [variant["label"] for variant in json.loads(result.stdout)["variants"]]
    assert len(labels) == 4
    assert len(plans) == 4 and set(plans.values()) == {1}  # googlenet and its 3 variants: planned once each
    variants = build_variants(["googlenet"], [("reduce", 16), ("reduce", 32), ("no-reduce", None)], None)
    distinct = {unit.build_key for variant in variants
                for unit in MeasurementPlan.of(plan_module.plan_rows(variant.spec, train=False)).counted}
    assert set(builds) == distinct  # every distinct unit of every variant was measured...
    assert set(builds.values()) == {1}  # ...once, though the four variants share most of them
    total = sum(len(MeasurementPlan.of(plan_module.plan_rows(v.spec, train=False)).counted) for v in variants)
    assert sum(builds.values()) == len(distinct) < total  # the stem, pools and head are shared by all four


def test_one_analyze_plans_once_and_builds_a_repeated_block_once(recorded):
    plans, builds = recorded
    module = "{name: m, type: inception, 1x1: 64, 3x3_reduce: 96, 3x3: 128, 5x5_reduce: 16, 5x5: 32, pool_proj: 32"
    spec = gc.parse_spec("name: r\ninput: [256, 28, 28]\nlayers:\n" + "".join(
        f"  - {module.replace('name: m', f'name: m{i}')}}}\n" for i in range(5)))
    assert list(plans.values()) == [1]  # parse_spec validated it by planning it
    report = gc.analyze(spec)
    assert len(report.layers) == 5 * 8  # each module and its 7 branch layers
    assert list(plans.values()) == [1]  # analyze read that plan
    assert list(builds.values()) == [1]  # five identical modules: one built


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_the_eval_plan_is_the_train_plan_without_its_aux_heads(path):
    """Planned once in train mode, a spec's eval rows are read from those rows; they equal a
    plan made without the aux heads (the spec with no aux: its train plan, recomputed)."""
    from dataclasses import replace

    spec = gc.load_spec(path)
    without_heads = replace(spec, aux=())
    assert plan_module.plan_rows(spec, train=False) == plan_module.plan_rows(without_heads, train=True)
