"""Forward-pass latency of a model: CUDA events on a GPU, the host clock on the CPU.

Method (docs/latency.md): eval mode, inference_mode; on CUDA cudnn.benchmark and the dtype's TF32
setting, everything run under `torch.cuda.device(device)` with events on that device's stream;
each (model, batch, dtype) warmed up and, with --compile, compiled separately (static shapes);
several input buffers in rotation. The timed model is always one the caller does not hold: a spec
is built fresh, a Python model is deep-copied before it is cast or moved.
"""
from __future__ import annotations

import contextlib
import copy
import os
import platform
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch

from ..errors import PASSES_THROUGH, GcostError, first_line, model_raised
from ..inputs import Call, Inputs, as_inputs
from .cuda import (CudaTimer, TorchCuda, capture_graphs, check_graph_outputs, cuda_numerics,
                   events_vs_wall, oom_errors, out_of_memory_in, timer_overhead_ms)
from .loop import Clock, LoopResult, RoundsPlan, Sample, run_loop, run_rounds
from .options import DTYPE_BYTES, TimingOptions  # noqa: F401 (the options timing reads)
from .memory import COLD_CACHE_BYTES, cpu_available_bytes, estimate_bytes
from .stats import LatencyStats, known_peak, stats_from_loop

DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
Progress = Callable[..., Any]  # (label, fraction[, detail])


@dataclass(frozen=True)
class TimingTarget:
    """What to time: a model on a device, its inputs, and its size for the memory check."""

    name: str
    make_model: Callable[[torch.device], torch.nn.Module]
    inputs: Inputs  # or one tensor's shape per sample
    params: int
    activation_sizes: tuple[int, ...]  # output elements per sample of every row
    owned: bool = True  # make_model returns a new model; False: it may be the caller's (copy it)
    user_code: bool = False  # a Python model: what its code raises while timed is the user's error
    depth: int | None = 2  # a Python model's rows: its module tree this deep (None: all), as counted

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", as_inputs(self.inputs))  # a shape: one tensor of it


def cuda_backend() -> TorchCuda:
    """The CUDA backend the timing uses (tests replace it with a fake)."""
    return TorchCuda()


