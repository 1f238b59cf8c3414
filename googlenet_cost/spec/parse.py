"""Reading YAML values into layer specs: one small parser per `type`, strict about every key."""
from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Callable

from ..errors import SpecError, did_you_mean
from .layers import (ACTIVATION_CHOICES, ACTIVATION_SPECS, ACTIVATIONS, INCEPTION_COLUMNS,
                     REDUCE_COLUMNS, ROLES, AdaptiveAvgPoolSpec, AdaptiveMaxPoolSpec, GlobalMaxPoolSpec,
                     AvgPoolSpec, BatchNormSpec, BranchesSpec, ChannelShuffleSpec, ConvSpec, DropoutSpec, FlattenSpec,
                     GlobalAvgPoolSpec, InceptionSpec, Layer, LayerNormSpec, LayerScaleSpec, LinearSpec, LRNSpec,
                     MaxPoolSpec,
                     MAX_CHANNELS, MAX_PATHS, MAX_ROWS, MERGES, PaperFigures, SequenceSpec, SESpec, Shape,
                     SoftmaxSpec, repeated)
from ..quantity import MAX_COUNT, NumberError, parse_int, parse_quantity, parse_real, shown

MAX_SPATIAL = 1 << 16  # input height / width, kernels
MAX_EXPANSION = 1000.0  # a conv's width relative to its input's, at most
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,79}")  # used with fullmatch: no trailing newline
_MISSING = object()


class Reader:
    """Reads keys of one YAML mapping, remembering which were asked for, so that any key
    nobody asked for is reported as unknown (with a "did you mean")."""

    def __init__(self, data: dict, *, layer: str | None, name: str = "", level: int = 0):
        self.data = data
        self.layer = layer  # how errors name the layer: "conv1", or "inception_4a/5x5" when nested
        self.name = name  # the layer's own name
        self.level = level  # how many composite layers hold it (0: a top-level layer)
        self.asked: list[str] = []

    def error(self, message: str) -> SpecError:
        return SpecError(message, layer=self.layer)

    def raw(self, key: str, default: Any = _MISSING, *, required: bool = False) -> Any:
        self.asked.append(key)
        if key in self.data:
            return self.data[key]
        if required:
            from difflib import get_close_matches

            strangers = [str(k) for k in self.data if k not in self.asked and isinstance(k, str)]
            close = get_close_matches(key, strangers, n=1, cutoff=0.6)
            if close:  # a misspelled required key: name the word the user wrote
                raise self.error(f"unknown key {shown(close[0])} (did you mean '{key}'?)")
            raise self.error(f"missing required key '{key}'")
        return default

    def text(self, key: str, *, required: bool = False) -> str:
        value = self.raw(key, "", required=required)
        if not isinstance(value, str):
            raise self.error(f"{key} must be text, got {shown(value)}")
        return value

    def count(self, key: str, default: Any = _MISSING, *, limit: int = MAX_CHANNELS,
              required: bool = True) -> int:
        value = self.raw(key, default, required=required and default is _MISSING)
        return self.check_count(key, value, limit)

    def check_count(self, key: str, value: Any, limit: int) -> int:
        try:
            return parse_int(value, what=key, low=1, high=limit, text=False)
        except NumberError as e:
            raise self.error(str(e)) from None

    def pair(self, key: str, default: Any = _MISSING, *, minimum: int = 1,
             limit: int = MAX_SPATIAL) -> tuple[int, int]:
        value = self.raw(key, default, required=default is _MISSING)
        items = [value, value] if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(items, list) or len(items) != 2:
            raise self.error(f"{key} must be a whole number or [height, width], got {shown(value)}")
        for item in items:
            try:
                parse_int(item, what=key, low=minimum, high=limit, text=False)
            except NumberError as e:
                if e.problem == "syntax":
                    raise self.error(f"{key} must be whole numbers, got {shown(value)}") from None
                raise self.error(f"{key} must be between {minimum} and {limit}, got {shown(item)}") from None
        return (items[0], items[1])

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.error(f"{key} must be true or false, got {shown(value)}")
        return value

    def number(self, key: str, default: Any = _MISSING, *, low: float = 0.0, high: float = float("inf"),
               low_open: bool = True) -> float:
        value = self.raw(key, default, required=default is _MISSING)
        try:
            return parse_real(value, what=key, low=low, high=high, low_open=low_open, text=False)
        except NumberError as e:
            raise self.error(str(e)) from None

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.raw(key, default)
        if value not in choices:
            raise self.error(f"{key} must be one of {', '.join(choices)}, got {shown(value)}")
        return value

    def mapping(self, key: str) -> dict:
        value = self.raw(key, {})
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(f"{key} must be a mapping, got {type(value).__name__}")
        return value

    def sequence(self, key: str, *, required: bool = False) -> list:
        value = self.raw(key, [], required=required)
        if not isinstance(value, list):
            raise self.error(f"{key} must be a list, got {type(value).__name__}")
        return value

    def finish(self) -> None:
        for key in self.data:
            if key not in self.asked:
                known = sorted(set(self.asked))
                written = key if isinstance(key, str) else shown(key)
                raise self.error(f"unknown key '{written}'{did_you_mean(key, known)}; known keys: {', '.join(known)}")


