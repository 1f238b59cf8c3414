"""Plain layer specs (no children): convolution, pooling, normalization, linear and the rest."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..geometry import ShapeError, same_padding, window_out
from .base import (INDEX_BYTES, Cost, Field, Layer, Pair, Shape, Traffic, batch_norm_traffic, elementwise, feature_map,
                   layer_type, numel)

MAX_CHANNELS = 1 << 20  # channels of a feature map (a conv's out, a concat's sum), features of a linear layer


def _pair_text(kernel: Pair, stride: Pair) -> str:
    k = f"{kernel[0]}x{kernel[1]}"
    s = str(stride[0]) if stride[0] == stride[1] else f"{stride[0]}x{stride[1]}"
    return f"{k}/{s}"


# What a conv is for, which compare's variants select by (docs/spec-format.md, "Roles"): reduce
# (a 1x1 narrowing the channels in front of a larger conv: --reduce, --reduce-scale, --no-reduce,
# --naive), pool_proj (the 1x1 after an inception pool: --naive), expand (a 1x1 widening the
# channels), project (the 1x1 to a block's output width), shortcut (a residual block's projection).
ROLES = ("reduce", "pool_proj", "expand", "project", "shortcut")


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
    activation: str = "relu"  # one of ACTIVATION_CHOICES
    norm: str = "none"  # "batchnorm" or "none"; a batchnorm sits between conv and activation
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

    def width(self, in_channels: int) -> int:
        """The output channels, given the input's."""
        if self.out is not None:
            return self.out
        if self.expansion is not None:
            return max(1, round(in_channels * self.expansion))
        return in_channels

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
        c, h, w = feature_map(in_shape, "conv")
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
        extra = (out if self.bias else 0) + (2 * out if self.norm == "batchnorm" else 0)
        return Cost(weights + extra, weights, out * h * w * per_output)

    def traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        """The convolution reads its input, kernel and bias and writes its output; then the batch
        norm and the activation, each over the output."""
        width = self.out_shape(in_shape)[0]
        out = batch * numel(self.out_shape(in_shape))
        kernel = width * (in_shape[0] // self.group_count(in_shape[0])) * self.kernel[0] * self.kernel[1]
        total = Traffic(batch * numel(in_shape) + kernel + (width if self.bias else 0) + out)
        if self.norm == "batchnorm":
            total = total + batch_norm_traffic(width, out, train)
        return total + (elementwise(out) if self.activation != "none" else Traffic())

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
        c, h, w = feature_map(in_shape, self.type_name)
        for k, p in zip(self.kernel, self.padding):
            if p > k // 2:
                raise ShapeError(f"padding {p} must be at most half the kernel {k}")
        return (c, window_out(h, self.kernel[0], self.stride[0], self.padding[0], ceil_mode=self.ceil_mode),
                window_out(w, self.kernel[1], self.stride[1], self.padding[1], ceil_mode=self.ceil_mode))

    def receptive(self, rf: Field, in_shape: Shape) -> Field:
        return rf.through(self.kernel, self.stride)

    def kernel_text(self) -> str:
        return _pair_text(self.kernel, self.stride)

    def traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        return _pooling(self, in_shape, batch)


def _pooling(layer: Layer, in_shape: Shape, batch: int, indices: bool = False) -> Traffic:
    """A pooling operator reads its input and writes its output (a max pool also its int64
    indices, which PyTorch's eager max pool computes for a backward even without one)."""
    out = batch * numel(layer.out_shape(in_shape))
    return Traffic(batch * numel(in_shape) + out, INDEX_BYTES * out if indices else 0)


@layer_type("maxpool")
@dataclass(frozen=True, kw_only=True)
class MaxPoolSpec(_PoolSpec):
    def traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        return _pooling(self, in_shape, batch, indices=True)


@layer_type("avgpool")
@dataclass(frozen=True, kw_only=True)
class AvgPoolSpec(_PoolSpec):
    pass


@layer_type("global_avgpool")
@dataclass(frozen=True, kw_only=True)
class GlobalAvgPoolSpec(Layer):
    def out_shape(self, in_shape: Shape) -> Shape:
        return (feature_map(in_shape, "global_avgpool")[0], 1, 1)

    def receptive(self, rf: Field, in_shape: Shape) -> Field:
        return rf.whole(in_shape)

    def traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        return _pooling(self, in_shape, batch)


@layer_type("global_maxpool")
@dataclass(frozen=True, kw_only=True)
class GlobalMaxPoolSpec(GlobalAvgPoolSpec):
    """The largest value of each channel: C x 1 x 1."""

    def traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        return _pooling(self, in_shape, batch, indices=True)


@layer_type("adaptive_avgpool")
@dataclass(frozen=True, kw_only=True)
class AdaptiveAvgPoolSpec(Layer):
    output: Pair

    def out_shape(self, in_shape: Shape) -> Shape:
        c, h, w = feature_map(in_shape, "adaptive_avgpool")
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

    def traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        return _pooling(self, in_shape, batch)


@layer_type("adaptive_maxpool")
@dataclass(frozen=True, kw_only=True)
class AdaptiveMaxPoolSpec(AdaptiveAvgPoolSpec):
    """Max over PyTorch's adaptive windows: the same output shape and receptive field."""

    def traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        return _pooling(self, in_shape, batch, indices=True)


@layer_type("lrn")
@dataclass(frozen=True, kw_only=True)
class LRNSpec(Layer):
    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0

    def out_shape(self, in_shape: Shape) -> Shape:
        return feature_map(in_shape, "lrn")

    def traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        """PyTorch's local_response_norm, operator by operator: x*x (2N), the squares padded along
        the channels (N + Np), a 3-D average pool over them (Np + N), times alpha, plus k, to the
        power beta (2N each), and the input divided by that (3N): it moves 13N + 2Np elements
        where a fused kernel would read N and write N."""
        c, h, w = in_shape
        n = batch * c * h * w
        padded = batch * (c + self.size // 2 + (self.size - 1) // 2) * h * w
        return Traffic(13 * n + 2 * padded)


@layer_type("batchnorm")
@dataclass(frozen=True, kw_only=True)
class BatchNormSpec(Layer):
    eps: float = 1e-5
    momentum: float = 0.1  # running statistics' update rate in training; no cost

    def out_shape(self, in_shape: Shape) -> Shape:
        return feature_map(in_shape, "batchnorm")

    def cost(self, in_shape: Shape) -> Cost:
        return Cost(params=2 * in_shape[0])

    def traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        return batch_norm_traffic(in_shape[0], batch * numel(in_shape), train)


@layer_type("softmax")
@dataclass(frozen=True, kw_only=True)
class SoftmaxSpec(Layer):
    pass


@layer_type("dropout")
@dataclass(frozen=True, kw_only=True)
class DropoutSpec(Layer):
    p: float

    def aliases_input(self, train: bool) -> bool:
        return not train or self.p == 0

    def traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        """Nothing in eval (the input passes through); in training PyTorch's eager dropout draws a
        mask in place (2N), scales it in place (2N) and multiplies the input by it (3N)."""
        if self.aliases_input(train):
            return Traffic()
        n = batch * numel(in_shape)
        return Traffic(2 * n + 2) if self.p == 1 else Traffic(7 * n)


@layer_type("flatten")
@dataclass(frozen=True, kw_only=True)
class FlattenSpec(Layer):
    def out_shape(self, in_shape: Shape) -> Shape:
        return (numel(in_shape),)

    def receptive(self, rf: Field, in_shape: Shape) -> Field:
        return rf.whole(in_shape)

    def aliases_input(self, train: bool) -> bool:
        return True

    def traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        return Traffic()  # a view


@layer_type("linear")
@dataclass(frozen=True, kw_only=True)
class LinearSpec(Layer):
    out: int
    bias: bool = True
    activation: str = "none"

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


@layer_type("layernorm")
@dataclass(frozen=True, kw_only=True)
class LayerNormSpec(Layer):
    """Layer normalization: on a C x H x W map over the C channels of each position, as ConvNeXt's
    LayerNorm2d (torchvision permutes to H x W x C, normalizes the last dimension and permutes
    back); on a flat vector over its features (nn.LayerNorm). A learned scale and shift per channel:
    2C params, no MACs."""

    eps: float = 1e-5

    def cost(self, in_shape: Shape) -> Cost:
        return Cost(params=2 * in_shape[0])

    def traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        """native_layer_norm reads the input, the weight and the bias and writes the output and the
        mean and inverse deviation of every normalized group (a position of a map, a sample of a
        vector); on a map, the permutes around it are views, and the N x C x H x W result is copied
        to a contiguous tensor (2N more)."""
        n = batch * numel(in_shape)
        norm = Traffic(2 * n + 2 * in_shape[0] + 2 * (n // in_shape[0]))
        return norm + (elementwise(n) if len(in_shape) == 3 else Traffic())


@layer_type("layer_scale")
@dataclass(frozen=True, kw_only=True)
class LayerScaleSpec(Layer):
    """A learned multiplier per channel (ConvNeXt's and CaiT's layer scale, `init` its starting
    value): C params, no MACs (an elementwise product, as a bias add is not one)."""

    init: float = 1e-6

    def cost(self, in_shape: Shape) -> Cost:
        return Cost(params=in_shape[0])

    def traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        """One product reading the C multipliers and the input and writing the output."""
        return Traffic(2 * batch * numel(in_shape) + in_shape[0])


@layer_type("channel_shuffle")
@dataclass(frozen=True, kw_only=True)
class ChannelShuffleSpec(Layer):
    """ShuffleNet's channel shuffle: the C channels seen as `groups` x C/groups, transposed, so that
    each group of the next grouped conv sees channels of every group. No params, no MACs; as
    torchvision writes it, views around one copy (2N elements moved)."""

    groups: int

    def out_shape(self, in_shape: Shape) -> Shape:
        c = feature_map(in_shape, "channel_shuffle")[0]
        if c % self.groups:
            raise ShapeError(f"groups {self.groups} must divide the input's {c} channels")
        return in_shape
