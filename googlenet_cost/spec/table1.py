"""The structural columns of the GoogLeNet paper's Table 1, for the row of any spec layer: its
depth (the convolution and linear layers on its longest path: 1 for a conv, 2 for an inception
module or Table 1's "convolution 3x3" row, a 1x1 reduce then the 3x3; the network's is the sum over
its top-level rows, 22 for GoogLeNet) and its filter counts (#1x1, #3x3 reduce, #3x3, #5x5 reduce,
#5x5, pool proj: an inception module's columns, or the widths of a composite's child convs named
so). Pure spec arithmetic, no torch."""
from __future__ import annotations

from .layers import INCEPTION_COLUMNS, ConvSpec, InceptionSpec, Layer, LinearSpec, Shape


def depth(layer: Layer, in_shape: Shape) -> int:
    """Conv and linear layers on the layer's longest path (pooling, normalization and merges: none)."""
    if isinstance(layer, (ConvSpec, LinearSpec)):
        return 1
    paths = layer.branches(in_shape)
    return max((sum(depth(child, in_shape) for child in path) for path in paths), default=0)


def filters(layer: Layer) -> dict[str, int]:
    """{column: width} of Table 1's filter columns the layer has (keys as INCEPTION_COLUMNS)."""
    if isinstance(layer, InceptionSpec):
        return {column: layer.width(column) for column in INCEPTION_COLUMNS if layer.width(column) is not None}
    return {child.name: child.out for child in layer.children()
            if isinstance(child, ConvSpec) and child.name in INCEPTION_COLUMNS and child.out is not None}
