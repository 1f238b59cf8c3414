"""Where a timing runs: the device named on the command line resolved (auto, cpu, cuda, cuda:N),
its label in reports, and the timing options checked against it."""
from __future__ import annotations

import os

import torch

from ..errors import GcostError
from .cpus import THREADS_PER_CPU, cpu_model, max_threads
from .cuda import TorchCuda
from .settings import TimingOptions

DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


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


def device_label(device: torch.device, threads: int, cuda: TorchCuda | None = None) -> str:
    if device.type == "cuda":
        return (cuda or cuda_backend()).device_name(device)
    return f"{cpu_model()} ({threads} thread{'s' if threads != 1 else ''})"


def check_options(options: TimingOptions, device: torch.device, *, dtype: str, training: bool) -> None:
    """The timing options that cannot run here, or not at `dtype` or for a training step (what a
    TimingTarget holds, or a sweep's before it has any), refused in one line."""
    if dtype not in DTYPES:
        raise GcostError(f"unknown dtype {dtype!r}: use {', '.join(DTYPES)}")
    if training:
        for flag, name in ((options.cuda_graph, "--cuda-graph"), (options.compile, "--compile"),
                           (options.per_layer, "--per-layer")):
            if flag:
                raise GcostError(f"{name} times inference only; leave it out with --step train")
    if device.type == "cpu":
        for flag, name in ((options.cuda_graph, "--cuda-graph"), (dtype == "tf32", "--dtype tf32")):
            if flag:
                raise GcostError(f"{name} needs a CUDA device; this run times on the CPU")
    if any(b < 1 for b in options.batches):
        raise GcostError("batch sizes must be at least 1")
    if options.threads is not None and options.threads < 1:
        raise GcostError("--threads must be at least 1")
    if options.threads is not None and options.threads > max_threads():
        raise GcostError(f"--threads {options.threads:,} is more than this machine can run: at most "
                         f"{max_threads():,} ({THREADS_PER_CPU} per CPU, {os.cpu_count() or 1} CPUs)")