@dataclass(frozen=True)
class Defaults:
    """The spec's `defaults:` block: values every conv (and linear, for bias) starts from."""

    activation: str = "relu"
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
                     norm=reader.choice("norm", ("batchnorm", "none"), base.norm),
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


def _conv(r: Reader, d: Defaults) -> ConvSpec:
    padding = r.raw("padding", 0)
    role = r.choice("role", ("none", *ROLES), implied_role(r.name))
    depthwise = r.flag("depthwise", False)
    relative = "expansion" in r.data
    if relative and "out" in r.data:
        raise r.error("give out (a width) or expansion (times the input's width), not both")
    if depthwise and "groups" in r.data:
        raise r.error("depthwise sets groups to the input's channels: give depthwise or groups, not both")
    expansion = _expansion(r) if relative else None
    out = None if relative or (depthwise and "out" not in r.data) else r.count("out")
    return ConvSpec(name=r.name, out=out, kernel=r.pair("kernel"), expansion=expansion, depthwise=depthwise,
                    stride=r.pair("stride", 1),
                    padding="same" if padding == "same" else _padding(r, padding),
                    groups=r.count("groups", 1), dilation=r.pair("dilation", 1), bias=r.flag("bias", d.bias),
                    activation=r.choice("activation", ACTIVATION_CHOICES, d.activation),
                    norm=r.choice("norm", ("batchnorm", "none"), d.norm),
                    norm_eps=r.number("norm_eps", d.norm_eps, high=1.0), role=None if role == "none" else role)


def _expansion(r: Reader) -> float:
    try:
        return parse_real(r.raw("expansion"), what="expansion", low=0, low_open=True, high=MAX_EXPANSION, text=False,
                          expect=f"a number above 0 and at most {MAX_EXPANSION:g} (times the input's width)")
    except NumberError as e:
        raise r.error(str(e)) from None


def implied_role(name: str) -> str:
    """The role of a conv written without `role:`, from the paper's vocabulary in its name: `*_reduce`
    is a reduce, `*pool_proj*` a pool_proj; any other name, none."""
    if fnmatchcase(name, "*_reduce"):
        return "reduce"
    return "pool_proj" if fnmatchcase(name, "*pool_proj*") else "none"


def _padding(r: Reader, value: Any) -> tuple[int, int]:
    items = [value, value] if isinstance(value, int) and not isinstance(value, bool) else value
    if (not isinstance(items, list) or len(items) != 2
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in items)):
        raise r.error(f"padding must be a whole number, [height, width] or 'same', got {shown(value)}")
    try:
        for item in items:
            parse_int(item, what="padding", low=0, high=MAX_SPATIAL, text=False)
    except NumberError:
        raise r.error(f"padding must be between 0 and {MAX_SPATIAL}, got {shown(value)}") from None
    return (items[0], items[1])


def _pool(cls: type) -> Callable[[Reader, Defaults], Layer]:
    def parse(r: Reader, d: Defaults) -> Layer:
        kernel = r.pair("kernel")
        return cls(name=r.name, kernel=kernel, stride=r.pair("stride", list(kernel)),
                   padding=_padding(r, r.raw("padding", 0)),
                   ceil_mode=r.flag("ceil_mode", d.ceil_mode))

    return parse


def _inception(r: Reader, d: Defaults) -> InceptionSpec:
    widths = []
    for column in INCEPTION_COLUMNS:
        value = r.raw(column, required=True)
        optional = column in REDUCE_COLUMNS or column == "pool_proj"
        widths.append(None if value is None and optional else r.check_count(column, value, MAX_CHANNELS))
    template = ConvSpec(name="", out=1, kernel=(1, 1), bias=r.flag("bias", d.bias),
                        activation=r.choice("activation", ACTIVATION_CHOICES, d.activation),
                        norm=r.choice("norm", ("batchnorm", "none"), d.norm),
                        norm_eps=r.number("norm_eps", d.norm_eps, high=1.0))
    kernel_5x5 = r.count("kernel_5x5", 5, limit=MAX_SPATIAL)
    if kernel_5x5 % 2 == 0:
        raise r.error(f"kernel_5x5 must be odd, got {kernel_5x5}")
    return InceptionSpec(name=r.name, widths=tuple(widths), kernel_5x5=kernel_5x5, conv=template)


