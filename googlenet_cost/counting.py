"""Counting on the built model (read-only): output shapes, params, weights and MACs per row.

The rule, printed under every table: MACs are the multiply-accumulates of conv and linear layers
(the paper's "multiply-adds"), per sample; FLOPs = 2 x MACs; bias adds, batch norm, pooling, LRN
and elementwise ops are not counted. Params include biases and normalization affine parameters;
weights are the conv and linear kernels only.

Two independent measurements live here: PyTorch's FlopCounterMode on the meta device (the
default: no memory, fast) and fvcore's FlopCountAnalysis on real tensors (`--verify`; fvcore
cannot trace meta tensors). Neither changes the model: hooks are removed in `finally`.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator, TypeVar

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from .builder import build_row, row_modules
from .errors import GcostError
from .layers import Layer, Shape

COUNTING_RULE = {
    "macs": "multiply-accumulates of conv and linear layers, per sample (the paper's multiply-adds)",
    "flops": "2 x MACs",
    "not_counted": "bias adds, batch norm, pooling, LRN, softmax and elementwise ops",
    "params": "all parameters, biases and normalization affine parameters included",
    "weights": "conv and linear kernels only (no biases, no normalization parameters)",
    "paper_params_compare_with": "weights (the paper's K is 1024)",
    "paper_ops_compare_with": "macs (the paper's M is 10^6)",
}
FVCORE_MAC_OPS = ("conv", "linear", "addmm", "matmul", "bmm", "einsum")


@dataclass(frozen=True)
class MeasuredRow:
    name: str
    parent: str | None
    output_shape: tuple[int, ...]  # per sample
    params: int
    weights: int
    macs: int  # per sample
    type: str = ""  # the module's class name
    kernel: str = ""  # "3x3/1" for conv and pooling modules


def _weights(module: nn.Module) -> int:
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def _fqns(model: nn.Module) -> dict[int, str]:
    return {id(module): name for name, module in model.named_modules()}


def _without_dynamo_import(mode_class: type) -> None:
    """Spare the ~1 s import of torch._dynamo that a dispatch mode's first call triggers.

    torch wraps every TorchDispatchMode.__torch_dispatch__ so that, on first use, it imports
    torch._dynamo only to mark the method "do not compile". Counting never compiles, so gcost
    seeds that cache with the plain method. Only when dynamo is not imported yet (nothing in this
    process compiles); if torch's internals differ, this does nothing and counting is just slower.
    """
    import sys

    if "torch._dynamo" in sys.modules:
        return
    raw = getattr(mode_class.__dict__.get("__torch_dispatch__"), "__wrapped__", None)
    if raw is not None and getattr(raw, "__dynamo_disable", None) is None:
        setattr(raw, "__dynamo_disable", raw)


def measure_rows(model: nn.Module, input_shape: tuple[int, ...], batch: int = 1,
                 uncounted: set[str] | None = None, device: str | None = None) -> list[MeasuredRow]:
    """Run one forward pass under FlopCounterMode on `device` (by default the one the model's
    parameters are on, else meta), attributing counts and output shapes to rows.

    Operators that do arithmetic the counter has no formula for are added to `uncounted`."""
    from torch.utils import flop_counter
    from torch.utils.flop_counter import FlopCounterMode

    for mode_class in (getattr(flop_counter, "_FlopCounterMode", FlopCounterMode), _OpWatcher):
        _without_dynamo_import(mode_class)
    rows = list(row_modules(model))
    shapes: dict[str, tuple[int, ...]] = {}
    handles = [module.register_forward_hook(_shape_recorder(shapes, name)) for name, _, module in rows]
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else "meta"
    x = torch.zeros(batch, *input_shape, device=device)
    watcher = _OpWatcher() if uncounted is not None else contextlib.nullcontext()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter, watcher:
            model(x)
    except (RuntimeError, ValueError) as e:  # torch's own checks (shapes, batch norm in training)
        raise GcostError(f"the built model failed on a {tuple(x.shape)} input: {e}") from e
    finally:
        for handle in handles:
            handle.remove()
    if uncounted is not None:
        uncounted.update(watcher.uncounted())
    counts = counter.get_flop_counts()
    prefix = type(model).__name__
    fqn = _fqns(model)
    result = []
    for name, parent, module in rows:
        flops = sum(counts.get(f"{prefix}.{fqn[id(module)]}", {}).values())
        result.append(MeasuredRow(name, parent, shapes.get(name, ()),
                                  sum(p.numel() for p in module.parameters()), _weights(module),
                                  flops // 2 // batch, type(module).__name__, _kernel_text(module)))
    rest = _outside_row(model, result, sum(counts.get("Global", {}).values()) // 2 // batch)
    return result + ([rest] if rest else [])


Result = TypeVar("Result")


def per_distinct_layer(layers: Iterable[tuple[Layer, Shape]], measure: Callable[[Layer, Shape], Result]
                       ) -> Iterator[tuple[str, str, Result]]:
    """(layer name, name it was measured under, result) for each (layer, input shape), calling
    `measure` once per distinct structure and input shape. Counts are a pure function of the two,
    and networks repeat their blocks: a spec of 1,000 copies of one inception module builds and
    measures one module, and memory is one layer's at a time."""
    done: dict[tuple[Layer, Shape], tuple[str, Result]] = {}
    for layer, in_shape in layers:
        key = layer.build_key(in_shape)
        if key not in done:
            done[key] = (layer.name, measure(layer, in_shape))
        yield (layer.name, *done[key])


