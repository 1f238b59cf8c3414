"""Composite layer specs: layers made of paths of other layers (sequence, branches, inception),
which may nest; their cost is the sum of their children's."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import ClassVar

from ..geometry import ShapeError
from .base import Cost, Field, Layer, Shape, Traffic, elementwise, feature_map, layer_type, numel, path_out, walk
from .plain import MAX_CHANNELS, ConvSpec, GlobalAvgPoolSpec, MaxPoolSpec

MAX_ROWS = 50_000  # rows of one spec (every nested child included): more is too large to analyze
MAX_PATHS = 50_000  # parallel paths of one spec (Layer.path_count), bounded like rows


class CompositeSpec(Layer):
    """A layer made of paths of other layers, which may be composites themselves; its cost is the
    sum of theirs."""

    def children(self) -> tuple[Layer, ...]:
        return tuple(layer for path in self.branches(()) for layer in path)  # SE overrides: its widths need a shape

    def path_count(self) -> int:
        return len(self.branches(())) + sum(child.path_count() for child in self.children())

    def paths_with_inputs(self, in_shape: Shape) -> list[tuple[tuple[Layer, ...], Shape]]:
        return list(zip(self.branches(in_shape), self.path_inputs(in_shape)))

    def cost(self, in_shape: Shape) -> Cost:
        total = Cost()
        for path, path_in in self.paths_with_inputs(in_shape):
            for layer, layer_in, _ in walk(path, path_in):
                total = total + layer.cost(layer_in)
        return total

    def traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        """Its children's traffic, path by path (every path reads the input itself, or its slice:
        a view), and its merge's."""
        total = Traffic()
        for path, path_in in self.paths_with_inputs(in_shape):
            for layer, layer_in, _ in walk(path, path_in):
                total = total + layer.traffic(layer_in, batch, train)
        return total + self.merge_traffic(in_shape, batch, train)

    def merge_traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        return Traffic()

    def aliases_input(self, train: bool) -> bool:
        return len(self.branches(())) == 1 and all(layer.aliases_input(train) for layer in self.branches(())[0])

    def receptive(self, rf: Field, in_shape: Shape) -> Field:
        best = None
        for path, path_in in self.paths_with_inputs(in_shape):
            current = rf
            for layer, layer_in, _ in walk(path, path_in):
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

    def branches(self, in_shape: Shape) -> tuple[tuple[Layer, ...], ...]:
        return (self.layers,)

    def out_shape(self, in_shape: Shape) -> Shape:
        return path_out(self.layers, in_shape)


@layer_type("repeat")
@dataclass(frozen=True, kw_only=True)
class RepeatSpec(SequenceSpec):
    """`times` blocks one after another, named 0, 1, ...: copies of a body, the first optionally
    another body (a stage whose first block changes stride and width, as in ResNet or EfficientNet).
    `layers` holds the blocks; a one-layer body is the block itself, a longer one a sequence."""

    times: int
    body: tuple[Layer, ...] = field(default=(), compare=False, repr=False)  # as written: what more blocks copy

    def with_times(self, times: int) -> "RepeatSpec":
        """`times` blocks: the first `times` of these, then new copies of the body as written."""
        body = self.body or (self.layers[-1],)
        blocks = self.layers[:times] + tuple(repeat_block(i, body) for i in range(len(self.layers), times))
        return replace(self, layers=blocks, times=times)


def repeat_block(index: int, layers: tuple[Layer, ...]) -> Layer:
    """Block `index` of a repeat: a one-layer body is the block itself, a longer one a sequence."""
    if len(layers) == 1:
        return replace(layers[0], name=str(index))
    return SequenceSpec(name=str(index), layers=layers)


def repeated(name: str, body: tuple[Layer, ...], times: int, first: tuple[Layer, ...] = ()) -> RepeatSpec:
    """The repeat layer of `times` blocks (`first`, when given, then copies of `body`): rows
    `<name>/0`, `<name>/1`, ..."""
    blocks = tuple(repeat_block(i, first if i == 0 and first else body) for i in range(times))
    return RepeatSpec(name=name, layers=blocks, times=times, body=body)


