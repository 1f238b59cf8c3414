"""googlenet_cost.analyze takes a Spec, a built-in name, a YAML path or a Module; compare takes
specs; the keywords of the API before issue 25 keep their meaning."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import googlenet_cost as gc
from conftest import ROOT
from resnet_like import ResNetLike

SPEC_PATH = ROOT / "specs" / "example_5x5_conv.yaml"


@pytest.mark.parametrize("network", [gc.load_spec("example_5x5_conv"), "example_5x5_conv", SPEC_PATH, str(SPEC_PATH)],
                         ids=["Spec", "name", "Path", "str path"])
def test_analyze_takes_a_spec_a_name_or_a_path(network):
    report = gc.analyze(network)
    # The worked example: ten 5x5x3 filters on a 32x32x3 input, 760 parameters.
    assert report.totals.params == 5 * 5 * 3 * 10 + 10 and report.totals.macs == 32 * 32 * 10 * 5 * 5 * 3
    assert report.batch == 1 and "example_5x5_conv: per-layer cost" in str(report)


def test_analyze_takes_a_module_with_its_input_as_summary_does():
    model = ResNetLike()
    assert gc.analyze(model, (2, 3, 32, 32)).to_dict() == gc.summary(model, input_size=(2, 3, 32, 32)).to_dict()


@pytest.mark.parametrize("call, error, words", [
    (lambda: gc.analyze(ResNetLike()), TypeError, "a torch.nn.Module needs its input"),
    (lambda: gc.analyze("example_5x5_conv", (1, 3, 32, 32)), TypeError, "a spec carries its own input shape"),
    (lambda: gc.analyze(42), TypeError,
     "analyze takes a Spec, a spec name or YAML path, or a torch.nn.Module; got int 42"),
    (lambda: gc.analyze("no_such_spec"), gc.GcostError, "no_such_spec"),
    (lambda: gc.analyze("example_5x5_conv", batch=0), gc.GcostError, "batch must be from 1"),
    (lambda: gc.compare("example_5x5_conv"), TypeError, "compare takes a list of specs"),
    (lambda: gc.compare(["example_5x5_conv", ResNetLike()]), TypeError, "compare takes specs (Spec, name or path)"),
    (lambda: gc.compare([]), gc.GcostError, "compare needs at least one spec"),
    (lambda: gc.compare(["example_5x5_conv", SPEC_PATH]), gc.GcostError, "two specs share the name example_5x5_conv"),
], ids=["module without input", "spec with input", "int", "unknown name", "batch 0", "one string", "module in compare",
        "empty compare", "same spec twice"])
def test_a_wrong_network_is_a_one_line_error(call, error, words):
    with pytest.raises(error) as raised:
        call()
    assert isinstance(raised.value, error) and words in str(raised.value) and "\n" not in str(raised.value)


def test_compare_takes_specs_labelled_by_name():
    comparison = gc.compare(["example_5x5_conv", ROOT / "specs" / "example_5x5_bottleneck.yaml"])
    assert comparison.labels == ["example_5x5_conv", "example_5x5_bottleneck"]
    conv, bottleneck = comparison.reports
    assert comparison.summary[0].macs_ratio == bottleneck.totals.macs / conv.totals.macs
    assert "example_5x5_bottleneck: per-layer cost" in str(bottleneck)
    alone, together = gc.analyze("example_5x5_bottleneck").to_dict(), bottleneck.to_dict()
    assert (together["layers"], together["totals"]) == (alone["layers"], alone["totals"])


def test_the_keywords_before_issue_25_keep_their_meaning():
    spec = gc.load_spec("example_5x5_bottleneck")
    assert gc.analyze(spec, optimizer="sgd").training.optimizer == "sgd"  # an optimizer asks for a step
    assert gc.analyze(spec, step="train").training.optimizer == "momentum"
    assert gc.analyze(spec).training is None and gc.analyze(spec, batch=3).batch == 3
    assert gc.analyze(spec, dtype="fp16").totals.bytes * 2 == gc.analyze(spec).totals.bytes


def test_the_roofline_by_datasheet_name():
    bounded = gc.analyze("example_5x5_conv", roofline="h100-sxm")
    assert bounded.machine is not None and "H100" in bounded.machine.device
    assert bounded.totals.bound_ms > 0


def test_testing_is_reachable_after_a_plain_import():
    code = ("import sys, googlenet_cost; print(googlenet_cost.testing.assert_within_budget.__name__, "
            "'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["assert_within_budget", "False"]  # and torch is still not imported


def test_a_model_on_the_meta_device_is_counted_and_left_there():
    with torch.device("meta"):
        model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    report = gc.summary(model, input_size=(1, 3, 8, 8))
    assert report.totals.macs == 6 * 6 * 4 * 27 + 4 * 6 * 6 * 2
    assert all(p.device.type == "meta" for p in model.parameters())
