"""gcost's own torch modules, which layer specs name through the ModuleKit (spec/layers/base.py):
paths, parallel paths and the layers torch has no module for as the networks write them."""
from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from ..spec.layers import Shape


class Path(nn.Sequential):
    """Layers in order, remembering their spec names (module keys stay 0, 1, 2...)."""

    def __init__(self, names: list[str], modules: list[nn.Module]):
        super().__init__(*modules)
        self.row_names = tuple(names)

    def row_children(self) -> Iterator[tuple[str, nn.Module]]:
        yield from zip(self.row_names, self)


def _out_of_place_first(path: nn.Module) -> None:
    """Every path reads the block's input: an in-place activation first on one would overwrite it
    for the paths after it (and for autograd, which saved it for their backward), so that one
    activation runs out of place."""
    first = path
    while isinstance(first, nn.Sequential) and len(first):
        first = first[0]
    if getattr(first, "inplace", False):
        first.inplace = False


class Parallel(nn.Module):
    """Paths over the same input, merged by channel concat, elementwise add or elementwise product."""

    def __init__(self, paths: list[Path], merge: str, activation: nn.Module | None = None,
                 split: tuple[int, ...] | None = None):
        super().__init__()
        for path in paths:
            _out_of_place_first(path)
        self.paths = nn.ModuleList(paths)
        self.merge = merge
        self.activation = activation  # after the merge (a residual block's ReLU); not a row of its own
        # the channels each path reads, or None: all. Each slice is copied: a slice of N x C x H x W
        # is not contiguous (N > 1), and every path's layers then read a tensor of their own
        self.split = split

    def row_children(self) -> Iterator[tuple[str, nn.Module]]:
        for path in self.paths:
            yield from path.row_children()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.split is None:
            outs = [path(x) for path in self.paths]
        else:
            starts = [sum(self.split[:i]) for i in range(len(self.split))]
            outs = [path(x.narrow(1, start, size).clone(memory_format=torch.contiguous_format))
                    for path, start, size in zip(self.paths, starts, self.split)]
        if self.merge == "concat":
            total = torch.cat(outs, dim=1)  # N x (sum of C) x H x W
        else:
            total = outs[0]
            for out in outs[1:]:
                total = total + out if self.merge == "add" else total * out  # mul: a gate, broadcast
        return total if self.activation is None else self.activation(total)


class LocalResponseNorm(nn.LocalResponseNorm):
    """PyTorch's LRN, which on the CPU has no bf16 or fp16 kernel for its 3-D average pool: there
    it runs in fp32 and casts back (the result at the input's dtype; the casts' time counts, and
    docs/latency.md says so). Elsewhere, and in fp32, exactly nn.LocalResponseNorm."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and x.dtype in (torch.bfloat16, torch.float16):
            return super().forward(x.float()).to(x.dtype)
        return super().forward(x)


class LayerNorm2d(nn.LayerNorm):
    """Layer normalization over the channels of each position of an N x C x H x W map, as
    torchvision's ConvNeXt writes it: permuted to N x H x W x C, normalized, permuted back; then
    copied to a contiguous N x C x H x W tensor, as every layer here hands on (torchvision's hands
    on the permuted view, whose strides steer later operators, a concat's output among them)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)  # N x H x W x C
        x = nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2).clone(memory_format=torch.contiguous_format)  # N x C x H x W


class LayerScale(nn.Module):
    """A learned multiplier per channel, as ConvNeXt's `layer_scale * x` (C x 1 x 1 on a map)."""

    def __init__(self, in_shape: Shape, init: float, device: torch.device):
        super().__init__()
        self.scale = nn.Parameter(torch.full((in_shape[0], *(1,) * (len(in_shape) - 1)), init, device=device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x


class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle as torchvision writes it: N x g x C/g x H x W, transposed, copied.
    The copy is a clone, not torchvision's .contiguous(), so that it happens whatever the groups
    (with 1 group, or C, the transposed view is contiguous already and .contiguous() would copy nothing)."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        x = x.view(n, self.groups, c // self.groups, h, w)
        return torch.transpose(x, 1, 2).clone(memory_format=torch.contiguous_format).view(n, c, h, w)
