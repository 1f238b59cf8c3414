"""Counting on the built model (read-only): output shapes, params, weights and MACs per row.

The rule, printed under every table: MACs are the multiply-accumulates of convolutions, linear
layers, matrix and vector products (matmul, bmm, einsum, mv, dot, outer products, cdist) and
attention's products, per sample (the paper's "multiply-adds"); FLOPs = 2 x MACs; bias adds, normalization, pooling, LRN, softmax and
elementwise ops are not counted. Params include biases and normalization parameters; weights are
the parameters that a MAC-carrying operator reads as a matrix or kernel (conv and linear kernels,
attention's projections, recurrent weight matrices, an einsum's parameter), never biases.

PyTorch's FlopCounterMode measures here, on the meta device (no memory, fast); its independent
twin, fvcore's FlopCountAnalysis on real tensors (`--verify`), is count/cross_check.py. Neither
changes the model: hooks are removed in `finally`.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Iterator, TypeVar

import torch
from torch import nn

from ..build.builder import build_row
from ..errors import PASSES_THROUGH, GcostError, model_raised
from ..inputs import Inputs, as_inputs, kind_hint
from ..modules import model_device, row_modules, storage_id
from ..spec.layers import Layer, Shape, Traffic
from ..spec.layers.base import pair_text
from ..spec.plan import PlannedRow
from .formulas import formulas
from .operators import Fused, FusedTracker, Tallies, combine
from .recorder import MAC_NAME, NOT_MACS, OpRecorder, might_hide_macs  # noqa: F401 - the counting's names
from .units import MeasurementPlan, UnitCache

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
    operators: Tallies = ()  # its operators (children's included), at the batch measured
    fused: Fused = Fused()  # its traffic as one kernel would move it, at the batch measured
    frozen: int = 0  # of its params, those that need no gradient (requires_grad False)


def _frozen(parameters) -> int:
    return sum(p.numel() for p in parameters if not p.requires_grad)


@dataclass(frozen=True)
class Measurement:
    """One forward pass measured: its rows, and the operators it ran that have no MAC formula but
    might hide multiply-accumulates (a Python model's uncounted cost)."""

    rows: list[MeasuredRow]
    uncounted: frozenset[str] = frozenset()


def _weights(module: nn.Module, operands: set[int], recurse: bool = True) -> int:
    """Elements of the module's parameters that a MAC-carrying operator read as a matrix or kernel."""
    return sum(p.numel() for p in module.parameters(recurse=recurse) if storage_id(p) in operands)


def module_paths(model: nn.Module) -> dict[int, str]:
    """Every module's path in `model` (named_modules), by the module's id."""
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
                 user_code: str | None = None, *, depth: int | None) -> list[MeasuredRow]:
    """measure_model's rows."""
    return measure_model(model, inputs, batch, device=device, user_code=user_code, depth=depth).rows


def measure_model(model: nn.Module, inputs: Inputs | Shape, batch: int = 1, device: str | None = None,
                  user_code: str | None = None, *, depth: int | None) -> Measurement:
    """Run one forward pass under FlopCounterMode on `device` (by default the one the model's
    parameters are on, else meta), attention through its math path, attributing counts and
    output shapes to rows. `inputs`: the model's (inputs.Inputs), or one tensor's shape per sample.
    `depth`: a Python model's rows, its module tree this many levels deep (RunOptions.depth; None:
    all); a built spec gives every row of its plan whatever it says (modules.row_modules).

    Operators with no formula that might hide MACs are its `uncounted`. With `user_code`
    (the model's reference), any exception the model's forward raises is the user's error
    (GcostError naming the model and the row it happened in), not gcost's."""
    from torch.utils import flop_counter
    from torch.utils.flop_counter import FlopCounterMode

    for mode_class in (getattr(flop_counter, "_FlopCounterMode", FlopCounterMode), OpRecorder):
        _without_dynamo_import(mode_class)
    rows = list(row_modules(model, depth))
    device = device or model_device(model)
    inputs = as_inputs(inputs)
    call = inputs.make(batch, device)
    counter = flop_counter_mode()
    fused = FusedTracker({storage_id(t) for t in (*model.parameters(), *model.buffers())})
    with tracked_rows(rows, on_output=fused.finish) as tracked:
        active = tracked.active
        recorder = OpRecorder(active, counter, fused)
        try:
            with torch.no_grad(), math_attention(), counter, recorder:
                fused.finish("", call.into(model))
        except GcostError:
            raise
        except (RuntimeError, ValueError) as e:  # torch's own checks (shapes, batch norm in training)
            if user_code is None:
                raise GcostError(f"the built model failed on a {tuple(call.tensors[0].shape)} input: {e}") from e
            raise model_raised(user_code, e, active[-1] if active else None, kind_hint(e, inputs)) from e
        except PASSES_THROUGH:
            raise
        except BaseException as e:  # the user's forward: whatever it raises is theirs to see, in one line
            if user_code is None:
                raise
            raise model_raised(user_code, e, active[-1] if active else None) from e
    counts = counter.get_flop_counts()
    prefix = type(model).__name__
    fqn = module_paths(model)
    operands = recorder.operand_storages
    result = []
    for name, parent, module in rows:
        flops = sum(counts.get(f"{prefix}.{fqn[id(module)]}", {}).values())
        result.append(MeasuredRow(name, parent, tracked.shapes.get(name, ()),
                                  sum(p.numel() for p in module.parameters()), _weights(module, operands),
                                  flops // 2 // batch, type(module).__name__, _kernel_text(module),
                                  recorder.written.get(name, 0) // batch, recorder.traffic.get(name, Traffic()),
                                  recorder.operators(name), fused.result.get(name, Fused()),
                                  _frozen(module.parameters())))
    result = _with_own_rows(result, {name: module for name, _, module in rows}, operands)
    rest = _outside_row(model, result, sum(counts.get("Global", {}).values()) // 2 // batch, operands,
                        recorder.written.get("", 0) // batch, recorder.traffic.get("", Traffic()),
                        recorder.operators(""))
    return Measurement(result + ([rest] if rest else []), frozenset(recorder.suspect))


