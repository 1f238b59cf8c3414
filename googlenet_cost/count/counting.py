"""Counting on the built model (read-only): output shapes, params, weights and MACs per row.

The rule, printed under every table: MACs are the multiply-accumulates of convolutions, linear
layers, matrix and vector products (matmul, bmm, einsum, mv, dot, outer products, cdist) and
attention's products, per sample (the paper's "multiply-adds"); FLOPs = 2 x MACs; bias adds, normalization, pooling, LRN, softmax and
elementwise ops are not counted. Params include biases and normalization parameters; weights are
the parameters that a MAC-carrying operator reads as a matrix or kernel (conv and linear kernels,
attention's projections, recurrent weight matrices, an einsum's parameter), never biases.

Two independent measurements live here: PyTorch's FlopCounterMode on the meta device (the
default: no memory, fast) and fvcore's FlopCountAnalysis on real tensors (`--verify`; fvcore
cannot trace meta tensors). Neither changes the model: hooks are removed in `finally`.
"""
from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator, TypeVar

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from ..build.builder import build_row
from ..errors import PASSES_THROUGH, GcostError, first_line, model_raised
from ..inputs import Call, Inputs, as_inputs, kind_hint
from ..modules import model_device, row_modules, storage_id
from ..spec.layers import Layer, Shape, Traffic
from ..spec.plan import PlannedRow
from .units import MeasurementPlan, UnitCache

FVCORE_MAC_OPS = ("conv", "linear", "addmm", "matmul", "bmm", "einsum")
OUTSIDE_ROW = "(outside submodules)"  # what a Python model's own forward holds and runs


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
    activations: int = 0  # elements its operators write into new tensors, per sample (children included)
    traffic: Traffic = Traffic()  # its operators' memory traffic at the batch measured (children included)
    frozen: int = 0  # of its params, those that need no gradient (requires_grad False)


def _frozen(parameters) -> int:
    return sum(p.numel() for p in parameters if not p.requires_grad)


@dataclass(frozen=True)
class Measurement:
    """One forward pass measured: its rows, and the operators it ran that have no MAC formula but
    might hide multiply-accumulates (a Python model's uncounted cost)."""

    rows: list[MeasuredRow]
    uncounted: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FvcoreCount:
    """fvcore's MACs per row, and per row the operators fvcore skipped that might hide MACs."""

    macs: dict[str, int]
    blind: dict[str, set[str]]


def _weights(module: nn.Module, operands: set[int], recurse: bool = True) -> int:
    """Elements of the module's parameters that a MAC-carrying operator read as a matrix or kernel."""
    return sum(p.numel() for p in module.parameters(recurse=recurse) if storage_id(p) in operands)


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


def measure_rows(model: nn.Module, inputs: Inputs | Shape, batch: int = 1, device: str | None = None,
                 user_code: str | None = None, depth: int | None = 2) -> list[MeasuredRow]:
    """measure_model's rows."""
    return measure_model(model, inputs, batch, device=device, user_code=user_code, depth=depth).rows


