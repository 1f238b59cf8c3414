"""The layers with weights: convolution (with its optional batch norm and activation) and linear."""
from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from ...quantity import NumberError, parse_real
from ..geometry import ShapeError, same_padding, window_out
from ..reader import MAX_CHANNELS, Reader
from .activations import ACTIVATION_CHOICES, RELU, activation_module
from .base import (Cost, Field, Layer, ModuleKit, Pair, Shape, Traffic, batch_norm_traffic, elementwise, feature_map,
                   layer_type, numel, pair_text)
from .plain import BatchNormSpec

BATCH_NORM = BatchNormSpec.type_name
NORMS = (BATCH_NORM, "none")  # the `norm` key of conv, inception and defaults
MAX_EXPANSION = 1000.0  # a conv's width relative to its input's, at most

# What a conv is for, which compare's variants select by (docs/spec-format.md, "Roles"): reduce
# (a 1x1 narrowing the channels in front of a larger conv: --reduce, --reduce-scale, --no-reduce,
# --naive), pool_proj (the 1x1 after an inception pool: --naive), expand (a 1x1 widening the
# channels), project (the 1x1 to a block's output width), shortcut (a residual block's projection).
ROLES = ("reduce", "pool_proj", "expand", "project", "shortcut")


def implied_role(name: str) -> str:
    """The role of a conv written without `role:`, from the paper's vocabulary in its name: `*_reduce`
    is a reduce, `*pool_proj*` a pool_proj; any other name, none."""
    if fnmatchcase(name, "*_reduce"):
        return "reduce"
    return "pool_proj" if fnmatchcase(name, "*pool_proj*") else "none"


def conv_keys(r: Reader) -> dict[str, Any]:
    """The keys every conv of a layer shares, from the spec's defaults: bias, activation, norm,
    norm_eps (a conv's own, and an inception module's for its six)."""
    d = r.defaults
    return dict(bias=r.flag("bias", d.bias), activation=r.choice("activation", ACTIVATION_CHOICES, d.activation),
                norm=r.choice("norm", NORMS, d.norm), norm_eps=r.number("norm_eps", d.norm_eps, high=1.0))


def _expansion(r: Reader) -> float:
    try:
        return parse_real(r.raw("expansion"), what="expansion", low=0, low_open=True, high=MAX_EXPANSION, text=False,
                          expect=f"a number above 0 and at most {MAX_EXPANSION:g} (times the input's width)")
    except NumberError as e:
        raise r.error(str(e)) from None


