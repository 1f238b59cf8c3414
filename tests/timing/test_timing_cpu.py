"""Timing on the CPU: thread count, torch.compile handling, the user's model left untouched, the
per-layer aggregation, and compare's intervals through the CLI (structure only: no timing is
asserted in pass/fail tests)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import googlenet_cost as gc
from googlenet_cost.errors import GcostError
from googlenet_cost.timing.loop import LoopLimits
from googlenet_cost.timing.paired import RatioEstimate
from googlenet_cost.options import RunOptions
from googlenet_cost.sources import spec_target
from googlenet_cost.timing.measure import TimingOptions, TimingTarget, measure_interleaved, measure_latency
from googlenet_cost.timing.threads import ThreadChoice
from tests.conftest import invoke

FAST = LoopLimits(warmup_min_iters=1, warmup_min_s=0.0, min_iters=3, min_time_s=0.0)


def test_cpu_timing_uses_the_thread_choice_says_so_and_restores_torchs_threads():
    spec = gc.load_spec("example_5x5_conv")
    before = torch.get_num_threads()
    chosen = ThreadChoice(2, "2 of 2 CPUs idle")
    [stats] = measure_latency(spec_target(spec, RunOptions()), TimingOptions(device="cpu", limits=FAST, thread_choice=chosen), macs=1)
    assert stats.threads == 2 and stats.threads_reason == "2 of 2 CPUs idle"
    assert stats.device.endswith("(2 threads)")
    assert torch.get_num_threads() == before
    [one] = measure_latency(spec_target(spec, RunOptions()), TimingOptions(device="cpu", threads=1, limits=FAST), macs=1)
    assert one.device.endswith("(1 thread)") and one.threads_reason == "--threads 1"


@pytest.fixture
def eager_compile(monkeypatch):
    """torch.compile with the eager backend (no C++ toolchain, fast), recording each call."""
    import torch._dynamo

    real_compile, real_reset = torch.compile, torch._dynamo.reset
    calls = SimpleNamespace(compile=[], reset=0)

    def compile(model, **kwargs):
        calls.compile.append(kwargs)
        return real_compile(model, backend="eager", **kwargs)

    def reset():
        calls.reset += 1
        real_reset()

    monkeypatch.setattr(torch, "compile", compile)
    monkeypatch.setattr(torch._dynamo, "reset", reset)
    yield calls
    real_reset()


@pytest.mark.slow
def test_compile_is_static_per_batch_and_reset_between(eager_compile):
    spec = gc.load_spec("example_5x5_conv")
    results = measure_latency(spec_target(spec, RunOptions()), TimingOptions(device="cpu", compile=True, batches=(1, 2),
                                                               limits=FAST), macs=1)
    assert eager_compile.compile == [{"dynamic": False}, {"dynamic": False}]
    assert eager_compile.reset == 2
    assert all(r.compiled and r.compile_s is not None and r.compile_s > 0 for r in results)


@pytest.mark.slow
def test_compare_compiles_more_variants_than_dynamos_default_recompile_limit(eager_compile):
    import torch._dynamo

    target = spec_target(gc.load_spec("example_5x5_conv"), RunOptions())
    # precision=1.0: no interval is asserted, so stop at the first check (10 rounds) instead of waiting
    # up to max_time_s for ten identical models' ratios to reach +-2%
    [run] = measure_interleaved([target] * 10, TimingOptions(device="cpu", compile=True, limits=FAST,
                                                             max_time_s=60, precision=1.0), macs=[1] * 10)
    assert len(eager_compile.compile) == 10 and len(run.stats) == 10
    assert torch._dynamo.config.recompile_limit == 8  # restored
    assert not torch._dynamo.config.fail_on_recompile_limit_hit


def test_a_compile_failure_is_a_usage_error(monkeypatch):
    def broken(model, **kwargs):
        def run(x):
            raise RuntimeError("InductorError: CppCompileError: C++ compile error\ncc not found")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    spec = gc.load_spec("example_5x5_conv")
    with pytest.raises(GcostError, match="--compile: torch.compile failed: RuntimeError: InductorError"):
        measure_latency(spec_target(spec, RunOptions()), TimingOptions(device="cpu", compile=True, limits=FAST), macs=1)


class Held(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn(self.conv(x))


def test_timing_leaves_a_model_the_caller_holds_untouched():
    held = Held().train()
    hook = held.register_forward_hook(lambda *args: None)
    state = {k: v.clone() for k, v in held.state_dict().items()}
    target = TimingTarget("held", lambda device: held, (3, 8, 8), 0, (256,), owned=False, dtype="bf16", depth=None,
                          step_optimizer=None)
    measure_latency(target, TimingOptions(device="cpu", threads=1, limits=FAST), macs=1)
    assert held.training and held.conv.weight.dtype == torch.float32
    assert all(torch.equal(state[k], v) for k, v in held.state_dict().items())
    assert list(held._forward_hooks) == [hook.id]


def _event(name, device_type, device_us=0.0, cpu_us=0.0, self_device_us=0.0, parent=None):
    return SimpleNamespace(name=name, device_type=device_type, device_time_total=device_us, cpu_time_total=cpu_us,
                           self_device_time_total=self_device_us, cpu_parent=parent)


def _forward(index, block_us, *, device_type=None):
    """One profiled forward: block holding a and b, a running aten::conv2d -> aten::convolution ->
    aten::mkldnn_convolution, b an aten::add twice; and the GPU-side span of block."""
    from torch.autograd import DeviceType

    cpu = DeviceType.CPU
    forward = _event(f"gcost::forward#{index}", cpu, cpu_us=block_us)
    block = _event("block", cpu, device_us=3 * block_us, cpu_us=block_us, parent=forward)
    a = _event("block/a", cpu, device_us=100.0, cpu_us=0.4 * block_us, self_device_us=100.0, parent=block)
    wrapper = _event("aten::conv2d", cpu, cpu_us=0.4 * block_us, parent=a)
    conv = _event("aten::convolution", cpu, cpu_us=0.35 * block_us, parent=wrapper)
    inner = _event("aten::mkldnn_convolution", cpu, cpu_us=0.3 * block_us, parent=conv)
    b = _event("block/b", cpu, device_us=150.0, cpu_us=0.5 * block_us, self_device_us=150.0, parent=block)
    adds = [_event("aten::add", cpu, cpu_us=0.2 * block_us, parent=b) for _ in range(2)]
    span = _event("block", DeviceType.CUDA, device_us=900.0)  # the GPU user-annotation span
    return [forward, block, a, wrapper, conv, inner, b, *adds, span]


def test_per_layer_rows_are_medians_over_forwards_from_cpu_side_ranges_with_their_operators():
    from googlenet_cost.timing.per_layer import kernel_time_us, operators_of, per_forward, summarize_rows

    slow = 50.0  # one forward slowed tenfold by other work: the medians do not move
    events = [e for index, block_us in enumerate([5.0, 5.0, slow, 5.0, 5.0]) for e in _forward(index, block_us)]
    names = {"block", "block/a", "block/b"}
    spent = per_forward(events, names, 5, on_device=False)
    assert spent.rows["block"] == [5.0e-3, 5.0e-3, slow / 1000, 5.0e-3, 5.0e-3]  # milliseconds, per forward
    ops = {row: operators_of(found, 5) for row, found in spent.ops.items()}
    # the outermost operator that runs on each path: not the aten::conv2d wrapper, not what convolution calls
    assert [(op.name, op.calls) for op in ops["block/a"]] == [("aten::convolution", 1)]
    assert [(op.name, op.calls) for op in ops["block/b"]] == [("aten::add", 2)]
    assert ops["block/b"][0].median_ms == pytest.approx(2 * 0.2 * 5.0 / 1000)
    assert [op.name for op in ops["block"]] == ["aten::add", "aten::convolution"]  # a parent holds its children's
    on_gpu = per_forward(events, names, 5, on_device=True)
    assert on_gpu.rows["block"][0] == pytest.approx(0.015)  # the CPU-side range's kernel time, not the span's
    assert kernel_time_us(events) == 5 * 250.0
    rows = [("block", None), ("block/a", "block"), ("block/b", "block")]
    layers = summarize_rows({"block": 0.3, "block/a": 0.1, "block/b": 0.15}, rows, 0.3, 1, "cuda", timed_ms=0.31)
    assert layers.coverage == pytest.approx(1.0) and layers.warnings == []
    assert layers.coverage_of_median == pytest.approx(0.3 / 0.31)
    inverted = summarize_rows({"block": 0.1, "block/a": 0.1, "block/b": 0.15}, rows, 0.1, 1, "cuda")
    assert any("children take longer than their parent in block" in w for w in inverted.warnings)


def test_rows_that_do_not_add_up_to_the_timed_median_say_by_how_much():
    from googlenet_cost.timing.per_layer import summarize_rows

    rows = [("a", None), ("b", None)]
    layers = summarize_rows({"a": 200.0, "b": 113.0}, rows, 313.0, 20, "cpu", timed_ms=116.0)
    assert layers.coverage_of_median == pytest.approx(313 / 116)
    [warning] = layers.warnings
    assert "313.000 ms" in warning and "270% of the timed median 116.000 ms" in warning
    close = summarize_rows({"a": 60.0, "b": 50.0}, rows, 110.0, 20, "cpu", timed_ms=116.0)
    assert close.warnings == []


def test_the_profiler_events_have_the_fields_the_aggregation_reads():
    """Against the installed torch: a real CPU profile, with the ranges gcost opens, is placed by
    forward and row, and a convolution is counted once, as aten::convolution."""
    from torch.profiler import ProfilerActivity, profile, record_function

    from googlenet_cost.timing.per_layer import ITERATION, composite_implicit, operators_of, per_forward

    conv, image = torch.nn.Conv2d(3, 8, 3), torch.ones(1, 3, 16, 16)
    with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU]) as prof:
        for index in range(3):
            with record_function(f"{ITERATION}{index}"), record_function("outer"), record_function("inner"):
                conv(image).relu_()
    spent = per_forward(prof.events(), {"outer", "inner"}, 3, on_device=False)
    assert set(spent.rows) == {"outer", "inner"}
    assert all(o >= i > 0 for o, i in zip(spent.rows["outer"], spent.rows["inner"]))
    names = [op.name for op in operators_of(spent.ops["inner"], 3)]
    assert sorted(names) == ["aten::convolution", "aten::relu_"]
    assert composite_implicit("aten::conv2d") and not composite_implicit("aten::pow")


@pytest.mark.slow
def test_compare_reports_ratio_intervals_and_verdicts(runner):
    result = invoke(runner, "compare", "example_3x3_bottleneck", "example_5x5_conv", "--device", "cpu",
                    "--format", "json", "--min-time", "0", "--min-iters", "5", "--warmup", "0",
                    "--max-time", "2", "--precision", "50%")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == 3
    [line] = data["summary"]
    ratio = line["latency_ratio"]
    fields = {"median", "ci95", "verdict", "rounds", "batch", "min_effect", "pair_spread", "clock", "contended_rounds",
              "dropped_rounds"}
    assert set(ratio) in (fields, fields | {"unreliable"})
    figures = ratio.get("unreliable") or ratio  # a withheld verdict keeps its figures apart, never as median/ci95
    assert ("unreliable" in ratio) == (ratio["median"] is None is ratio["ci95"])
    low, high = figures["ci95"]
    [run] = data["timing"]
    assert low <= figures["median"] <= high and ratio["batch"] == 1 and ratio["clock"] == run["clock"]
    assert run["rounds"] == ratio["rounds"] + ratio["dropped_rounds"] and run["stopped_by"] in ("precision", "max_time")
    assert ratio["rounds"] >= 5 or run["stopped_by"] == "max_time"  # a loaded machine runs out of time first
    # the library's rule (the interval's side of 1.0, withheld below MIN_VERDICT_ROUNDS), not a copy of it
    estimate = RatioEstimate(median=figures["median"], ci95=(low, high), rounds=ratio["rounds"],
                             min_effect=ratio["min_effect"], pair_spread=ratio["pair_spread"])
    assert ratio["verdict"] == estimate.verdict
    assert all(v["latency"]["interleaved"] for v in data["variants"])


@pytest.mark.slow
def test_compare_table_and_summary_state_the_verdict(runner):
    result = invoke(runner, "compare", "example_5x5_bottleneck", "example_5x5_conv", "--device", "cpu",
                    "--min-time", "0", "--min-iters", "5", "--warmup", "0", "--max-time", "2",
                    "--precision", "50%", "--format", "markdown")
    assert result.exit_code == 0, result.output
    latency_row = next(line for line in result.stdout.splitlines() if line.startswith("| latency ms"))
    summary = next(line for line in result.stdout.splitlines() if line.startswith("example_5x5_conv:"))
    assert any(v in latency_row for v in ("] faster", "] slower", "] no measurable difference", "too few rounds"))
    assert "95% CI" in summary
    assert "interleaved rounds" in result.stdout and "stopped by" in result.stdout


@pytest.mark.parametrize("value, message", [("5", "ambiguous: write 5% or 0.05"), ("nan", "finite"),
                                            ("0%", "more than 0"), ("x", "must look like")])
def test_compare_precision_must_be_a_clear_fraction(runner, value, message):
    result = invoke(runner, "compare", "--precision", value)
    assert result.exit_code == 2 and message in result.stderr


def test_cpu_memory_room_is_the_least_of_meminfo_cgroup_and_rlimit(tmp_path, monkeypatch):
    import resource

    from googlenet_cost.timing.memory import cpu_available_bytes

    proc, cgroup = tmp_path / "proc", tmp_path / "cgroup"
    (proc / "self").mkdir(parents=True)
    (proc / "meminfo").write_text("MemTotal: 100 kB\nMemAvailable: 8000000 kB\n")
    (proc / "self" / "cgroup").write_text("0::/job/task\n")
    (proc / "self" / "status").write_text("VmSize: 1000 kB\n")
    (cgroup / "job" / "task").mkdir(parents=True)
    (cgroup / "job" / "memory.max").write_text(str(3 * 2**30) + "\n")
    (cgroup / "job" / "memory.current").write_text(str(2**30) + "\n")
    (cgroup / "job" / "task" / "memory.max").write_text("max\n")
    monkeypatch.setattr(resource, "getrlimit", lambda which: (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert cpu_available_bytes(proc, cgroup) == 2 * 2**30  # the parent cgroup's room
    monkeypatch.setattr(resource, "getrlimit", lambda which: (2**30 + 1000 * 1024, resource.RLIM_INFINITY))
    assert cpu_available_bytes(proc, cgroup) == 2**30  # RLIMIT_AS less the address space in use
    (cgroup / "job" / "memory.max").write_text("max\n")
    monkeypatch.setattr(resource, "getrlimit", lambda which: (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert cpu_available_bytes(proc, cgroup) == 8000000 * 1024


def test_the_plot_draws_the_latency_ratio_intervals():
    from googlenet_cost.comparison import Comparison, LatencyRatio, VariantSummary
    from googlenet_cost.timing.paired import RatioEstimate
    from googlenet_cost.views.compare_plot import _latency_panel

    report = SimpleNamespace(timed=[SimpleNamespace(device_type="cpu", batch=1, dtype="fp32", device="x")])
    summary = [VariantSummary(label, 1.0, 1.0, 1.0, latency=(LatencyRatio(1, estimate),)) for label, estimate in
               (("v", RatioEstimate(0.8, (0.75, 0.9), rounds=40)), ("w", RatioEstimate(1.3, (0.9, 1.9), rounds=3)))]
    title, values, (below, above), texts = _latency_panel(Comparison(["baseline", "v", "w"], [report] * 3, summary))
    assert values == [1.0, 0.8, 0.0] and below == [0.0, pytest.approx(0.05), 0.0] \
        and above == [0.0, pytest.approx(0.1), 0.0]
    assert "95% CI" in title and "CPU timing" in title
    assert texts == ["1.00x", "0.80x", "\ntoo few rounds"]  # a withheld verdict draws no bar and no ratio