def passes_through(layer: Layer) -> bool:
    """A sequence or repeat (an aux head too): its output is its last child's and its counts the
    sum of its children's, so counting measures its children one by one instead of it."""
    return isinstance(layer, SequenceSpec) and bool(layer.layers)


MERGES = ("concat", "add", "mul")


class ParallelSpec(CompositeSpec):
    """Parallel paths over the same input, merged by channel concat, elementwise add, or
    elementwise product with broadcasting (a gate: C x 1 x 1 times C x H x W)."""

    merge: ClassVar[str] = "concat"
    split: ClassVar[bool | tuple[int, ...]] = False  # BranchesSpec's: each path reads a copy of a slice

    def merge_activation(self) -> str:
        """The activation applied to the merged output (ACTIVATION_CHOICES)."""
        return "none"

    def out_shape(self, in_shape: Shape) -> Shape:
        outs = [path_out(path, path_in) for path, path_in in self.paths_with_inputs(in_shape)]
        if self.merge == "mul":
            return _broadcast(outs)
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
        channels = sum(o[0] for o in outs)
        if channels > MAX_CHANNELS:
            raise ShapeError(f"branches merged by concat make {channels:,} channels, more than {MAX_CHANNELS:,}")
        return (channels, *outs[0][1:])

    def aliases_input(self, train: bool) -> bool:
        """Only one path merged by add or mul runs no merge operator: its output is the path's."""
        paths = self.branches(())
        return (self.merge != "concat" and len(paths) == 1 and self.split is False
                and all(layer.aliases_input(train) for layer in paths[0]))

    def merge_traffic(self, in_shape: Shape, batch: int, train: bool) -> Traffic:
        """What Parallel.forward (build/builder.py) moves to merge its paths: a concat reads every
        path's output and writes the whole; add and mul fold the outputs pairwise, each step
        reading its two operands and writing their (broadcast) result; then the activation. An
        output that is the block's input (an empty path: the identity) is one tensor however
        many paths return it, and an operator reads it once."""
        paths, inputs = self.branches(in_shape), self.path_inputs(in_shape)
        shapes = [path_out(path, path_in) for path, path_in in zip(paths, inputs)]
        outs = [(batch * numel(shape), self.split is False and all(layer.aliases_input(train) for layer in path))
                for path, shape in zip(paths, shapes)]
        merged = batch * numel(self.out_shape(in_shape))
        if self.merge == "concat":
            inputs = [n for n, alias in outs if not alias] + [max((n for n, alias in outs if alias), default=0)]
            total = Traffic(sum(inputs) + merged)
        else:
            total = Traffic()
            (size, alias), shape = outs[0], shapes[0]
            for index, (other, other_alias) in enumerate(outs[1:], start=1):
                shape = _broadcast([shape, shapes[index]]) if self.merge == "mul" else shape
                result = batch * numel(shape)
                total = total + Traffic((size if alias and other_alias else size + other) + result)
                size, alias = result, False
        if self.merge_activation() != "none":
            total = total + elementwise(merged)
        return total + self.split_traffic(in_shape, batch)

    def split_traffic(self, in_shape: Shape, batch: int) -> Traffic:
        """With `split`, each path's slice of the input's channels is copied (Parallel.forward, so
        that every path reads a contiguous tensor of its own): each copy reads the memory its slice
        spans (from its first element in the first sample to its last in the last: (N - 1) x C x H x W
        + k x H x W elements for k channels) and writes N x k x H x W."""
        if self.split is False:
            return Traffic()
        c, h, w = in_shape
        return sum((Traffic((batch - 1) * c * h * w + k * h * w + batch * k * h * w)
                    for k, _, _ in self.path_inputs(in_shape)), Traffic())


