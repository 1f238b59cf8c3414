"""The report's sentences: the totals and counting rule under every table, the roofline's and the
training step's conventions, the latency panel."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..quantity import human
from ..report import COUNTING_RULE, Report, TrainingSummary
from .cells import ms_text, shape_text

if TYPE_CHECKING:
    from ..timing.stats import LatencyStats


def _inputs_text(report: Report) -> str:
    """"input 224x224x3", or for several: "inputs 224x224x3, text=77 (int64)"."""
    from ..inputs import TensorInput

    def one(item) -> str:
        if not isinstance(item, TensorInput):
            return item.text()  # a constant, as the Python API passed it
        kind = "" if item.kind == "float" else f" ({item.kind})"
        return (f"{item.name}=" if item.name else "") + (shape_text(list(item.shape)) or "scalar") + kind

    arguments = report.arguments
    if arguments.plain:
        return f"input {shape_text(report.input_shape)}"
    return "inputs " + ", ".join(one(item) for item in arguments.items)


def conventions(report: Report) -> str:
    """The totals and the counting rule in words, under every table (report.COUNTING_RULE, the
    rule counting follows, so the words cannot drift from what was counted)."""
    t = report.totals
    frozen = f", {t.frozen_params:,} frozen" if t.frozen_params else ""
    text = (f"Totals: {t.params:,} params ({t.weights:,} weights{frozen}), {t.macs:,} MACs = "
            f"{human(t.macs)} MACs = {human(t.flops)} FLOPs per sample, {report.mode} mode, "
            f"{_inputs_text(report)}.\n"
            f"MACs: {COUNTING_RULE['macs']} (FLOPs = 2 x MACs); {COUNTING_RULE['not_counted']} are not "
            f"counted. Params include biases; weights are the {COUNTING_RULE['weights'].split(' (')[0]}.")
    if report.machine is not None:
        text += "\n" + roofline_text(report)
    if report.training:
        text += "\n" + training_text(report.training)
    if any(row.paper is not None for row in report.layers):
        text += (" Paper figures: params (K = 1024) are compared with weights, ops (M = 10^6) with MACs; "
                 "≠ marks a disagreement beyond rounding.")
        if t.paper_params is not None or t.paper_ops is not None:
            sums = [f"{t.paper_params:,} params" if t.paper_params is not None else "",
                    f"{t.paper_ops:,} ops" if t.paper_ops is not None else ""]
            text += f" The paper's figures sum to {' and '.join(item for item in sums if item)}."
    return text


def roofline_text(report: Report) -> str:
    """The roofs, the formulas exactly as computed (roofline/bound.py, roofline/limits.py), the
    model's bound and expected time beside its measured median, and the traffic rule."""
    m, t = report.machine, report.totals
    cache = (f", cache-resident {human(m.cache_bytes_per_s)}B/s up to {human(m.cache_bytes, base=1024)}iB"
             if m.cache_bytes_per_s and m.cache_bytes else "")
    when = f" {m.measured_at}" if m.measured_at else ""
    ridges = f"ridge points {m.memory_ridge:.1f} FLOP/B (memory)" + (
        f", {m.cache_ridge:.1f} FLOP/B (cache)" if m.cache_ridge else "")
    memory = ("max(bytes / cache bandwidth, working set beyond the cache's size / memory bandwidth)"
              if m.cache_bytes_per_s else "bytes / memory bandwidth")
    text = (f"Roofline ({m.source} peaks of {m.device}, {m.dtype}{when}): {human(m.flops_per_s)}FLOP/s, memory "
            f"{human(m.bytes_per_s)}B/s{cache}; {ridges}. Bound (a lower bound) = max(FLOPs / peak FLOP/s, memory), "
            f"memory = {memory}, at batch {report.batch}; a row with children is the sum of its children's bounds and "
            f"of what it adds. ")
    if t.expected_ms is not None:
        text += ("Expected (an estimate, not a bound) = each operator at this machine's measured rate for its size: "
                 "calls x max(one call's cost, its time at the rate); a row with children sums theirs and its own. ")
    text += ("Limit: compute or memory (the roof its bound sits under); kernel (its time, measured or else expected, "
             "is over 10x its bound and 0.05 ms or more: slow kernels, the operator named); overhead (its operators' "
             f"per-call cost is half its time or more). The model's bound is {ms_text(t.bound_ms)} ms")
    if t.expected_ms is not None:
        text += f", expected {ms_text(t.expected_ms)} ms"
    if report.efficiency is not None:
        text += (f", its measured median {report.timed[0].median_ms:,.3f} ms: it runs at {report.efficiency:.0%} "
                 "of its roof")
    return text + f". Bytes: {COUNTING_RULE['bytes']}."


