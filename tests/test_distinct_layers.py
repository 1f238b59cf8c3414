"""Counting measures each distinct (layer, input shape) once: a layer's name and paper figures do
not change what it builds, anything else does."""
from __future__ import annotations

from googlenet_cost.counting import per_distinct_layer
from googlenet_cost.layers import ConvSpec, PaperFigures, ReLUSpec, SequenceSpec


def _conv(name: str, **changes) -> ConvSpec:
    return ConvSpec(name=name, out=8, kernel=(3, 3), padding=(1, 1), **changes)


def _measured(layers):
    calls = []

    def measure(layer, in_shape):
        calls.append(layer.name)
        return f"rows of {layer.name}"

    return calls, list(per_distinct_layer(layers, measure))


def test_repeats_differing_only_in_name_or_paper_figures_are_measured_once():
    shape = (8, 16, 16)
    calls, results = _measured([(_conv("a"), shape), (_conv("b"), shape),
                                (_conv("c", paper=PaperFigures(output=(8, 16, 16))), shape)])
    assert calls == ["a"]
    assert results == [("a", "a", "rows of a"), ("b", "a", "rows of a"), ("c", "a", "rows of a")]


def test_another_input_shape_or_setting_is_measured_again():
    shape = (8, 16, 16)
    calls, _ = _measured([(_conv("a"), shape), (_conv("b"), (8, 8, 8)), (_conv("c", bias=False), shape),
                          (_conv("d", stride=(2, 2)), shape), (_conv("e"), shape)])
    assert calls == ["a", "b", "c", "d"]


def test_children_with_other_names_are_measured_again():
    """Children's names name report rows (`block/conv`), so they are part of what is measured."""
    shape = (8, 16, 16)
    block = lambda name, child: SequenceSpec(name=name, layers=(_conv(child), ReLUSpec(name="relu")))  # noqa: E731
    calls, _ = _measured([(block("x", "conv"), shape), (block("y", "conv"), shape), (block("z", "other"), shape)])
    assert calls == ["x", "z"]