def resolve_device(name: str, cuda: TorchCuda | None = None) -> torch.device:
    cuda = cuda or cuda_backend()
    if name == "auto":
        return torch.device("cuda", 0) if cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise GcostError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise GcostError(f"device {name!r} is not supported: use auto, cpu, cuda or cuda:N")
    if device.type == "cpu":
        return device
    if not cuda.is_available():
        raise GcostError(f"--device {name}: this machine has no CUDA device (torch {torch.__version__}, "
                         f"built {'with' if torch.version.cuda else 'without'} CUDA)")
    count = cuda.device_count()
    index = 0 if device.index is None else device.index
    if index >= count:
        raise GcostError(f"--device {name}: this machine has {count} CUDA device{'s' if count != 1 else ''} "
                         f"(cuda:0 to cuda:{count - 1})")
    return torch.device("cuda", index)


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask), not every CPU of the machine."""
    with contextlib.suppress(AttributeError, OSError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


THREADS_PER_CPU = 4  # --threads at most this many per CPU of the machine


def max_threads() -> int:
    """The most CPU threads timing may ask for. More only oversubscribes the CPUs, and far more
    (100,000) makes the OpenMP runtime abort the whole process, without a message, when it cannot
    create them; so the bound is checked before torch.set_num_threads."""
    return THREADS_PER_CPU * (os.cpu_count() or 1)


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "CPU"


def device_label(device: torch.device, threads: int, cuda: TorchCuda | None = None) -> str:
    if device.type == "cuda":
        return (cuda or cuda_backend()).device_name(device)
    return f"{cpu_model()} ({threads} thread{'s' if threads != 1 else ''})"


def check_options(options: TimingOptions, device: torch.device) -> None:
    if options.dtype not in DTYPES:
        raise GcostError(f"unknown dtype {options.dtype!r}: use {', '.join(DTYPES)}")
    if options.step == "train":
        for flag, name in ((options.cuda_graph, "--cuda-graph"), (options.compile, "--compile"),
                           (options.per_layer, "--per-layer")):
            if flag:
                raise GcostError(f"{name} times inference only; leave it out with --step train")
    if device.type == "cpu":
        for flag, name in ((options.cuda_graph, "--cuda-graph"), (options.dtype == "tf32", "--dtype tf32")):
            if flag:
                raise GcostError(f"{name} needs a CUDA device; this run times on the CPU")
    if any(b < 1 for b in options.batches):
        raise GcostError("batch sizes must be at least 1")
    if options.threads is not None and options.threads < 1:
        raise GcostError("--threads must be at least 1")
    if options.threads is not None and options.threads > max_threads():
        raise GcostError(f"--threads {options.threads:,} is more than this machine can run: at most "
                         f"{max_threads():,} ({THREADS_PER_CPU} per CPU, {os.cpu_count() or 1} CPUs)")


@contextlib.contextmanager
def timing_context(options: TimingOptions, device: torch.device, cuda: TorchCuda) -> Iterator[None]:
    """The device current, numerics and thread count set for the timing only, then restored."""
    threads = torch.get_num_threads()
    try:
        inference = torch.inference_mode(options.step != "train")  # a training step needs autograd
        if device.type == "cpu":
            torch.set_num_threads(options.threads or usable_cpus())
            with inference:
                yield
            return
        with cuda.use_device(device), cuda_numerics(options.dtype == "tf32"), inference:
            yield
    finally:
        torch.set_num_threads(threads)


@dataclass
class Prepared:
    """A model ready to time on one device, with its input buffers."""

    model: torch.nn.Module
    forward: Callable
    inputs: list
    compile_s: float | None
    need_bytes: int
    flush: torch.Tensor | None = None
    graph_check: dict = field(default_factory=dict)
    capture_peak_bytes: int | None = None  # --cuda-graph: the peak allocated while capturing

    @property
    def flush_bytes(self) -> int:
        return 0 if self.flush is None else self.flush.numel() * self.flush.element_size()


def prepare(target: TimingTarget, options: TimingOptions, device: torch.device, batch: int,
            cuda: TorchCuda, *, reset_dynamo: bool = True) -> Prepared:
    need = estimate_bytes(params=target.params, activation_sizes=target.activation_sizes,
                          input_bytes=target.inputs.element_bytes(DTYPE_BYTES[options.dtype]), batch=batch,
                          dtype=options.dtype,
                          inputs=options.inputs, cold_cache=options.cold_cache, cuda=device.type == "cuda")
    if options.step == "train":  # gradients and optimizer state, and the activations kept for backward
        from ..options import OPTIMIZER_STATES

        element = 2 if options.dtype in ("fp16", "bf16") else 4
        need += element * (target.params * (1 + OPTIMIZER_STATES[options.optimizer])
                           + 2 * batch * sum(target.activation_sizes))
    if device.type == "cuda":
        cuda.empty_cache()  # PyTorch's own cached blocks are free for this run
        free = cuda.free_memory(device)
    else:
        free = cpu_available_bytes()
    if free is not None and need > 0.9 * free:
        advice = "use a smaller --batch" if batch > 1 else "too large to time here; --no-latency still counts it"
        raise GcostError(f"batch {batch} needs about {need / 2**30:,.1f} GiB on {device}, only "
                         f"{free / 2**30:,.1f} GiB are free to this process: {advice}", file=target.name)
    place = cuda.tensor_device(device) if device.type == "cuda" else device
    dtype = DTYPES[options.dtype]
    memory_format = torch.channels_last if options.channels_last else torch.contiguous_format
    model = target.make_model(place)
    if not target.owned:
        model = copy.deepcopy(model)  # the caller's model keeps its dtype, device, mode and buffers
    model = model.train(options.step == "train").to(device=place, dtype=dtype, memory_format=memory_format)
    inputs = [target.inputs.make(batch, place, dtype, random=True, memory_format=memory_format)
              for _ in range(options.inputs)]
    forward, compile_s = (lambda call: call.into(model)), None
    if options.step == "train":
        forward = TrainingStep(model, options.optimizer, _phase_marks(device, cuda))
    if options.compile:
        forward, compile_s = compile_model(model, inputs[0], target.name, reset=reset_dynamo,
                                           oom=oom_errors(cuda, device))
    flush = None
    if options.cold_cache:
        flush = (torch.empty(COLD_CACHE_BYTES, dtype=torch.int8, device=place) if device.type == "cuda"
                 else torch.empty(COLD_CACHE_BYTES // 4, dtype=torch.int32))
    return Prepared(model, forward, inputs, compile_s, need, flush)


class TrainingStep:
    """One training step per call: zero_grad, forward, the loss (modules.training_loss: main
    output plus 0.3 x each auxiliary one), backward, the optimizer's step. With `marks`, the
    boundaries between forward, backward and optimizer step are marked, and read by `collect()`
    once the step has finished (on a GPU: after the device synchronized), so their shares can be
    reported (`phases`)."""

    def __init__(self, model: torch.nn.Module, optimizer: str, marks: "PhaseMarks | None" = None):
        parameters = [p for p in model.parameters() if p.requires_grad]
        self.optimizer: torch.optim.Optimizer | None = None  # a network with nothing to train: no step
        if parameters and optimizer == "adam":
            self.optimizer = torch.optim.Adam(parameters, lr=1e-3)
        elif parameters:
            self.optimizer = torch.optim.SGD(parameters, lr=1e-3, momentum=0.9 if optimizer == "momentum" else 0.0)
        self.model, self.marks = model, marks

    def __call__(self, call: Call) -> None:
        from ..modules import training_loss

        mark = self.marks.mark if self.marks is not None else (lambda boundary: None)
        if self.optimizer is not None:
            self.optimizer.zero_grad(set_to_none=True)
        mark(0)
        loss = training_loss(call.into(self.model))
        mark(1)
        if loss is not None and loss.requires_grad:  # no trainable parameter: nothing to differentiate
            loss.backward()
        mark(2)
        if self.optimizer is not None:
            self.optimizer.step()
        mark(3)

    def collect(self) -> None:
        """Read the last step's phases; call once it has finished."""
        if self.marks is not None:
            self.marks.collect()

    def phases(self, skip: int) -> dict[str, float] | None:
        """Median milliseconds of forward, backward and optimizer step over the timed calls (the
        first `skip` were warm-up)."""
        import statistics

        timed = self.marks.steps[skip:] if self.marks is not None else []
        if not timed:
            return None
        names = ("forward_ms", "backward_ms", "optimizer_ms")
        return {name: statistics.median(step[i] for step in timed) for i, name in enumerate(names)}


