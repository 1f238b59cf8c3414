"""Timing for a sweep: one unit of the measurement plan built and timed alone (a table entry), or a
whole candidate network end to end, through gcost's timing (timing/measure.py: the same warm-up,
loop, statistics, thread choice and CUDA backend as `gcost analyze`).

A network is timed with the command's own limits (--warmup, --min-time, --min-iters); a unit, which
takes micro- to milliseconds and of which a sweep times hundreds, with a fraction of them
(unit_limits)."""
from __future__ import annotations

import os
from dataclasses import replace

import torch

from ..inputs import Inputs
from ..spec.layers import numel
from ..spec.model import Spec
from ..timing.cpus import cpu_model
from ..timing.cuda import TorchCuda
from ..timing.device import check_options, cuda_backend, resolve_device
from ..timing.loop import LoopLimits
from ..timing.measure import TimingTarget, measure_latency, with_thread_choice
from ..timing.settings import TimingOptions
from .candidates import Unit
from .table import Conditions, Timed

UNIT_SHARE = {"warmup_min_s": 0.1, "min_time_s": 0.2, "min_iters": 1 / 3}  # of the network's limits
UNIT_MAX_S = 10.0


def unit_limits(limits: LoopLimits) -> LoopLimits:
    """A unit's timing: warm until its times settle, at least a tenth of --warmup; then at least a fifth
    of --min-time and a third of --min-iters (at least 3). The defaults: 0.05 s, then 0.2 s and 10
    iterations. Its median is what the table keeps."""
    return replace(limits, warmup_min_s=limits.warmup_min_s * UNIT_SHARE["warmup_min_s"],
                   min_time_s=limits.min_time_s * UNIT_SHARE["min_time_s"],
                   min_iters=max(3, round(limits.min_iters * UNIT_SHARE["min_iters"])),
                   max_time_s=min(limits.max_time_s, UNIT_MAX_S), warmup_max_s=min(limits.warmup_max_s, 1.0))


def decided(options: TimingOptions, dtype: str, cuda: TorchCuda | None = None) -> TimingOptions:
    """The options with the CPU's thread count decided once for the whole sweep (every entry it
    times records the threads it was timed with) and the device and dtype checked."""
    cuda = cuda or cuda_backend()
    check_options(options, resolve_device(options.device, cuda), dtype=dtype, training=False)
    return with_thread_choice(options, cuda)


def device_identity(device: torch.device, cuda: TorchCuda) -> str:
    """What a table entry is valid for: the GPU's name, or the CPU's model and how many the
    machine has."""
    if device.type == "cuda":
        return cuda.device_name(device)
    count = os.cpu_count() or 1
    return f"{cpu_model()} ({count} CPU{'s' if count != 1 else ''})"


def conditions(options: TimingOptions, dtype: str, cuda: TorchCuda | None = None) -> Conditions:
    """The conditions entries timed with these (decided) options at `dtype` are stored under."""
    cuda = cuda or cuda_backend()
    device = resolve_device(options.device, cuda)
    return Conditions(device=device_identity(device, cuda), torch=torch.__version__, dtype=dtype,
                      threads=options.threads if device.type == "cpu" else None, batch=options.batches[0])


def time_unit(unit: Unit, options: TimingOptions, dtype: str, cuda: TorchCuda | None = None) -> Timed:
    """One unit built alone (as counting builds it) and timed at the options' first batch."""
    from ..build.builder import build_row

    layer, in_shape = unit
    cost = layer.cost(in_shape)
    target = TimingTarget(name=f"{layer.type_name} layer on {'x'.join(map(str, in_shape))}",
                          make_model=lambda device: build_row(layer, in_shape, device),
                          inputs=Inputs.single(in_shape), params=cost.params,
                          activation_sizes=(numel(layer.out_shape(in_shape)),), dtype=dtype, depth=None,
                          step_optimizer=None)
    unit_options = replace(options, batches=options.batches[:1], limits=unit_limits(options.limits), per_layer=False)
    return _timed(measure_latency(target, unit_options, macs=cost.macs, cuda=cuda)[0])


WARM_S = 0.5  # the whole network run this long before units are timed


def warm_process(spec: Spec, options: TimingOptions, dtype: str, cuda: TorchCuda | None = None) -> None:
    """Run the whole network for WARM_S before its units are timed alone, so that they are timed in
    the state a whole forward leaves the process in: on glibc, a process's first large tensors are
    fresh pages from the kernel until freed blocks raise malloc's mmap threshold, and mobilenet_v2's
    stem conv timed first in a process took 2.5-4 ms, after a whole forward 0.3-0.4 ms (this project's
    machine, one thread; with MALLOC_MMAP_THRESHOLD_ fixed, 0.4 ms from the start)."""
    limits = replace(options.limits, warmup_min_s=WARM_S, min_time_s=0.0, min_iters=1)
    time_network(spec, replace(options, limits=limits), dtype, cuda)


def time_network(spec: Spec, options: TimingOptions, dtype: str, cuda: TorchCuda | None = None) -> Timed:
    """A whole network end to end, with the options' own limits, at their first batch."""
    from ..options import RunOptions
    from ..sources import spec_target
    from ..spec.plan import plan_rows

    macs = sum(row.cost.macs for row in plan_rows(spec, train=False) if row.parent is None)
    network_options = replace(options, batches=options.batches[:1], per_layer=False)
    return _timed(measure_latency(spec_target(spec, RunOptions(dtype=dtype)), network_options, macs=macs,
                                  cuda=cuda)[0])


def _timed(stats) -> Timed:
    return Timed(median_ms=stats.median_ms, iqr_ms=stats.iqr_ms, count=stats.iterations,
                 warnings=tuple(stats.warnings))
