"""What operators take on this machine: the rates `gcost peaks` measures beside the roofs
(opbench.py) and the time they give an operator of a given size. Pure data, no torch.

A curve is a few measured points (size per call, seconds per call) of one operator: bytes moved
(the traffic model's) for the operators without MACs, FLOPs for the MAC classes (dense k x k
convolutions, 1 x 1 convolutions, depthwise convolutions, matrix products). An operator's time at
a size is the curve read in log-log between its points and at the nearest point's rate beyond
them, and never less than a call's cost: calls x max(call_s, time at the rate for its size)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

Curve = tuple[tuple[float, float], ...]  # (size per call, seconds per call), ascending sizes
MAC_CLASSES = ("conv kxk", "conv 1x1", "conv depthwise", "matmul")
FALLBACK = "aten::add"  # the curve of an operator without its own: an elementwise pass over its bytes
# Operators priced by another's curve: the same kernel in place, out of place or in training mode
ALIASES = {"aten::_native_batch_norm_legit": "aten::native_batch_norm",
           "aten::_native_batch_norm_legit_no_training": "aten::native_batch_norm",
           "aten::_native_batch_norm_legit_functional": "aten::native_batch_norm",
           "aten::relu": "aten::relu_", "aten::clamp_min_": "aten::relu_", "aten::clamp_min": "aten::relu_",
           "aten::hardtanh": "aten::hardtanh_", "aten::clamp": "aten::hardtanh_", "aten::clamp_": "aten::hardtanh_",
           "aten::silu_": "aten::silu", "aten::hardswish_": "aten::hardswish", "aten::sigmoid_": "aten::sigmoid",
           "aten::add_": "aten::add", "aten::mul_": "aten::mul", "aten::div_": "aten::div", "aten::sub": "aten::add",
           "aten::tanh": "aten::exp", "aten::adaptive_avg_pool2d": "aten::mean", "aten::softmax": "aten::_softmax",
           "aten::max_pool2d_with_indices": "aten::max_pool2d_with_indices strided",
           "aten::avg_pool2d": "aten::avg_pool2d strided"}
MAX_POINTS, MAX_CURVES, MAX_KEY = 32, 200, 120


def rate_key(name: str, kind: str = "") -> str:
    """The curve an operator is priced by: its name, and its kind where the kind changes the rate
    ("aten::max_pool2d_with_indices stride 1"); a MAC operator's class ("conv 1x1")."""
    return kind if kind in MAC_CLASSES else f"{name} {kind}" if kind else name


@dataclass(frozen=True)
class OpRates:
    call_s: float  # one call of a trivial operator (torch.add of two one-element tensors, its output allocated)
    view_s: float  # one call of a view (x.view(-1)): what an operator that moves nothing costs
    ops: Mapping[str, Curve]  # rate_key -> (bytes moved, seconds) per call
    macs: Mapping[str, Curve]  # MAC class -> (FLOPs, seconds) per call

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", MappingProxyType(dict(self.ops)))
        object.__setattr__(self, "macs", MappingProxyType(dict(self.macs)))

    def seconds(self, name: str, kind: str, calls: int, flops: float, moved: float) -> tuple[float, float, str]:
        """(seconds, the part of them that is per-call cost, the curve used) for `calls` calls of
        operator `name` doing `flops` and moving `moved` bytes in all. A call whose size takes less
        than a call's cost at its rate costs a call (overhead)."""
        if calls <= 0:
            return 0.0, 0.0, ""
        if flops > 0:
            key = kind if kind in self.macs else "matmul"
            curve, size = self.macs.get(key), flops / calls
        else:
            if moved <= 0:
                return calls * self.view_s, calls * self.view_s, "a view's call"
            key = rate_key(name, kind)
            for candidate in (key, name, ALIASES.get(name), FALLBACK):
                if candidate in self.ops:
                    key = candidate
                    break
            curve, size = self.ops.get(key), moved / calls
        if not curve:
            return calls * self.call_s, calls * self.call_s, "a call's cost (no rate measured)"
        at_rate = at_size(curve, size)
        if at_rate <= self.call_s:
            return calls * self.call_s, calls * self.call_s, key
        return calls * at_rate, 0.0, key

    def to_dict(self) -> dict[str, Any]:
        return {"call_s": self.call_s, "view_s": self.view_s,
                "ops": {key: [list(point) for point in curve] for key, curve in self.ops.items()},
                "macs": {key: [list(point) for point in curve] for key, curve in self.macs.items()}}

    @classmethod
    def from_dict(cls, data: Any) -> OpRates:
        """From to_dict()'s shape, every value checked (a cache file is not trusted): ValueError."""
        if not isinstance(data, dict) or set(data) != {"call_s", "view_s", "ops", "macs"}:
            raise ValueError("operator_rates: not a mapping of call_s, view_s, ops and macs")
        return cls(call_s=_seconds(data["call_s"]), view_s=_seconds(data["view_s"]),
                   ops=_curves(data["ops"]), macs=_curves(data["macs"]))


def at_size(curve: Curve, size: float) -> float:
    """Seconds at `size`: log-log between the two points around it; beyond the ends, the end point's
    rate (size / seconds) carried on."""
    if size <= curve[0][0]:
        return curve[0][1] * size / curve[0][0]
    if size >= curve[-1][0]:
        return curve[-1][1] * size / curve[-1][0]
    for (low, low_s), (high, high_s) in zip(curve, curve[1:]):
        if low <= size <= high:
            if high == low:
                return low_s
            share = (math.log(size) - math.log(low)) / (math.log(high) - math.log(low))
            return math.exp(math.log(low_s) + share * (math.log(high_s) - math.log(low_s)))
    return curve[-1][1]  # unreachable: the sizes ascend


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1e-10 <= value <= 1e3:
        raise ValueError(f"operator_rates: a time of {str(value)[:40]!r} seconds is out of range")
    return float(value)


def _curves(data: Any) -> dict[str, Curve]:
    if not isinstance(data, dict) or len(data) > MAX_CURVES:
        raise ValueError("operator_rates: curves must be a mapping of at most 200 names")
    curves = {}
    for key, points in data.items():
        if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY or not key.isprintable():
            raise ValueError(f"operator_rates: a bad name {str(key)[:40]!r}")
        if not isinstance(points, list) or not 0 < len(points) <= MAX_POINTS:
            raise ValueError(f"operator_rates: {key}: 1 to {MAX_POINTS} points")
        curve = []
        for point in points:
            if not isinstance(point, list) or len(point) != 2:
                raise ValueError(f"operator_rates: {key}: a point is [size, seconds]")
            size = point[0]
            if isinstance(size, bool) or not isinstance(size, (int, float)) or not 1 <= size <= 1e18:
                raise ValueError(f"operator_rates: {key}: a size out of range")
            curve.append((float(size), _seconds(point[1])))
        if [size for size, _ in curve] != sorted({size for size, _ in curve}):
            raise ValueError(f"operator_rates: {key}: sizes must ascend")
        curves[key] = tuple(curve)
    return curves
