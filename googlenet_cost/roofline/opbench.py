"""Measuring what operators take (oprates.OpRates), beside the roofs: the per-call cost of a trivial
operator and of a view; the operators without MACs that CNNs run (pools, LRN's average pool, pad
and power, elementwise arithmetic and activations, concatenation, batch and layer norm, softmax,
mean) on feature maps of a few sizes, priced by the bytes the traffic model counts for them; and
the MAC classes (dense k x k, 1 x 1 and depthwise convolutions, matrix products) at a few
representative shapes, priced by their FLOPs. Each point is the median of timed iterations of back
to back calls of copies of the operator in turn (their data past the core's own caches, as in a
network): a typical time, not a best (an expectation, where a roof is a bound). The MAC
operators' best hot rate is a candidate for the compute roof.

Each operator is named as the counting's dispatch recorder (count/operators.py) names it, so that
a row's operators find their rates; MAC operators by their class (oprates.MAC_CLASSES)."""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable

from .oprates import OpRates, rate_key

Shape = tuple[int, int, int]  # C, H, W of one sample


@dataclass(frozen=True)
class OpSizes:
    """Which feature maps and how long. About 3 s on the project's 2-core CPU."""

    maps: tuple[Shape, ...] = ((64, 8, 8), (1024, 7, 7), (256, 28, 28), (64, 112, 112))  # 4K to 800K values
    batches: tuple[int, ...] = (1,)  # each map at each batch
    point_s: float = 0.025  # timed seconds per operator and size
    iteration_s: float = 0.003  # calls are batched into timed iterations about this long
    calls_s: float = 0.05  # timed seconds of the per-call costs
    mac_scale: float = 1.0  # the MAC shapes' spatial size, scaled (tests shrink it)
    rotation_bytes: int | None = None  # copies of an operator timed in turn hold this much data (_instances);
    # None: the last-level cache's size (a network's forward touches more than it holds), at least 8 MiB


CPU_OP_SIZES = OpSizes()
CUDA_OP_SIZES = OpSizes(batches=(1, 16), point_s=0.02, rotation_bytes=128 * 2**20)  # past a GPU's L2

# (C, H, W in, out channels, kernel, groups, stride) per MAC class: CNN shapes from small to large (the
# smallest one's time is mostly the operator's fixed cost)
CONVS: dict[str, tuple[tuple[int, int, int, int, int, int, int], ...]] = {
    "conv kxk": ((32, 7, 7, 32, 3, 1, 1), (256, 7, 7, 256, 3, 1, 1), (128, 28, 28, 128, 3, 1, 1),
                 (64, 56, 56, 192, 3, 1, 1)),
    "conv 1x1": ((64, 7, 7, 64, 1, 1, 1), (192, 28, 28, 16, 1, 1, 1), (512, 14, 14, 128, 1, 1, 1),
                 (256, 56, 56, 64, 1, 1, 1)),
    "conv depthwise": ((128, 7, 7, 128, 3, 128, 1), (384, 14, 14, 384, 3, 384, 1), (144, 56, 56, 144, 3, 144, 1),
                       (96, 112, 112, 96, 3, 96, 2)),
}
LINEAR = ((1, 256, 256), (1, 1024, 1000), (1, 4096, 4096), (64, 1024, 1000))  # rows, in, out
SHAPES = 4  # per MAC class