def measure_model(model: nn.Module, inputs: Inputs | Shape, batch: int = 1, device: str | None = None,
                  user_code: str | None = None, depth: int | None = 2) -> Measurement:
    """Run one forward pass under FlopCounterMode on `device` (by default the one the model's
    parameters are on, else meta), attention through its math path, attributing counts and
    output shapes to rows. `inputs`: the model's (inputs.Inputs), or one tensor's shape per sample.

    Operators with no formula that might hide MACs are its `uncounted`. With `user_code`
    (the model's reference), any exception the model's forward raises is the user's error
    (GcostError naming the model and the row it happened in), not gcost's."""
    from torch.utils import flop_counter
    from torch.utils.flop_counter import FlopCounterMode

    for mode_class in (getattr(flop_counter, "_FlopCounterMode", FlopCounterMode), _OpRecorder):
        _without_dynamo_import(mode_class)
    rows = list(row_modules(model, depth))
    shapes: dict[str, tuple[int, ...]] = {}
    device = device or model_device(model)
    call = as_inputs(inputs).make(batch, device)
    with tracked_rows(rows, shapes) as active:
        recorder = _OpRecorder(active)
        try:
            with torch.no_grad(), math_attention(), flop_counter_mode() as counter, recorder:
                call.into(model)
        except GcostError:
            raise
        except (RuntimeError, ValueError) as e:  # torch's own checks (shapes, batch norm in training)
            if user_code is None:
                raise GcostError(f"the built model failed on a {tuple(call.tensors[0].shape)} input: {e}") from e
            raise model_raised(user_code, e, active[-1] if active else None, kind_hint(e, as_inputs(inputs))) from e
        except PASSES_THROUGH:
            raise
        except BaseException as e:  # the user's forward: whatever it raises is theirs to see, in one line
            if user_code is None:
                raise
            raise model_raised(user_code, e, active[-1] if active else None) from e
    counts = counter.get_flop_counts()
    prefix = type(model).__name__
    fqn = _fqns(model)
    operands = recorder.operand_storages
    result = []
    for name, parent, module in rows:
        flops = sum(counts.get(f"{prefix}.{fqn[id(module)]}", {}).values())
        result.append(MeasuredRow(name, parent, shapes.get(name, ()),
                                  sum(p.numel() for p in module.parameters()), _weights(module, operands),
                                  flops // 2 // batch, type(module).__name__, _kernel_text(module),
                                  recorder.written.get(name, 0) // batch, recorder.traffic.get(name, Traffic()),
                                  _frozen(module.parameters())))
    result = _with_own_rows(result, {name: module for name, _, module in rows}, operands)
    rest = _outside_row(model, result, sum(counts.get("Global", {}).values()) // 2 // batch, operands,
                        recorder.written.get("", 0) // batch, recorder.traffic.get("", Traffic()))
    return Measurement(result + ([rest] if rest else []), frozenset(recorder.suspect))


def flop_counter_mode():
    """torch's FlopCounterMode with gcost's formulas added (formulas()): one corrected (its
    convolution_backward counts a grouped conv's weight gradient as if the conv were not grouped:
    groups times too many, a depthwise conv's by its channel count; torch 2.13 and 2.14, see
    pytorch/pytorch#183405), and the matrix products it has none for."""
    from torch.utils.flop_counter import FlopCounterMode

    return FlopCounterMode(display=False, custom_mapping=formulas())


def formulas() -> dict:
    """gcost's FLOP formulas (2 per MAC) by operator: the weight gradient of a conv costs exactly
    its forward (every (output, weight) product once); and the matrix and vector products torch's
    counter leaves out: in-place addmm_ and baddbmm_, addbmm, mv, addmv, dot, vdot, addr (an outer
    product: a matrix product with one term), _int_mm, _addmm_activation and cdist (one
    multiply-accumulate per coordinate of every pair, forward and backward)."""
    aten = torch.ops.aten
    matrix = {aten.addmm_: _addmm_flop, aten._addmm_activation: _addmm_flop, aten._int_mm: _mm_flop,
              aten.baddbmm_: _baddbmm_flop, aten.addbmm: _addbmm_flop, aten.addbmm_: _addbmm_flop,
              aten.mv: _mv_flop, aten.addmv: _addmv_flop, aten.addmv_: _addmv_flop, aten.dot: _dot_flop,
              aten.vdot: _dot_flop, aten.addr: _addr_flop, aten._cdist_forward: _cdist_flop,
              aten._cdist_backward: _cdist_backward_flop}
    return {aten.convolution_backward: conv_backward_flop, **matrix}


def _mm_flop(a, b, *args, out_shape=None, **kwargs) -> int:
    return 2 * a[0] * a[1] * b[1]


def _addmm_flop(bias, a, b, *args, out_shape=None, **kwargs) -> int:
    return _mm_flop(a, b)


def _baddbmm_flop(bias, a, b, *args, out_shape=None, **kwargs) -> int:
    return 2 * a[0] * a[1] * a[2] * b[2]


_addbmm_flop = _baddbmm_flop  # the same products, then summed over the batch


def _mv_flop(matrix, vector, *args, out_shape=None, **kwargs) -> int:
    return 2 * matrix[0] * matrix[1]


def _addmv_flop(bias, matrix, vector, *args, out_shape=None, **kwargs) -> int:
    return _mv_flop(matrix, vector)


def _dot_flop(a, b, *args, out_shape=None, **kwargs) -> int:
    return 2 * a[0]


def _addr_flop(bias, u, v, *args, out_shape=None, **kwargs) -> int:
    return 2 * u[0] * v[0]


def _cdist_flop(x1, x2, *args, out_shape=None, **kwargs) -> int:
    """Every pair of rows of x1 (P x M) and x2 (R x M), per batch: M multiply-accumulates."""
    import math

    return 2 * math.prod(x1[:-2]) * x1[-2] * x2[-2] * x1[-1]


def _cdist_backward_flop(grad, x1, x2, *args, out_shape=None, **kwargs) -> int:
    return _cdist_flop(x1, x2)


def conv_backward_flop(grad_out_shape, x_shape, w_shape, bias, stride, padding, dilation, transposed,
                       output_padding, groups, output_mask, out_shape=None, **kwargs) -> int:
    """FLOPs (2 per MAC) of aten.convolution_backward: torch's formula for the input's gradient,
    the conv's own forward count for the weight's (which torch overcounts when groups > 1)."""
    from torch.utils.flop_counter import conv_backward_flop as torch_formula, conv_flop_count

    flops = torch_formula(grad_out_shape, x_shape, w_shape, bias, stride, padding, dilation, transposed,
                          output_padding, groups, [output_mask[0], False, False], out_val=out_shape)  # shape-wrapped
    if output_mask[1]:
        flops += conv_flop_count(list(x_shape), list(w_shape), list(grad_out_shape), transposed)
    return flops


def with_derived_rows(rows: list, values: dict[str, int]) -> dict[str, int]:
    """`values` measured per module row (and "" for the whole model) completed for the rows that
    counting derives: a parent's `(own)` share (the parent less its other children) and the
    root's own `(outside submodules)` (the whole less the top-level rows)."""
    values = dict(values)
    for row in rows:
        if row.name.endswith("/(own)"):
            siblings = [r.name for r in rows if r.parent == row.parent and r is not row]
            values[row.name] = values.get(row.parent, 0) - sum(values.get(n, 0) for n in siblings)
        elif row.name == OUTSIDE_ROW and "" in values:
            values[row.name] = values[""] - sum(values.get(r.name, 0) for r in rows
                                                if r.parent is None and r is not row)
    return values


def _with_own_rows(rows: list[MeasuredRow], modules: dict[str, nn.Module], operands: set[int]) -> list[MeasuredRow]:
    """After the children of a row whose module holds parameters itself (ViT's pos_embedding, a
    bare BatchNorm beside submodules), a `<row>/(own)` row with those parameters and the MACs and
    activations its own forward adds, so children always sum to their parent."""
    children: dict[str, list[MeasuredRow]] = {}
    for row in rows:
        if row.parent is not None:
            children.setdefault(row.parent, []).append(row)
    result: list[MeasuredRow] = []
    pending: list[MeasuredRow] = []  # own rows waiting for their parent's last descendant
    for row in rows:
        while pending and not row.name.startswith(pending[-1].parent + "/"):
            result.append(pending.pop())
        result.append(row)
        own = list(modules[row.name].parameters(recurse=False))
        if own and row.name in children:
            kids = children[row.name]
            pending.append(MeasuredRow(
                f"{row.name}/(own)", row.name, (), sum(p.numel() for p in own),
                _weights(modules[row.name], operands, recurse=False), row.macs - sum(k.macs for k in kids),
                "(own)", "", row.activations - sum(k.activations for k in kids),
                row.traffic - sum((k.traffic for k in kids), Traffic()), _frozen(own)))
    return result + pending[::-1]


Result = TypeVar("Result")


def per_distinct_layer(layers: Iterable[tuple[Layer, Shape]], measure: Callable[[Layer, Shape], Result],
                       cache: UnitCache | None = None, purpose: tuple = ()) -> Iterator[tuple[str, str, Result]]:
    """(layer name, name it was measured under, result) for each (layer, input shape), calling
    `measure` once per distinct structure and input shape. Counts are a pure function of the two,
    and networks repeat their blocks: a spec of 1,000 copies of one inception module builds and
    measures one module, and memory is one layer's at a time. `purpose` (what is measured and
    under which conditions) and the layer's build key index `cache`."""
    cache = UnitCache() if cache is None else cache
    for layer, in_shape in layers:
        key = (*purpose, layer.build_key(in_shape))
        yield (layer.name, *cache.get(key, lambda: (layer.name, measure(layer, in_shape))))


def _renamed(row_name: str, measured_as: str, name: str) -> str:
    return name + row_name[len(measured_as):]


def measure_plan(plan: MeasurementPlan, batch: int = 1, *, train: bool, device: str,
                 cache: UnitCache | None = None) -> list[MeasuredRow]:
    """measure_rows for every planned row of a spec: each of the plan's counted units (top-level
    layers, aux heads included, and inside a sequence or repeat its children) built alone on
    `device` for its planned input shape and measured once per `cache` (which may outlive this
    call, e.g. across the variants of a compare); a sequence or repeat (an aux head too) is the
    sum of its children (its output is its last child's), so the identical blocks of a repeat are
    built once. The rows are the same as the whole model's (tests/count/test_shipped_specs.py)."""
    cache = UnitCache() if cache is None else cache
    children: dict[str | None, list[PlannedRow]] = {}
    for row in plan.rows:
        children.setdefault(row.parent, []).append(row)
    units = {unit.name for unit in plan.counted}

    def build_and_measure(unit: PlannedRow) -> tuple[str, list[MeasuredRow]]:
        try:
            model = build_row(unit.layer, unit.in_shape, device).train(train)
            return unit.layer.name, measure_rows(model, unit.in_shape, batch, device=device)
        except GcostError as e:
            raise e.located(layer=unit.name) from e

    def rows_of(row: PlannedRow) -> list[MeasuredRow]:
        if row.name in units:
            key = ("count", batch, train, row.build_key)  # the device does not change a count
            measured_as, measured = cache.get(key, lambda: build_and_measure(row))
            return [replace(r, name=_renamed(r.name, measured_as, row.name),
                            parent=_renamed(r.parent, measured_as, row.name) if r.parent else row.parent)
                    for r in measured]
        rows: list[MeasuredRow] = []
        direct: list[MeasuredRow] = []
        for child in children[row.name]:
            child_rows = rows_of(child)
            direct.append(child_rows[0])
            rows += child_rows
        return [MeasuredRow(row.name, row.parent, direct[-1].output_shape, sum(r.params for r in direct),
                            sum(r.weights for r in direct), sum(r.macs for r in direct), "Path", "",
                            sum(r.activations for r in direct), sum((r.traffic for r in direct), Traffic())), *rows]

    return [measured for row in children.get(None, []) for measured in rows_of(row)]


def fvcore_layers(layers: Iterable[tuple[Layer, Shape]], batch: int = 1, *, train: bool,
                  cache: UnitCache | None = None) -> FvcoreCount:
    """fvcore_count per row, for top-level layers built alone as measure_plan builds its units (on the CPU)."""

    def measure(layer: Layer, in_shape: Shape) -> FvcoreCount:
        return fvcore_count(build_row(layer, in_shape).train(train), in_shape, batch)

    macs: dict[str, int] = {}
    blind: dict[str, set[str]] = {}
    for name, measured_as, count in per_distinct_layer(layers, measure, cache, ("fvcore", batch, train)):
        macs.update({_renamed(row, measured_as, name): value for row, value in count.macs.items()})
        blind.update({_renamed(row, measured_as, name): ops for row, ops in count.blind.items()})
    return FvcoreCount(macs, blind)


def _outside_row(model: nn.Module, rows: list[MeasuredRow], total_macs: int,
                 operands: set[int], total_written: int, total_traffic: Traffic) -> MeasuredRow | None:
    """What no row accounts for: parameters held and ops run by the model's own forward (e.g. a
    functional conv on a parameter of the root). Totals stay whole; none for a spec's model."""
    top = [row for row in rows if row.parent is None]
    params = sum(p.numel() for p in model.parameters()) - sum(r.params for r in top)
    macs = total_macs - sum(r.macs for r in top)
    written = total_written - sum(r.activations for r in top)
    traffic = total_traffic - sum((r.traffic for r in top), Traffic())
    if not params and not macs and not written and traffic == Traffic():
        return None
    weights = _weights(model, operands) - sum(r.weights for r in top)
    frozen = _frozen(model.parameters()) - sum(r.frozen for r in top)
    return MeasuredRow(OUTSIDE_ROW, None, (), params, weights, macs, type(model).__name__, "", written, traffic,
                       frozen)


def _kernel_text(module: nn.Module) -> str:
    kernel, stride = getattr(module, "kernel_size", None), getattr(module, "stride", None)
    if kernel is None or stride is None:
        return ""
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    (kh, kw), (sh, sw) = pair(kernel), pair(stride)
    return f"{kh}x{kw}/{sh if sh == sw else f'{sh}x{sw}'}"


@contextlib.contextmanager
def tracked_rows(rows: list, shapes: dict | None = None) -> Iterator[list[str]]:
    """Forward hooks on every row's module, for the duration of the block, that keep the list it
    yields as the rows running now (outermost first) and record each row's output shape."""
    active: list[str] = []
    recorded = {} if shapes is None else shapes
    handles = [h for name, _, module in rows
               for h in (module.register_forward_pre_hook(lambda m, a, name=name: active.append(name)),
                         module.register_forward_hook(_shape_recorder(recorded, name, active)))]
    try:
        yield active
    finally:
        for handle in handles:
            handle.remove()


def _shape_recorder(shapes: dict, name: str, active: list[str]):
    def hook(module, inputs, output):
        if active and active[-1] == name:
            active.pop()
        while isinstance(output, (tuple, list)) and output:  # (output, attention weights), as MHA returns
            output = output[0]
        if isinstance(output, torch.Tensor):
            shapes[name] = tuple(output.shape[1:])

    return hook


def fvcore_macs(model: nn.Module, inputs: Inputs | Shape, batch: int = 1,
                depth: int | None = 2) -> dict[str, int]:
    """fvcore_count's MACs per row."""
    return fvcore_count(model, inputs, batch, depth).macs


def fvcore_count(model: nn.Module, inputs: Inputs | Shape, batch: int = 1,
                 depth: int | None = 2) -> FvcoreCount:
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
    fqn = _fqns(model)
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


# Which operators might hide multiply-accumulates. The counter's own formulas cover conv, mm,
# addmm, bmm, baddbmm and the attention kernels. Of the rest, torch's operator tags settle most:
# views, pointwise (in place or not), reductions and copies carry no MACs. Operators that are none
# of those are free too when they move or select data, normalize, pool or sort; an operator is
# reported only when its name says it multiplies matrices or kernels (mm, mv, conv, dot, einsum,
# attention, fft, recurrent cells ...) or when it is a custom operator outside aten and prims,
# whose contents nobody can see.
FREE_TAGS = ("pointwise", "reduction", "view_copy", "inplace_view")
MAC_NAME = re.compile(r"mm|mv|conv|dot|einsum|matmul|linear|bilinear|attention|fft|lstm|gru|rnn|cdist|"
                      r"tensordot|addr|baddbmm|addbmm|kron|outer|inner")
# Names that say so without multiplying matrices: interpolation (upsample_bilinear2d weighs a few
# neighbours), special functions (lgamma, digamma), running maxima, weight repacking.
NOT_MACS = re.compile(r"^_?upsample_|gamma|^cumm(ax|in)$|^_convert_weight_to_int")


def might_hide_macs(func) -> bool:
    """True for an operator with no MAC formula that could still multiply-accumulate."""
    packet = func._overloadpacket
    name = packet.__name__
    namespace = getattr(func, "namespace", "aten")
    if namespace not in ("aten", "prims"):
        return True
    if func.is_view or any(getattr(torch.Tag, tag, None) in func.tags for tag in FREE_TAGS):
        return False
    return MAC_NAME.search(name.lstrip("_")) is not None and NOT_MACS.search(name) is None


# The tensor arguments that are matrices or kernels (not biases) of the MAC-carrying operators;
# an operator not listed treats every tensor argument as one.
OPERAND_ARGS = {"convolution": (1,), "_convolution": (1,), "convolution_overrideable": (1,), "conv2d": (1,),
                "conv1d": (1,), "conv3d": (1,), "conv_transpose2d": (1,), "mkldnn_convolution": (1,),
                "cudnn_convolution": (1,), "addmm": (1, 2), "baddbmm": (1, 2), "addbmm": (1, 2), "addmv": (1, 2),
                "linear": (1,)}


class _OpRecorder(TorchDispatchMode):
    """Records what a forward pass runs: operators with no formula that might hide MACs, the
    storages that MAC-carrying operators read as matrices or kernels (which parameters are
    weights), and the elements every operator writes into new tensors (activations), attributed
    to the rows active at the time (`active`, kept by forward hooks) and to the whole model."""

    def __init__(self, active: list[str]) -> None:
        super().__init__()
        from torch.utils.flop_counter import flop_registry

        self.counted = {getattr(op, "__name__", str(op)) for op in [*flop_registry, *formulas()]}
        self.suspect: set[str] = set()
        self.operand_storages: set[int] = set()
        self.active = active
        self.written: dict[str, int] = {}  # row name -> elements; "" for the whole model
        self.traffic: dict[str, Traffic] = {}  # row name -> memory traffic; "" for the whole model

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = self._record(func, args)
        result = func(*args, **(kwargs or {}))
        moved = op_traffic(func, args, kwargs or {}, result)
        elements = 0
        if not out:
            elements = sum(t.numel() for t in (result if isinstance(result, (tuple, list)) else (result,))
                           if isinstance(t, torch.Tensor))
        for row in ("", *self.active):
            self.written[row] = self.written.get(row, 0) + elements
            self.traffic[row] = self.traffic.get(row, Traffic()) + moved
        return result

    def _record(self, func, args) -> bool:
        """Note what `func` may cost; True when it writes into existing tensors (a view, in place)."""
        name = func._overloadpacket.__name__
        carries = name in self.counted or might_hide_macs(func)
        if carries:
            if name not in self.counted:
                self.suspect.add(name if getattr(func, "namespace", "aten") == "aten" else str(func._overloadpacket))
            positions = OPERAND_ARGS.get(name)
            for index, arg in enumerate(args):
                if positions is None or index in positions:
                    for tensor in (arg if isinstance(arg, (list, tuple)) else (arg,)):
                        if isinstance(tensor, torch.Tensor):
                            self.operand_storages.add(storage_id(tensor))
        return func.is_view or any(getattr(torch.Tag, tag, None) in func.tags
                                   for tag in ("inplace", "inplace_view", "out"))


# Operators that allocate without writing, and batch norms, whose saved statistics and running
# statistics (updated in place, which their schemas do not say) are written only in training (in
# eval the CPU's kernel returns empty statistics where the meta device returns per-channel ones).
ALLOCATES_ONLY = ("empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided")
BATCH_NORMS = {"native_batch_norm": 5, "_native_batch_norm_legit": 5, "_native_batch_norm_legit_functional": 5,
               "cudnn_batch_norm": 5, "miopen_batch_norm": 5}  # name -> position of its `training` argument
_WRITTEN_ARGS: dict = {}


def op_traffic(func, args: tuple, kwargs: dict, result) -> Traffic:
    """The memory traffic of one operator in eager execution (the traffic model of
    spec.layers.Traffic): each input read once, as the memory it spans (tensors sharing memory, as
    x and x in x * x or x and its view, are read once; a broadcast, stride-0 view reads what it
    spans, not its logical size; disjoint slices of one tensor add up), each output and each
    argument the operator's schema says it writes, written once; a lookup (embedding, gather,
    index_select ...) reads at most as many table elements as it writes. Views and allocations move
    nothing."""
    name = func._overloadpacket.__name__
    if func.is_view or name in ALLOCATES_ONLY:
        return Traffic()
    inputs = list(_tensors((*args, *kwargs.values())))
    outputs = list(_tensors(result))
    written = _written_args(func)
    training_position = BATCH_NORMS.get(name)
    if training_position is not None:  # running mean and variance: updated in place in training, unannotated
        training = len(args) > training_position and bool(args[training_position])
        outputs, written = (outputs, (3, 4)) if training else (outputs[:1], ())
    outputs += [args[i] for i in written if i < len(args) and isinstance(args[i], torch.Tensor)]
    table = LOOKUPS.get(name)
    caps = {}
    if table is not None and table < len(args) and isinstance(args[table], torch.Tensor) and outputs:
        caps[id(args[table])] = outputs[0].numel()
    return _moved(inputs, caps) + _moved(outputs)


# Operators that read rows of a table by index: the table's position among the arguments (its
# read is capped at the elements written: an embedding of 4 tokens does not read a million rows).
LOOKUPS = {"embedding": 0, "index_select": 0, "gather": 0, "index": 0, "take": 0, "_embedding_bag": 0,
           "embedding_bag": 0, "take_along_dim": 0}


def _written_args(func) -> tuple[int, ...]:
    """Positions of the arguments `func` writes (its schema's `Tensor(a!)`), cached per operator."""
    if func not in _WRITTEN_ARGS:
        _WRITTEN_ARGS[func] = tuple(i for i, argument in enumerate(func._schema.arguments)
                                    if argument.alias_info is not None and argument.alias_info.is_write)
    return _WRITTEN_ARGS[func]


def _tensors(value) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors(item)


def _moved(tensors: list[torch.Tensor], caps: dict[int, int] | None = None) -> Traffic:
    """Traffic of touching the memory these tensors span, each element once: per storage the union
    of the element ranges its views span (a stride-0 broadcast spans one row; a view's range is from
    its first to its last element), floating-point elements apart from other bytes. `caps` bounds
    a tensor's elements (by id: a lookup's table)."""
    spans: dict[int, tuple[bool, int, list[tuple[int, int]]]] = {}
    for tensor in tensors:
        if tensor.numel() == 0:
            continue
        extent = 1 + sum((size - 1) * stride for size, stride in zip(tensor.shape, tensor.stride()) if size > 1)
        extent = min(extent, (caps or {}).get(id(tensor), extent))
        start = tensor.storage_offset()
        key = storage_id(tensor)
        floating, size, ranges = spans.get(key, (tensor.is_floating_point(), tensor.element_size(), []))
        ranges.append((start, start + extent))
        spans[key] = (floating, size, ranges)
    elements = other = 0
    for floating, size, ranges in spans.values():
        covered, end = 0, None
        for low, high in sorted(ranges):
            if end is None or low >= end:
                covered += high - low
                end = high
            elif high > end:
                covered += high - end
                end = high
        if floating:
            elements += covered
        else:
            other += covered * size
    return Traffic(elements, other)


@contextlib.contextmanager
def math_attention() -> Iterator[None]:
    """Attention through its math path (matmuls the counter sees) instead of fused kernels with no
    formula on some devices (the CPU's flash attention, nn.MultiheadAttention's fast path); the
    previous settings are restored."""
    mha = getattr(torch.backends, "mha", None)
    fastpath = mha.get_fastpath_enabled() if mha is not None else None
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        kernels = sdpa_kernel([SDPBackend.MATH])
    except ImportError:  # torch < 2.3
        kernels = contextlib.nullcontext()
    try:
        if mha is not None:
            mha.set_fastpath_enabled(False)
        with kernels:
            yield
    finally:
        if mha is not None:
            mha.set_fastpath_enabled(fastpath)