def training_text(t: TrainingSummary) -> str:
    """The training step in words: MACs per sample, memory at the batch."""
    optimizer = {"sgd": "plain SGD", "momentum": "momentum SGD", "adam": "Adam"}[t.optimizer]
    return (f"Training step ({optimizer}, batch {t.batch}, {t.dtype}): forward {t.forward_macs:,} + "
            f"backward {t.backward_macs:,} = {t.step_macs:,} MACs per sample ({human(t.step_macs)}); "
            f"memory {t.train_bytes:,} bytes ({mib(t.train_bytes)}) = parameters {mib(t.param_bytes)} + "
            f"gradients {mib(t.grad_bytes)} + optimizer state {mib(t.optimizer_bytes)} + activations saved "
            f"for backward {mib(t.saved_bytes)}. Not counted: {t.not_counted}.")


def mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB"


def threads_words(stats: LatencyStats) -> str:
    """'1 thread (decided: other work kept 2.0 of 2 CPUs busy; --threads N overrides)'."""
    count = f"{stats.threads} thread{'s' if stats.threads != 1 else ''}"
    if stats.threads_reason and stats.threads_reason.startswith("--threads"):
        return f"{count} ({stats.threads_reason})"
    return f"{count} (decided: {stats.threads_reason}; --threads N overrides)"


def clock_words(stats: LatencyStats) -> str:
    """What an on-CPU figure is, and the wall-clock median beside it."""
    held = f" in {stats.load.share:.0%} of the iterations" if stats.load is not None else ""
    return (f"on-CPU time: other work held the CPU{held}, so each figure is the time the forward ran, without "
            f"the others' turns (wall-clock median {stats.wall_median_ms:.3f} ms)")


def latency_panel(items: tuple[LatencyStats, ...]):
    """The latency of each timed batch (Report.timed), CPU or GPU said once."""
    from rich.markup import escape
    from rich.panel import Panel

    from ..timing.stats import Sensors

    first = items[0]
    if first.device_type == "cpu":
        lines = [f"[bold yellow]CPU timing[/]: no CUDA device was used, so this is NOT GPU latency. "
                 f"{escape(first.device)}, torch {first.torch_version}"]
        if first.threads_reason:
            lines.append(f"  {threads_words(first)}")
    else:
        lines = [f"[bold green]GPU timing[/] on {escape(first.device)}, torch {first.torch_version}"]
    for s in items:
        modes = ", ".join(m for m, on in (("channels_last", s.channels_last), ("CUDA graph", s.cuda_graph),
                                          ("torch.compile", s.compiled), ("cold L2", s.cold_cache)) if on)
        peak = f" ({s.peak_fraction:.1%} of peak)" if s.peak_fraction is not None else ""
        memory = f", peak memory {s.peak_memory_bytes / 2**20:,.1f} MiB" if s.peak_memory_bytes else ""
        p99 = f", p99 {s.p99_ms:.3f}" if s.p99_ms is not None else ""
        lines.append(
            f"batch {s.batch} {s.dtype}{', ' + modes if modes else ''}: median [bold]{s.median_ms:.3f} ms[/] "
            f"(IQR {s.iqr_ms:.3f}, p10 {s.p10_ms:.3f}, p90 {s.p90_ms:.3f}{p99}) over {s.iterations} "
            f"runs after {s.warmup_iterations} warm-up; {s.throughput_per_s:,.1f} samples/s, "
            f"{s.tflops:.3f} TFLOP/s{peak}{memory}")
        if s.clock == "on_cpu":
            lines.append(f"  {clock_words(s)}")
        if s.phases:
            total = s.phases.total_ms or 1.0
            lines.append("  step: " + ", ".join(f"{name} {ms:.3f} ms ({ms / total:.0%})"
                                                for name, ms in s.phases.parts()))
        check = s.self_check
        if check is not None and check.events_vs_wall is not None:
            graph = {True: ", CUDA graph output = eager output", None: ""}.get(check.graph_matches_eager, "")
            lines.append(f"  self-check: events / wall time {check.events_vs_wall:.3f}{graph}")
        if s.gpu_state and s.gpu_state.before:
            before, after = s.gpu_state.before, s.gpu_state.after or Sensors()
            lines.append(f"  GPU SM clock {before.sm_clock_mhz} -> {after.sm_clock_mhz} MHz, "
                         f"temperature {before.temperature_c} -> {after.temperature_c} C")
    title = "training-step latency" if first.step == "train" else "forward-pass latency"
    return Panel("\n".join(lines), title=title, expand=False)