class PhaseMarks:
    """The four boundaries of a training step on the host clock (the CPU runs the parts in order);
    `steps` holds each collected step's (forward, backward, optimizer) milliseconds."""

    def __init__(self):
        self.at: list[Any] = [0.0] * 4
        self.steps: list[tuple[float, float, float]] = []

    def mark(self, boundary: int) -> None:
        self.at[boundary] = time.perf_counter()

    def collect(self) -> None:
        self.steps.append(tuple(self._elapsed_ms(self.at[i], self.at[i + 1]) for i in range(3)))

    def _elapsed_ms(self, start: Any, end: Any) -> float:
        return (end - start) * 1000


class EventMarks(PhaseMarks):
    """The boundaries as four CUDA events on the device's stream, made once, before any timing:
    recorded during each step and read after the device synchronized, so no event is created
    inside a timed window."""

    def __init__(self, cuda: TorchCuda, device: torch.device):
        super().__init__()
        self.stream = cuda.current_stream(device)
        self.at = [cuda.event() for _ in range(4)]

    def mark(self, boundary: int) -> None:
        self.at[boundary].record(self.stream)

    def _elapsed_ms(self, start: Any, end: Any) -> float:
        return start.elapsed_time(end)


def _phase_marks(device: torch.device, cuda: TorchCuda) -> PhaseMarks:
    return PhaseMarks() if device.type == "cpu" else EventMarks(cuda, device)


def phase_times(prepared: "Prepared", warmup: int) -> dict[str, float] | None:
    if not isinstance(prepared.forward, TrainingStep):
        return None
    return prepared.forward.phases(warmup)


def compile_model(model: torch.nn.Module, example: Call, name: str, *, reset: bool,
                  oom: tuple[type[BaseException], ...] = ()) -> tuple[Callable, float]:
    """torch.compile with static shapes, compiled now by a first call (its time is returned and
    kept out of the warm-up); any failure (no C++ compiler, an unsupported op) is a GcostError,
    except running out of memory (one of `oom`, also wrapped by torch.compile), which is raised
    as it is: a size problem."""
    import torch._dynamo

    if reset:
        torch._dynamo.reset()
    compiled = torch.compile(model, dynamic=False)
    start = time.perf_counter()
    try:
        example.into(compiled)
    except GcostError:
        raise
    except Exception as e:  # torch.compile's and the model's failures alike: the user's to see
        memory = out_of_memory_in(e, oom)
        if memory is not None:
            raise memory from None
        raise GcostError(f"--compile: torch.compile failed: {type(e).__name__}: {first_line(e)} "
                         "(time it without --compile)", file=name) from None
    return (lambda call: call.into(compiled)), time.perf_counter() - start


