"""expected_ms and the four limits (roofline/limits.py, issue 32), on hand-built rows and rates
(no torch, no timing): the expected time is each operator at its rate for its size and never less
than a call; a row far above both roofs is kernel-limited with its operators named, never compute-
or memory-limited; many small operators are overhead; a parent sums its children and what it adds;
and analyze puts it all in JSON and the table. Each asserts something a wrong rule would break."""
from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest
import yaml

import googlenet_cost as gc
from googlenet_cost.report import LayerRow, OpCount
from googlenet_cost.roofline.bound import with_bounds
from googlenet_cost.roofline.limits import KERNEL_EFFICIENCY, KERNEL_MIN_MS, expected, with_limits
from googlenet_cost.roofline.oprates import OpRates, at_size
from googlenet_cost.roofline.peaks import Peaks

GIGA = 1e9
# add moves 1 GB/s at any size; the LRN's pool 0.1 GB/s, its power 0.2 GB/s; a dense conv 10 GFLOP/s
RATES = OpRates(call_s=1e-5, view_s=1e-6,
                ops={"aten::add": ((1e3, 1e-6), (1e9, 1.0)), "aten::avg_pool3d": ((1e3, 1e-5), (1e9, 10.0)),
                     "aten::pow": ((1e3, 5e-6), (1e9, 5.0))},
                macs={"conv kxk": ((1e6, 1e-4), (1e10, 1.0)), "matmul": ((1e6, 1e-3), (1e9, 1.0))})
PEAKS = Peaks(device="test device", dtype="fp32", threads=1, flops_per_s=100 * GIGA, bytes_per_s=10 * GIGA,
              operators=RATES)


def _row(name, ops, parent=None, macs=0, moved=0, latency=None, shape=(1,)) -> LayerRow:
    return LayerRow(name=name, parent=parent, type="t", kernel="", output_shape=list(shape), params=0, weights=0,
                    macs=macs, receptive_field=[1, 1], bytes=moved, operators=tuple(ops), latency_ms=latency)


def _judged(rows):
    return {row.name: row for row in with_limits(with_bounds(rows, 1, 4, PEAKS), RATES)}


def test_an_operator_takes_its_size_at_its_rate_and_never_less_than_a_call():
    assert at_size(RATES.ops["aten::add"], 1e6) == pytest.approx(1e-3)  # 1 MB at 1 GB/s, read in log-log
    big = expected((OpCount("aten::add", 2, 0, 2_000_000),), RATES)
    assert big.ms == pytest.approx(2.0) and big.call_ms == 0  # 2 calls of 1 MB: 1 ms each
    tiny = expected((OpCount("aten::add", 100, 0, 100 * 16),), RATES)
    assert tiny.ms == pytest.approx(100 * 1e-2) and tiny.call_ms == pytest.approx(tiny.ms)  # a call's 10 us each
    conv = expected((OpCount("aten::convolution", 1, 200_000_000, 1000, "conv kxk"),), RATES)
    assert conv.ms == pytest.approx(20.0)  # 0.2 GFLOP at the class's 10 GFLOP/s, not at the roof's 100
    other = expected((OpCount("aten::erf", 1, 0, 1_000_000),), RATES)
    assert other.ms == pytest.approx(1.0)  # no rate of its own: an elementwise pass at add's rate


def test_an_lrn_like_row_far_above_both_roofs_is_kernel_limited_naming_its_operators():
    n = 1_000_000
    ops = [OpCount("aten::mul", 2, 0, 4 * 2 * n), OpCount("aten::avg_pool3d", 1, 0, 4 * 2 * n),
           OpCount("aten::pow", 1, 0, 4 * 2 * n), OpCount("aten::div", 1, 0, 4 * 3 * n)]
    row = _judged([_row("norm", ops, moved=4 * 13 * n, shape=(n,))])["norm"]
    assert row.roof == "memory" and row.bound_ms < KERNEL_EFFICIENCY * row.expected_ms
    assert row.limit == "kernel" and row.limit_ops == ("aten::avg_pool3d", "aten::pow")


def test_a_measured_time_judges_the_row_when_there_is_one():
    ops = [OpCount("aten::convolution", 1, 2_000_000_000, 10_000_000, "conv kxk")]
    at_roof = _row("c", ops, macs=1_000_000_000, moved=10_000_000, latency=25.0)
    judged = _judged([at_roof, replace(at_roof, name="slow", latency_ms=500.0)])
    assert judged["c"].expected_ms == pytest.approx(200.0) and judged["c"].bound_ms == pytest.approx(20.0)
    assert judged["c"].limit == "compute"  # measured at 80% of its roof, whatever the rates expected
    assert judged["slow"].limit == "kernel" and judged["slow"].limit_ops == ("aten::convolution",)


def test_many_small_operators_are_overhead():
    row = _judged([_row("tiny", [OpCount("aten::add", 50, 0, 50 * 64), OpCount("aten::view", 20, 0, 0)],
                        moved=50 * 64)])["tiny"]
    assert row.limit == "overhead" and row.limit_ops[0] == "aten::add"


def test_a_parent_is_its_childrens_expectation_plus_what_it_adds():
    a = _row("m/a", [OpCount("aten::add", 1, 0, 1_000_000)], "m", moved=1_000_000)
    b = _row("m/b", [OpCount("aten::pow", 1, 0, 1_000_000)], "m", moved=1_000_000)
    parent = _row("m", [*a.operators, *b.operators, OpCount("aten::cat", 1, 0, 2_000_000)], moved=4_000_000)
    judged = _judged([parent, a, b])
    assert judged["m"].expected_ms == pytest.approx(judged["m/a"].expected_ms + judged["m/b"].expected_ms + 2.0)


