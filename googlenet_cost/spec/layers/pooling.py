"""Pooling layer specs: windows (max, average), global and adaptive pooling."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..geometry import ShapeError, window_out
from .base import (INDEX_BYTES, Field, Layer, ModuleKit, Pair, Shape, Traffic, feature_map, layer_type, numel,
                   pair_text)

if TYPE_CHECKING:
    from ..reader import Reader


@dataclass(frozen=True, kw_only=True)
class _PoolSpec(Layer):
    kernel: Pair
    stride: Pair
    padding: Pair = (0, 0)
    ceil_mode: bool = False

    module: ClassVar[str] = ""  # its torch.nn module
    indices: ClassVar[bool] = False  # a max pool's: it writes int64 indices too

    @classmethod
    def parse(cls, r: Reader) -> "_PoolSpec":
        kernel = r.pair("kernel")
        return cls(name=r.name, kernel=kernel, stride=r.pair("stride", list(kernel)),
                   padding=r.padding(r.raw("padding", 0)), ceil_mode=r.flag("ceil_mode", r.defaults.ceil_mode))

    def build(self, in_shape: Shape, kit: ModuleKit) -> Any:
        return getattr(kit.nn, self.module)(self.kernel, self.stride, self.padding, ceil_mode=self.ceil_mode)

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
        return pair_text(self.kernel, self.stride)

    def traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        return _pooling(self, in_shape, batch, self.indices)


def _pooling(layer: Layer, in_shape: Shape, batch: int, indices: bool = False) -> Traffic:
    """A pooling operator reads its input and writes its output (a max pool also its int64
    indices, which PyTorch's eager max pool computes for a backward even without one)."""
    out = batch * numel(layer.out_shape(in_shape))
    return Traffic(batch * numel(in_shape) + out, INDEX_BYTES * out if indices else 0)


@layer_type("maxpool")
@dataclass(frozen=True, kw_only=True)
class MaxPoolSpec(_PoolSpec):
    module: ClassVar[str] = "MaxPool2d"
    indices: ClassVar[bool] = True


@layer_type("avgpool")
@dataclass(frozen=True, kw_only=True)
class AvgPoolSpec(_PoolSpec):
    module: ClassVar[str] = "AvgPool2d"


@layer_type("global_avgpool")
@dataclass(frozen=True, kw_only=True)
class GlobalAvgPoolSpec(Layer):
    module: ClassVar[str] = "AdaptiveAvgPool2d"
    indices: ClassVar[bool] = False

    def build(self, in_shape: Shape, kit: ModuleKit) -> Any:
        return getattr(kit.nn, self.module)(1)

    def out_shape(self, in_shape: Shape) -> Shape:
        return (feature_map(in_shape, self.type_name)[0], 1, 1)

    def receptive(self, rf: Field, in_shape: Shape) -> Field:
        return rf.whole(in_shape)

    def traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        return _pooling(self, in_shape, batch, self.indices)


@layer_type("global_maxpool")
@dataclass(frozen=True, kw_only=True)
class GlobalMaxPoolSpec(GlobalAvgPoolSpec):
    """The largest value of each channel: C x 1 x 1."""

    module: ClassVar[str] = "AdaptiveMaxPool2d"
    indices: ClassVar[bool] = True


@layer_type("adaptive_avgpool")
@dataclass(frozen=True, kw_only=True)
class AdaptiveAvgPoolSpec(Layer):
    output: Pair
    module: ClassVar[str] = "AdaptiveAvgPool2d"
    indices: ClassVar[bool] = False

    @classmethod
    def parse(cls, r: Reader) -> "AdaptiveAvgPoolSpec":
        return cls(name=r.name, output=r.pair("output"))

    def build(self, in_shape: Shape, kit: ModuleKit) -> Any:
        return getattr(kit.nn, self.module)(self.output)

    def out_shape(self, in_shape: Shape) -> Shape:
        c, h, w = feature_map(in_shape, self.type_name)
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
        return _pooling(self, in_shape, batch, self.indices)


@layer_type("adaptive_maxpool")
@dataclass(frozen=True, kw_only=True)
class AdaptiveMaxPoolSpec(AdaptiveAvgPoolSpec):
    """Max over PyTorch's adaptive windows: the same output shape and receptive field."""

    module: ClassVar[str] = "AdaptiveMaxPool2d"
    indices: ClassVar[bool] = True

