"""--interpolate: which units of a dense grid are timed and which are read off the line between two
timed ones, and that the estimate is that line."""
from __future__ import annotations

import pytest

from googlenet_cost.options import RunOptions
from googlenet_cost.space.grid import parse_grid
from googlenet_cost.space.interpolate import channel_leaves, plan_interpolation
from googlenet_cost.space.options import SweepOptions
from googlenet_cost.space.run import run_sweep
from googlenet_cost.space.store import Store
from googlenet_cost.timing.settings import TimingOptions
from tests.fake_executor import FakeExecutor, tiny, tiny_path  # noqa: F401 (fixtures)


def conv(out: int, channels: int = 16) -> dict:
    return {"layer": {"type": "conv", "out": out, "kernel": [1, 1]}, "input": [channels, 8, 8]}


def line(widths) -> dict:
    return {f"k{width}": conv(width) for width in widths}


def test_channel_counts_are_outs_widths_and_the_input_s_channels():
    config = {"layer": {"type": "inception", "widths": [64, None, 128], "conv": {"out": 1, "kernel": [1, 1]}},
              "input": [192, 28, 28]}
    assert sorted(channel_leaves(config), key=str) == sorted([(("layer", "widths", 0), 64), (("layer", "widths", 2), 128),
                                                              (("layer", "conv", "out"), 1), (("input", 0), 192)], key=str)


def test_a_dense_line_times_its_ends_and_steps_of_at_most_two_times():
    configs = line([8, 12, 16, 20, 24, 28, 32])
    to_time, estimates = plan_interpolation(configs, set(), list(configs), protect=set())
    assert sorted(to_time) == ["k16", "k32", "k8"]
    assert estimates["k12"].low == (8, "k8") and estimates["k12"].high == (16, "k16")
    assert estimates["k24"].low == (16, "k16") and estimates["k24"].high == (32, "k32")
    assert estimates["k24"].median_ms({"k16": 1.0, "k32": 3.0}) == pytest.approx(2.0)  # halfway: halfway


def test_stored_units_are_anchors_for_free():
    configs = line([8, 12, 16, 20, 24, 28, 32])
    to_time, estimates = plan_interpolation(configs, {"k8", "k24", "k32"}, ["k12", "k16", "k20", "k28"], protect=set())
    assert to_time == ["k16"]  # 8 -> 24 is more than twice: one anchor between
    assert set(estimates) == {"k12", "k20", "k28"}


def test_a_sparse_line_is_timed_whole():
    configs = line([8, 32, 128])  # neighbours 4x apart: nothing to interpolate between
    to_time, estimates = plan_interpolation(configs, set(), list(configs), protect=set())
    assert sorted(to_time) == sorted(configs) and estimates == {}


def test_protected_units_are_timed_even_between_anchors():
    configs = line([8, 12, 16])
    to_time, estimates = plan_interpolation(configs, set(), list(configs), protect={"k12"})
    assert sorted(to_time) == ["k12", "k16", "k8"] and estimates == {}


def test_units_differing_in_two_counts_are_on_no_line():
    configs = {"a": conv(8, 16), "b": conv(12, 24), "c": conv(16, 32)}
    to_time, estimates = plan_interpolation(configs, set(), list(configs), protect=set())
    assert estimates == {}


def test_a_sweep_says_how_many_units_it_interpolated(tiny, tmp_path):
    grid = parse_grid(["block/reduce.out=4|5|6|7|8"])
    with Store.open(tmp_path / "t.sqlite") as store:
        executor = FakeExecutor()
        result = run_sweep(tiny, SweepOptions(grid, RunOptions(timing=TimingOptions(device="cpu")), measure=0,
                                              interpolate=True), executor, store)
    use = result.devices[0].use
    assert use.interpolated > 0 and use.measured_layers == len(executor.units_timed)
    assert any(c.first.interpolated for c in result.candidates)
    assert result.to_dict()["store"]["interpolated"] == use.interpolated
    # the fake's times are linear in MACs, and MACs linear in the reduce width: the line is exact
    exact = run_sweep(tiny, SweepOptions(grid, RunOptions(timing=TimingOptions(device="cpu")), measure=0),
                      FakeExecutor(), Store.open(None))
    for a, b in zip(result.candidates, exact.candidates):
        assert a.predicted_ms == pytest.approx(b.predicted_ms)
