"""Reading a list of YAML layers: each entry's name and type, then its own class's `parse` (found in
the registry, LAYER_TYPES) reads the rest, strictly; the `paper:` figures and the `repeat:` key any
layer may carry; the spec's `defaults:` block and input shape."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..errors import SpecError, did_you_mean
from ..quantity import MAX_COUNT, NumberError, parse_int, parse_quantity, shown
from .layers import (ACTIVATION_CHOICES, LAYER_TYPES, NORMS, ConvSpec, Layer, PaperFigures, ReLUSpec, RepeatSpec,
                     Shape)
from .reader import MAX_CHANNELS, MAX_SPATIAL, NAME_PATTERN, Reader, check_size

MAX_NESTING = 16  # composite layers inside composite layers; Inception v3 and EfficientNet need 3


@dataclass(frozen=True)
class Defaults:
    """The spec's `defaults:` block: values every conv (and linear, for bias) starts from."""

    activation: str = ReLUSpec.type_name
    bias: bool = True
    norm: str = "none"
    norm_eps: float = 1e-5
    ceil_mode: bool = False

    @classmethod
    def parse(cls, data: dict) -> "Defaults":
        reader = Reader(data, layer="defaults")
        base = cls()
        result = cls(activation=reader.choice("activation", ACTIVATION_CHOICES, base.activation),
                     bias=reader.flag("bias", base.bias),
                     norm=reader.choice("norm", NORMS, base.norm),
                     norm_eps=reader.number("norm_eps", base.norm_eps, high=1.0),
                     ceil_mode=reader.flag("ceil_mode", base.ceil_mode))
        reader.finish()
        return result


def parse_shape(reader: Reader, key: str) -> Shape:
    value = reader.raw(key, required=True)
    if not isinstance(value, list) or len(value) != 3:
        raise reader.error(f"{key} must be [channels, height, width], got {shown(value)}")
    limits = (MAX_CHANNELS, MAX_SPATIAL, MAX_SPATIAL)
    return tuple(reader.check_count(key, v, lim) for v, lim in zip(value, limits))


def _paper(reader: Reader) -> PaperFigures | None:
    data = reader.raw("paper", None)
    if data is None:
        return None
    if not isinstance(data, dict):
        raise reader.error("paper must be a mapping like {params: 159K, ops: 128M}")
    sub = Reader(data, layer=reader.layer)
    try:
        params = sub.raw("params", None)
        ops = sub.raw("ops", None)
        output = sub.raw("output", None)
        figures = PaperFigures(
            params=None if params is None else parse_quantity(params, base=1024),
            ops=None if ops is None else parse_quantity(ops, base=1000),
            output=None if output is None else _paper_output(output))
    except ValueError as e:
        raise reader.error(f"paper: {e}") from None
    sub.finish()
    return figures


def _paper_output(text: Any) -> Shape:
    """The paper prints HxWxC ("28x28x256"); we hold (C, H, W)."""
    parts = text.lower().replace("×", "x").split("x") if isinstance(text, str) else []
    try:
        sizes = [parse_int(p, what="output", low=0, high=MAX_COUNT) for p in parts]
    except NumberError:
        sizes = []
    if len(sizes) != 3:
        raise ValueError(f"output must look like 28x28x256 (HxWxC), got {shown(text)}")
    h, w, c = sizes
    return (c, h, w)


def parse_layers(items: list, defaults: Defaults, *, context: str, prefix: str = "",
                 level: int = 0) -> tuple[Layer, ...]:
    """The layers of a list at nesting `level` (0: the spec's top-level layers); `context` is the
    path of the layer holding them, which names nested layers in errors (mixed_7b/b1/b1_branches1)."""
    nested = level > 0
    layers = []
    rows = paths = 0

    def error(message: str) -> SpecError:
        return SpecError(message, layer=context if nested else None)

    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise error(f"entry {index} of {context} must be a mapping with a type, got {shown(item)}")
        layers.append(parse_layer(item, defaults, index=index, prefix=prefix, level=level, context=context))
        rows, paths = rows + layers[-1].row_count(), paths + layers[-1].path_count()
        check_size(error, "its layers", rows, paths, final=False)
    return tuple(layers)


def parse_layer(item: dict, defaults: Defaults, *, index: int, prefix: str = "",
                level: int = 0, context: str = "layers") -> Layer:
    nested = level > 0
    kind = item.get("type")
    name = item.get("name", f"{prefix}{kind if isinstance(kind, str) else shown(kind)}{index}")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise SpecError(f"name {shown(name)} must be 1-80 letters, digits, '_', '-' or '.'",
                        layer=context if nested else f"#{index}")
    reader = Reader(item, layer=f"{context}/{name}" if nested else name, level=level, name=name,
                    defaults=defaults, parse_list=parse_layers)
    reader.asked += ["name", "type"]
    if not isinstance(kind, str):
        raise reader.error(f"type must be text such as {ConvSpec.type_name}, got {shown(kind)}")
    if kind not in LAYER_TYPES:
        raise reader.error(f"unknown layer type {shown(kind)}{did_you_mean(kind, LAYER_TYPES)}; known types: "
                           + ", ".join(sorted(LAYER_TYPES)))
    if level > MAX_NESTING:
        raise reader.error(f"composite layers nest more than {MAX_NESTING} deep here")
    paper = _paper(reader)
    times = RepeatSpec.times_key(reader, LAYER_TYPES[kind])
    layer = LAYER_TYPES[kind].parse(reader)
    reader.finish()
    if times is not None:  # the paper's figures belong to the whole row
        layer = RepeatSpec.around(reader, layer, times)
    return layer if paper is None else replace(layer, paper=paper)