def measure_op_rates(bench, sizes: OpSizes) -> tuple[OpRates, tuple[str, float, str, int] | None]:
    """The rates, and the fastest MAC operator measured at batch 1, hot (class, FLOP/s, what it
    was, its shape's index) for the compute roof. `bench`: microbench.Bench (its timer, dtype,
    device)."""
    bench.say(f"  operators: the per-call cost, {len(NON_MAC)} operators without MACs at "
              f"{len(sizes.maps) * len(sizes.batches)} sizes, {len(CONVS) + 1} MAC classes at {SHAPES} shapes ...")
    call_s = _per_call(bench, sizes, lambda a, b: bench.torch.add(a, b), sizes.calls_s)
    view_s = _per_call(bench, sizes, lambda a, b: a.view(-1), sizes.calls_s)
    ops: dict[str, list[tuple[float, float]]] = {}
    for batch in sizes.batches:
        for shape in sizes.maps:
            for name, kind, make in NON_MAC:
                try:
                    made = _instances(lambda: make(bench, (batch, *shape)), sizes)
                    moved = made[0][1]
                    seconds = _time(bench, [call for call, _ in made], 0.0, moved, sizes)
                except (NotImplementedError, RuntimeError) as e:  # no kernel at this dtype (avg_pool3d in bf16)
                    if isinstance(e, bench.oom_errors):
                        raise
                    continue  # priced by the fallback's rate
                ops.setdefault(rate_key(name, kind), []).append((moved, seconds))
    macs: dict[str, list[tuple[float, float]]] = {}
    best = None
    for batch in sizes.batches:
        for cls in [*CONVS, "matmul"]:
            for index in range(SHAPES):
                made = _instances(lambda: _with_bytes(mac_operator(bench, cls, index, batch, sizes.mac_scale)),
                                  sizes)
                (call, flops, what), _ = made[0]
                macs.setdefault(cls, []).append((flops, _time(bench, [m[0][0] for m in made], flops, 0.0, sizes)))
                if batch == sizes.batches[0]:  # the roof: the same operator hot, its best
                    run, calls = bench.batched(lambda: bench.kernels.operator(call, flops, 0.0), sizes.iteration_s)
                    rate = calls * flops / bench.best_s(run, sizes.point_s)
                    if best is None or rate > best[1]:
                        best = (cls, rate, what, index)
    return OpRates(call_s=call_s, view_s=view_s, ops={k: _ascending(v) for k, v in ops.items()},
                   macs={k: _ascending(v) for k, v in macs.items()}), best


def mac_rate(bench, cls: str, index: int, seconds: float, scale: float = 1.0, batch: int = 1) -> float:
    """The best FLOP/s of one of the MAC class's operators, hot (the re-probe of a roof it set)."""
    call, flops, _, _ = mac_operator(bench, cls, index, batch, scale)
    run, calls = bench.batched(lambda: bench.kernels.operator(call, flops, 0.0), bench.sizes.iteration_s)
    return calls * flops / bench.best_s(run, seconds)


def _with_bytes(made: tuple) -> tuple[tuple, float]:
    call, flops, what, moved = made
    return (call, flops, what), moved


