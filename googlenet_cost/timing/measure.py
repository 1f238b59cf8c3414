"""Forward-pass latency of a model: CUDA events on a GPU, the host clock on the CPU.

Method (docs/latency.md): eval mode, inference_mode; on CUDA cudnn.benchmark and the dtype's TF32
setting, everything run under `torch.cuda.device(device)` with events on that device's stream;
on the CPU the thread count chosen from the machine's load (timing/threads.py); each (model, batch,
dtype) warmed up until its iteration times settle and, with --compile, compiled separately (static
shapes); several input buffers in rotation. The timed model is always one the caller does not
hold: a spec is built fresh, a Python model is deep-copied before it is cast or moved. The jobs
around this are in their own modules: `device` (where), `prepare` (the model ready to time), `step`
(a training step), `timers` (one iteration), `loop` (the loops), `stats`/`paired`/`clocks` (figures).
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

import torch

from ..errors import PASSES_THROUGH, GcostError, first_line, model_raised
from .cuda import TorchCuda, events_vs_wall, oom_errors, timer_overhead_ms
from .device import check_options, cuda_backend, device_label, resolve_device
from .loop import Clock, LoopResult, RoundsPlan, run_loop, run_rounds
from .settings import TimingOptions  # noqa: F401 (the options timing reads)
from .prepare import Prepared, dynamo_limits, prepare, timing_context
from .target import TimingTarget
from .stats import GpuState, LatencyStats, SelfCheck, known_peak, stats_from_loop
from .step import TrainingStep
from .threads import choose_threads
from .timers import Timer, make_timer

Progress = Callable[..., Any]  # (label, fraction[, detail])


def with_thread_choice(options: TimingOptions, cuda: TorchCuda | None = None) -> TimingOptions:
    """The options with the CPU's thread count decided (timing/threads.py: --threads, or from the
    machine's load), once per run so every pass of it (the timing, the per-layer profile, the
    roofline's peaks) uses the same; unchanged on a GPU or when already decided."""
    if options.thread_choice is not None:
        return options
    if resolve_device(options.device, cuda or cuda_backend()).type != "cpu":
        return options
    choice = choose_threads(options.threads)
    return replace(options, threads=choice.threads, thread_choice=choice)


def measure_latency(target: TimingTarget, options: TimingOptions, *, macs: int,
                    progress: Progress | None = None, cuda: TorchCuda | None = None,
                    clock: Clock = time.perf_counter) -> list[LatencyStats]:
    """Time the forward pass for every batch size in options.batches (one entry each)."""
    cuda = cuda or cuda_backend()
    device = resolve_device(options.device, cuda)
    check_options(options, device, dtype=target.dtype, training=target.training)
    options = with_thread_choice(options, cuda)
    return [_measure_one(target, options, device, batch, macs, progress, cuda, clock) for batch in options.batches]


def _measure_one(target: TimingTarget, options: TimingOptions, device: torch.device, batch: int, macs: int,
                 progress: Progress | None, cuda: TorchCuda, clock: Clock) -> LatencyStats:
    label = f"timing batch {batch} ({target.dtype}) on {device.type}"
    show = (lambda f: progress(label, f)) if progress else None
    with users_errors([target]), timing_context(options, device, cuda, target), \
            out_of_memory(cuda, device, target.name, batch):
        prepared = prepare(target, options, device, batch, cuda)
        timer = None
        try:
            timer = make_timer(prepared, options, device, cuda, clock)
            if device.type == "cpu":
                loop = run_loop(timer, options.limits, clock=clock, progress=show, after_warmup=timer.arm)
                return _stats(loop, options, device, batch, macs, target, prepared, cuda)
            overhead = timer_overhead_ms(cuda, device, clock)
            sensors: dict[str, Any] = {}

            def after_warmup() -> None:
                cuda.synchronize(device)
                cuda.reset_peak_memory(device)  # warm-up's autotuning workspaces are not the model's
                sensors["before"] = cuda.sensors(device)  # the warm device the timed loop starts on

            loop = run_loop(timer, options.limits, clock=clock, after_warmup=after_warmup, progress=show)
            sensors["after"] = cuda.sensors(device)
            return _stats(loop, options, device, batch, macs, target, prepared, cuda,
                          peak_memory=_peak_memory(cuda, device, prepared, timer), gpu_state=GpuState.of(sensors),
                          self_check=_self_check(loop, overhead, timer))
        finally:
            if timer is not None:
                timer.close()
            del prepared
            if device.type == "cuda":
                cuda.empty_cache()


@contextlib.contextmanager
def users_errors(targets: list[TimingTarget]) -> Iterator[None]:
    """A Python model that counted (on the meta device) can still fail on a real device when
    timed: what its code raises then is the user's error, exit 2, like anywhere else."""
    try:
        yield
    except (GcostError, *PASSES_THROUGH):
        raise
    except BaseException as e:
        users = [target.name for target in targets if target.user_code]
        if not users:
            raise
        raise model_raised(", ".join(users), e, "its timed forward") from e


def _peak_memory(cuda: TorchCuda, device: torch.device, prepared: Prepared, timer: Timer) -> int:
    """The peak allocated during the timed loop (the counter was reset after warm-up) or, with
    --cuda-graph, while the graphs were captured, whichever is larger: replays allocate nothing
    (the graphs' activations sit in their private pool, reserved since the capture), so the loop
    alone would see the weights and inputs only. The flush buffer is not the model's."""
    peak = max(cuda.max_memory_allocated(device), timer.capture_peak_bytes or 0)
    return peak - prepared.flush_bytes