def _renamed(row_name: str, measured_as: str, name: str) -> str:
    return name + row_name[len(measured_as):]


def measure_layers(layers: Iterable[tuple[Layer, Shape]], batch: int = 1, *, train: bool,
                   device: str) -> list[MeasuredRow]:
    """measure_rows for a spec's top-level layers (aux heads included), each built alone on
    `device` for its planned input shape; the rows are the same as the whole model's."""

    def measure(layer: Layer, in_shape: Shape) -> list[MeasuredRow]:
        try:
            return measure_rows(build_row(layer, in_shape, device).train(train), in_shape, batch, device=device)
        except GcostError as e:
            raise e.located(layer=layer.name) from e

    return [replace(row, name=_renamed(row.name, measured_as, name), parent=name if row.parent else None)
            for name, measured_as, rows in per_distinct_layer(layers, measure) for row in rows]


def fvcore_layers(layers: Iterable[tuple[Layer, Shape]], batch: int = 1, *, train: bool) -> dict[str, int]:
    """fvcore_macs per row, for top-level layers measured as measure_layers does (on the CPU)."""

    def measure(layer: Layer, in_shape: Shape) -> dict[str, int]:
        return fvcore_macs(build_row(layer, in_shape).train(train), in_shape, batch)

    return {_renamed(row, measured_as, name): macs
            for name, measured_as, by_row in per_distinct_layer(layers, measure) for row, macs in by_row.items()}


def _outside_row(model: nn.Module, rows: list[MeasuredRow], total_macs: int) -> MeasuredRow | None:
    """What no row accounts for: parameters held and ops run by the model's own forward (e.g. a
    functional conv on a parameter of the root). Totals stay whole; none for a spec's model."""
    top = [row for row in rows if row.parent is None]
    params = sum(p.numel() for p in model.parameters()) - sum(r.params for r in top)
    macs = total_macs - sum(r.macs for r in top)
    if not params and not macs:
        return None
    weights = _weights(model) - sum(r.weights for r in top)
    return MeasuredRow("(outside submodules)", None, (), params, weights, macs, type(model).__name__, "")


def _kernel_text(module: nn.Module) -> str:
    kernel, stride = getattr(module, "kernel_size", None), getattr(module, "stride", None)
    if kernel is None or stride is None:
        return ""
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    (kh, kw), (sh, sw) = pair(kernel), pair(stride)
    return f"{kh}x{kw}/{sh if sh == sw else f'{sh}x{sw}'}"


def _shape_recorder(shapes: dict, name: str):
    def hook(module, inputs, output):
        if isinstance(output, torch.Tensor):
            shapes[name] = tuple(output.shape[1:])

    return hook


def fvcore_macs(model: nn.Module, input_shape: tuple[int, ...], batch: int = 1) -> dict[str, int]:
    """MACs per row from fvcore's FlopCountAnalysis (one fused multiply-add = one flop), on real
    CPU tensors. Only conv and linear-like operators are summed, to follow the counting rule."""
    try:
        from fvcore.nn import FlopCountAnalysis
    except ImportError:
        raise GcostError("--verify needs fvcore: pip install fvcore") from None
    x = torch.zeros(batch, *input_shape)
    analysis = FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    by_module = analysis.by_module_and_operator()
    fqn = _fqns(model)
    return {name: sum(by_module.get(fqn[id(module)], {}).get(op, 0) for op in FVCORE_MAC_OPS) // batch
            for name, _, module in row_modules(model)}


# Operators that do no multiply-accumulate work under the counting rule (data movement,
# elementwise, pooling, normalization). Anything else the flop counter has no formula for is
# reported as uncounted rather than silently taken as zero.
NON_MAC_OPS = frozenset("""
add sub mul div relu relu_ threshold threshold_ hardtanh hardtanh_ gelu silu silu_ sigmoid tanh
neg exp log sqrt rsqrt pow clamp clamp_ clamp_min clamp_max abs where maximum minimum
max_pool2d max_pool2d_with_indices avg_pool2d adaptive_avg_pool2d _adaptive_avg_pool2d
adaptive_max_pool2d avg_pool3d mean sum amax max min softmax _softmax log_softmax _log_softmax
native_batch_norm _native_batch_norm_legit _native_batch_norm_legit_no_training batch_norm
native_layer_norm native_group_norm dropout native_dropout bernoulli bernoulli_ empty empty_like
zeros zeros_like ones ones_like full fill_ copy_ clone detach alias view reshape _unsafe_view
flatten permute transpose t expand contiguous cat stack split split_with_sizes slice select
unsqueeze squeeze constant_pad_nd pad narrow index add_ mul_ div_ sub_ _to_copy to
lift_fresh as_strided new_empty new_zeros new_ones hardswish hardsigmoid leaky_relu elu
upsample_nearest2d var var_mean std view_as_real view_as_complex real imag
""".split())


class _OpWatcher(TorchDispatchMode):
    """Records the aten operators a forward pass runs that are neither counted nor known free."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.seen.add(func._overloadpacket.__name__)
        return func(*args, **(kwargs or {}))

    def uncounted(self) -> set[str]:
        from torch.utils.flop_counter import flop_registry

        counted = {getattr(op, "__name__", str(op)) for op in flop_registry}
        return {op for op in self.seen if op not in NON_MAC_OPS and op not in counted}
