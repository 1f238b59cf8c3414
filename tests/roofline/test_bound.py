"""The roofline bound of every row (issue 22): the arithmetic by hand, composites as sums, the
verdict per row, the warnings when a measurement beats its bound, and the bound in analyze's and
compare's outputs with a peaks file (so no test depends on this machine's speed)."""
from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import pytest
import yaml

import googlenet_cost as gc
from googlenet_cost.report import LayerRow
from googlenet_cost.roofline.bound import NOISE, contradictions, leaf_bound, row_bounds, with_bounds
from googlenet_cost.roofline.peaks import Peaks

from conftest import invoke

GIGA = 1e9
FLAT = Peaks(device="test device", dtype="fp32", threads=None, flops_per_s=GIGA, bytes_per_s=GIGA, source="file")
CACHED = replace(FLAT, cache_bytes_per_s=10 * GIGA, cache_bytes=1000)


def test_a_bound_is_the_slower_of_compute_and_memory():
    compute = leaf_bound(flops=2e6, moved=1000, working_set=1000, peaks=FLAT)
    assert compute.bound_ms == pytest.approx(2.0) and compute.roof == "compute"
    memory = leaf_bound(flops=1e3, moved=3e6, working_set=1000, peaks=FLAT)
    assert memory.bound_ms == pytest.approx(3.0) and memory.roof == "memory"


def test_with_a_cache_only_bytes_beyond_it_need_main_memory():
    fits = leaf_bound(flops=0, moved=50_000, working_set=800, peaks=CACHED)
    assert fits.memory_ms == pytest.approx(50_000 / 10e9 * 1e3)  # everything through the cache's bandwidth
    spills = leaf_bound(flops=0, moved=50_000, working_set=41_000, peaks=CACHED)
    assert spills.memory_ms == pytest.approx(40_000 / GIGA * 1e3)  # 40,000 bytes past the cache, from memory


def _row(name, parent=None, macs=0, moved=0, shape=(1,), params=0, latency=None):
    return LayerRow(name=name, parent=parent, type="t", kernel="", output_shape=list(shape), params=params,
                    weights=0, macs=macs, receptive_field=[], bytes=moved, latency_ms=latency)


def test_a_composite_row_is_the_sum_of_its_children_and_what_it_adds():
    rows = [_row("m", macs=1_750_000, moved=5_001_000), _row("m/a", "m", macs=1_500_000, moved=1000),
            _row("m/b", "m", macs=250_000, moved=1_000_000)]
    bounds = row_bounds(rows, batch=1, itemsize=4, peaks=FLAT)
    assert bounds["m/a"].bound_ms == pytest.approx(3.0) and bounds["m/a"].roof == "compute"
    assert bounds["m/b"].bound_ms == pytest.approx(1.0) and bounds["m/b"].roof == "memory"
    # the merge (4,000,000 bytes beyond the children, no MACs) runs after them: 4 ms, memory-bound
    assert bounds["m"].bound_ms == pytest.approx(3.0 + 1.0 + 4.0)
    assert bounds["m"].roof == "memory"  # 5 of its 8 ms sit under the memory roof


def test_efficiency_is_the_bound_over_the_measured_time_and_beating_it_is_a_warning():
    rows = with_bounds([_row("fast", macs=1_000_000, latency=1.0), _row("slow", moved=1_000_000, latency=4.0),
                        _row("fine", macs=1_000_000, latency=2.0 / NOISE)], 1, 4, FLAT)
    assert [round(r.efficiency, 3) for r in rows] == [2.0, 0.25, round(NOISE, 3)]
    found = contradictions(rows, model_bound=3.0, median_ms=10.0, peaks=FLAT, on_gpu=False)
    assert len(found) == 1 and "fast (1.000 ms < bound 2.000 ms, compute)" in found[0]
    assert "fine" not in found[0] and "peak FLOP/s" in found[0] and "timer" not in found[0]
    model = contradictions([], model_bound=10.0, median_ms=5.0, peaks=FLAT, on_gpu=True)
    assert len(model) == 1 and "median 5.000 ms is faster than its bound 10.000 ms" in model[0]
    assert "timer reads too low" in model[0]  # on a GPU a timer reading low is the first suspect


