"""The gate's metric table (googlenet_cost/metrics.py) drives everything the gate knows about a
metric: `gcost check`'s --max-* options, the budget keys parse_limits accepts, the values read from
a report, the lock file's checks and the keys testing.assert_within_budget accepts. A metric added
to the table alone reaches all of them."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest

from googlenet_cost.errors import GcostError
from googlenet_cost import metrics
from googlenet_cost.gate.lock import lock_problem
from googlenet_cost.metrics import METRICS, metric_values, parse_limits
from googlenet_cost.testing import assert_within_budget

from conftest import ROOT, invoke

TINY = "example_5x5_conv"  # built-in, 760 params: fast to count and to train
UNTIMED = [metric for metric in METRICS if not metric.timed]
MAX_OPTION_LINE = re.compile(r"^\s+(--max-[a-z-]+) N\b", re.MULTILINE)


def test_check_offers_one_max_option_per_metric_and_no_other(runner):
    result = invoke(runner, "check", "--help")
    assert result.exit_code == 0
    assert MAX_OPTION_LINE.findall(result.output) == [metric.option for metric in METRICS]


def test_each_max_option_limits_its_own_metric(runner):
    """Every untimed metric's option given a limit of 1: each gates its metric, from the flag."""
    limits = [arg for metric in UNTIMED for arg in (metric.option, "1")]
    result = invoke(runner, "check", TINY, *limits, "--format", "json")
    assert result.exit_code == 1
    entries = json.loads(result.stdout)["entries"]
    assert [(entry["metric"], entry["limit"], entry["source"]) for entry in entries] == [
        (metric.key, 1, "flag") for metric in UNTIMED]


def test_parse_limits_accepts_the_budget_key_of_every_metric_and_lists_exactly_those():
    parsed = parse_limits({metric.budget_key: "2K" if metric.whole else "12.5ms" for metric in METRICS}, where="t")
    assert parsed == {metric.key: 2000 if metric.whole else 12.5 for metric in METRICS}
    for metric in METRICS:
        with pytest.raises(GcostError) as refused:
            parse_limits({metric.key: 1}, where="t")  # the metric's key without max_
        assert f"did you mean '{metric.budget_key}'" in refused.value.message
        assert refused.value.message.split("known: ")[1].split(", ") == [m.budget_key for m in METRICS]


@pytest.mark.parametrize("metric", METRICS, ids=lambda metric: metric.key)
def test_a_limit_is_read_as_its_metric_counts(metric):
    """Counts are whole (a fraction of a parameter is no limit); milliseconds are real."""
    if metric.whole:
        assert metric.parse_limit("1.5K") == 1500
        with pytest.raises(ValueError):
            metric.parse_limit("1.5")
    else:
        assert metric.parse_limit("1.5") == 1.5 and metric.parse_limit("2.5ms") == 2.5


def hand_built_report(training: bool = False, median_ms: float | None = None):
    """The parts of a Report the metrics read, built by hand (no torch)."""
    return SimpleNamespace(
        totals=SimpleNamespace(params=760, weights=750, macs=768_000, activations=10_240, bytes=138_208),
        timed=() if median_ms is None else (SimpleNamespace(median_ms=median_ms),),
        training=SimpleNamespace(step_macs=2_304_000, train_bytes=9_999) if training else None,
        layers=[SimpleNamespace(name="c1", parent=None)])


def test_metric_values_holds_what_the_run_measured_in_table_order():
    assert metric_values(hand_built_report()) == {"params": 760, "weights": 750, "macs": 768_000,
                                                  "activation_bytes": 4 * 10_240, "bytes": 138_208}
    measured = metric_values(hand_built_report(training=True, median_ms=1.25))
    assert list(measured) == [metric.key for metric in METRICS]
    assert (measured["latency_ms"], measured["step_macs"], measured["train_bytes"]) == (1.25, 2_304_000, 9_999)


