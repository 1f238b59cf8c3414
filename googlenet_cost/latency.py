"""Forward-pass latency of the built model: CUDA events on a GPU, a monotonic clock on the CPU.

Method (docs/latency.md): eval mode, inference_mode, cudnn.benchmark; each (batch, dtype) warmed
up separately; one measurement per forward; several input buffers in rotation; optional
channels_last, CUDA-graph replay, torch.compile and an L2 flush between iterations. The model
is built fresh for timing, so the analyzed spec and any model the caller holds are untouched.
"""
from __future__ import annotations

import contextlib
import platform
import subprocess
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

import torch

from .errors import GcostError
from .latency_stats import (LatencyStats, LoopLimits, LoopResult, known_peak, run_loop,
                            stats_from_loop)
from .layers import numel
from .spec import Spec

DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
COLD_CACHE_BYTES = 256 * 1024 * 1024  # larger than any current GPU's L2, as triton's do_bench


@dataclass(frozen=True)
class TimingOptions:
    device: str = "auto"  # "auto", "cpu", "cuda" or "cuda:N"
    dtype: str = "fp32"
    batches: tuple[int, ...] = (1,)
    channels_last: bool = False
    cuda_graph: bool = False
    compile: bool = False
    per_layer: bool = False
    cold_cache: bool = False
    threads: int | None = None  # CPU threads; None keeps torch's default
    inputs: int = 4  # input buffers in rotation
    limits: LoopLimits = LoopLimits()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise GcostError(f"unknown device {name!r}: use auto, cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GcostError("--device cuda: this machine has no CUDA device (torch "
                         f"{torch.__version__}, built {'with' if torch.version.cuda else 'without'} CUDA)")
    if device.type not in ("cpu", "cuda"):
        raise GcostError(f"device {name!r} is not supported: use auto, cpu or cuda")
    return device


def device_label(device: torch.device, threads: int) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_model()} ({threads} threads)"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "CPU"


def check_options(options: TimingOptions, device: torch.device) -> None:
    if options.dtype not in DTYPES:
        raise GcostError(f"unknown dtype {options.dtype!r}: use {', '.join(DTYPES)}")
    if device.type == "cpu":
        for flag, name in ((options.cuda_graph, "--cuda-graph"), (options.dtype == "tf32", "--dtype tf32")):
            if flag:
                raise GcostError(f"{name} needs a CUDA device; this run times on the CPU")
    if any(b < 1 for b in options.batches):
        raise GcostError("batch sizes must be at least 1")
    if options.threads is not None and options.threads < 1:
        raise GcostError("--threads must be at least 1")


@contextlib.contextmanager
def _numerics(options: TimingOptions, device: torch.device) -> Iterator[None]:
    """cudnn.benchmark and TF32 switched on for the timing only, then restored."""
    saved = (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32,
             torch.backends.cudnn.allow_tf32, torch.get_num_threads())
    try:
        torch.backends.cudnn.benchmark = device.type == "cuda"
        torch.backends.cuda.matmul.allow_tf32 = options.dtype == "tf32"
        torch.backends.cudnn.allow_tf32 = options.dtype == "tf32"
        if options.threads:
            torch.set_num_threads(options.threads)
        yield
    finally:
        (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32,
         torch.backends.cudnn.allow_tf32) = saved[:3]
        torch.set_num_threads(saved[3])


@dataclass(frozen=True)
class TimingTarget:
    """What to time: a fresh model on a device, its input shape, and its size for the memory check."""

    name: str
    make_model: Callable[[torch.device], torch.nn.Module]  # eval mode, on that device
    input_shape: tuple[int, ...]
    params: int
    activation_sizes: tuple[int, ...]  # output elements per sample of every row


def spec_target(spec: Spec) -> TimingTarget:
    from .builder import build_model
    from .plan import plan_rows

    rows = plan_rows(spec, train=False)
    return TimingTarget(name=spec.path or spec.name,
                        make_model=lambda device: build_model(spec, train=False, device=device),
                        input_shape=spec.input_shape,
                        params=sum(r.cost.params for r in rows if r.parent is None),
                        activation_sizes=tuple(numel(r.out_shape) for r in rows))


def estimate_memory_bytes(target: TimingTarget, batch: int, dtype: str, inputs: int) -> int:
    """Parameters plus the two largest activations alive at once, times the batch, plus inputs."""
    element = 2 if dtype in ("fp16", "bf16") else 4
    largest = sum(sorted(target.activation_sizes, reverse=True)[:2])
    input_elements = numel(target.input_shape) * batch * inputs
    return element * (target.params + 2 * largest * batch + input_elements)


def available_memory_bytes(device: torch.device) -> int | None:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/meminfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    return None


