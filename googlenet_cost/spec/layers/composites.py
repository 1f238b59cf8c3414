"""Composite layer specs: layers made of paths of other layers (sequence, repeat, branches), which
may nest; their cost is the sum of their children's. The named blocks (inception, se) are in blocks.py."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from ...quantity import shown
from ..geometry import ShapeError
from ..reader import MAX_CHANNELS, MAX_PATHS, MAX_ROWS, Reader, check_size
from .activations import ACTIVATION_CHOICES, activation_module
from .base import Cost, Field, Layer, ModuleKit, Shape, Traffic, elementwise, feature_map, layer_type, numel, path_out, walk


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

    @classmethod
    def parse(cls, r: Reader) -> Layer:
        layers = r.layers(r.sequence("layers", required=True), context=r.layer)
        if not layers:
            raise r.error("layers must list at least one layer")
        return cls(name=r.name, layers=layers)

    def build(self, in_shape: Shape, kit: ModuleKit) -> Any:
        return kit.path(self.layers, in_shape)

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

    @classmethod
    def parse(cls, r: Reader) -> Layer:
        times = r.count("times", limit=MAX_ROWS)
        first = r.layers(r.sequence("first"), context=f"{r.layer}/0")
        body = r.layers(r.sequence("layers", required=True), context=f"{r.layer}/{1 if first else 0}")
        if not body:
            raise r.error("layers must list at least one layer (the body to repeat)")
        rows = sum(layer.row_count() for layer in first) + (times - bool(first)) * sum(layer.row_count() for layer in body)
        paths = _block_paths(first) + (times - bool(first)) * _block_paths(body)
        check_size(r.error, f"{times:,} copies", rows, paths)
        return repeated(r.name, body, times, first)

    @classmethod
    def times_key(cls, r: Reader, kind: type[Layer]) -> Any:
        """The `repeat:` key any other layer type may carry, as written; None without one."""
        return None if issubclass(kind, cls) else r.raw("repeat", None)

    @classmethod
    def around(cls, r: Reader, layer: Layer, times: Any) -> "RepeatSpec":
        """`{type: branches, repeat: 3, ...}` (any layer type): the same as `{type: repeat, times: 3,
        layers: [{type: branches, ...}]}`, rows `<name>/0` ..."""
        times = r.check_count("repeat", times, MAX_ROWS)
        check_size(r.error, f"repeat: {times:,} copies", times * layer.row_count(), times * layer.path_count())
        return repeated(layer.name, (layer,), times)

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


def _block_paths(layers: tuple[Layer, ...]) -> int:
    """Paths of one block of a repeat (repeated() wraps a body of several layers in a sequence)."""
    return sum(layer.path_count() for layer in layers) + (len(layers) > 1)


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

    def build(self, in_shape: Shape, kit: ModuleKit) -> Any:
        inputs = self.path_inputs(in_shape)
        split = tuple(shape[0] for shape in inputs) if self.split else None
        paths = [kit.path(path, path_in) for path, path_in in zip(self.branches(in_shape), inputs)]
        return kit.blocks.Parallel(paths, self.merge, activation_module(self.merge_activation(), kit), split)

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
        """What Parallel.forward (build/blocks.py) moves to merge its paths: a concat reads every
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

    @classmethod
    def parse(cls, r: Reader) -> Layer:
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
            parsed.append(r.layers(path, context=r.layer, prefix=f"b{index}_"))
            rows += sum(layer.row_count() for layer in parsed[-1])
            total_paths += 1 + sum(layer.path_count() for layer in parsed[-1])
            check_size(r.error, "its branches", rows, total_paths, final=False)
        return cls(name=r.name, paths=tuple(parsed), merge=r.choice("merge", MERGES, "concat"),
                   activation=r.choice("activation", ACTIVATION_CHOICES, "none"), split=_split(r, len(parsed)))

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


def _split(r: Reader, paths: int) -> bool | tuple[int, ...]:
    """`split: true` (equal slices of the input's channels) or one width per path."""
    value = r.raw("split", False)
    if isinstance(value, bool):
        return value
    if not isinstance(value, list) or len(value) != paths:
        raise r.error(f"split must be true, false or a list of {paths} channel counts (one per path), "
                      f"got {shown(value)}")
    return tuple(r.check_count("split", item, MAX_CHANNELS) for item in value)


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


