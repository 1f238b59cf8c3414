"""Layer specs: frozen dataclasses, one per YAML `type`, with their closed-form arithmetic.

Pure Python (no torch). Every layer knows, from its input shape alone, its output shape, its cost
(params, weights, MACs) and how it widens the receptive field. The counting rule:
MACs are the multiply-accumulates of conv and linear layers, per sample; params include biases
and normalization affine parameters; weights are the conv and linear kernels only.
Shapes are (C, H, W) for feature maps and (F,) for flat vectors.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property
from typing import ClassVar, Iterator

from .geometry import ShapeError, same_padding, window_out
from .quantity import Quantity

Shape = tuple[int, ...]
Pair = tuple[int, int]


@dataclass(frozen=True)
class Cost:
    params: int = 0
    weights: int = 0
    macs: int = 0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.params + other.params, self.weights + other.weights, self.macs + other.macs)


@dataclass(frozen=True)
class Field:
    """Receptive field size and the distance between neighbouring outputs, in input pixels."""

    size: Pair = (1, 1)
    jump: Pair = (1, 1)

    def through(self, kernel: Pair, stride: Pair, dilation: int = 1) -> "Field":
        size = tuple(s + (k - 1) * dilation * j for s, k, j in zip(self.size, kernel, self.jump))
        jump = tuple(j * st for j, st in zip(self.jump, stride))
        return Field(size, jump)  # type: ignore[arg-type]

    def whole(self, in_shape: Shape) -> "Field":
        """Every output sees every input position (global pooling, flatten)."""
        if len(in_shape) != 3:
            return self
        return self.through((in_shape[1], in_shape[2]), (1, 1))


@dataclass(frozen=True)
class PaperFigures:
    """What the paper printed for a row: params (compared with our weights), ops (MACs), output."""

    params: Quantity | None = None
    ops: Quantity | None = None
    output: Shape | None = None  # (C, H, W), parsed from the paper's HxWxC


LAYER_TYPES: dict[str, type["Layer"]] = {}


def layer_type(name: str):
    """Register a layer spec class under its YAML `type`."""

    def register(cls: type["Layer"]) -> type["Layer"]:
        if name in LAYER_TYPES:
            raise RuntimeError(f"layer type {name!r} registered twice")
        cls.type_name = name
        LAYER_TYPES[name] = cls
        return cls

    return register


def numel(shape: Shape) -> int:
    """Elements in a tensor of this shape."""
    return math.prod(shape)


def _feature_map(in_shape: Shape, what: str) -> Shape:
    if len(in_shape) != 3:
        raise ShapeError(f"{what} needs a C x H x W feature map, got the flat vector {in_shape}")
    return in_shape


@dataclass(frozen=True, kw_only=True)
class Layer:
    name: str
    paper: PaperFigures | None = None
    type_name: ClassVar[str] = ""

    def out_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def cost(self, in_shape: Shape) -> Cost:
        return Cost()

    def receptive(self, rf: Field, in_shape: Shape) -> Field:
        return rf

    def kernel_text(self) -> str:
        return ""

    def branches(self) -> tuple[tuple["Layer", ...], ...]:
        """The parallel paths of a composite layer; empty for a plain one."""
        return ()

    def build_key(self, in_shape: Shape) -> tuple["Layer", Shape]:
        """Layers with equal keys build the same module: the layer without its own name and paper
        figures, and its input shape (children keep their names, which name report rows)."""
        return replace(self, name="", paper=None), in_shape


def _pair_text(kernel: Pair, stride: Pair) -> str:
    k = f"{kernel[0]}x{kernel[1]}"
    s = str(stride[0]) if stride[0] == stride[1] else f"{stride[0]}x{stride[1]}"
    return f"{k}/{s}"


@layer_type("conv")
@dataclass(frozen=True, kw_only=True)
class ConvSpec(Layer):
    out: int
    kernel: Pair
    stride: Pair = (1, 1)
    padding: Pair | str = (0, 0)  # or "same"
    groups: int = 1
    dilation: Pair = (1, 1)
    bias: bool = True
    activation: str = "relu"  # one of ACTIVATION_CHOICES
    norm: str = "none"  # "batchnorm" or "none"; a batchnorm sits between conv and activation
    norm_eps: float = 1e-5

    def span(self) -> Pair:
        """The input window one output sees: dilation x (kernel - 1) + 1 in each direction."""
        return (self.dilation[0] * (self.kernel[0] - 1) + 1, self.dilation[1] * (self.kernel[1] - 1) + 1)

    def resolved_padding(self) -> Pair:
        if self.padding == "same":
            if self.stride != (1, 1):
                raise ShapeError("padding 'same' needs stride 1")
            return (same_padding(self.span()[0]), same_padding(self.span()[1]))
        return self.padding  # type: ignore[return-value]

    def out_shape(self, in_shape: Shape) -> Shape:
        c, h, w = _feature_map(in_shape, "conv")
        if c % self.groups or self.out % self.groups:
            raise ShapeError(f"groups {self.groups} must divide both input channels {c}"
                             f" and out {self.out}")
        ph, pw = self.resolved_padding()
        (kh, kw) = self.span()
        return (self.out, window_out(h, kh, self.stride[0], ph), window_out(w, kw, self.stride[1], pw))

    def cost(self, in_shape: Shape) -> Cost:
        _, h, w = self.out_shape(in_shape)
        per_output = (in_shape[0] // self.groups) * self.kernel[0] * self.kernel[1]
        weights = self.out * per_output
        extra = (self.out if self.bias else 0) + (2 * self.out if self.norm == "batchnorm" else 0)
        return Cost(weights + extra, weights, self.out * h * w * per_output)

    def receptive(self, rf: Field, in_shape: Shape) -> Field:
        return rf.through(self.span(), self.stride)

    def kernel_text(self) -> str:
        dilated = f" d{self.dilation[0]}" if self.dilation == (self.dilation[0],) * 2 else f" d{self.dilation[0]}x{self.dilation[1]}"
        return _pair_text(self.kernel, self.stride) + ("" if self.dilation == (1, 1) else dilated)


@dataclass(frozen=True, kw_only=True)
class _PoolSpec(Layer):
    kernel: Pair
    stride: Pair
    padding: Pair = (0, 0)
    ceil_mode: bool = False

    def out_shape(self, in_shape: Shape) -> Shape:
        c, h, w = _feature_map(in_shape, self.type_name)
        for k, p in zip(self.kernel, self.padding):
            if p > k // 2:
                raise ShapeError(f"padding {p} must be at most half the kernel {k}")
        return (c, window_out(h, self.kernel[0], self.stride[0], self.padding[0], ceil_mode=self.ceil_mode),
                window_out(w, self.kernel[1], self.stride[1], self.padding[1], ceil_mode=self.ceil_mode))

    def receptive(self, rf: Field, in_shape: Shape) -> Field:
        return rf.through(self.kernel, self.stride)

    def kernel_text(self) -> str:
        return _pair_text(self.kernel, self.stride)


@layer_type("maxpool")
@dataclass(frozen=True, kw_only=True)
class MaxPoolSpec(_PoolSpec):
    pass


@layer_type("avgpool")
@dataclass(frozen=True, kw_only=True)
class AvgPoolSpec(_PoolSpec):
    pass


@layer_type("global_avgpool")
@dataclass(frozen=True, kw_only=True)
class GlobalAvgPoolSpec(Layer):
    def out_shape(self, in_shape: Shape) -> Shape:
        return (_feature_map(in_shape, "global_avgpool")[0], 1, 1)

    def receptive(self, rf: Field, in_shape: Shape) -> Field:
        return rf.whole(in_shape)


@layer_type("global_maxpool")
@dataclass(frozen=True, kw_only=True)
class GlobalMaxPoolSpec(GlobalAvgPoolSpec):
    """The largest value of each channel: C x 1 x 1."""


@layer_type("adaptive_avgpool")
@dataclass(frozen=True, kw_only=True)
class AdaptiveAvgPoolSpec(Layer):
    output: Pair

    def out_shape(self, in_shape: Shape) -> Shape:
        c, h, w = _feature_map(in_shape, "adaptive_avgpool")
        if self.output[0] > h or self.output[1] > w:
            raise ShapeError(f"output {self.output[0]}x{self.output[1]} is larger than its input {h}x{w}")
        return (c, *self.output)

    def receptive(self, rf: Field, in_shape: Shape) -> Field:
        # PyTorch's adaptive window i spans [floor(i*n/o), ceil((i+1)*n/o)); take the widest
        def widest(n: int, o: int) -> int:
            return max(-(-(i + 1) * n // o) - (i * n // o) for i in range(o))

        _, h, w = in_shape
        (oh, ow) = self.output
        return rf.through((widest(h, oh), widest(w, ow)), (max(h // oh, 1), max(w // ow, 1)))


@layer_type("adaptive_maxpool")
@dataclass(frozen=True, kw_only=True)
class AdaptiveMaxPoolSpec(AdaptiveAvgPoolSpec):
    """Max over PyTorch's adaptive windows: the same output shape and receptive field."""