def flop_counter_mode():
    """torch's FlopCounterMode with gcost's formulas added (formulas()): one corrected (its
    convolution_backward counts a grouped conv's weight gradient as if the conv were not grouped:
    groups times too many, a depthwise conv's by its channel count; torch 2.13 and 2.14, see
    pytorch/pytorch#183405), and the matrix products it has none for."""
    from torch.utils.flop_counter import FlopCounterMode

    return FlopCounterMode(display=False, custom_mapping=formulas())


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
            traffic = row.traffic - sum((k.traffic for k in kids), Traffic())
            pending.append(MeasuredRow(
                f"{row.name}/(own)", row.name, (), sum(p.numel() for p in own),
                _weights(modules[row.name], operands, recurse=False), row.macs - sum(k.macs for k in kids),
                "(own)", "", row.activations - sum(k.activations for k in kids), traffic,
                combine([k.operators for k in kids], -1, row.operators), Fused(outputs=traffic), _frozen(own)))
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


def renamed_row(row_name: str, measured_as: str, name: str) -> str:
    """A row measured inside a unit built as `measured_as`, named as in the row `name` it stands for."""
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
            return unit.layer.name, measure_rows(model, unit.in_shape, batch, device=device, depth=None)
        except GcostError as e:
            raise e.located(layer=unit.name) from e

    def rows_of(row: PlannedRow) -> list[MeasuredRow]:
        if row.name in units:
            key = ("count", batch, train, row.build_key)  # the device does not change a count
            measured_as, measured = cache.get(key, lambda: build_and_measure(row))
            return [replace(r, name=renamed_row(r.name, measured_as, row.name),
                            parent=renamed_row(r.parent, measured_as, row.name) if r.parent else row.parent)
                    for r in measured]
        rows: list[MeasuredRow] = []
        direct: list[MeasuredRow] = []
        for child in children[row.name]:
            child_rows = rows_of(child)
            direct.append(child_rows[0])
            rows += child_rows
        return [MeasuredRow(row.name, row.parent, direct[-1].output_shape, sum(r.params for r in direct),
                            sum(r.weights for r in direct), sum(r.macs for r in direct), "Path", "",
                            sum(r.activations for r in direct), sum((r.traffic for r in direct), Traffic()),
                            combine([r.operators for r in direct]), path_fused([r.fused for r in direct]),
                            sum(r.frozen for r in direct)), *rows]

    return [measured for row in children.get(None, []) for measured in rows_of(row)]


def path_fused(parts: list[Fused]) -> Fused:
    """A sequence's traffic as one kernel: its first moving layer's inputs, every layer's weights,
    its last moving layer's outputs (a layer that moves nothing, a flatten, passes its input on)."""
    moving = [part for part in parts if part.total != Traffic()]
    if not moving:
        return Fused()
    return Fused(moving[0].inputs, sum((part.weights for part in moving), Traffic()), moving[-1].outputs)


def _outside_row(model: nn.Module, rows: list[MeasuredRow], total_macs: int, operands: set[int],
                 total_written: int, total_traffic: Traffic, total_operators: Tallies) -> MeasuredRow | None:
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
                       combine([r.operators for r in top], -1, total_operators), Fused(outputs=traffic), frozen)


def _kernel_text(module: nn.Module) -> str:
    kernel, stride = getattr(module, "kernel_size", None), getattr(module, "stride", None)
    if kernel is None or stride is None:
        return ""
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    return pair_text(pair(kernel), pair(stride))


@dataclass(frozen=True)
class TrackedRows:
    """What tracked_rows keeps while its block runs: the rows running now (outermost first) and
    each row's output shape per sample, once it has run."""

    active: list[str] = field(default_factory=list)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)


@contextlib.contextmanager
def tracked_rows(rows: list, on_output: Callable[[str, object], None] | None = None) -> Iterator[TrackedRows]:
    """Forward hooks on every row's module, for the duration of the block, that keep the
    TrackedRows it yields (and hand `on_output` each row's name and output)."""
    tracked = TrackedRows()
    active = tracked.active
    handles = [h for name, _, module in rows
               for h in (module.register_forward_pre_hook(lambda m, a, name=name: active.append(name)),
                         module.register_forward_hook(_shape_recorder(tracked.shapes, name, active, on_output)))]
    try:
        yield tracked
    finally:
        for handle in handles:
            handle.remove()


def _shape_recorder(shapes: dict, name: str, active: list[str], on_output: Callable | None = None):
    def hook(module, inputs, output):
        if active and active[-1] == name:
            active.pop()
        if on_output is not None:
            on_output(name, output)
        while isinstance(output, (tuple, list)) and output:  # (output, attention weights), as MHA returns
            output = output[0]
        if isinstance(output, torch.Tensor):
            shapes[name] = tuple(output.shape[1:])

    return hook


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