def _prepare(target: TimingTarget, options: TimingOptions, device: torch.device, batch: int):
    need = estimate_memory_bytes(target, batch, options.dtype, options.inputs)
    free = available_memory_bytes(device)
    if free is not None and need > 0.9 * free:
        advice = "use a smaller --batch" if batch > 1 else "too large to time here; --no-latency still counts it"
        raise GcostError(f"batch {batch} needs about {need / 2**30:,.1f} GiB on {device.type}, "
                         f"only {free / 2**30:,.1f} GiB are free: {advice}", file=target.name)
    dtype = DTYPES[options.dtype]
    memory_format = torch.channels_last if options.channels_last else torch.contiguous_format
    model = target.make_model(device).eval().to(dtype=dtype, memory_format=memory_format)
    inputs = [torch.randn(batch, *target.input_shape, device=device, dtype=dtype)
              .contiguous(memory_format=memory_format) for _ in range(options.inputs)]
    forward = torch.compile(model) if options.compile else model
    return model, forward, inputs


def _cpu_timer(forward: Callable, inputs: list, flush: torch.Tensor | None):
    def iteration(index: int) -> tuple[float, float]:
        if flush is not None:
            flush.add_(1)
        start = time.perf_counter()
        forward(inputs[index % len(inputs)])
        ms = (time.perf_counter() - start) * 1000
        return ms, ms

    return iteration


def _cuda_timer(forward: Callable[[int], Any], flush: torch.Tensor | None):
    start_event = torch.cuda.Event(enable_timing=True)
    end_event = torch.cuda.Event(enable_timing=True)

    def iteration(index: int) -> tuple[float, float]:
        if flush is not None:
            flush.zero_()
        start_event.record()
        host_start = time.perf_counter()
        forward(index)
        host_ms = (time.perf_counter() - host_start) * 1000
        end_event.record()
        end_event.synchronize()
        return start_event.elapsed_time(end_event), host_ms

    return iteration


def _cuda_forward(forward: Callable, inputs: list, use_graph: bool, warmup: int = 3) -> Callable[[int], Any]:
    """Eager: call the model. Graph: capture one graph per input buffer (after a warm-up on a
    side stream, as CUDA graphs require) and replay it."""
    if not use_graph:
        return lambda index: forward(inputs[index % len(inputs)])
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            forward(inputs[0])
    torch.cuda.current_stream().wait_stream(stream)
    graphs: list[torch.cuda.CUDAGraph] = []
    for x in inputs:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=graphs[0].pool() if graphs else None):
            forward(x)
        graphs.append(graph)
    return lambda index: graphs[index % len(graphs)].replay()


