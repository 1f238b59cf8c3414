"""Shared torch helpers at the bottom of the house, for any nn.Module (a built spec or a user's
model): the rows of its module tree, the device it lives on, the tensors of its output, the
storage a tensor views. Counting, training and timing read a model through these."""
from __future__ import annotations

from typing import Any, Iterator

import torch
from torch import nn

AUX_LOSS_WEIGHT = 0.3  # GoogLeNet: "their loss is added to the total loss with a discount weight (0.3)"


def row_modules(model: nn.Module, depth: int | None) -> Iterator[tuple[str, str | None, nn.Module]]:
    """(row name, parent row name, module) for every row, parents before their children.

    A built SpecNet gives the spec's rows (plan_rows' order, every level of nesting: `depth` is
    for the views); any other nn.Module gives its module tree, `depth` levels deep (None: all),
    rows named by path ("encoder/layers/0")."""
    spec_built = hasattr(model, "row_children")

    def children(module: nn.Module) -> Iterator[tuple[str, nn.Module]]:
        if hasattr(module, "row_children"):
            return module.row_children()
        return iter(()) if spec_built else module.named_children()

    def walk(module: nn.Module, path: str | None, level: int) -> Iterator[tuple[str, str | None, nn.Module]]:
        for name, child in children(module):
            row = f"{path}/{name}" if path else name
            yield row, path, child
            if spec_built or depth is None or level + 1 < depth:
                yield from walk(child, row, level + 1)

    yield from walk(model, None, 0)


def model_device(model: nn.Module):
    """The device of the model's parameters (meta for a model without any)."""
    first = next(model.parameters(), None)
    return first.device if first is not None else "meta"


def storage_id(tensor: torch.Tensor) -> int:
    try:
        return tensor.untyped_storage()._cdata
    except (RuntimeError, NotImplementedError):  # a tensor subclass without storage
        return id(tensor)


def tensor_leaves(value) -> list[torch.Tensor]:
    """Every tensor in a model's output, in order (a tensor, a tuple of main and auxiliary
    outputs, a dict, a namedtuple)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in tensor_leaves(item)]
    return []


def tensor_leaves_for_loss(output) -> list[torch.Tensor]:
    """The floating-point tensors of a model's output that need a gradient."""
    return [t for t in tensor_leaves(output) if t.requires_grad and t.is_floating_point()]


def training_loss(output: Any) -> torch.Tensor | None:
    """The main output's sum plus 0.3 x each auxiliary output's: a loss with every output's
    gradient (a sum costs no MACs, so the backward's MACs are those of the network)."""
    leaves = tensor_leaves_for_loss(output)
    if not leaves:
        return None
    loss = leaves[0].float().sum()
    for aux in leaves[1:]:
        loss = loss + AUX_LOSS_WEIGHT * aux.float().sum()
    return loss
