"""Counting measures each distinct (layer, input shape) once: a layer's name and paper figures do
not change what it builds, anything else does."""
from __future__ import annotations

from googlenet_cost.count.counting import per_distinct_layer
from googlenet_cost.spec.layers import ConvSpec, PaperFigures, ReLUSpec, SequenceSpec


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

    def block(name: str, child: str) -> SequenceSpec:
        return SequenceSpec(name=name, layers=(_conv(child), ReLUSpec(name="relu")))

    calls, _ = _measured([(block("x", "conv"), shape), (block("y", "conv"), shape),
                          (block("z", "other"), shape)])
    assert calls == ["x", "z"]


def test_analyze_builds_a_repeated_module_once(monkeypatch):
    """The scale property without timing: 300 copies of inception 4b (2,400 rows) build one module,
    and every copy's rows carry its own name."""
    import googlenet_cost as gc
    from googlenet_cost.count import counting

    built = []
    real_build_row = counting.build_row

    def build_row(layer, *args):
        built.append(layer.name)
        return real_build_row(layer, *args)

    monkeypatch.setattr(counting, "build_row", build_row)
    module = ("  - {{name: m{i}, type: inception, 1x1: 160, 3x3_reduce: 112, 3x3: 224, "
              "5x5_reduce: 24, 5x5: 64, pool_proj: 64}}\n")
    layers = "".join(module.format(i=i) for i in range(300))
    spec = gc.parse_spec(f"name: s\ninput: [512, 14, 14]\nlayers:\n{layers}")
    report = gc.analyze(spec)
    assert built == ["m0"]
    assert report.warnings == []
    assert len(report.layers) == 2400 and report.layers[-1].name == "m299/pool_proj"
    assert report.layers[-1].parent == "m299"
    assert report.totals.macs == 300 * report.layers[0].macs