def lock_with(metrics_recorded: dict, step: str = "inference") -> dict:
    entry = {"mode": "train" if step == "train" else "eval", "step": step, "batch": 1, "input": [3, 32, 32],
             "dtype": "fp32", "optimizer": "sgd" if step == "train" else None, "metrics": metrics_recorded,
             "latency_device_type": "cpu"}
    return {"schema": 3, "specs": {"net": entry}}


@pytest.mark.parametrize("step", ["inference", "train"])
def test_a_lock_entry_must_record_every_metric_its_run_measures(step):
    needed = [m for m in METRICS if not m.timed and (step == "train" or not m.training)]
    complete = {metric.key: 1 for metric in needed}
    assert lock_problem(lock_with(complete, step)) is None
    for metric in needed:
        lacking = {key: value for key, value in complete.items() if key != metric.key}
        assert f"lacks {metric.key}" in lock_problem(lock_with(lacking, step))


@pytest.mark.parametrize("metric", METRICS, ids=lambda metric: metric.key)
def test_a_lock_value_of_the_wrong_kind_for_its_metric_is_refused(metric):
    recorded = {m.key: 1 for m in METRICS}
    recorded[metric.key] = 1.5 if metric.whole else "1.5"
    assert f"metrics.{metric.key} must be" in lock_problem(lock_with(recorded, "train"))


def test_untimed_metrics_are_the_ones_assert_within_budget_accepts():
    with pytest.raises(TypeError) as refused:
        assert_within_budget(TINY, max_no_such_metric=1)
    assert str(refused.value).split("known: ")[1].split(", ") == [metric.budget_key for metric in UNTIMED]
    for metric in METRICS:
        if metric.timed:
            with pytest.raises(TypeError, match="does not time"):
                assert_within_budget(TINY, **{metric.budget_key: 1})


@pytest.mark.parametrize("metric", UNTIMED, ids=lambda metric: metric.key)
def test_assert_within_budget_gates_every_untimed_metric(metric):
    """Training-step metrics included: a limit on one makes the helper measure a training step."""
    assert_within_budget(TINY, **{metric.budget_key: "1G"})
    with pytest.raises(AssertionError, match=rf"over budget: {metric.key} [0-9,]+ > 1$"):
        assert_within_budget(TINY, **{metric.budget_key: 1})


def test_parse_limits_reads_the_table_when_called(monkeypatch):
    extra = metrics.Metric("layers", "top-level layers", lambda report: len(report.layers))
    monkeypatch.setattr(metrics, "METRICS", METRICS + (extra,))
    assert parse_limits({"max_layers": "2"}, where="t") == {"layers": 2}
    with pytest.raises(GcostError, match="known: .*, max_train_bytes, max_layers$"):
        parse_limits({"max_layerz": 1}, where="t")
    assert metric_values(hand_built_report())["layers"] == 1


EXTRA_METRIC = """
import json
import sys

from click.testing import CliRunner
from googlenet_cost import metrics

metrics.METRICS += (metrics.Metric("layers", "top-level layers",
                                   lambda report: sum(row.parent is None for row in report.layers)),)
from gcost_cli.main import gcost

shown = CliRunner().invoke(gcost, ["check", "--help"])
checked = CliRunner().invoke(gcost, ["check", sys.argv[1], "--max-layers", "0", "--format", "json"])
print(json.dumps({"help": shown.output, "exit_code": checked.exit_code, "stdout": checked.stdout}))
"""


@pytest.mark.slow  # a fresh Python process
def test_a_metric_added_to_the_table_alone_becomes_a_check_option_and_is_gated():
    """Proves generation, not a second list: one record added to the table (in a fresh process,
    before the CLI is imported) is offered by `gcost check --help` and gated by `gcost check`."""
    done = subprocess.run([sys.executable, "-c", EXTRA_METRIC, TINY], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    ran = json.loads(done.stdout)
    assert MAX_OPTION_LINE.findall(ran["help"]) == [metric.option for metric in METRICS] + ["--max-layers"]
    assert ran["exit_code"] == 1
    entries = json.loads(ran["stdout"])["entries"]
    assert [(e["metric"], e["value"], e["limit"], e["source"]) for e in entries] == [("layers", 1, 0, "flag")]