def test_a_memory_bound_row_beating_its_bound_blames_the_traffic_model_or_the_bandwidth():
    rows = with_bounds([_row("lrn", moved=2_000_000, latency=1.0)], 1, 4, FLAT)
    (found,) = contradictions(rows, 2.0, None, FLAT, on_gpu=False)
    assert "memory-bound rows: the traffic model" in found and "peak FLOP/s" not in found


CONV = {"name": "c", "type": "conv", "out": 10, "kernel": 5, "padding": 2}


def _spec(layers):
    return gc.parse_spec(yaml.safe_dump({"name": "t", "input": [3, 32, 32], "layers": layers}))


def test_analyze_bounds_every_row_and_the_totals_and_says_so_in_json():
    report = gc.analyze(_spec([CONV, {"name": "p", "type": "maxpool", "kernel": 2, "stride": 2}]), batch=2,
                        roofline=FLAT)
    conv, pool = report.layers
    assert conv.bound_ms == pytest.approx(2 * conv.macs * 2 / GIGA * 1e3) and conv.roof == "compute"
    assert pool.bound_ms == pytest.approx(pool.bytes / GIGA * 1e3) and pool.roof == "memory"
    assert report.totals.bound_ms == pytest.approx(conv.bound_ms + pool.bound_ms)
    data = report.to_dict()
    assert data["schema"] == 3 and data["machine"]["source"] == "file" and data["machine"]["peak_flops_per_s"] == GIGA
    assert {"bound_ms", "limit", "efficiency"} <= set(data["layers"][0]) and data["layers"][0]["efficiency"] is None
    plain = gc.analyze(_spec([CONV]), batch=2).to_dict()
    assert plain["machine"] is None and "bound_ms" not in plain["layers"][0] and "bound_ms" not in plain["totals"]
    assert plain["layers"][0]["bytes"] == conv.bytes  # bytes are counted with or without a roofline


def test_peaks_of_another_dtype_are_refused():
    with pytest.raises(ValueError, match="peaks are of fp32"):
        gc.analyze(_spec([CONV]), roofline=FLAT, dtype="bf16")


@pytest.fixture
def peaks_file(tmp_path):
    path = tmp_path / "device.yaml"
    path.write_text(yaml.safe_dump({"name": "slow box", "flops_per_s": "1G", "bytes_per_s": "1G"}))
    return str(path)