@contextlib.contextmanager
def dynamo_limits(models: int) -> Iterator[None]:
    """Room for one compiled entry per model (they share their forward's code), and an error
    instead of a silent fall-back to eager when that is exceeded."""
    import torch._dynamo

    config = torch._dynamo.config
    settings = {"recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit": models + 8}
    if hasattr(config, "fail_on_recompile_limit_hit"):
        settings["fail_on_recompile_limit_hit"] = True
    with config.patch(**settings):
        yield


def make_timer(prepared: Prepared, options: TimingOptions, device: torch.device, cuda: TorchCuda,
               clock: Clock):
    """The per-iteration timer: CUDA events (eager, or CUDA-graph replay after its output check)
    or the host clock."""
    after = prepared.forward.collect if isinstance(prepared.forward, TrainingStep) else None
    if device.type == "cpu":
        return CpuTimer(prepared.forward, prepared.inputs, prepared.flush, clock, after)
    inputs = prepared.inputs
    if options.cuda_graph:
        captured = capture_graphs(cuda, device, prepared.forward, inputs)
        graphs = captured.graphs
        worst = check_graph_outputs(cuda, device, prepared.forward, inputs, graphs, captured.outputs, options.dtype)
        prepared.graph_check = {"graph_matches_eager": None if worst is None else True,
                                "graph_max_difference": worst}
        prepared.capture_peak_bytes = captured.peak_bytes
        return CudaTimer(cuda, device, lambda index: graphs[index % len(graphs)].replay(), prepared.flush, clock)
    return CudaTimer(cuda, device, lambda index: prepared.forward(inputs[index % len(inputs)]), prepared.flush,
                     clock, after)


class CpuTimer:
    def __init__(self, forward: Callable, inputs: list, flush: torch.Tensor | None, clock: Clock,
                 after: Callable[[], Any] | None = None):
        self.forward, self.inputs, self.flush, self.clock, self.after = forward, inputs, flush, clock, after

    def __call__(self, index: int) -> Sample:
        if self.flush is not None:
            self.flush.add_(1)
        start = self.clock()
        self.forward(self.inputs[index % len(self.inputs)])
        ms = (self.clock() - start) * 1000
        if self.after is not None:
            self.after()
        return Sample(ms, ms, ms)


def measure_latency(target: TimingTarget, options: TimingOptions, *, macs: int,
                    progress: Progress | None = None, cuda: TorchCuda | None = None,
                    clock: Clock = time.perf_counter) -> LatencyStats | list[LatencyStats]:
    """Time the forward pass for every batch size in options.batches (one entry each)."""
    cuda = cuda or cuda_backend()
    device = resolve_device(options.device, cuda)
    check_options(options, device)
    results = [_measure_one(target, options, device, batch, macs, progress, cuda, clock)
               for batch in options.batches]
    return results if len(results) > 1 else results[0]


def _measure_one(target: TimingTarget, options: TimingOptions, device: torch.device, batch: int, macs: int,
                 progress: Progress | None, cuda: TorchCuda, clock: Clock) -> LatencyStats:
    label = f"timing batch {batch} ({options.dtype}) on {device.type}"
    with users_errors([target]), timing_context(options, device, cuda), \
            out_of_memory(cuda, device, target.name, batch):
        prepared = prepare(target, options, device, batch, cuda)
        try:
            timer = make_timer(prepared, options, device, cuda, clock)
            if device.type == "cpu":
                loop = run_loop(timer, options.limits, clock=clock,
                                progress=(lambda f: progress(label, f)) if progress else None)
                return _stats(loop, options, device, batch, macs, prepared, cuda)
            overhead = timer_overhead_ms(cuda, device, clock)
            sensors: dict[str, Any] = {}

            def after_warmup() -> None:
                cuda.synchronize(device)
                cuda.reset_peak_memory(device)  # warm-up's autotuning workspaces are not the model's
                sensors["before"] = cuda.sensors(device)  # the warm device the timed loop starts on

            loop = run_loop(timer, options.limits, clock=clock, after_warmup=after_warmup,
                            progress=(lambda f: progress(label, f)) if progress else None)
            sensors["after"] = cuda.sensors(device)
            return _stats(loop, options, device, batch, macs, prepared, cuda,
                          peak_memory=_peak_memory(cuda, device, prepared), gpu_state=sensors,
                          self_check=_self_check(loop, overhead, prepared))
        finally:
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