@contextlib.contextmanager
def out_of_memory(cuda: TorchCuda, device: torch.device, name: str, batch: int) -> Iterator[None]:
    """An allocation failure despite the estimate is the user's size problem (exit 2), not a bug."""
    errors = oom_errors(cuda, device)
    try:
        yield
    except errors as e:
        raise GcostError(f"batch {batch}: out of memory on {device} ({first_line(e, 200)}); use a smaller "
                         "--batch, or --no-latency to count only", file=name) from None


def _self_check(loop: LoopResult, overhead_ms: float, timer: Timer) -> SelfCheck:
    """A CUDA measurement's self-check (docs/latency.md)."""
    return SelfCheck(events_vs_wall(loop.samples, overhead_ms), overhead_ms, **timer.graph_check)


def _stats(loop: LoopResult, options: TimingOptions, device: torch.device, batch: int, macs: int,
           target: TimingTarget, prepared: Prepared | None, cuda: TorchCuda, **extra: Any) -> LatencyStats:
    threads = torch.get_num_threads()
    name = device_label(device, threads, cuda)
    choice = options.thread_choice if device.type == "cpu" else None
    phases = prepared.forward.phases(loop.warmup_iterations) \
        if prepared is not None and isinstance(prepared.forward, TrainingStep) else None
    return stats_from_loop(
        loop, macs_per_sample=macs, batch=batch, peak_tflops=known_peak(name, target.dtype),
        check_launch_bound=device.type == "cuda" and not options.cuda_graph,
        device=name, device_type=device.type, dtype=target.dtype,
        peak_memory_bytes=extra.pop("peak_memory", None),
        cuda_graph=options.cuda_graph, channels_last=options.channels_last, compiled=options.compile,
        cold_cache=options.cold_cache, threads=threads if device.type == "cpu" else None,
        step="train" if target.training else "inference",
        threads_reason=choice.reason if choice is not None else None,
        contention=choice,
        compile_s=prepared.compile_s if prepared else None, torch_version=torch.__version__,
        phases=phases, **extra)


@dataclass(frozen=True)
class Interleaved:
    """Interleaved timing of several models at one batch: per model its stats, per non-first
    model its ratio to the first (paired.RatioEstimate), and why sampling stopped."""

    batch: int
    stats: list[LatencyStats]
    ratios: list[Any]
    rounds: int
    stopped_by: str  # "precision", "max_time" or "max_rounds"
    elapsed_s: float
    precision: float
    max_time_s: float
    clock: str = "wall"  # what every sample timed (timing/clocks.py)
    warmup_s: float = 0.0

    def run_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, "rounds": self.rounds, "stopped_by": self.stopped_by,
                "elapsed_s": round(self.elapsed_s, 3), "warmup_s": round(self.warmup_s, 3),
                "precision": self.precision, "max_time_s": self.max_time_s, "clock": self.clock}


def measure_interleaved(targets: list[TimingTarget], options: TimingOptions, *, macs: list[int],
                        progress: Progress | None = None, cuda: TorchCuda | None = None,
                        clock: Clock = time.perf_counter) -> list[Interleaved]:
    """Time several models in one process, in rounds (each model once a round, the starting model
    rotating) so drift in clocks or load is shared, until every ratio to the first model is known
    within options.precision or options.max_time_s is spent (split evenly over the batches)."""
    cuda = cuda or cuda_backend()
    device = resolve_device(options.device, cuda)
    if len({(target.dtype, target.step_optimizer) for target in targets}) > 1:
        raise ValueError("interleaved models are timed alike: at one dtype, all a training step or all the forward")
    check_options(options, device, dtype=targets[0].dtype, training=targets[0].training)
    options = with_thread_choice(options, cuda)
    plan = RoundsPlan(options.limits, options.precision, options.max_time_s / len(options.batches), options.min_effect)
    return [_interleave_one(targets, options, device, batch, macs, plan, progress, cuda, clock)
            for batch in options.batches]


def _interleave_one(targets: list[TimingTarget], options: TimingOptions, device: torch.device, batch: int,
                    macs: list[int], plan: RoundsPlan, progress: Progress | None, cuda: TorchCuda,
                    clock: Clock) -> Interleaved:
    label = f"timing {len(targets)} models interleaved, batch {batch}"
    compiled = dynamo_limits(len(targets)) if options.compile else contextlib.nullcontext()
    with users_errors(targets), timing_context(options, device, cuda, targets[0]), \
            out_of_memory(cuda, device, targets[0].name, batch), compiled:
        if options.compile:
            import torch._dynamo

            torch._dynamo.reset()
        prepared: list[Prepared] = []
        timers: list[Timer] = []
        try:
            for target in targets:
                if progress:
                    progress(f"preparing {target.name} for timing", 1.0)
                prepared.append(prepare(target, options, device, batch, cuda, reset_dynamo=False))
            timers = [make_timer(p, options, device, cuda, clock) for p in prepared]
            result = run_rounds(timers, plan, clock=clock, device_type=device.type,
                                after_warmup=lambda: [timer.arm() for timer in timers],
                                progress=(lambda f, detail: progress(label, f, detail)) if progress else None)
            overhead = timer_overhead_ms(cuda, device, clock) if device.type == "cuda" else None
            stats = [_stats(loop, options, device, batch, m, target, p, cuda, interleaved=True, clock=result.clock,
                            self_check=None if overhead is None else _self_check(loop, overhead, t))
                     for loop, m, target, p, t in zip(result.loops, macs, targets, prepared, timers)]
        finally:
            for timer in timers:
                timer.close()
            prepared.clear()
            if device.type == "cuda":
                cuda.empty_cache()
    return Interleaved(batch, stats, result.ratios, result.rounds, result.stopped_by, result.elapsed_s,
                       plan.precision, plan.max_time_s, result.clock, result.warmup_s)
