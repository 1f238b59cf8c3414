"""Output-size arithmetic for convolution and pooling windows (PyTorch's formulas, pure Python)."""
from __future__ import annotations

import math


class ShapeError(ValueError):
    """A layer does not fit the shape it receives; the spec loader adds file and layer."""


def window_out(size: int, kernel: int, stride: int, padding: int, *, ceil_mode: bool = False,
               dilation: int = 1, what: str = "kernel") -> int:
    """Output length of a sliding window, exactly as torch.nn.Conv2d / MaxPool2d compute it."""
    span = dilation * (kernel - 1) + 1
    padded = size + 2 * padding
    if span > padded:
        raise ShapeError(f"{what} {kernel} is larger than its padded input {padded} (padding {padding})")
    steps = (padded - span) / stride
    out = (math.ceil(steps) if ceil_mode else math.floor(steps)) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window must start inside the input or its left padding
    return out


def same_padding(kernel: int) -> int:
    if kernel % 2 == 0:
        raise ShapeError(f"padding 'same' needs an odd kernel, got {kernel}")
    return (kernel - 1) // 2
