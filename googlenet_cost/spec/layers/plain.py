"""Plain layer specs without weights of a kernel: normalization, dropout, flatten, softmax, layer
scale and channel shuffle."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..geometry import ShapeError
from ..reader import MAX_CHANNELS, Reader
from .base import Cost, Field, Layer, ModuleKit, Shape, Traffic, batch_norm_traffic, elementwise, feature_map, layer_type, numel


@layer_type("lrn")
@dataclass(frozen=True, kw_only=True)
class LRNSpec(Layer):
    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0

    @classmethod
    def parse(cls, r: Reader) -> "LRNSpec":
        return cls(name=r.name, size=r.count("size", 5, limit=MAX_CHANNELS), alpha=r.number("alpha", 1e-4),
                   beta=r.number("beta", 0.75), k=r.number("k", 1.0))

    def build(self, in_shape: Shape, kit: ModuleKit) -> Any:
        return kit.blocks.LocalResponseNorm(self.size, self.alpha, self.beta, self.k)

    def out_shape(self, in_shape: Shape) -> Shape:
        return feature_map(in_shape, self.type_name)

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

    @classmethod
    def parse(cls, r: Reader) -> "BatchNormSpec":
        return cls(name=r.name, eps=r.number("eps", 1e-5, high=1.0),
                   momentum=r.number("momentum", 0.1, low=0.0, low_open=False, high=1.0))

    def build(self, in_shape: Shape, kit: ModuleKit) -> Any:
        return kit.nn.BatchNorm2d(in_shape[0], eps=self.eps, momentum=self.momentum, device=kit.device)

    def out_shape(self, in_shape: Shape) -> Shape:
        return feature_map(in_shape, self.type_name)

    def normalizes_batch(self) -> bool:
        return True

    def cost(self, in_shape: Shape) -> Cost:
        return Cost(params=2 * in_shape[0])

    def traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        return batch_norm_traffic(in_shape[0], batch * numel(in_shape), train)


@layer_type("softmax")
@dataclass(frozen=True, kw_only=True)
class SoftmaxSpec(Layer):
    def build(self, in_shape: Shape, kit: ModuleKit) -> Any:
        return kit.nn.Softmax(dim=1)


@layer_type("dropout")
@dataclass(frozen=True, kw_only=True)
class DropoutSpec(Layer):
    p: float

    @classmethod
    def parse(cls, r: Reader) -> "DropoutSpec":
        return cls(name=r.name, p=r.number("p", low=0.0, high=0.999999, low_open=False))

    def build(self, in_shape: Shape, kit: ModuleKit) -> Any:
        return kit.nn.Dropout(self.p)

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
    def build(self, in_shape: Shape, kit: ModuleKit) -> Any:
        return kit.nn.Flatten(1)

    def out_shape(self, in_shape: Shape) -> Shape:
        return (numel(in_shape),)

    def receptive(self, rf: Field, in_shape: Shape) -> Field:
        return rf.whole(in_shape)

    def aliases_input(self, train: bool) -> bool:
        return True

    def traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        return Traffic()  # a view



@layer_type("layernorm")
@dataclass(frozen=True, kw_only=True)
class LayerNormSpec(Layer):
    """Layer normalization: on a C x H x W map over the C channels of each position, as ConvNeXt's
    LayerNorm2d (torchvision permutes to H x W x C, normalizes the last dimension and permutes
    back); on a flat vector over its features (nn.LayerNorm). A learned scale and shift per channel:
    2C params, no MACs."""

    eps: float = 1e-5

    @classmethod
    def parse(cls, r: Reader) -> "LayerNormSpec":
        return cls(name=r.name, eps=r.number("eps", 1e-5, high=1.0))

    def build(self, in_shape: Shape, kit: ModuleKit) -> Any:
        norm = kit.blocks.LayerNorm2d if len(in_shape) == 3 else kit.nn.LayerNorm
        return norm(in_shape[0], eps=self.eps, device=kit.device)

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

    @classmethod
    def parse(cls, r: Reader) -> "LayerScaleSpec":
        return cls(name=r.name, init=r.number("init", 1e-6, low=-1e6, low_open=False, high=1e6))

    def build(self, in_shape: Shape, kit: ModuleKit) -> Any:
        return kit.blocks.LayerScale(in_shape, self.init, kit.device)

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

    @classmethod
    def parse(cls, r: Reader) -> "ChannelShuffleSpec":
        return cls(name=r.name, groups=r.count("groups"))

    def build(self, in_shape: Shape, kit: ModuleKit) -> Any:
        return kit.blocks.ChannelShuffle(self.groups)

    def out_shape(self, in_shape: Shape) -> Shape:
        c = feature_map(in_shape, self.type_name)[0]
        if c % self.groups:
            raise ShapeError(f"groups {self.groups} must divide the input's {c} channels")
        return in_shape

