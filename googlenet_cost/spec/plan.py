"""The rows of a report, planned from the spec alone: names, shapes and closed-form counts.

Rows come in execution order: each top-level layer, then (for composite layers) its children
named `<module>/<child>` with `parent` set; auxiliary heads follow the layer they attach to and
appear only in training mode. This is the first of gcost's independent counts (pure arithmetic);
the report compares it with what is measured on the built model.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import SpecError
from .geometry import ShapeError
from .layers import MAX_ROWS, Cost, Field, Layer, Shape
from .model import Spec


@dataclass(frozen=True)
class PlannedRow:
    name: str
    parent: str | None
    type: str
    layer: Layer
    in_shape: Shape
    out_shape: Shape
    cost: Cost
    field: Field
    input_needs_grad: bool = True  # training: whether autograd computes a gradient for this row's input
    backward_macs: int = 0  # training: MACs of this row's backward pass, per sample

    @property
    def build_key(self) -> tuple:
        """Rows with equal keys build the same module, alone, and measure the same."""
        return self.layer.build_key(self.in_shape)


def plan_rows(spec: Spec, *, train: bool) -> list[PlannedRow]:
    """All rows of `spec`, raising SpecError (with the layer's name) where a shape does not fit.

    A spec is planned once, in train mode (loading validates every shape, aux heads included);
    the eval rows are the same rows without the auxiliary heads."""
    if "train" not in spec.plans:
        spec.plans["train"] = tuple(_plan(spec))
    rows = spec.plans["train"]
    if train:
        return list(rows)
    heads: set[str] = set()
    for row in rows:
        if (row.parent is None and row.type == "aux") or row.parent in heads:
            heads.add(row.name)
    return [row for row in rows if row.name not in heads]


def _plan(spec: Spec) -> list[PlannedRow]:
    """Every row, the auxiliary heads after the layer each attaches to."""
    rows: list[PlannedRow] = []
    heads = {}
    for aux in spec.aux:
        heads.setdefault(aux.attach, []).append(aux.head)
    shape, field, grad = spec.input_shape, Field(), False  # the network's input needs no gradient
    for layer in spec.layers:
        shape, field, grad = _plan_layer(rows, layer, shape, field, parent=None, type_name=layer.type_name,
                                         needs_grad=grad)
        for head in heads.get(layer.name, ()):
            _plan_layer(rows, head, shape, field, parent=None, type_name="aux", needs_grad=grad)
        if len(rows) > MAX_ROWS:
            raise SpecError(f"more than {MAX_ROWS} rows: too large to analyze")
    return rows


def top_layers(planned: list[PlannedRow]) -> list[tuple[Layer, Shape]]:
    """(layer, input shape) of every top-level row, aux heads included: what counting builds."""
    return [(row.layer, row.in_shape) for row in planned if row.parent is None]


def _plan_layer(rows: list[PlannedRow], layer: Layer, in_shape: Shape, field: Field, *,
                parent: str | None, type_name: str, needs_grad: bool) -> tuple[Shape, Field, bool]:
    """Plan `layer` and its children; also whether its output needs a gradient in training (it
    does once any layer with parameters has run) and its backward MACs: a conv or linear layer
    computes its weight's gradient (as many MACs as its forward) and, when its input needs one,
    the input's gradient (as many again). Everything else has no MACs, forward or backward."""
    name = f"{parent}/{layer.name}" if parent else layer.name
    try:
        out_shape = layer.out_shape(in_shape)
        cost = layer.cost(in_shape)
        row = PlannedRow(name, parent, type_name, layer, in_shape, out_shape, cost,
                         layer.receptive(field, in_shape), needs_grad)
    except ShapeError as e:
        failing, failing_input = _failing(layer, in_shape, name)
        raise SpecError(f"{e} (input {_shape_text(failing_input)})", layer=failing) from None
    rows.append(row)
    index = len(rows) - 1
    paths = layer.branches(in_shape)
    if not paths:
        backward = cost.macs * (2 if needs_grad else 1)
        rows[index] = replace(row, backward_macs=backward)
        return out_shape, row.field, needs_grad or cost.params > 0
    backward, out_grad = 0, False
    for path, path_in in zip(paths, layer.path_inputs(in_shape)):
        shape, child_field, grad = path_in, field, needs_grad
        for child in path:
            shape, child_field, grad = _plan_layer(rows, child, shape, child_field, parent=name,
                                                   type_name=child.type_name, needs_grad=grad)
        out_grad = out_grad or grad
    backward = sum(r.backward_macs for r in rows[index + 1:] if r.parent == name)
    rows[index] = replace(row, backward_macs=backward)
    return out_shape, row.field, out_grad or cost.params > 0


def _failing(layer: Layer, in_shape: Shape, name: str) -> tuple[str, Shape]:
    """The innermost layer whose shape breaks and its input, so the error names `inception_4a/5x5`
    (or `mixed_7b/b1/b1_conv0` at any depth) and what reaches it, not the module and its input."""
    try:
        paths = layer.branches(in_shape)
        layer.path_inputs(in_shape)
    except ShapeError:
        return name, in_shape
    for path, shape in zip(paths, layer.path_inputs(in_shape)):
        for child in path:
            try:
                shape = child.out_shape(shape)
            except ShapeError:
                return _failing(child, shape, f"{name}/{child.name}")
    return name, in_shape


def _shape_text(shape: Shape) -> str:
    return "x".join(map(str, shape))
