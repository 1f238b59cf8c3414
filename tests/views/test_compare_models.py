"""Python models in a comparison (issue 25): the same counting, the same interleaved timing with
paired intervals, and a spec beside them, as for spec variants."""
from __future__ import annotations

from functools import partial

import pytest
from torch import nn

import googlenet_cost as gc
from googlenet_cost.comparison import Entry, compare
from googlenet_cost.options import RunOptions
from googlenet_cost.sources import ModuleSource, SpecSource
from googlenet_cost.timing.loop import LoopLimits
from googlenet_cost.timing.settings import TimingOptions
from googlenet_cost.views.compare_text import variant_sentence


def conv(width: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU())


def entries() -> list[Entry]:
    return [Entry("narrow", ModuleSource("m.py:narrow", partial(conv, 4), (3, 16, 16))),
            Entry("wide", ModuleSource("m.py:wide", partial(conv, 16), (3, 16, 16)))]


def test_python_models_are_counted_as_when_analyzed_alone():
    result = compare(entries(), RunOptions())
    alone = [entry.source.analyze(RunOptions()) for entry in entries()]
    assert [r.totals.macs for r in result.reports] == [r.totals.macs for r in alone] == [4 * 27 * 256, 16 * 27 * 256]
    (line,) = result.summary
    assert result.labels == ["narrow", "wide"] and line.macs_ratio == pytest.approx(4.0)
    assert line.bytes_ratio == pytest.approx(alone[1].totals.bytes / alone[0].totals.bytes)
    assert variant_sentence(result, 1).startswith("wide: 4.00x the params")


def test_python_models_and_a_spec_are_timed_interleaved_with_intervals():
    spec = Entry("spec", SpecSource(gc.load_spec("example_5x5_conv")))
    timing = TimingOptions(device="cpu", limits=LoopLimits(warmup_min_iters=2, warmup_min_s=0.0, min_iters=12,
                                                             min_time_s=0.0), precision=0.5, max_time_s=20)
    result = compare([spec, *entries()], RunOptions(timing=timing))
    assert all(report.timed and report.timed[0].interleaved for report in result.reports)
    for line in result.summary:
        [ratio] = line.latency
        estimate = ratio.estimate
        assert estimate.rounds + estimate.dropped_rounds == result.timing[0].rounds >= 12  # disturbed rounds left out
        assert estimate.ci95[0] <= estimate.median <= estimate.ci95[1]


def test_the_cli_compares_models_beside_a_spec_and_refuses_variants_without_one(runner):
    import json

    from conftest import invoke

    models = ["--model", "tests.pymodels:tiny", "--model", "tests.pymodels:conv_relu_conv", "--input", "3x32x32"]
    result = invoke(runner, "compare", *models, "--no-latency", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [v["label"] for v in data["variants"]] == ["tests.pymodels:tiny", "tests.pymodels:conv_relu_conv"]
    alone = json.loads(invoke(runner, "analyze", "--model", "tests.pymodels:conv_relu_conv", "--input", "3x32x32",
                              "--no-latency", "--format", "json").stdout)
    assert data["variants"][1]["totals"]["macs"] == alone["totals"]["macs"]
    beside = json.loads(invoke(runner, "compare", "example_5x5_conv", *models, "--no-latency", "--format", "json").stdout)
    assert [v["label"] for v in beside["variants"]][0] == "baseline" and len(beside["summary"]) == 2
    refused = invoke(runner, "compare", "--reduce", "16", *models, "--no-latency")
    assert refused.exit_code == 2 and "give the spec to vary" in refused.stderr