def _peak_memory(cuda: TorchCuda, device: torch.device, prepared: Prepared) -> int:
    """The peak allocated during the timed loop (the counter was reset after warm-up) or, with
    --cuda-graph, while the graphs were captured, whichever is larger: replays allocate nothing
    (the graphs' activations sit in their private pool, reserved since the capture), so the loop
    alone would see the weights and inputs only. The flush buffer is not the model's."""
    peak = max(cuda.max_memory_allocated(device), prepared.capture_peak_bytes or 0)
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


def _self_check(loop: LoopResult, overhead_ms: float, prepared: Prepared) -> dict[str, Any]:
    """The JSON `latency.self_check` of a CUDA measurement (docs/latency.md)."""
    return {"events_vs_wall": events_vs_wall(loop.samples, overhead_ms), "timer_overhead_ms": overhead_ms,
            **prepared.graph_check}


def _stats(loop: LoopResult, options: TimingOptions, device: torch.device, batch: int, macs: int,
           prepared: Prepared | None, cuda: TorchCuda, **extra: Any) -> LatencyStats:
    threads = torch.get_num_threads()
    name = device_label(device, threads, cuda)
    return stats_from_loop(
        loop, macs_per_sample=macs, batch=batch, peak_tflops=known_peak(name, options.dtype),
        check_launch_bound=device.type == "cuda" and not options.cuda_graph,
        device=name, device_type=device.type, dtype=options.dtype,
        peak_memory_bytes=extra.pop("peak_memory", None),
        cuda_graph=options.cuda_graph, channels_last=options.channels_last, compiled=options.compile,
        cold_cache=options.cold_cache, threads=threads if device.type == "cpu" else None, step=options.step,
        compile_s=prepared.compile_s if prepared else None, torch_version=torch.__version__,
        phases=phase_times(prepared, loop.warmup_iterations) if prepared else None, **extra)


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

    def run_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, "rounds": self.rounds, "stopped_by": self.stopped_by,
                "elapsed_s": round(self.elapsed_s, 3), "precision": self.precision,
                "max_time_s": self.max_time_s}


def measure_interleaved(targets: list[TimingTarget], options: TimingOptions, *, macs: list[int],
                        progress: Progress | None = None, cuda: TorchCuda | None = None,
                        clock: Clock = time.perf_counter) -> list[Interleaved]:
    """Time several models in one process, in rounds (each model once a round, the starting model
    rotating) so drift in clocks or load is shared, until every ratio to the first model is known
    within options.precision or options.max_time_s is spent (split evenly over the batches)."""
    cuda = cuda or cuda_backend()
    device = resolve_device(options.device, cuda)
    check_options(options, device)
    plan = RoundsPlan(options.limits, options.precision, options.max_time_s / len(options.batches), options.min_effect)
    return [_interleave_one(targets, options, device, batch, macs, plan, progress, cuda, clock)
            for batch in options.batches]


def _interleave_one(targets: list[TimingTarget], options: TimingOptions, device: torch.device, batch: int,
                    macs: list[int], plan: RoundsPlan, progress: Progress | None, cuda: TorchCuda,
                    clock: Clock) -> Interleaved:
    label = f"timing {len(targets)} models interleaved, batch {batch}"
    compiled = dynamo_limits(len(targets)) if options.compile else contextlib.nullcontext()
    with users_errors(targets), timing_context(options, device, cuda), \
            out_of_memory(cuda, device, targets[0].name, batch), compiled:
        if options.compile:
            import torch._dynamo

            torch._dynamo.reset()
        prepared: list[Prepared] = []
        try:
            for index, target in enumerate(targets):
                if progress:
                    progress(f"preparing {target.name} for timing", 1.0)
                prepared.append(prepare(target, options, device, batch, cuda, reset_dynamo=False))
            timers = [make_timer(p, options, device, cuda, clock) for p in prepared]
            result = run_rounds(timers, plan, clock=clock,
                                progress=(lambda f, detail: progress(label, f, detail)) if progress else None)
            overhead = timer_overhead_ms(cuda, device, clock) if device.type == "cuda" else None
            stats = [_stats(loop, options, device, batch, m, p, cuda, interleaved=True,
                            self_check=None if overhead is None else _self_check(loop, overhead, p))
                     for loop, m, p in zip(result.loops, macs, prepared)]
        finally:
            prepared.clear()
            if device.type == "cuda":
                cuda.empty_cache()
    return Interleaved(batch, stats, result.ratios, result.rounds, result.stopped_by, result.elapsed_s,
                       plan.precision, plan.max_time_s)
