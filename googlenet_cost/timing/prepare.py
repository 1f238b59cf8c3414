"""A model made ready to time on one device: its numerics and thread count set for the timing
only (timing_context), the model built or copied, cast and placed, its input buffers made, compiled
with --compile, and the memory it needs checked against what is free (prepare)."""
from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch

from ..errors import GcostError, first_line
from ..inputs import Call
from .cpus import usable_cpus
from .cuda import TorchCuda, cuda_numerics, oom_errors, out_of_memory_in
from .device import DTYPES
from .memory import COLD_CACHE_BYTES, cpu_available_bytes, estimate_bytes, parameter_state_bytes, too_large
from .settings import DTYPE_BYTES, TimingOptions
from .step import TrainingStep, phase_marks
from .target import TimingTarget


@contextlib.contextmanager
def timing_context(options: TimingOptions, device: torch.device, cuda: TorchCuda,
                   target: TimingTarget) -> Iterator[None]:
    """The device current, numerics (the target's dtype) and thread count set for the timing only,
    then restored; inference mode unless the target is a training step (it needs autograd)."""
    threads = torch.get_num_threads()
    try:
        inference = torch.inference_mode(not target.training)
        if device.type == "cpu":
            torch.set_num_threads(options.threads or usable_cpus())
            with inference:
                yield
            return
        with cuda.use_device(device), cuda_numerics(target.dtype == "tf32"), inference:
            yield
    finally:
        torch.set_num_threads(threads)


@dataclass
class Prepared:
    """A model ready to time on one device, with its input buffers."""

    model: torch.nn.Module
    dtype: str  # the target's: what a CUDA graph's outputs are checked against eager at
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
                          input_bytes=target.inputs.element_bytes(DTYPE_BYTES[target.dtype]), batch=batch,
                          dtype=target.dtype,
                          inputs=options.inputs, cold_cache=options.cold_cache, cuda=device.type == "cuda")
    if target.training:  # gradients and optimizer state, and the activations kept for backward
        state = parameter_state_bytes(params=target.params, trainable=target.params,
                                      optimizer=target.step_optimizer, dtype=target.dtype)
        need += state["grad_bytes"] + state["optimizer_bytes"]
        need += DTYPE_BYTES[target.dtype] * 2 * batch * sum(target.activation_sizes)
    if device.type == "cuda":
        cuda.empty_cache()  # PyTorch's own cached blocks are free for this run
        free = cuda.free_memory(device)
    else:
        free = cpu_available_bytes()
    if too_large(need, free):
        advice = "use a smaller --batch" if batch > 1 else "too large to time here; --no-latency still counts it"
        raise GcostError(f"batch {batch} needs about {need / 2**30:,.1f} GiB on {device}, only "
                         f"{free / 2**30:,.1f} GiB are free to this process: {advice}", file=target.name)
    place = cuda.tensor_device(device) if device.type == "cuda" else device
    dtype = DTYPES[target.dtype]
    memory_format = torch.channels_last if options.channels_last else torch.contiguous_format
    model = target.make_model(place)
    if not target.owned:
        model = copy.deepcopy(model)  # the caller's model keeps its dtype, device, mode and buffers
    model = model.train(target.training).to(device=place, dtype=dtype, memory_format=memory_format)
    inputs = [target.inputs.make(batch, place, dtype, random=True, memory_format=memory_format)
              for _ in range(options.inputs)]
    forward, compile_s = (lambda call: call.into(model)), None
    if target.step_optimizer is not None:
        forward = TrainingStep(model, target.step_optimizer, phase_marks(device, cuda))
    if options.compile:
        forward, compile_s = compile_model(model, inputs[0], target.name, reset=reset_dynamo,
                                           oom=oom_errors(cuda, device))
    flush = None
    if options.cold_cache:
        flush = (torch.empty(COLD_CACHE_BYTES, dtype=torch.int8, device=place) if device.type == "cuda"
                 else torch.empty(COLD_CACHE_BYTES // 4, dtype=torch.int32))
    return Prepared(model, target.dtype, forward, inputs, compile_s, need, flush)


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