def test_a_row_that_runs_nothing_expects_nothing_and_has_no_limit():
    row = _judged([_row("flatten", [])])["flatten"]
    assert (row.expected_ms, row.limit, row.roof) == (0.0, None, None)


def test_no_row_under_a_tenth_of_its_roof_is_called_compute_or_memory_limited():
    """The issue's rule, over random rows: a row whose time (measured, else expected) is over ten
    times its bound, for KERNEL_MIN_MS or more, is kernel- or overhead-limited, never a roof's."""
    rng = random.Random(32)
    rows = []
    for index in range(300):
        ops = [OpCount(rng.choice(["aten::add", "aten::pow", "aten::avg_pool3d", "aten::convolution"]),
                       rng.randint(1, 50), 0, rng.randint(1, 10**8)) for _ in range(rng.randint(1, 4))]
        ops = [replace(op, flops=rng.randint(1, 10**10), kind="conv kxk") if op.name == "aten::convolution" else op
               for op in ops]
        macs = sum(op.flops for op in ops) // 2
        rows.append(_row(f"r{index}", ops, macs=macs, moved=sum(op.bytes for op in ops),
                         latency=rng.choice([None, rng.uniform(0.01, 100.0)])))
    for row in _judged(rows).values():
        time_ms = row.latency_ms or row.expected_ms
        if row.bound_ms and row.bound_ms < KERNEL_EFFICIENCY * time_ms and time_ms >= KERNEL_MIN_MS:
            assert row.limit in ("kernel", "overhead"), row


def test_analyze_with_rates_gives_expected_ms_roof_and_limits_in_json_and_the_table(runner, tmp_path, monkeypatch):
    from conftest import invoke
    from googlenet_cost.roofline import cache

    spec = tmp_path / "t.yaml"
    spec.write_text(yaml.safe_dump({"name": "t", "input": [8, 16, 16], "layers": [
        {"name": "c", "type": "conv", "out": 8, "kernel": 3, "padding": 1}, {"name": "n", "type": "lrn", "size": 5}]}))
    monkeypatch.setattr(cache, "measured_peaks", lambda *a, **k: PEAKS)
    data = json.loads(invoke(runner, "analyze", str(spec), "--roofline", "--no-latency", "--format", "json").stdout)
    rows = {row["name"]: row for row in data["layers"]}
    assert rows["n"]["roof"] == "memory" and rows["n"]["limit"] == "kernel"
    assert rows["n"]["limit_ops"][0] == "aten::avg_pool3d" and rows["n"]["expected_ms"] > 10 * rows["n"]["bound_ms"]
    assert data["totals"]["expected_ms"] == pytest.approx(rows["c"]["expected_ms"] + rows["n"]["expected_ms"])
    assert data["machine"]["operator_rates"]["call_s"] == RATES.call_s
    monkeypatch.setenv("COLUMNS", "250")
    table = invoke(runner, "analyze", str(spec), "--roofline", "--no-latency").stdout
    assert "expected ms" in table and "kernel: avg_pool3d" in table
    assert "Expected (an estimate, not a bound)" in table and "Bound (a lower bound)" in table


def test_a_datasheets_peaks_have_no_rates_and_no_expected_time():
    spec = gc.parse_spec(yaml.safe_dump({"name": "t", "input": [3, 8, 8], "layers": [
        {"name": "c", "type": "conv", "out": 4, "kernel": 3}]}))
    report = gc.analyze(spec, roofline="h100-sxm")
    assert report.layers[0].expected_ms is None and report.totals.expected_ms is None
    assert report.layers[0].limit == report.layers[0].roof


def test_bounds_per_batch_show_a_row_moving_from_memory_to_compute(runner, tmp_path, monkeypatch):
    """--batch 1,8,64 --roofline: each row's bytes and bound at every batch (the weights read once
    per batch, activations per sample: a layer's intensity grows with the batch)."""
    from conftest import invoke
    from googlenet_cost.roofline import cache

    spec = tmp_path / "t.yaml"
    spec.write_text(yaml.safe_dump({"name": "t", "input": [256, 1, 1], "layers": [
        {"name": "fc", "type": "conv", "out": 256, "kernel": 1, "activation": "none"}]}))
    monkeypatch.setattr(cache, "measured_peaks", lambda *a, **k: PEAKS)
    data = json.loads(invoke(runner, "analyze", str(spec), "--roofline", "--no-latency", "--batch", "1,8,64",
                             "--format", "json").stdout)
    (row,) = data["layers"]
    assert [item["batch"] for item in row["batches"]] == [1, 8, 64]
    weights, per_sample = 4 * (256 * 256 + 256), 4 * (256 + 256)
    assert [item["bytes"] for item in row["batches"]] == [weights + b * per_sample for b in (1, 8, 64)]
    assert [item["roof"] for item in row["batches"]] == ["memory", "memory", "compute"]  # ridge: 10 FLOP/B
    assert row["batches"][0]["bound_ms"] == row["bound_ms"] and row["bytes"] == row["batches"][0]["bytes"]
    monkeypatch.setenv("COLUMNS", "300")
    table = invoke(runner, "analyze", str(spec), "--roofline", "--no-latency", "--batch", "1,8,64").stdout
    assert "bound ms by batch" in table and "64: " in table