@layer_type("lrn")
@dataclass(frozen=True, kw_only=True)
class LRNSpec(Layer):
    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0

    def out_shape(self, in_shape: Shape) -> Shape:
        return _feature_map(in_shape, "lrn")


@layer_type("batchnorm")
@dataclass(frozen=True, kw_only=True)
class BatchNormSpec(Layer):
    eps: float = 1e-5

    def out_shape(self, in_shape: Shape) -> Shape:
        return _feature_map(in_shape, "batchnorm")

    def cost(self, in_shape: Shape) -> Cost:
        return Cost(params=2 * in_shape[0])


ACTIVATIONS = ("relu", "relu6", "leaky_relu", "sigmoid", "hardsigmoid", "tanh", "silu", "hardswish", "gelu")
ACTIVATION_CHOICES = ("none", *ACTIVATIONS)  # the `activation` key of conv, linear, inception, defaults


@dataclass(frozen=True, kw_only=True)
class ActivationSpec(Layer):
    """An elementwise non-linearity, one layer type per function (ACTIVATIONS): no parameters, no
    MACs, the shape unchanged."""

    slope: float = 0.01  # leaky_relu's negative slope


def _activation_type(function: str) -> type[ActivationSpec]:
    title = "".join(part.title() for part in function.split("_"))
    cls = dataclass(frozen=True, kw_only=True)(type(f"{title}Spec", (ActivationSpec,), {"__module__": __name__}))
    return layer_type(function)(cls)