@layer_type("conv")
@dataclass(frozen=True, kw_only=True)
class ConvSpec(Layer):
    out: int | None  # its width; None: relative to its input's (expansion, or a depthwise conv's own)
    kernel: Pair
    stride: Pair = (1, 1)
    padding: Pair | str = (0, 0)  # or "same"
    groups: int = 1
    dilation: Pair = (1, 1)
    bias: bool = True
    activation: str = RELU  # one of ACTIVATION_CHOICES
    norm: str = "none"  # one of NORMS; a batch norm sits between conv and activation
    norm_eps: float = 1e-5
    # one of ROLES or None: what the conv is for; it builds nothing, so equal convs of other roles
    # are equal (built and measured once)
    role: str | None = field(default=None, compare=False)
    # A width relative to the input's, so that a block's widths follow what reaches it (MobileNetV2's
    # inverted residual: the expand conv is `expansion` times the block's input, its depthwise conv as
    # wide as that): the width round(input x expansion), at least 1; `depthwise`: groups = the input's
    # channels, and the width the input's unless `out` or `expansion` says otherwise.
    expansion: float | None = None
    depthwise: bool = False

    @classmethod
    def parse(cls, r: Reader) -> "ConvSpec":
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
        return cls(name=r.name, out=out, kernel=r.pair("kernel"), expansion=expansion, depthwise=depthwise,
                   stride=r.pair("stride", 1), padding="same" if padding == "same" else r.padding(padding),
                   groups=r.count("groups", 1), dilation=r.pair("dilation", 1), role=None if role == "none" else role,
                   **conv_keys(r))

    def build(self, in_shape: Shape, kit: ModuleKit) -> Any:
        out_shape = self.out_shape(in_shape)
        modules = [kit.nn.Conv2d(in_shape[0], out_shape[0], self.kernel, self.stride, self.resolved_padding(),
                                 dilation=self.dilation, groups=self.group_count(in_shape[0]), bias=self.bias,
                                 device=kit.device)]
        if self.norm == BATCH_NORM:
            modules.append(BatchNormSpec(name="", eps=self.norm_eps).build(out_shape, kit))
        activation = activation_module(self.activation, kit)
        if activation is not None:
            modules.append(activation)
        return modules[0] if len(modules) == 1 else kit.nn.Sequential(*modules)

    def width(self, in_channels: int) -> int:
        """The output channels, given the input's."""
        if self.out is not None:
            return self.out
        if self.expansion is not None:
            return max(1, round(in_channels * self.expansion))
        return in_channels

    def normalizes_batch(self) -> bool:
        return self.norm == BATCH_NORM

    def group_count(self, in_channels: int) -> int:
        return in_channels if self.depthwise else self.groups

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
        c, h, w = feature_map(in_shape, self.type_name)
        out, groups = self.width(c), self.group_count(c)
        if out > MAX_CHANNELS:
            raise ShapeError(f"expansion {self.expansion:g} makes {out:,} channels of its input's {c:,} "
                             f"(at most {MAX_CHANNELS:,})")
        if c % groups or out % groups:
            raise ShapeError(f"groups {groups} must divide both input channels {c} and out {out}")
        ph, pw = self.resolved_padding()
        (kh, kw) = self.span()
        return (out, window_out(h, kh, self.stride[0], ph), window_out(w, kw, self.stride[1], pw))

    def cost(self, in_shape: Shape) -> Cost:
        out, h, w = self.out_shape(in_shape)
        per_output = (in_shape[0] // self.group_count(in_shape[0])) * self.kernel[0] * self.kernel[1]
        weights = out * per_output
        extra = (out if self.bias else 0) + (2 * out if self.norm == BATCH_NORM else 0)
        return Cost(weights + extra, weights, out * h * w * per_output)

    def traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        """The convolution reads its input, kernel and bias and writes its output; then the batch
        norm and the activation, each over the output."""
        width = self.out_shape(in_shape)[0]
        out = batch * numel(self.out_shape(in_shape))
        kernel = width * (in_shape[0] // self.group_count(in_shape[0])) * self.kernel[0] * self.kernel[1]
        total = Traffic(batch * numel(in_shape) + kernel + (width if self.bias else 0) + out)
        if self.norm == BATCH_NORM:
            total = total + batch_norm_traffic(width, out, train)
        return total + (elementwise(out) if self.activation != "none" else Traffic())

    def receptive(self, rf: Field, in_shape: Shape) -> Field:
        return rf.through(self.span(), self.stride)

    def kernel_text(self) -> str:
        dilated = f" d{self.dilation[0]}" if self.dilation == (self.dilation[0],) * 2 else f" d{self.dilation[0]}x{self.dilation[1]}"
        return pair_text(self.kernel, self.stride) + ("" if self.dilation == (1, 1) else dilated)



@layer_type("linear")
@dataclass(frozen=True, kw_only=True)
class LinearSpec(Layer):
    out: int
    bias: bool = True
    activation: str = "none"

    @classmethod
    def parse(cls, r: Reader) -> "LinearSpec":
        return cls(name=r.name, out=r.count("out"), bias=r.flag("bias", r.defaults.bias),
                   activation=r.choice("activation", ACTIVATION_CHOICES, "none"))

    def build(self, in_shape: Shape, kit: ModuleKit) -> Any:
        fc = kit.nn.Linear(in_shape[0], self.out, bias=self.bias, device=kit.device)
        activation = activation_module(self.activation, kit)
        return fc if activation is None else kit.nn.Sequential(fc, activation)

    def out_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) != 1:
            raise ShapeError(f"linear needs a flat input, got a feature map {in_shape}: add a flatten layer before "
                             "it for one output per sample, or, to apply it to every pixel over the channels (a "
                             "per-pixel linear, as ConvNeXt's MLP), write it as a 1x1 conv: {type: conv, out: N, "
                             "kernel: 1} has the same weights and MACs")
        return (self.out,)

    def cost(self, in_shape: Shape) -> Cost:
        weights = in_shape[0] * self.out
        return Cost(weights + (self.out if self.bias else 0), weights, weights)

    def traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        """The matrix product reads the input, the weight and the bias and writes the output; then
        the activation."""
        out = batch * self.out
        moved = Traffic(batch * in_shape[0] + self.cost(in_shape).params + out)
        return moved + (elementwise(out) if self.activation != "none" else Traffic())

