"""fvcore's FlopCountAnalysis on real CPU tensors: `--verify`'s independent count of every row's
MACs, held against counting.py's (fvcore cannot trace meta tensors; one fused multiply-add is
one flop to it, as a MAC is to gcost). Reads the model; changes nothing."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
from torch import nn

from ..build.builder import build_row
from ..errors import GcostError, first_line
from ..inputs import Call, Inputs, as_inputs
from ..modules import row_modules
from ..spec.layers import Layer, Shape
from .counting import OUTSIDE_ROW, module_paths, per_distinct_layer, renamed_row
from .recorder import MAC_NAME
from .units import UnitCache

FVCORE_MAC_OPS = ("conv", "linear", "addmm", "matmul", "bmm", "einsum")


@dataclass(frozen=True)
class FvcoreCount:
    """fvcore's MACs per row, and per row the operators fvcore skipped that might hide MACs."""

    macs: dict[str, int]
    blind: dict[str, set[str]]


def fvcore_layers(layers: Iterable[tuple[Layer, Shape]], batch: int = 1, *, train: bool,
                  cache: UnitCache | None = None) -> FvcoreCount:
    """fvcore_count per row, for top-level layers built alone as measure_plan builds its units (on the CPU)."""

    def measure(layer: Layer, in_shape: Shape) -> FvcoreCount:
        return fvcore_count(build_row(layer, in_shape).train(train), in_shape, batch, depth=None)

    macs: dict[str, int] = {}
    blind: dict[str, set[str]] = {}
    for name, measured_as, count in per_distinct_layer(layers, measure, cache, ("fvcore", batch, train)):
        macs.update({renamed_row(row, measured_as, name): value for row, value in count.macs.items()})
        blind.update({renamed_row(row, measured_as, name): ops for row, ops in count.blind.items()})
    return FvcoreCount(macs, blind)


def fvcore_macs(model: nn.Module, inputs: Inputs | Shape, batch: int = 1, *,
                depth: int | None) -> dict[str, int]:
    """fvcore_count's MACs per row."""
    return fvcore_count(model, inputs, batch, depth=depth).macs


def fvcore_count(model: nn.Module, inputs: Inputs | Shape, batch: int = 1, *,
                 depth: int | None) -> FvcoreCount:
    """MACs per row from fvcore's FlopCountAnalysis (one fused multiply-add = one flop), on real
    CPU tensors. Only conv and linear-like operators are summed, to follow the counting rule.
    Each row that holds an operator fvcore skipped and that might hide MACs (attention,
    padding="same" convolutions ...) is `blind`, with those operators' names."""
    try:
        from fvcore.nn import FlopCountAnalysis
    except ImportError:
        raise GcostError("--verify needs fvcore: pip install fvcore") from None
    call = as_inputs(inputs).make(batch, "cpu")
    traced = _Positional(model, call) if call.kwargs or len(call.tensors) != len(call.args) else model
    analysis = FlopCountAnalysis(traced, tuple(call.tensors))

    def at(path: str) -> str:  # the model's module path in what fvcore traced
        return path if traced is model else f"model.{path}" if path else "model"
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    try:
        by_module = analysis.by_module_and_operator()  # the trace runs here
    except (RuntimeError, ValueError, TypeError) as e:  # torch.jit.trace refusing the model's outputs
        raise GcostError(f"--verify: fvcore traces the model with torch.jit.trace, which could not follow it "
                         f"(it takes outputs that are tensors, or tuples, lists or dicts of them): "
                         f"{type(e).__name__}: {first_line(e, 160)}") from None
    fqn = module_paths(model)
    rows = [(name, parent, fqn[id(module)]) for name, parent, module in row_modules(model, depth)]

    def macs(path: str) -> int:
        return sum(by_module.get(at(path), {}).get(op, 0) for op in FVCORE_MAC_OPS) // batch

    def skipped(path: str) -> set[str]:
        return {op for op, count in analysis.unsupported_ops(at(path)).items()
                if count and MAC_NAME.search(op.split("::")[-1].lstrip("_"))}

    result = {name: macs(path) for name, _, path in rows}
    top = [path for _, parent, path in rows if parent is None]
    outside = macs("") - sum(macs(path) for path in top)
    if outside:
        result[OUTSIDE_ROW] = outside
    blind = {name: skipped(path) for name, _, path in rows if skipped(path)}
    unattributed = skipped("") - set().union(*(skipped(path) for path in top))
    if unattributed:
        blind[OUTSIDE_ROW] = unattributed
    return FvcoreCount(result, blind)


class _Positional(nn.Module):
    """The model called with `call`'s keyword and non-tensor arguments bound: fvcore traces with
    torch.jit, which hands a module its tensors positionally and nothing else."""

    def __init__(self, model: nn.Module, call: Call):
        super().__init__()
        self.model = model
        self.call = call

    def forward(self, *tensors: torch.Tensor):
        given = iter(tensors)
        args = [next(given) if isinstance(value, torch.Tensor) else value for value in self.call.args]
        kwargs = {name: next(given) if isinstance(value, torch.Tensor) else value
                  for name, value in self.call.kwargs.items()}
        return self.model(*args, **kwargs)