ACTIVATION_SPECS: dict[str, type[ActivationSpec]] = {function: _activation_type(function) for function in ACTIVATIONS}
ReLUSpec = ACTIVATION_SPECS["relu"]


@layer_type("softmax")
@dataclass(frozen=True, kw_only=True)
class SoftmaxSpec(Layer):
    pass


@layer_type("dropout")
@dataclass(frozen=True, kw_only=True)
class DropoutSpec(Layer):
    p: float


@layer_type("flatten")
@dataclass(frozen=True, kw_only=True)
class FlattenSpec(Layer):
    def out_shape(self, in_shape: Shape) -> Shape:
        return (numel(in_shape),)

    def receptive(self, rf: Field, in_shape: Shape) -> Field:
        return rf.whole(in_shape)


@layer_type("linear")
@dataclass(frozen=True, kw_only=True)
class LinearSpec(Layer):
    out: int
    bias: bool = True
    activation: str = "none"

    def out_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) != 1:
            raise ShapeError(f"linear needs a flat input, got a feature map {in_shape};"
                             " add a flatten layer before it")
        return (self.out,)

    def cost(self, in_shape: Shape) -> Cost:
        weights = in_shape[0] * self.out
        return Cost(weights + (self.out if self.bias else 0), weights, weights)


def walk(layers: tuple[Layer, ...], in_shape: Shape) -> Iterator[tuple[Layer, Shape, Shape]]:
    """(layer, input shape, output shape) along a sequence, raising ShapeError where it breaks."""
    shape = in_shape
    for layer in layers:
        out = layer.out_shape(shape)
        yield layer, shape, out
        shape = out


def path_out(layers: tuple[Layer, ...], in_shape: Shape) -> Shape:
    shape = in_shape
    for _, _, shape in walk(layers, in_shape):
        pass
    return shape


class CompositeSpec(Layer):
    """A layer made of paths of other layers; its cost is the sum of theirs."""

    def cost(self, in_shape: Shape) -> Cost:
        total = Cost()
        for path in self.branches():
            for layer, layer_in, _ in walk(path, in_shape):
                total = total + layer.cost(layer_in)
        return total

    def receptive(self, rf: Field, in_shape: Shape) -> Field:
        best = None
        for path in self.branches():
            current = rf
            for layer, layer_in, _ in walk(path, in_shape):
                current = layer.receptive(current, layer_in)
            if best is None or current.size > best.size:
                best = current
        return best or rf