def test_the_cli_bounds_with_a_peaks_file_and_shows_the_roofline_columns(runner, peaks_file, monkeypatch):
    result = invoke(runner, "analyze", "example_5x5_conv", "--peaks", peaks_file, "--no-latency", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    (row,) = data["layers"]
    assert row["bytes"] == 4 * (3 * 32 * 32 + 760 + 3 * 10 * 32 * 32)  # input, kernel and bias, conv out, relu_
    assert row["bound_ms"] == pytest.approx(2 * 768_000 / GIGA * 1e3) and row["limit"] == "compute"
    assert data["machine"]["device"] == "slow box" and data["totals"]["bound_ms"] == row["bound_ms"]
    monkeypatch.setenv("COLUMNS", "200")
    table = invoke(runner, "analyze", "example_5x5_conv", "--peaks", peaks_file, "--no-latency")
    assert "bound ms" in table.stdout and "FLOP/B" in table.stdout and "1.536" in table.stdout
    assert "Roofline (file peaks of slow box, fp32)" in table.stdout


@pytest.mark.slow  # over a second: two compares of googlenet
def test_compare_reports_bytes_and_bound_ratios_and_says_a_datasheet_is_a_bound(runner, peaks_file):
    result = invoke(runner, "compare", "--reduce", "16", "--roofline", "--peaks", peaks_file, "--no-latency",
                    "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    (entry,) = data["summary"]
    base, variant = (v["totals"] for v in data["variants"])
    assert entry["bytes_ratio"] == pytest.approx(variant["bytes"] / base["bytes"]) and entry["bytes_ratio"] < 1
    assert entry["bound_ratio"] == pytest.approx(variant["bound_ms"] / base["bound_ms"])
    assert f"{entry['bytes_ratio']:.2f}x the bytes" in entry["text"]
    assert "on slow box (file peaks: a bound, not a measurement)" in entry["text"]
    plain = json.loads(invoke(runner, "compare", "--reduce", "16", "--no-latency", "--format", "json").stdout)
    assert "bound_ratio" not in plain["summary"][0] and plain["summary"][0]["bytes_ratio"] == entry["bytes_ratio"]


@pytest.mark.slow  # over a second: matplotlib, and a compare of googlenet
def test_the_roofline_plot_is_written_for_analyze_and_compare(runner, peaks_file, tmp_path):
    pytest.importorskip("matplotlib")
    one, several = tmp_path / "one.png", tmp_path / "several.svg"
    assert invoke(runner, "analyze", "example_3x3_bottleneck", "--peaks", peaks_file, "--no-latency",
                  "--plot", str(one)).exit_code == 0
    assert one.read_bytes().startswith(b"\x89PNG")
    result = invoke(runner, "compare", "--reduce", "16", "--roofline", "--peaks", peaks_file, "--no-latency",
                    "--plot", str(several))
    assert result.exit_code == 0, result.stderr
    text = several.read_text()
    assert "roofline of every variant" in text and "reduce=16" in text and "slow box" in text


def test_on_a_gpu_a_median_below_the_bound_suspects_the_timer_too():
    """The GPU branch of the self-check, with latency timed on the fake CUDA backend: the bound
    (on slow peaks) is far above what the fake events read, as a timer reading too low would be."""
    from googlenet_cost.analysis import _roofline
    from googlenet_cost.options import RunOptions
    from googlenet_cost.timing.loop import LoopLimits
    from googlenet_cost.timing.measure import TimingOptions, measure_latency
    from tests.fake_cuda import FakeCuda, fake_target

    cuda = FakeCuda()
    limits = LoopLimits(warmup_min_iters=3, warmup_min_s=0.0, min_iters=12, min_time_s=0.0)
    [stats] = measure_latency(fake_target(cuda), TimingOptions(device="cuda", limits=limits), macs=1_000_000,
                            cuda=cuda, clock=cuda.clock)
    assert stats.device_type == "cuda"
    slow = replace(FLAT, flops_per_s=1e3)  # every bound far above any time the fake reads
    rows = [_row("conv", macs=1_000_000, moved=1000)]
    bounded, _, found = _roofline(rows, RunOptions(roofline=slow), (stats,), batch=1)
    assert bounded[0].bound_ms > 1e3 * stats.median_ms
    assert len(found) == 1 and "timer reads too low" in found[0] and f"{stats.median_ms:.3f} ms" in found[0]
    _, _, on_cpu = _roofline(rows, RunOptions(roofline=slow), (replace(stats, device_type="cpu"),), batch=1)
    assert "timer" not in on_cpu[0]


def test_a_timed_training_step_is_not_held_against_the_forwards_bound():
    from googlenet_cost.analysis import _roofline
    from googlenet_cost.options import RunOptions

    stats = SimpleNamespace(median_ms=0.001, step="train", device_type="cpu")
    slow = replace(FLAT, flops_per_s=1e3)
    _, _, found = _roofline([_row("conv", macs=1_000_000, moved=1000)], RunOptions(roofline=slow, step="train"),
                            (stats,), batch=1)
    assert found == []  # a step's median beside a forward's bound proves nothing


def test_a_child_shared_with_code_outside_its_parent_bounds_the_parent_alone():
    rows = [_row("m", macs=1_000_000, moved=1000), _row("m/a", "m", macs=1_500_000, moved=1000)]
    bounds = row_bounds(rows, batch=1, itemsize=4, peaks=FLAT)
    assert bounds["m"].bound_ms == pytest.approx(2.0)  # its own 2e6 FLOPs, not its child's 3e6


def test_peaks_too_small_to_give_a_finite_bound_are_refused(runner, tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text("name: tiny\nflops_per_s: 1e-310\nbytes_per_s: 5e-324\n")
    result = invoke(runner, "analyze", "example_5x5_conv", "--peaks", str(path), "--no-latency", "--format", "json")
    assert result.exit_code == 2 and "from 1e3 to 1e18" in result.stderr and "Infinity" not in result.stdout