@layer_type("branches")
@dataclass(frozen=True, kw_only=True)
class BranchesSpec(ParallelSpec):
    """Generic parallel paths; an empty path is the identity (a residual shortcut)."""

    paths: tuple[tuple[Layer, ...], ...]
    merge: str = "concat"  # type: ignore[misc]  # one of MERGES
    activation: str = "none"  # applied after the merge, e.g. a residual block's ReLU
    # each path reads a slice of the input's channels: True for equal slices, or their widths in
    # order (ShuffleNetV2's x.chunk(2, dim=1)); False: every path reads the whole input
    split: bool | tuple[int, ...] = False

    def branches(self, in_shape: Shape) -> tuple[tuple[Layer, ...], ...]:
        return self.paths

    def split_sizes(self, channels: int) -> tuple[int, ...] | None:
        """The channels each path reads with `split`, checked against the input's; None without."""
        if self.split is False:
            return None
        count = len(self.paths)
        if self.split is True:
            if channels % count:
                raise ShapeError(f"split: true divides the input's {channels} channels equally among {count} paths: "
                                 f"{count} must divide {channels}")
            return (channels // count,) * count
        if sum(self.split) != channels:
            raise ShapeError(f"split {list(self.split)} must add up to the input's {channels} channels")
        return self.split

    def path_inputs(self, in_shape: Shape) -> tuple[Shape, ...]:
        if self.split is False:
            return super().path_inputs(in_shape)
        c, h, w = feature_map(in_shape, "a split")
        return tuple((size, h, w) for size in self.split_sizes(c))

    def merge_activation(self) -> str:
        return self.activation


def _broadcast(outs: list[Shape]) -> Shape:
    """The shape of the elementwise product of tensors of these shapes (PyTorch broadcasting, all
    of one rank: a size-1 dimension stretches to the other's size)."""
    if len({len(o) for o in outs}) > 1:
        raise ShapeError("branches merged by mul must have shapes of one rank, got " + _shapes_text(outs))
    result = []
    for sizes in zip(*outs):
        wide = {s for s in sizes if s != 1}
        if len(wide) > 1:
            raise ShapeError("branches merged by mul must have equal sizes or 1 in each dimension, got "
                             + _shapes_text(outs))
        result.append(wide.pop() if wide else 1)
    return tuple(result)


def _shapes_text(outs: list[Shape]) -> str:
    return ", ".join("x".join(map(str, o)) for o in outs)


@layer_type("se")
@dataclass(frozen=True, kw_only=True)
class SESpec(ParallelSpec):
    """Squeeze-and-excitation (Hu et al. 2018), as torchvision's SqueezeExcitation: a global
    average pool, a 1x1 conv to the squeeze width with `activation`, a 1x1 conv back to the input's
    channels with the `gate` activation, multiplied onto the input. Child rows pool, fc1, fc2.

    The squeeze width is `reduce` when it is a whole number, else max(1, floor(C x reduce)) of the
    input's C channels, rounded to a multiple of `divisor` as torchvision's _make_divisible does
    (MobileNetV3: reduce 0.25, divisor 8)."""

    merge: ClassVar[str] = "mul"
    reduce: int | float
    divisor: int = 1
    activation: str = "relu"
    gate: str = "sigmoid"
    bias: bool = True

    def squeeze(self, channels: int) -> int:
        if isinstance(self.reduce, int):
            return self.reduce
        width = max(1, int(channels * self.reduce + 1e-9))
        return width if self.divisor == 1 else make_divisible(width, self.divisor)

    def children(self) -> tuple[Layer, ...]:
        return self.branches((1, 1, 1))[1]

    def branches(self, in_shape: Shape) -> tuple[tuple[Layer, ...], ...]:
        channels = in_shape[0] if len(in_shape) == 3 else 1
        fc = ConvSpec(name="", out=1, kernel=(1, 1), bias=self.bias)
        return ((), (GlobalAvgPoolSpec(name="pool"),
                     replace(fc, name="fc1", out=self.squeeze(channels), activation=self.activation),
                     replace(fc, name="fc2", out=channels, activation=self.gate)))

    def out_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) != 3:
            raise ShapeError(f"se needs a C x H x W feature map, got the flat vector {in_shape}")
        return super().out_shape(in_shape)