@layer_type("sequence")
@dataclass(frozen=True, kw_only=True)
class SequenceSpec(CompositeSpec):
    """Layers run one after another and reported as one row (e.g. Table 1's "convolution 3x3"
    row, which is a 1x1 reduce followed by the 3x3, or an auxiliary classifier)."""

    layers: tuple[Layer, ...]

    def branches(self) -> tuple[tuple[Layer, ...], ...]:
        return (self.layers,)

    def out_shape(self, in_shape: Shape) -> Shape:
        return path_out(self.layers, in_shape)


class ParallelSpec(CompositeSpec):
    """Parallel paths over the same input, merged by channel concat or elementwise add."""

    merge: ClassVar[str] = "concat"

    def out_shape(self, in_shape: Shape) -> Shape:
        outs = [path_out(path, in_shape) for path in self.branches()]
        if self.merge == "add":
            if any(o != outs[0] for o in outs):
                raise ShapeError("branches merged by add must have equal shapes, got "
                                 + ", ".join("x".join(map(str, o)) for o in outs))
            return outs[0]
        if any(len(o) != 3 for o in outs):
            raise ShapeError("branches merged by concat must end in C x H x W feature maps")
        spatial = {o[1:] for o in outs}
        if len(spatial) > 1:
            raise ShapeError("branches merged by concat must have equal H x W, got "
                             + ", ".join(f"{h}x{w}" for h, w in sorted(spatial)))
        return (sum(o[0] for o in outs), *outs[0][1:])


@layer_type("branches")
@dataclass(frozen=True, kw_only=True)
class BranchesSpec(ParallelSpec):
    """Generic parallel paths; an empty path is the identity (a residual shortcut)."""

    paths: tuple[tuple[Layer, ...], ...]
    merge: str = "concat"  # type: ignore[misc]  # "concat" (channels) or "add" (elementwise)

    def branches(self) -> tuple[tuple[Layer, ...], ...]:
        return self.paths


INCEPTION_COLUMNS = ("1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool_proj")
REDUCE_COLUMNS = ("3x3_reduce", "5x5_reduce")


@layer_type("inception")
@dataclass(frozen=True, kw_only=True)
class InceptionSpec(ParallelSpec):
    """The paper's module; `widths` are the six Table 1 columns, in INCEPTION_COLUMNS order.

    A reduce width or pool_proj of None removes that 1x1 conv (all three None is the paper's
    Figure 2(a) "naive" module). `kernel_5x5` exists for torchvision's GoogLeNet, whose "5x5"
    branch is a 3x3 (pytorch/vision#906).
    """

    widths: tuple[int | None, ...]
    kernel_5x5: int = 5
    conv: ConvSpec | None = None  # template carrying bias / activation / norm for every conv

    def width(self, column: str) -> int | None:
        return self.widths[INCEPTION_COLUMNS.index(column)]

    def with_widths(self, **changes: int | None) -> "InceptionSpec":
        widths = tuple(changes.get(c, w) for c, w in zip(INCEPTION_COLUMNS, self.widths))
        return replace(self, widths=widths)

    def branches(self) -> tuple[tuple[Layer, ...], ...]:
        return self._branches

    @cached_property
    def _branches(self) -> tuple[tuple[Layer, ...], ...]:
        """Expanded once per (immutable) module; planning, counting and building all read it."""
        template = self.conv or ConvSpec(name="", out=1, kernel=(1, 1))

        def conv(column: str, kernel: int) -> tuple[Layer, ...]:
            width = self.width(column)
            if width is None:
                return ()
            pad = (kernel - 1) // 2
            return (replace(template, name=column, out=width, kernel=(kernel, kernel),
                            stride=(1, 1), padding=(pad, pad), groups=1, paper=None),)

        pool = MaxPoolSpec(name="pool", kernel=(3, 3), stride=(1, 1), padding=(1, 1), ceil_mode=True)
        return (
            conv("1x1", 1),
            conv("3x3_reduce", 1) + conv("3x3", 3),
            conv("5x5_reduce", 1) + conv("5x5", self.kernel_5x5),
            (pool,) + conv("pool_proj", 1),
        )
