"""Property tests: random valid specs (with repeated blocks) count the same in closed form, on the
whole built model and layer by layer, have the shapes of a real forward pass, and analyze
cleanly; random invalid specs fail cleanly."""
from __future__ import annotations

import pytest
import torch
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import googlenet_cost as gc
from googlenet_cost.count.counting import measure_plan, measure_rows
from googlenet_cost.count.units import MeasurementPlan
from googlenet_cost.errors import SpecError
from googlenet_cost.spec.layers import ACTIVATION_CHOICES, ACTIVATIONS, LAYER_TYPES
from googlenet_cost.spec.plan import plan_rows

from conftest import invoke


def _fits(layer: dict, shape: list[int]):
    """The layer's output shape on `shape`, or None when it does not fit."""
    try:
        spec = gc.parse_spec(yaml.safe_dump({"name": "s", "input": shape, "layers": [layer]}))
    except SpecError:
        return None
    return list(plan_rows(spec, train=False)[0].out_shape)


def _conv(draw, c: int, name: str) -> dict:
    groups = draw(st.sampled_from([g for g in (1, 2, 3) if c % g == 0]))
    conv = {"name": name, "type": "conv", "out": groups * draw(st.integers(1, 6)), "groups": groups,
            "kernel": draw(st.integers(1, 5)), "stride": draw(st.integers(1, 3)),
            "padding": draw(st.integers(0, 2)), "bias": draw(st.booleans()),
            "norm": draw(st.sampled_from(["none", "batchnorm"])),
            "activation": draw(st.sampled_from(ACTIVATION_CHOICES)), "dilation": draw(st.integers(1, 3))}
    width = draw(st.sampled_from(["out", "out", "expansion", "depthwise", "depthwise expansion"]))
    if width != "out":  # a width relative to the input's (MobileNetV2's expand and depthwise convs)
        conv = {key: value for key, value in conv.items() if key not in ("out", "groups")}
        conv |= {"depthwise": True} if width.startswith("depthwise") else {}
        conv |= {"expansion": draw(st.sampled_from([0.5, 1, 2, 2.5, 6]))} if width.endswith("expansion") else {}
    return conv