def gpu_state(device: torch.device) -> dict | None:
    """SM / memory clocks, temperature and power as nvidia-smi reports them (read only)."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    query = "clocks.sm,clocks.mem,clocks.max.sm,temperature.gpu,power.draw"
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits",
                              "-i", str(index)], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    values = [v.strip() for v in out.stdout.strip().split(",")]
    keys = ["sm_clock_mhz", "memory_clock_mhz", "max_sm_clock_mhz", "temperature_c", "power_w"]
    return dict(zip(keys, values)) if len(values) == len(keys) else None


def measure_latency(target: TimingTarget, options: TimingOptions, *, macs: int,
                    progress: Callable[[str, float], Any] | None = None) -> LatencyStats | list[LatencyStats]:
    """Time the forward pass for every batch size in options.batches (one entry each)."""
    device = resolve_device(options.device)
    check_options(options, device)
    results = [_measure_one(target, options, device, batch, macs, progress) for batch in options.batches]
    return results if len(results) > 1 else results[0]


def _timer_for(device: torch.device, forward: Callable, inputs: list, options: TimingOptions):
    """The per-iteration timer for one prepared model (CUDA events, or the CPU clock)."""
    if device.type == "cuda":
        flush = torch.empty(COLD_CACHE_BYTES, dtype=torch.int8, device=device) if options.cold_cache else None
        return _cuda_timer(_cuda_forward(forward, inputs, options.cuda_graph), flush)
    flush = torch.empty(COLD_CACHE_BYTES // 4, dtype=torch.int32) if options.cold_cache else None
    return _cpu_timer(forward, inputs, flush)


def _stats(loop: LoopResult, options: TimingOptions, device: torch.device, batch: int, macs: int,
           peak_memory: int | None) -> LatencyStats:
    threads = torch.get_num_threads()
    name = device_label(device, threads)
    return stats_from_loop(
        loop, macs_per_sample=macs, batch=batch, peak_tflops=known_peak(name, options.dtype),
        check_launch_bound=device.type == "cuda" and not options.cuda_graph,
        device=name, device_type=device.type, dtype=options.dtype, peak_memory_bytes=peak_memory,
        cuda_graph=options.cuda_graph, channels_last=options.channels_last, compiled=options.compile,
        cold_cache=options.cold_cache, threads=threads if device.type == "cpu" else None,
        torch_version=torch.__version__, gpu_state=gpu_state(device) if device.type == "cuda" else None)


def _measure_one(target: TimingTarget, options: TimingOptions, device: torch.device, batch: int, macs: int,
                 progress: Callable[[str, float], Any] | None) -> LatencyStats:
    label = f"timing batch {batch} ({options.dtype}) on {device.type}"
    with _numerics(options, device), torch.inference_mode():
        _, forward, inputs = _prepare(target, options, device, batch)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        loop = run_loop(_timer_for(device, forward, inputs, options), options.limits,
                        progress=(lambda f: progress(label, f)) if progress else None)
        peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
        return _stats(loop, options, device, batch, macs, peak)


def measure_interleaved(targets: list[TimingTarget], options: TimingOptions, *, macs: list[int],
                        progress: Callable[[str, float], Any] | None = None) -> list[LatencyStats]:
    """Time several models in one process, one iteration of each in turn (A B C A B C ...), so
    that drift in clocks or load is shared by all of them. Each is warmed up separately first."""
    device = resolve_device(options.device)
    check_options(options, device)
    batch, limits = options.batches[0], options.limits
    with _numerics(options, device), torch.inference_mode():
        timers = []
        for target in targets:
            _, forward, inputs = _prepare(target, options, device, batch)
            timers.append(_timer_for(device, forward, inputs, options))
        warm = [run_loop(timer, replace(limits, min_iters=0, min_time_s=0.0)).warmup_iterations
                for timer in timers]
        samples: list[list[tuple[float, float]]] = [[] for _ in timers]
        start = time.perf_counter()
        while True:
            elapsed = time.perf_counter() - start
            rounds = len(samples[0])
            if progress:
                progress("timing variants, interleaved", limits.progress(rounds, elapsed, len(timers)))
            if limits.finished(rounds, elapsed, len(timers)):
                break
            for k, timer in enumerate(timers):
                samples[k].append(timer(warm[k] + rounds))
    return [_stats(LoopResult([d for d, _ in pairs], [h for _, h in pairs], warm[k]),
                   options, device, batch, macs[k], None) for k, pairs in enumerate(samples)]


@dataclass(frozen=True)
class LayerLatency:
    """Per-row time from a separate, instrumented profiler pass (never the headline number)."""

    by_row: dict[str, float]  # milliseconds per forward
    total_ms: float  # instrumented forward, wall time per iteration
    coverage: float  # top-level rows' sum / total_ms
    iterations: int
    activity: str  # "cuda" or "cpu"
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"by_row_ms": self.by_row, "instrumented_total_ms": self.total_ms,
                "coverage": self.coverage, "iterations": self.iterations, "activity": self.activity}


def measure_layer_latency(target: TimingTarget, options: TimingOptions, iterations: int = 20) -> LayerLatency:
    """Profile `iterations` forwards with a record_function range per row, named as the rows."""
    from torch.profiler import ProfilerActivity, profile, record_function

    from .builder import row_modules

    device = resolve_device(options.device)
    check_options(options, device)
    batch = options.batches[0]
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with _numerics(options, device), torch.inference_mode():
        model, _, inputs = _prepare(target, replace(options, compile=False), device, batch)
        rows = list(row_modules(model))
        ranges: dict[str, Any] = {}

        def enter(name: str):
            return lambda module, args: ranges.__setitem__(name, record_function(name).__enter__())

        def leave(name: str):
            return lambda module, args, out: ranges.pop(name).__exit__(None, None, None)

        handles = [h for name, _, m in rows
                   for h in (m.register_forward_pre_hook(enter(name)), m.register_forward_hook(leave(name)))]
        try:
            for x in inputs:  # warm-up outside the profile
                model(x)
            _sync(device)
            with profile(activities=activities) as prof:
                start = time.perf_counter()
                for index in range(iterations):
                    model(inputs[index % len(inputs)])
                _sync(device)
                total_ms = (time.perf_counter() - start) * 1000 / iterations
        finally:
            for handle in handles:
                handle.remove()
    names = {name for name, _, _ in rows}
    by_row = {}
    for event in prof.key_averages():
        if event.key in names:
            spent = event.device_time_total if device.type == "cuda" else event.cpu_time_total
            by_row[event.key] = spent / 1000 / iterations
    top = sum(ms for name, parent, _ in rows if parent is None for ms in [by_row.get(name, 0.0)])
    coverage = top / total_ms if total_ms else 0.0
    return LayerLatency(by_row, total_ms, coverage, iterations, device.type,
                        [] if 0.8 <= coverage <= 1.2 else
                        [f"per-layer times cover {coverage:.0%} of the instrumented forward"])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


