"""The base of every layer spec: the Layer dataclass, its cost and receptive field, the registry of
YAML `type`s, and walking a path of layers. Pure Python (no torch).

A layer type is one class, registered once with `@layer_type("name")`: it reads its own YAML keys
(`parse`), knows its shape, cost, traffic and receptive field, and says which nn.Module it is
(`build`), naming torch's modules through the `ModuleKit` build/ hands it: so spec/ imports neither
torch nor build/, and the type's name is written in its class's file alone.

Every layer knows, from its input shape alone, its output shape, its cost (params, weights, MACs)
and how it widens the receptive field. The counting rule: MACs are the multiply-accumulates of
conv and linear layers, per sample; params include biases and normalization affine parameters;
weights are the conv and linear kernels only. Shapes are (C, H, W) for feature maps and (F,) for
flat vectors.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Iterator, Protocol

from ..geometry import ShapeError
from ...quantity import Quantity

if TYPE_CHECKING:
    from ..reader import Reader

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
class Traffic:
    """Memory traffic of a layer's operators in eager execution, at a batch: floating-point
    elements read and written (bytes at the report's dtype: `bytes(itemsize)`) and the bytes of
    other tensors (a max pool's int64 indices, a batch norm's step counter). The traffic model
    (docs/roofline.md): every operator reads each distinct input tensor once (parameters once per
    batch) and writes each output and each tensor it updates in place once; views and empty
    allocations move nothing."""

    elements: int = 0
    other_bytes: int = 0

    def __add__(self, other: "Traffic") -> "Traffic":
        return Traffic(self.elements + other.elements, self.other_bytes + other.other_bytes)

    def __sub__(self, other: "Traffic") -> "Traffic":
        return Traffic(self.elements - other.elements, self.other_bytes - other.other_bytes)

    def bytes(self, itemsize: int) -> int:
        return itemsize * self.elements + self.other_bytes


INDEX_BYTES = 8  # int64: a max pool's indices, a batch norm's step counter


def elementwise(elements: int) -> Traffic:
    """One operator reading a tensor and writing one as large (an activation, in place or not)."""
    return Traffic(2 * elements)


def batch_norm_traffic(channels: int, elements: int, train: bool) -> Traffic:
    """native_batch_norm over `elements` values of `channels` channels: it reads the input and
    four per-channel tensors (weight, bias, running mean and variance) and writes the output; in
    training it also writes the running statistics and the two it saves for the backward, and the
    step counter is incremented (an int64 read and written)."""
    if not train:
        return Traffic(2 * elements + 4 * channels)
    return Traffic(2 * elements + 8 * channels, 2 * INDEX_BYTES)


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


class ModuleKit(Protocol):
    """What a layer's `build` is handed by build/builder.py, which imports torch: torch.nn, the
    device of the parameters, gcost's own modules (build/blocks.py) and the building of paths."""

    nn: Any  # torch.nn
    device: Any  # torch.device
    blocks: Any  # googlenet_cost.build.blocks: Parallel, LayerNorm2d, ChannelShuffle, ...

    def path(self, layers: tuple["Layer", ...], in_shape: Shape) -> Any:
        """Layers in order as one module (build/blocks.Path), each row named."""


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


def pair_text(kernel: Pair, stride: Pair) -> str:
    """A kernel and its stride as a report's kernel column shows them: 3x3/2."""
    k = f"{kernel[0]}x{kernel[1]}"
    s = str(stride[0]) if stride[0] == stride[1] else f"{stride[0]}x{stride[1]}"
    return f"{k}/{s}"


def feature_map(in_shape: Shape, what: str) -> Shape:
    if len(in_shape) != 3:
        raise ShapeError(f"{what} needs a C x H x W feature map, got the flat vector {in_shape}")
    return in_shape


@dataclass(frozen=True, kw_only=True)
class Layer:
    name: str
    paper: PaperFigures | None = None
    type_name: ClassVar[str] = ""

    @classmethod
    def parse(cls, r: "Reader") -> "Layer":
        """The layer its YAML mapping describes, every key read through `r` (the name and the
        type are read already; a key nobody reads is an error). By default a layer of no keys."""
        return cls(name=r.name)

    def build(self, in_shape: Shape, kit: ModuleKit) -> Any:
        """Its nn.Module on this input, made with `kit` (torch.nn, the device, gcost's blocks)."""
        raise NotImplementedError(f"layer type {self.type_name!r} has no build")

    def out_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def cost(self, in_shape: Shape) -> Cost:
        return Cost()

    def receptive(self, rf: Field, in_shape: Shape) -> Field:
        return rf

    def traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        """Its operators' memory traffic at `batch` (in training mode with `train`): the closed
        form of what counting records on the built layer. By default an elementwise operator."""
        return elementwise(batch * numel(in_shape))

    def aliases_input(self, train: bool) -> bool:
        """Whether its output is its input's memory (a flatten, dropout in eval): no operator runs."""
        return False

    def kernel_text(self) -> str:
        return ""

    def normalizes_batch(self) -> bool:
        """Whether it runs a batch norm itself (a batchnorm; a conv with `norm: batchnorm`), which in
        training mode needs more than one value per channel."""
        return False

    def branches(self, in_shape: Shape) -> tuple[tuple["Layer", ...], ...]:
        """The parallel paths of a composite layer on this input (a squeeze-and-excitation block's
        widths follow its input's channels); empty for a plain one."""
        return ()

    def path_inputs(self, in_shape: Shape) -> tuple[Shape, ...]:
        """The input of each of its paths: the layer's own, or (a `branches` with `split`) a slice
        of its channels."""
        return (in_shape,) * len(self.branches(in_shape))

    def children(self) -> tuple["Layer", ...]:
        """Its child layers without regard to shape, for names and row counts; none for a plain one."""
        return ()

    def row_count(self) -> int:
        """Rows this layer makes in a report: itself and every nested child."""
        return 1 + sum(child.row_count() for child in self.children())

    def path_count(self) -> int:
        """Parallel paths in this layer and every nested child. Bounded apart from rows: an empty
        path (the identity) makes no row, yet is a module to build and a tensor to run and merge."""
        return 0

    def build_key(self, in_shape: Shape) -> tuple["Layer", Shape]:
        """Layers with equal keys build the same module: the layer without its own name and paper
        figures, and its input shape (children keep their names, which name report rows)."""
        return replace(self, name="", paper=None), in_shape


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
