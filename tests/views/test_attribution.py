"""compare --per-layer (issue 32): what a change can buy. The baseline's profiled time split into
the rows a variant leaves alone and those it changes, and the best ratio the variant could reach;
on hand-built reports (no timing), and once end to end on the CPU."""
from __future__ import annotations

import json

import pytest

from googlenet_cost.comparison import attribute, summarize
from googlenet_cost.report import LayerRow, Report, SourceInfo, totals_of
from googlenet_cost.views.compare_text import variant_sentence


def row(name, parent=None, macs=0, moved=100, params=0, ms=None, shape=(8,), kind="conv"):
    return LayerRow(name=name, parent=parent, type=kind, kernel="", output_shape=list(shape), params=params, weights=0,
                    macs=macs, receptive_field=[], bytes=moved, latency_ms=ms)


def report(rows) -> Report:
    return Report(spec=SourceInfo("t"), counting={}, input_shape=[3, 8, 8], batch=1, mode="eval", layers=rows,
                  totals=totals_of(rows))


def inception(reduce_macs, conv_macs, *, ms=None, reduce=True):
    """A stem (unchanged), a module whose 5x5 path is a reduce and a conv, and its pool branch."""
    times = ms or {}
    rows = [row("stem", macs=100, ms=times.get("stem")),
            row("m", macs=reduce_macs + conv_macs + 10, moved=500, ms=times.get("m"), kind="inception")]
    if reduce:
        rows.append(row("m/5x5_reduce", "m", macs=reduce_macs, ms=times.get("m/5x5_reduce")))
    rows += [row("m/5x5", "m", macs=conv_macs, ms=times.get("m/5x5")),
             row("m/pool", "m", macs=10, ms=times.get("m/pool"), kind="pool")]
    return rows


BASE_MS = {"stem": 40.0, "m": 60.0, "m/5x5_reduce": 5.0, "m/5x5": 30.0, "m/pool": 20.0}  # m's own work: 5 ms


def test_the_rows_left_alone_and_the_best_ratio_add_up_to_the_baseline():
    base = report(inception(1000, 4000, ms=BASE_MS))
    half = report(inception(500, 2000))  # the reduce and the conv at half their MACs
    found = attribute(base, half)
    assert found.changed_ms == pytest.approx(35.0) and found.unchanged_ms == pytest.approx(65.0)  # stem, pool, m's own
    assert found.changed_ms + found.unchanged_ms == pytest.approx(100.0)  # the baseline's top-level rows
    assert found.ceiling_ratio == pytest.approx((65.0 + 35.0 * 0.5) / 100.0)


def test_a_removed_reduce_takes_no_time_and_changes_its_parent_as_a_whole():
    base = report(inception(1000, 4000, ms=BASE_MS))
    found = attribute(base, report(inception(0, 48_000, reduce=False)))
    # m's children differ (no reduce): m is changed as a whole, scaled by its MACs
    assert found.changed_ms == pytest.approx(60.0) and found.unchanged_ms == pytest.approx(40.0)
    assert found.ceiling_ratio == pytest.approx((40.0 + 60.0 * (48_010 / 5010)) / 100.0)


def test_no_per_layer_times_no_attribution_and_the_sentence_says_what_a_change_can_buy():
    base, half = report(inception(1000, 4000, ms=BASE_MS)), report(inception(500, 2000))
    assert attribute(report(inception(1000, 4000)), half) is None
    from googlenet_cost.comparison import Comparison

    comparison = Comparison(["baseline", "half"], [base, half], summarize(["baseline", "half"], [base, half], [[]]))
    [line] = comparison.summary
    assert line.to_dict()["attribution"]["ceiling_ratio"] == pytest.approx(0.825)
    assert "rows this change leaves alone take 65% of the baseline's time (per layer): 0.51x the MACs can give at " \
           "best 0.82x the latency" in variant_sentence(comparison, 1)


@pytest.mark.slow
def test_compare_per_layer_times_every_variant_and_attributes(runner):
    from tests.conftest import invoke

    result = invoke(runner, "compare", "example_5x5_bottleneck", "--reduce", "4", "--per-layer", "--device", "cpu",
                    "--threads", "1", "--format", "json", "--min-time", "0", "--min-iters", "5", "--warmup", "0",
                    "--max-time", "4", "--precision", "50%")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for variant in data["variants"]:
        timed = [r for r in variant["layers"] if r["latency_ms"] is not None]
        assert timed and all("ops" in r for r in timed) and variant["layer_latency"]["timed_ms"] > 0
    found = data["summary"][0]["attribution"]
    top = sum(r["latency_ms"] for r in data["variants"][0]["layers"] if r["parent"] is None)
    assert found["changed_ms"] + found["unchanged_ms"] == pytest.approx(top)
    assert found["changed_ms"] > 0 and 0 < found["ceiling_ratio"] < 1  # a narrower reduce can only save