def _branches(r: Reader, d: Defaults) -> BranchesSpec:
    paths = r.sequence("branches", required=True)
    if len(paths) < 1:
        raise r.error("branches must list at least one path")
    if len(paths) > MAX_PATHS:
        raise r.error(f"branches lists {len(paths):,} paths, more than {MAX_PATHS:,}: too large to analyze")
    parsed = []
    rows = total_paths = 0
    for index, path in enumerate(paths):
        if not isinstance(path, list):
            raise r.error(f"branch {index} must be a list of layers (an empty list is the identity)")
        parsed.append(parse_layers(path, d, context=r.layer, prefix=f"b{index}_", level=r.level + 1))
        rows += sum(layer.row_count() for layer in parsed[-1])
        total_paths += 1 + sum(layer.path_count() for layer in parsed[-1])
        check_size(r.error, "its branches", rows, total_paths, final=False)
    return BranchesSpec(name=r.name, paths=tuple(parsed), merge=r.choice("merge", MERGES, "concat"),
                        activation=r.choice("activation", ACTIVATION_CHOICES, "none"), split=_split(r, len(parsed)))


def _split(r: Reader, paths: int) -> bool | tuple[int, ...]:
    """`split: true` (equal slices of the input's channels) or one width per path."""
    value = r.raw("split", False)
    if isinstance(value, bool):
        return value
    if not isinstance(value, list) or len(value) != paths:
        raise r.error(f"split must be true, false or a list of {paths} channel counts (one per path), "
                      f"got {shown(value)}")
    return tuple(r.check_count("split", item, MAX_CHANNELS) for item in value)


def _repeat(r: Reader, d: Defaults) -> Layer:
    times = r.count("times", limit=MAX_ROWS)
    first = parse_layers(r.sequence("first"), d, context=f"{r.layer}/0", level=r.level + 1)
    body = parse_layers(r.sequence("layers", required=True), d, context=f"{r.layer}/{1 if first else 0}",
                        level=r.level + 1)
    if not body:
        raise r.error("layers must list at least one layer (the body to repeat)")
    rows = sum(layer.row_count() for layer in first) + (times - bool(first)) * sum(layer.row_count() for layer in body)
    paths = _block_paths(first) + (times - bool(first)) * _block_paths(body)
    check_size(r.error, f"{times:,} copies", rows, paths)
    return repeated(r.name, body, times, first)


def _block_paths(layers: tuple[Layer, ...]) -> int:
    """Paths of one block of a repeat (repeated() wraps a body of several layers in a sequence)."""
    return sum(layer.path_count() for layer in layers) + (len(layers) > 1)


def _se(r: Reader, d: Defaults) -> SESpec:
    reduce = r.raw("reduce", required=True)
    whole = isinstance(reduce, int) and not isinstance(reduce, bool)
    ratio = isinstance(reduce, float) and 0 < reduce <= 1
    if not (whole and 1 <= reduce <= MAX_CHANNELS or ratio):
        raise r.error(f"reduce must be the squeeze width (a whole number, 1 to {MAX_CHANNELS:,}) or a ratio of the "
                      f"input's channels above 0 and at most 1 (0.25), got {shown(reduce)}")
    return SESpec(name=r.name, reduce=reduce, divisor=r.count("divisor", 1, limit=MAX_CHANNELS),
                  activation=r.choice("activation", ACTIVATION_CHOICES, d.activation),
                  gate=r.choice("gate", ACTIVATION_CHOICES, "sigmoid"), bias=r.flag("bias", True))


def _sequence(r: Reader, d: Defaults) -> SequenceSpec:
    layers = parse_layers(r.sequence("layers", required=True), d, context=r.layer, level=r.level + 1)
    if not layers:
        raise r.error("layers must list at least one layer")
    return SequenceSpec(name=r.name, layers=layers)