def _pool(draw, c: int, name: str, kind: str) -> dict:
    kernel = draw(st.integers(1, 3))
    return {"name": name, "type": kind, "kernel": kernel, "stride": draw(st.integers(1, 2)),
            "padding": draw(st.integers(0, kernel // 2)), "ceil_mode": draw(st.booleans())}


def _inception(draw, c: int, name: str) -> dict:
    widths = {col: draw(st.integers(1, 8)) for col in ("1x1", "3x3", "5x5")}
    widths |= {col: draw(st.one_of(st.none(), st.integers(1, 8))) for col in ("3x3_reduce", "5x5_reduce", "pool_proj")}
    return {"name": name, "type": "inception", **widths}


def _branches(draw, c: int, name: str) -> dict:
    merge = draw(st.sampled_from(["concat", "add"]))
    paths = []
    for b in range(draw(st.integers(1, 3))):
        if merge == "add" and draw(st.booleans()):
            paths.append([])  # identity shortcut
        else:
            out = c if merge == "add" else draw(st.integers(1, 6))
            paths.append([{"name": f"p{b}", "type": "conv", "out": out, "kernel": 3, "padding": 1}])
    return {"name": name, "type": "branches", "merge": merge, "branches": paths}


def _activation(draw, c: int, name: str, function: str) -> dict:
    return {"name": name, "type": function, **({"slope": 0.2} if LAYER_TYPES[function].numeric_keys else {})}


def _keeping(kind: str):
    return lambda draw, c, name: draw(keeping_layer(c, name, depth=2, kind=kind))


# An example of every registered layer type on a C x H x W input of c channels (any H x W it may
# change). test_every_registered_layer_type_has_an_example fails on a type without one.
EXAMPLES = {
    "conv": _conv,
    "maxpool": lambda draw, c, name: _pool(draw, c, name, "maxpool"),
    "avgpool": lambda draw, c, name: _pool(draw, c, name, "avgpool"),
    "adaptive_maxpool": lambda draw, c, name: {"name": name, "type": "adaptive_maxpool",
                                               "output": [draw(st.integers(1, 3)), draw(st.integers(1, 3))]},
    "adaptive_avgpool": lambda draw, c, name: {"name": name, "type": "adaptive_avgpool",
                                               "output": [draw(st.integers(1, 3)), draw(st.integers(1, 3))]},
    "dropout": lambda draw, c, name: {"name": name, "type": "dropout", "p": draw(st.sampled_from([0.0, 0.4, 1.0]))},
    "linear": lambda draw, c, name: {"name": name, "type": "sequence", "layers": [
        {"name": "flat", "type": "flatten"}, {"name": "fc", "type": "linear", "out": draw(st.integers(1, 10)),
                                              "activation": draw(st.sampled_from(ACTIVATION_CHOICES))}]},
    "inception": _inception,
    "branches": _branches,
    **{kind: (lambda draw, c, name, kind=kind: {"name": name, "type": kind})
       for kind in ("lrn", "batchnorm", "global_maxpool", "global_avgpool", "softmax", "flatten")},
    **{kind: _keeping(kind) for kind in ("sequence", "repeat", "se", "layernorm", "layer_scale", "channel_shuffle")},
    **{function: (lambda draw, c, name, function=function: _activation(draw, c, name, function))
       for function in ACTIVATIONS},
}
# More shapes of some types, drawn as often as a type: a dilated conv with `same` padding, branches of
# nested composites, channel slices (`split`)
EXTRA_KINDS = {"same_dilated": lambda draw, c, name: {
                   "name": name, "type": "conv", "out": draw(st.integers(1, 6)), "kernel": draw(st.sampled_from([1, 3, 5])),
                   "dilation": draw(st.integers(1, 3)), "padding": "same"},
               "nested": _keeping("nested"), "split": _keeping("split")}
KINDS = {**EXAMPLES, **EXTRA_KINDS}


@st.composite
def random_layer(draw, shape, name):
    """A layer of any kind, the activations drawn as one kind (each function as often as the others)."""
    kind = draw(st.sampled_from(sorted(set(KINDS) - set(ACTIVATIONS)) + ["activation"]))
    kind = draw(st.sampled_from(ACTIVATIONS)) if kind == "activation" else kind
    return KINDS[kind](draw, shape[0], name)


def test_every_registered_layer_type_has_an_example():
    """The property tests below draw from EXAMPLES: a layer type registered without one would go untested."""
    assert sorted(set(LAYER_TYPES) - set(EXAMPLES)) == []
    assert sorted(set(EXAMPLES) - set(LAYER_TYPES)) == []


@pytest.mark.parametrize("kind", sorted(LAYER_TYPES))
@settings(max_examples=3, deadline=None)
@given(data=st.data())
def test_each_layer_types_closed_form_is_its_built_module(kind, data):
    """Every registered type alone, on a random input: its planned shapes and params are its built
    module's, and its closed-form MACs are what FlopCounterMode counts on it (no warning)."""
    shape = [data.draw(st.integers(2, 6)), data.draw(st.integers(6, 12)), data.draw(st.integers(6, 12))]
    layer = EXAMPLES[kind](data.draw, shape[0], "l0")
    assume(_fits(layer, shape) is not None)
    spec = gc.parse_spec(yaml.safe_dump({"name": "one", "input": shape, "layers": [layer]}))
    report = gc.analyze(spec, batch=2)
    assert report.warnings == []
    model = gc.build_model(spec)
    assert sum(p.numel() for p in model.parameters()) == report.totals.params
    with torch.no_grad():
        out = model(torch.randn(2, *spec.input_shape))
    assert list(out.shape[1:]) == report.layers[0].output_shape


@st.composite
def keeping_layer(draw, c: int, name: str, depth: int, kind: str | None = None):
    """A layer that keeps H x W (so nested paths concatenate): a 3x3 conv, squeeze-and-excitation,
    an activation, and at `depth` > 0 composites of them: branches merged by concat, add or mul
    (a gate), a sequence, a repeat (with or without its own first block)."""
    kinds = ["conv", "se", "activation", "dropout", "layernorm", "layer_scale", "channel_shuffle"] + (
        ["nested", "sequence", "repeat", "split"] if depth > 0 else [])
    kind = kind or draw(st.sampled_from(kinds))
    if kind in ("layernorm", "layer_scale"):  # over the channels of each position
        return {"name": name, "type": kind, **({"eps": 1e-6} if kind == "layernorm" and draw(st.booleans()) else {})}
    if kind == "channel_shuffle":
        return {"name": name, "type": kind, "groups": draw(st.sampled_from([g for g in (1, 2, 3) if c % g == 0]))}
    if kind == "split":  # each path reads a slice of the channels (ShuffleNetV2's identity half)
        count = draw(st.sampled_from([n for n in (1, 2, 3) if c % n == 0 and c >= n]))
        sizes = [c // count] * count if draw(st.booleans()) else None
        if sizes is None and c >= 2:
            first = draw(st.integers(1, c - 1))
            sizes, count = [first, c - first], 2
        merge = draw(st.sampled_from(["concat", "add"])) if len(set(sizes or [c // count])) == 1 else "concat"
        paths = []
        for b in range(count):
            width = (sizes or [c // count] * count)[b]
            layer = draw(keeping_layer(width, f"b{b}", depth - 1))
            if merge == "add" and layer["type"] not in ("activation", "dropout", "layernorm", "layer_scale", "se"):
                layer = {"name": f"b{b}", "type": "conv", "out": width, "kernel": 3, "padding": 1}
            paths.append([layer] if draw(st.booleans()) else [])
        return {"name": name, "type": "branches", "merge": merge, "split": sizes if sizes is not None else True,
                "branches": paths}
    if kind == "conv":
        return {"name": name, "type": "conv", "out": draw(st.integers(1, 6)), "kernel": 3, "padding": 1,
                "norm": draw(st.sampled_from(["none", "batchnorm"])), "activation": draw(st.sampled_from(ACTIVATION_CHOICES)),
                **({"repeat": draw(st.integers(1, 3))} if draw(st.integers(0, 3)) == 0 else {})}
    if kind == "se":
        reduce = draw(st.one_of(st.integers(1, 4), st.sampled_from([0.25, 0.5, 1.0])))
        return {"name": name, "type": "se", "reduce": reduce, "gate": draw(st.sampled_from(["sigmoid", "hardsigmoid"])),
                "activation": draw(st.sampled_from(["relu", "silu"])), **({"divisor": 2} if draw(st.booleans()) else {})}
    if kind == "activation":
        return {"name": name, "type": draw(st.sampled_from(ACTIVATIONS))}
    if kind == "dropout":  # in eval its output is its input: paths of it alias the block's input
        return {"name": name, "type": "dropout", "p": draw(st.sampled_from([0.0, 0.5]))}
    if kind == "sequence":
        return {"name": name, "type": "sequence",
                "layers": [draw(keeping_layer(c, f"s{i}", depth - 1)) for i in range(draw(st.integers(1, 2)))]}
    if kind == "repeat":
        body = {k: v for k, v in draw(keeping_layer(c, "body", depth - 1, kind="conv")).items()
                if k != "repeat"} | {"out": c}  # copies chain c -> c
        first = [draw(keeping_layer(c, "first", depth - 1))] if draw(st.booleans()) else []
        first = [layer | {"out": c} if layer["type"] == "conv" else layer for layer in first]
        return {"name": name, "type": "repeat", "times": draw(st.integers(1, 3)), "layers": [body],
                **({"first": first} if first else {})}
    merge = draw(st.sampled_from(["concat", "add", "mul"]))
    if merge == "mul":  # a gate: the identity times a pooled, squeezed path
        paths = [[], [{"name": "pool", "type": "global_avgpool"},
                      {"name": "gate", "type": "conv", "out": c, "kernel": 1, "activation": "sigmoid"}]]
    else:
        paths = []
        for b in range(draw(st.integers(1, 3))):
            layer = draw(keeping_layer(c, f"b{b}", depth - 1))
            if merge == "add":
                layer = {"name": f"b{b}", "type": "conv", "out": c, "kernel": 3, "padding": 1} if layer["type"] in (
                    "conv", "sequence", "repeat", "branches") else layer
            paths.append([layer] if merge == "concat" or draw(st.booleans()) else [])
    return {"name": name, "type": "branches", "merge": merge, "branches": paths,
            **({"activation": "relu"} if draw(st.booleans()) else {})}


@st.composite
def valid_spec(draw):
    shape = [draw(st.integers(1, 6)), draw(st.integers(4, 20)), draw(st.integers(4, 20))]
    spec = {"name": "random", "input": list(shape), "layers": []}
    for index in range(draw(st.integers(1, 5))):
        if spec["layers"] and draw(st.booleans()):  # a repeated block, as deep networks have
            layer = spec["layers"][-1] | {"name": f"l{index}"}
        else:
            layer = draw(random_layer(shape, f"l{index}"))
        out = _fits(layer, shape)
        if out is not None:
            spec["layers"].append(layer)
            shape = out
    if draw(st.booleans()) or not spec["layers"]:
        spec["layers"] += [{"name": "flat", "type": "flatten"},
                           *draw(st.sampled_from([[], [{"name": "flat_norm", "type": "layernorm"}],
                                                  [{"name": "flat_scale", "type": "layer_scale"}]])),
                           {"name": "fc", "type": "linear", "out": draw(st.integers(1, 10))}]
    return spec


@pytest.mark.slow
@given(valid_spec())
def test_closed_form_equals_the_built_model_and_a_real_forward(data):
    spec = gc.parse_spec(yaml.safe_dump(data))
    report = gc.analyze(spec, batch=2)
    assert report.warnings == []  # closed form == FlopCounterMode on every row
    planned = plan_rows(spec, train=False)
    assert [list(p.out_shape) for p in planned] == [r.output_shape for r in report.layers]
    model = gc.build_model(spec)
    assert sum(p.numel() for p in model.parameters()) == report.totals.params
    by_layer = measure_plan(MeasurementPlan.of(planned), 2, train=False, device="cpu")
    assert by_layer == measure_rows(model, spec.input_shape, 2, depth=None)
    with torch.no_grad():
        out = model.eval()(torch.randn(2, *spec.input_shape))
    assert list(out.shape[1:]) == [r.output_shape for r in report.layers if r.parent is None][-1]


@pytest.mark.slow
@given(valid_spec())
def test_training_closed_form_equals_a_real_backward(data):
    """Backward MACs per row (nested composites, repeats, gates included) as PyTorch counts them."""
    spec = gc.parse_spec(yaml.safe_dump(data))
    report = gc.analyze(spec, batch=2, optimizer="sgd")
    assert report.warnings == []
    assert report.training.backward_macs == sum(r.backward_macs for r in report.layers if r.parent is None)


@pytest.mark.slow
@given(valid_spec())
def test_valid_specs_analyze_with_exit_0(tmp_path_factory, data):
    from click.testing import CliRunner

    path = tmp_path_factory.mktemp("spec") / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    result = invoke(CliRunner(), "analyze", str(path), "--no-latency", "--format", "json")
    assert result.exit_code == 0, result.output


CORRUPTIONS = {
    "negative": lambda layer: layer | {"out" if "out" in layer else "kernel": -3},
    "zero": lambda layer: layer | {"kernel": 0} if "kernel" in layer else layer | {"out": 0, "type": "conv"},
    "huge": lambda layer: layer | {"kernel": 10**6} if "kernel" in layer else layer | {"1x1": 10**9},
    "unknown key": lambda layer: layer | {"colour": "red"},
    "unknown type": lambda layer: layer | {"type": "transformer"},
    "text for number": lambda layer: layer | {"type": "conv", "out": "many", "kernel": 3},
    "missing type": lambda layer: {k: v for k, v in layer.items() if k != "type"},
    "missing out": lambda layer: {"name": layer["name"], "type": "conv", "kernel": 1},
    "not a mapping": lambda layer: [layer],
}


@given(valid_spec(), st.sampled_from(sorted(CORRUPTIONS)), st.data())
def test_invalid_specs_exit_2_with_one_line(tmp_path_factory, data, corruption, pick):
    from click.testing import CliRunner

    index = pick.draw(st.integers(0, len(data["layers"]) - 1))
    data["layers"][index] = CORRUPTIONS[corruption](data["layers"][index])
    path = tmp_path_factory.mktemp("bad") / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    result = invoke(CliRunner(), "analyze", str(path), "--no-latency")
    assert result.exit_code == 2, (corruption, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"gcost: error: {path}")
    assert "Traceback" not in result.output
