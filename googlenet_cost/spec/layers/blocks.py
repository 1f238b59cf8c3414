"""Named blocks of published networks: the paper's inception module and squeeze-and-excitation,
parallel paths of plain layers built from a few widths."""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import ClassVar

from ...quantity import shown
from ..geometry import ShapeError
from ..reader import MAX_CHANNELS, MAX_SPATIAL, Reader
from .activations import ACTIVATION_CHOICES, RELU, SIGMOID
from .base import Layer, Shape, layer_type
from .composites import ParallelSpec, SequenceSpec
from .conv import ConvSpec, conv_keys
from .pooling import GlobalAvgPoolSpec, MaxPoolSpec


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
    activation: str = RELU
    gate: str = SIGMOID
    bias: bool = True

    @classmethod
    def parse(cls, r: Reader) -> Layer:
        reduce = r.raw("reduce", required=True)
        whole = isinstance(reduce, int) and not isinstance(reduce, bool)
        ratio = isinstance(reduce, float) and 0 < reduce <= 1
        if not (whole and 1 <= reduce <= MAX_CHANNELS or ratio):
            raise r.error(f"reduce must be the squeeze width (a whole number, 1 to {MAX_CHANNELS:,}) or a ratio of "
                          f"the input's channels above 0 and at most 1 (0.25), got {shown(reduce)}")
        return cls(name=r.name, reduce=reduce, divisor=r.count("divisor", 1, limit=MAX_CHANNELS),
                   activation=r.choice("activation", ACTIVATION_CHOICES, r.defaults.activation),
                   gate=r.choice("gate", ACTIVATION_CHOICES, SIGMOID), bias=r.flag("bias", True))

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

    @classmethod
    def parse(cls, r: Reader) -> Layer:
        widths = []
        for column in INCEPTION_COLUMNS:
            value = r.raw(column, required=True)
            optional = column in REDUCE_COLUMNS or column == "pool_proj"
            widths.append(None if value is None and optional else r.check_count(column, value, MAX_CHANNELS))
        template = ConvSpec(name="", out=1, kernel=(1, 1), **conv_keys(r))
        kernel_5x5 = r.count("kernel_5x5", 5, limit=MAX_SPATIAL)
        if kernel_5x5 % 2 == 0:
            raise r.error(f"kernel_5x5 must be odd, got {kernel_5x5}")
        return cls(name=r.name, widths=tuple(widths), kernel_5x5=kernel_5x5, conv=template)

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