def make_divisible(value: float, divisor: int) -> int:
    """torchvision's _make_divisible: the nearest multiple of `divisor` (at least `divisor`), one
    step up when rounding down would lose more than 10%."""
    result = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return result + divisor if result < 0.9 * value else result


INCEPTION_COLUMNS = ("1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool_proj")
REDUCE_COLUMNS = ("3x3_reduce", "5x5_reduce")
COLUMN_ROLES = {"3x3_reduce": "reduce", "5x5_reduce": "reduce", "pool_proj": "pool_proj"}  # implicit roles


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
    factorize_5x5: bool = False  # Inception v2: the 5x5 conv as two stacked 3x3 convs (compare --factorize)
    conv: ConvSpec | None = None  # template carrying bias / activation / norm for every conv

    def width(self, column: str) -> int | None:
        return self.widths[INCEPTION_COLUMNS.index(column)]

    def with_widths(self, **changes: int | None) -> "InceptionSpec":
        widths = tuple(changes.get(c, w) for c, w in zip(INCEPTION_COLUMNS, self.widths))
        return replace(self, widths=widths)

    def branches(self, in_shape: Shape) -> tuple[tuple[Layer, ...], ...]:
        return self._branches

    def column_conv(self, column: str) -> ConvSpec | None:
        """The conv of a Table 1 column (None where its width is None), with the column's implicit
        role; the 5x5 column's as written, before any factorization."""
        width = self.width(column)
        if width is None:
            return None
        kernel = {"3x3": 3, "5x5": self.kernel_5x5}.get(column, 1)
        pad = (kernel - 1) // 2
        template = self.conv or ConvSpec(name="", out=1, kernel=(1, 1))
        return replace(template, name=column, out=width, kernel=(kernel, kernel), stride=(1, 1), padding=(pad, pad),
                       groups=1, paper=None, role=COLUMN_ROLES.get(column))

    @cached_property
    def _branches(self) -> tuple[tuple[Layer, ...], ...]:
        """Expanded once per (immutable) module; planning, counting and building all read it."""
        def conv(column: str) -> tuple[Layer, ...]:
            layer = self.column_conv(column)
            if layer is None:
                return ()
            return (factorized_5x5(layer),) if column == "5x5" and self.factorize_5x5 else (layer,)

        pool = MaxPoolSpec(name="pool", kernel=(3, 3), stride=(1, 1), padding=(1, 1), ceil_mode=True)
        return (
            conv("1x1"),
            conv("3x3_reduce") + conv("3x3"),
            conv("5x5_reduce") + conv("5x5"),
            (pool,) + conv("pool_proj"),
        )


def factorized_5x5(conv: ConvSpec) -> SequenceSpec:
    """A 5x5 conv at stride 1 as two stacked 3x3 convs (Inception v2), in a sequence named as the
    5x5 so rows compare across variants: the first maps the 5x5's input width to its output width,
    the second keeps it, both with its bias, normalization and activation. Padding p becomes
    ceil(p/2) then floor(p/2) ("same" stays "same"), which keeps the output size and the receptive
    field: two 3x3 windows span 5 pixels."""
    if conv.padding == "same":
        pads: tuple = ("same", "same")
    else:
        pads = (tuple((p + 1) // 2 for p in conv.padding), tuple(p // 2 for p in conv.padding))
    first = replace(conv, name="3x3_1", kernel=(3, 3), padding=pads[0], paper=None)
    # the second keeps the first's width: a relative width (expansion) is applied once
    keep = {} if conv.expansion is None else {"expansion": 1.0}
    return SequenceSpec(name=conv.name, layers=(first, replace(first, name="3x3_2", padding=pads[1], **keep)))