def _instances(make: Callable[[], tuple[Any, float]], sizes: OpSizes) -> list[tuple[Any, float]]:
    """Copies of one operator (its own inputs and weights each) whose data together reach
    rotation_bytes (the last-level cache's size), at most 32: timed in turn, each call reads data
    the previous ones evicted, as an operator of a network does (its weights not used since the last
    forward, a forward touching more than the cache holds), not the hot data of the same call
    repeated, which ran MobileNetV2's operators a quarter faster than the network runs them here
    (docs/roofline.md, "Expected time")."""
    first = make()
    copies = int(min(32, max(1, rotation_bytes(sizes) // max(first[1], 1))))
    return [first] + [make() for _ in range(copies - 1)]


def rotation_bytes(sizes: OpSizes) -> int:
    from .machine import last_level_cache_bytes

    return sizes.rotation_bytes or max(8 * 2**20, last_level_cache_bytes() or 0)


def _ascending(points: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """One point per size (the first measured where two coincide), ascending."""
    by_size: dict[float, float] = {}
    for size, seconds in points:
        by_size.setdefault(size, seconds)
    return tuple(sorted(by_size.items()))


def _per_call(bench, sizes: OpSizes, call: Callable, seconds: float) -> float:
    a, b = (bench.torch.ones(1, dtype=bench.dtype, device=bench.place) for _ in range(2))
    run, calls = bench.batched(lambda: bench.kernels.operator(lambda: call(a, b), 0.0, 0.0), sizes.iteration_s)
    return bench.median_s(run, seconds) / calls


def _time(bench, calls: list[Callable[[], Any]], flops: float, moved: float, sizes: OpSizes) -> float:
    """Seconds per call, the median of timed iterations of the copies called in turn."""
    turn = itertools.cycle(calls)
    run, count = bench.batched(lambda: bench.kernels.operator(next(turn), flops, moved), sizes.iteration_s)
    return bench.median_s(run, sizes.point_s) / count


def mac_operator(bench, cls: str, index: int, batch: int,
                 scale: float) -> tuple[Callable[[], Any], float, str, float]:
    """(call, FLOPs per call, what it is, bytes of its input, weights and output) of the MAC class's
    `index`-th shape at `batch`."""
    torch, F = bench.torch, bench.torch.nn.functional
    new = lambda *shape: torch.randn(*shape, dtype=bench.dtype, device=bench.place)  # noqa: E731
    if cls == "matmul":
        rows, inner, out = LINEAR[index]
        x, w, b = new(rows * batch, inner), new(out, inner), new(out)
        moved = (x.numel() + w.numel() + b.numel() + rows * batch * out) * bench.element
        return (lambda: F.linear(x, w, b)), 2.0 * rows * batch * inner * out, f"linear {inner}->{out}", moved
    c, h, w_, out, k, groups, stride = CONVS[cls][index]
    h, w_ = max(k, round(h * scale)), max(k, round(w_ * scale))
    x, weight, bias = new(batch, c, h, w_), new(out, c // groups, k, k), new(out)
    ho, wo = (h + 2 * (k // 2) - k) // stride + 1, (w_ + 2 * (k // 2) - k) // stride + 1
    flops = 2.0 * batch * out * (c // groups) * k * k * ho * wo
    moved = (x.numel() + weight.numel() + out + batch * out * ho * wo) * bench.element
    call = lambda: F.conv2d(x, weight, bias, stride=stride, padding=k // 2, groups=groups)  # noqa: E731
    return call, flops, f"conv {k}x{k}/{stride} {c}->{out} on {h}x{w_}{' depthwise' if groups > 1 else ''}", moved


# ---- the operators without MACs: (aten name, kind, make(bench, (N, C, H, W)) -> (call, bytes moved)) ----

def _maps(bench, shape, count: int = 1, positive: bool = False):
    torch = bench.torch
    made = [torch.rand(*shape, dtype=bench.dtype, device=bench.place) + (1.0 if positive else -0.5)
            for _ in range(count)]
    return made if count > 1 else made[0]


def _unary(function: Callable) -> Callable:
    def make(bench, shape):
        x = _maps(bench, shape, positive=True)
        return (lambda: function(bench.torch, x)), 2 * x.numel() * bench.element
    return make


def _binary(function: Callable) -> Callable:
    def make(bench, shape):
        x, y = _maps(bench, shape, 2, positive=True)
        return (lambda: function(x, y)), 3 * x.numel() * bench.element
    return make


def _pool(maximum: bool, stride: int) -> Callable:
    def make(bench, shape):
        F, x = bench.torch.nn.functional, _maps(bench, shape)
        pool = F.max_pool2d if maximum else F.avg_pool2d
        padding = 1 if stride == 1 else 0
        out = math.prod(pool(x, 3, stride, padding, ceil_mode=stride > 1).shape)
        indices = 8 * out if maximum else 0  # a max pool's int64 indices
        return (lambda: pool(x, 3, stride, padding, ceil_mode=stride > 1)), \
            (x.numel() + out) * bench.element + indices
    return make


def _lrn_pool(bench, shape):
    """LRN's average over 5 channels of the padded squares: avg_pool3d on (N, 1, C + 4, H, W)."""
    n, c, h, w = shape
    z = _maps(bench, (n, 1, c + 4, h, w))
    F = bench.torch.nn.functional
    return (lambda: F.avg_pool3d(z, (5, 1, 1), stride=1)), (z.numel() + n * c * h * w) * bench.element


def _lrn_pad(bench, shape):
    n, c, h, w = shape
    x = _maps(bench, (n, 1, c, h, w))
    F = bench.torch.nn.functional
    return (lambda: F.pad(x, (0, 0, 0, 0, 2, 2))), (x.numel() + n * (c + 4) * h * w) * bench.element


def _cat(bench, shape):
    n, c, h, w = shape
    a, b = _maps(bench, (n, c // 2, h, w), 2)
    return (lambda: bench.torch.cat([a, b], 1)), 2 * (a.numel() + b.numel()) * bench.element


def _batch_norm(bench, shape):
    c = shape[1]
    x, (mean, var, weight, bias) = _maps(bench, shape), _maps(bench, (c,), 4, positive=True)
    F = bench.torch.nn.functional
    return (lambda: F.batch_norm(x, mean, var, weight, bias, False)), (2 * x.numel() + 4 * c) * bench.element


def _layer_norm(bench, shape):
    """ConvNeXt's: each position's C channels (the map made channels-last)."""
    n, c, h, w = shape
    x, (weight, bias) = _maps(bench, (n, h, w, c)), _maps(bench, (c,), 2)
    F = bench.torch.nn.functional
    return (lambda: F.layer_norm(x, (c,), weight, bias)), (2 * x.numel() + 2 * c + 2 * n * h * w) * bench.element


def _softmax(bench, shape):
    x = _maps(bench, shape).view(-1, shape[-1] * shape[-2])
    return (lambda: bench.torch.softmax(x, -1)), 2 * x.numel() * bench.element


def _mean(bench, shape):
    x = _maps(bench, shape)
    return (lambda: x.mean((2, 3), keepdim=True)), (x.numel() + shape[0] * shape[1]) * bench.element


def _in_place(function: Callable) -> Callable:
    def make(bench, shape):
        x = _maps(bench, shape)
        return (lambda: function(bench.torch, x)), 2 * x.numel() * bench.element
    return make


NON_MAC: list[tuple[str, str, Callable]] = [
    ("aten::add", "", _binary(lambda x, y: x + y)),
    ("aten::mul", "", _binary(lambda x, y: x * y)),
    ("aten::div", "", _binary(lambda x, y: x / y)),
    ("aten::pow", "", _unary(lambda torch, x: torch.pow(x, 0.75))),
    ("aten::exp", "", _unary(lambda torch, x: torch.exp(x))),
    ("aten::sigmoid", "", _unary(lambda torch, x: torch.sigmoid(x))),
    ("aten::relu_", "", _in_place(lambda torch, x: torch.relu_(x))),
    ("aten::hardtanh_", "", _in_place(lambda torch, x: torch.nn.functional.hardtanh_(x, 0.0, 6.0))),
    ("aten::silu", "", _unary(lambda torch, x: torch.nn.functional.silu(x))),
    ("aten::gelu", "", _unary(lambda torch, x: torch.nn.functional.gelu(x))),
    ("aten::hardswish", "", _unary(lambda torch, x: torch.nn.functional.hardswish(x))),
    ("aten::max_pool2d_with_indices", "stride 1", _pool(True, 1)),
    ("aten::max_pool2d_with_indices", "strided", _pool(True, 2)),
    ("aten::avg_pool2d", "stride 1", _pool(False, 1)),
    ("aten::avg_pool2d", "strided", _pool(False, 2)),
    ("aten::avg_pool3d", "", _lrn_pool),
    ("aten::constant_pad_nd", "", _lrn_pad),
    ("aten::cat", "", _cat),
    ("aten::native_batch_norm", "", _batch_norm),
    ("aten::native_layer_norm", "", _layer_norm),
    ("aten::_softmax", "", _softmax),
    ("aten::mean", "", _mean),
]