PARSERS: dict[str, Callable[[Reader, Defaults], Layer]] = {
    "conv": _conv,
    "maxpool": _pool(MaxPoolSpec),
    "avgpool": _pool(AvgPoolSpec),
    "global_avgpool": lambda r, d: GlobalAvgPoolSpec(name=r.name),
    "adaptive_avgpool": lambda r, d: AdaptiveAvgPoolSpec(name=r.name, output=r.pair("output")),
    "global_maxpool": lambda r, d: GlobalMaxPoolSpec(name=r.name),
    "adaptive_maxpool": lambda r, d: AdaptiveMaxPoolSpec(name=r.name, output=r.pair("output")),
    "lrn": lambda r, d: LRNSpec(name=r.name, size=r.count("size", 5, limit=MAX_CHANNELS),
                                alpha=r.number("alpha", 1e-4), beta=r.number("beta", 0.75),
                                k=r.number("k", 1.0)),
    "batchnorm": lambda r, d: BatchNormSpec(name=r.name, eps=r.number("eps", 1e-5, high=1.0),
                                            momentum=r.number("momentum", 0.1, low=0.0, low_open=False, high=1.0)),
    "dropout": lambda r, d: DropoutSpec(name=r.name, p=r.number("p", low=0.0, high=0.999999,
                                                                 low_open=False)),
    "flatten": lambda r, d: FlattenSpec(name=r.name),
    "linear": lambda r, d: LinearSpec(name=r.name, out=r.count("out"), bias=r.flag("bias", d.bias),
                                      activation=r.choice("activation", ACTIVATION_CHOICES, "none")),
    "softmax": lambda r, d: SoftmaxSpec(name=r.name),
    "layernorm": lambda r, d: LayerNormSpec(name=r.name, eps=r.number("eps", 1e-5, high=1.0)),
    "layer_scale": lambda r, d: LayerScaleSpec(name=r.name, init=r.number("init", 1e-6, low=-1e6, low_open=False,
                                                                          high=1e6)),
    "channel_shuffle": lambda r, d: ChannelShuffleSpec(name=r.name, groups=r.count("groups")),
    "inception": _inception,
    "branches": _branches,
    "sequence": _sequence,
    "repeat": _repeat,
    "se": _se,
}
PARSERS.update({function: (lambda r, d, function=function: ACTIVATION_SPECS[function](
    name=r.name, **({"slope": r.number("slope", 0.01, low=0.0, low_open=False, high=1e6)}
                    if function == "leaky_relu" else {}))) for function in ACTIVATIONS})
MAX_NESTING = 16  # composite layers inside composite layers; Inception v3 and EfficientNet need 3


def check_size(error: Callable[[str], SpecError], what: str, rows: int, paths: int, *, final: bool = True) -> None:
    """Refuse `what` when it makes more than MAX_ROWS rows or MAX_PATHS parallel paths. Checked
    while a list is read too (`final` False: the counts so far), so no list of layers, paths or
    repeated blocks is ever built much past the bounds before it is refused."""
    counted = "" if final else "at least "
    if rows > MAX_ROWS:
        raise error(f"{what} make {counted}{rows:,} rows, more than {MAX_ROWS:,}: too large to analyze")
    if paths > MAX_PATHS:
        raise error(f"{what} make {counted}{paths:,} parallel paths, more than {MAX_PATHS:,}: too large to analyze")


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
    reader = Reader(item, layer=f"{context}/{name}" if nested else name, level=level, name=name)
    reader.asked += ["name", "type"]
    if not isinstance(kind, str):
        raise reader.error(f"type must be text such as conv, got {shown(kind)}")
    if kind not in PARSERS:
        raise reader.error(f"unknown layer type {shown(kind)}{did_you_mean(kind, PARSERS)}; known types: "
                           + ", ".join(sorted(PARSERS)))
    if level > MAX_NESTING:
        raise reader.error(f"composite layers nest more than {MAX_NESTING} deep here")
    paper = _paper(reader)
    times = reader.raw("repeat", None) if kind != "repeat" else None
    layer = PARSERS[kind](reader, defaults)
    reader.finish()
    if times is not None:  # the paper's figures belong to the whole row
        layer = _repeated_key(reader, layer, times)
    return layer if paper is None else _with_paper(layer, paper)


def _repeated_key(r: Reader, layer: Layer, times: Any) -> Layer:
    """`{type: branches, repeat: 3, ...}` (any layer type): the same as `{type: repeat, times: 3,
    layers: [{type: branches, ...}]}`, rows `<name>/0` ..."""
    times = r.check_count("repeat", times, MAX_ROWS)
    check_size(r.error, f"repeat: {times:,} copies", times * layer.row_count(), times * layer.path_count())
    return repeated(layer.name, (layer,), times)


def _with_paper(layer: Layer, paper: PaperFigures) -> Layer:
    from dataclasses import replace

    return replace(layer, paper=paper)
