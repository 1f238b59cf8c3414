"""What a training step costs, measured on the built model (read-only, like counting):

- backward MACs per row: FlopCounterMode over a real backward of the loss (the main output plus
  0.3 x each auxiliary output, as the paper weights its auxiliary classifiers), minus the forward;
- the activation memory autograd keeps for backward, per row: saved-tensor hooks on the forward,
  each storage counted once, parameters excluded (they are counted as parameters);
- the memory of a step: parameters + gradients + optimizer state + the saved activations, in fp32.
  Not counted: the allocator's overhead, cuDNN/cuBLAS workspaces, temporary tensors of the
  backward itself, and the gradient of the input.

Runs on the meta device (no memory, shapes only) unless the model needs real values."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from ..errors import GcostError
from ..inputs import Inputs, as_inputs
from ..modules import model_device, row_modules, storage_id, tensor_leaves, training_loss
from ..optimizers import OPTIMIZER_STATES
from ..report import TrainingSummary
from ..spec.layers import passes_through
from ..spec.plan import PlannedRow
from ..timing.memory import parameter_state_bytes
from .counting import flop_counter_mode, math_attention, tracked_rows
from .units import MeasurementPlan, UnitCache

NOT_COUNTED = ("allocator overhead, cuDNN/cuBLAS workspaces, temporaries of the backward itself, the "
               "input's gradient")


@dataclass(frozen=True)
class TrainingMeasurement:
    step_macs: dict[str, int]  # per row: forward + backward MACs, per sample
    saved_bytes: dict[str, int]  # per row: bytes autograd keeps for backward at the measured batch
    saved_total: int  # every saved storage once


def measure_training(model: nn.Module, inputs: Inputs | tuple[int, ...], batch: int = 1, *,
                     input_requires_grad: bool = False, depth: int | None,
                     device: Any = None, whole_model: bool = False) -> TrainingMeasurement:
    """One forward and backward pass of `model` (in the mode the caller set) on zeros (`inputs`:
    the model's, or one tensor's shape per sample). A `whole_model` is a network trained as
    such: an output its trainable parameters' gradient cannot reach is an error (no training step
    exists to count); a unit measured alone (a pooling layer on an input that needs no gradient)
    or a network with nothing to train has no backward."""
    from torch.autograd.graph import saved_tensors_hooks

    rows = list(row_modules(model, depth))
    device = device or model_device(model)
    call = as_inputs(inputs).make(batch, device, requires_grad=input_requires_grad)
    parameters = {storage_id(p) for p in model.parameters()}
    saved: dict[int, tuple[int, tuple[str, ...]]] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        key = storage_id(tensor)
        if key not in parameters and key not in saved:
            saved[key] = (tensor.untyped_storage().nbytes(), tuple(active))
        return tensor

    with tracked_rows(rows) as tracked, math_attention(), flop_counter_mode() as counter:
        active = tracked.active
        owners = _NodeOwners(active)
        with _RowFlops(counter, active, owners) as flops:
            with saved_tensors_hooks(pack, lambda tensor: tensor), owners:
                output = call.into(model)
            loss = training_loss(output)
            problem = no_gradient(model, output) if loss is None and whole_model else None
            if problem:
                raise GcostError(f"no training step can be counted (--step train, or a limit on a training-step "
                                 f"metric): {problem}")
            if loss is not None:
                loss.backward()
    step = {name: flops.by_row.get(name, 0) // 2 // batch for name, _, _ in rows}
    step[""] = counter.get_total_flops() // 2 // batch
    by_row: dict[str, int] = {}
    for size, owners in saved.values():
        for name in owners:
            by_row[name] = by_row.get(name, 0) + size
    return TrainingMeasurement(step, by_row, sum(size for size, _ in saved.values()))


def no_gradient(model: nn.Module, output: Any) -> str | None:
    """Why no training step can be taken from a model's output (training_loss found no tensor to
    differentiate), naming what the forward returned; None for a network with nothing to train (no
    parameter requires a gradient: pooling alone), whose step is its forward."""
    leaves = tensor_leaves(output)
    if not leaves:
        what = "None" if output is None else f"a value of type {type(output).__name__}"
        return f"the model's forward returned {what}, no tensor to take a loss from"
    if not any(leaf.is_floating_point() for leaf in leaves):
        dtypes = ", ".join(sorted({str(leaf.dtype).removeprefix("torch.") for leaf in leaves}))
        return f"the model's output is {dtypes}, not floating point: no gradient reaches it (an argmax or an index)"
    if any(parameter.requires_grad for parameter in model.parameters()):
        return "no gradient reaches the model's output from its parameters (detached, or computed without them)"
    return None


class _NodeOwners(TorchFunctionMode):
    """While the forward runs: every autograd node each torch function creates, with the rows
    running then (`active`), so the backward's operators can be given to the rows whose forward
    made their node. torch's ModuleTracker infers the backward's rows from gradient hooks instead,
    and loses track at a module whose inputs need no gradient (an embedding of token ids): every
    later backward operator was also given to that module."""

    def __init__(self, active: list[str]):
        super().__init__()
        self.active = active
        self.rows: dict[Any, tuple[str, ...]] = {}  # node -> rows; holding the node keeps its id unique

    def __torch_function__(self, func, types, args=(), kwargs=None):
        output = func(*args, **(kwargs or {}))
        rows = tuple(self.active)
        for tensor in tensor_leaves(output):
            pending = [tensor.grad_fn]
            while pending:  # the new nodes: from the output back to the nodes made before
                node = pending.pop()
                if node is None or node in self.rows:
                    continue
                self.rows[node] = rows
                pending += [parent for parent, _ in node.next_functions]
        return output


class _RowFlops(TorchDispatchMode):
    """Each operator's FLOPs (what `counter`, the FlopCounterMode beneath, adds for it) given to
    its rows: in the forward the rows running, in the backward the rows of the node being run."""

    def __init__(self, counter: Any, active: list[str], owners: _NodeOwners):
        super().__init__()
        self.counter, self.active, self.owners = counter, active, owners
        self.by_row: dict[str, int] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        before = self.counter.get_total_flops()
        output = func(*args, **(kwargs or {}))
        flops = self.counter.get_total_flops() - before
        if flops:
            backward = torch._C._current_graph_task_id() != -1
            rows = self.owners.rows.get(torch._C._current_autograd_node(), ()) if backward else self.active
            for name in rows:
                self.by_row[name] = self.by_row.get(name, 0) + flops
        return output


def step_memory(*, params: int, trainable: int, saved_bytes: int, optimizer: str) -> dict[str, int]:
    """Bytes of one training step in fp32: parameters, their gradients, the optimizer's state
    (momentum SGD keeps one tensor per parameter, Adam two) and the saved activations."""
    if optimizer not in OPTIMIZER_STATES:
        raise GcostError(f"unknown optimizer {optimizer!r}: use {', '.join(OPTIMIZER_STATES)}")
    memory = {**parameter_state_bytes(params=params, trainable=trainable, optimizer=optimizer, dtype="fp32"),
              "saved_bytes": saved_bytes}
    return {**memory, "train_bytes": sum(memory.values())}


def spec_training(spec: Any, plan: MeasurementPlan, rows: list, batch: int, device: str, optimizer: str,
                  cache: UnitCache | None = None) -> tuple[list, TrainingSummary, list[str]]:
    """Rows with backward MACs and saved bytes; the step's totals; and every row where the closed
    form (plan.backward_macs) and the measurement disagree.

    Backward MACs are measured for every row's layer built alone on its planned input, with or
    without a gradient as in the network, once per distinct (layer, input, gradient): autograd
    runs the branches of a module interleaved, so a module tracker cannot split a module's
    backward among its children, but each child alone is exact. Saved bytes are measured on the
    whole model, so a tensor that two layers keep is counted once. The units are the plan's
    `trained` ones (count.units), each measured once per `cache`."""
    from dataclasses import replace

    from ..build.builder import build_model, build_row

    cache = UnitCache() if cache is None else cache
    planned = plan.rows

    def step_macs(unit: PlannedRow) -> int:
        model = build_row(unit.layer, unit.in_shape, device).train(True)
        return measure_training(model, unit.in_shape, batch, input_requires_grad=unit.input_needs_grad,
                                depth=None, device=device).step_macs[""]

    step: dict[str, int] = {}
    children: dict[str, list[str]] = {}
    for row in planned:
        children.setdefault(row.parent or "", []).append(row.name)
    for unit in plan.trained:  # a sequence or repeat is the sum of its children, below
        key = ("train", batch, unit.input_needs_grad, unit.build_key)  # the device does not change a count
        step[unit.name] = cache.get(key, lambda: step_macs(unit))
    for row in reversed(planned):
        if passes_through(row.layer):
            step[row.name] = sum(step[name] for name in children[row.name])
    whole = measure_training(build_model(spec, train=True, device="meta"), spec.input_shape, batch, depth=None,
                             device="meta", whole_model=True)
    warnings = []
    out = []
    for planned_row, row in zip(planned, rows):
        backward = step.get(row.name, row.macs) - row.macs
        if backward != planned_row.backward_macs:
            warnings.append(f"backward_macs disagree on {row.name}: closed form {planned_row.backward_macs}, "
                            f"PyTorch FlopCounterMode {backward}")
        out.append(replace(row, backward_macs=backward, saved_bytes=whole.saved_bytes.get(row.name, 0)))
    return out, summary(out, batch, whole.saved_total, optimizer), warnings


def module_training(model: nn.Module, inputs: Inputs, rows: list, batch: int, optimizer: str,
                    depth: int | None) -> tuple[list, TrainingSummary]:
    """The same for a Python model, whose rows have no closed form to build alone from: every
    row's backward MACs, each backward operator given to the rows whose forward made its autograd
    node (_NodeOwners), so interleaved branches split exactly; and what the root runs itself."""
    from dataclasses import replace

    from .counting import with_derived_rows

    measurement = measure_training(model, inputs, batch, depth=depth, whole_model=True)
    step = with_derived_rows(rows, measurement.step_macs)
    out = [replace(row, backward_macs=step.get(row.name, row.macs) - row.macs,
                   saved_bytes=measurement.saved_bytes.get(row.name, 0)) for row in rows]
    return out, summary(out, batch, measurement.saved_total, optimizer)


def summary(rows: list, batch: int, saved_total: int, optimizer: str) -> TrainingSummary:
    """The step's totals: MACs per sample, bytes at `batch`."""
    top = [row for row in rows if row.parent is None]
    forward = sum(row.macs for row in top)
    backward = sum(row.backward_macs for row in top)
    params = sum(row.params for row in top)
    return TrainingSummary(batch=batch, optimizer=optimizer, dtype="fp32", forward_macs=forward,
                           backward_macs=backward, step_macs=forward + backward,
                           **step_memory(params=params, trainable=params, saved_bytes=saved_total,
                                         optimizer=optimizer),
                           not_counted=NOT_COUNTED)
