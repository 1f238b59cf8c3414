"""The rows of a report, planned from the spec alone: names, shapes and closed-form counts.

Rows come in execution order: each top-level layer, then (for composite layers) its children
named `<module>/<child>` with `parent` set; auxiliary heads follow the layer they attach to and
appear only in training mode. This is the first of gcost's independent counts (pure arithmetic);
the report compares it with what is measured on the built model.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import SpecError
from .geometry import ShapeError
from .layers import Cost, Field, Layer, Shape
from .spec import Spec

MAX_ROWS = 50_000


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


def plan_rows(spec: Spec, *, train: bool) -> list[PlannedRow]:
    """All rows of `spec`, raising SpecError (with the layer's name) where a shape does not fit."""
    rows: list[PlannedRow] = []
    heads = {}
    for aux in spec.aux if train else ():
        heads.setdefault(aux.attach, []).append(aux.head)
    shape, field = spec.input_shape, Field()
    for layer in spec.layers:
        shape, field = _plan_layer(rows, layer, shape, field, parent=None, type_name=layer.type_name)
        for head in heads.get(layer.name, ()):
            _plan_layer(rows, head, shape, field, parent=None, type_name="aux")
        if len(rows) > MAX_ROWS:
            raise SpecError(f"more than {MAX_ROWS} rows: too large to analyze")
    return rows


def top_layers(planned: list[PlannedRow]) -> list[tuple[Layer, Shape]]:
    """(layer, input shape) of every top-level row, aux heads included: what counting builds."""
    return [(row.layer, row.in_shape) for row in planned if row.parent is None]


def _plan_layer(rows: list[PlannedRow], layer: Layer, in_shape: Shape, field: Field, *,
                parent: str | None, type_name: str) -> tuple[Shape, Field]:
    name = f"{parent}/{layer.name}" if parent else layer.name
    try:
        out_shape = layer.out_shape(in_shape)
        row = PlannedRow(name, parent, type_name, layer, in_shape, out_shape,
                         layer.cost(in_shape), layer.receptive(field, in_shape))
    except ShapeError as e:
        raise SpecError(f"{e} (input {_shape_text(in_shape)})", layer=_failing(layer, in_shape, name)) from None
    rows.append(row)
    for path in layer.branches():
        shape, child_field = in_shape, field
        for child in path:
            shape, child_field = _plan_layer(rows, child, shape, child_field, parent=name,
                                             type_name=child.type_name)
    return out_shape, row.field


def _failing(layer: Layer, in_shape: Shape, name: str) -> str:
    """The innermost layer whose shape breaks, so the error names `inception_4a/5x5`, not the module."""
    for path in layer.branches():
        shape = in_shape
        for child in path:
            try:
                shape = child.out_shape(shape)
            except ShapeError:
                return f"{name}/{child.name}"
    return name


def _shape_text(shape: Shape) -> str:
    return "x".join(map(str, shape))
