"""Builder: spec -> real torch.nn.Module. Each layer type's class builds its own module
(`Layer.build`) with the ModuleKit made here, which holds torch: torch.nn, the device, gcost's own
modules (blocks.py) and the building of nested paths. So spec/ never imports torch.

The built network keeps a row structure matching the spec: each top-level layer is one module
in `SpecNet.layers`, composite layers expose their children through `row_children()`, so
counting and timing can attribute their numbers to the spec's rows without guessing.
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from ..spec.layers import Layer, Shape, walk
from ..spec.model import Spec
from . import blocks
from .blocks import Path


class ModuleKit:
    """What a layer's `build` gets (spec/layers/base.ModuleKit): torch.nn, the device of the
    parameters, gcost's blocks and the building of a path of layers on the same device."""

    nn = nn
    blocks = blocks

    def __init__(self, device: torch.device):
        self.device = device

    def path(self, layers: tuple[Layer, ...], in_shape: Shape) -> Path:
        return build_path(layers, in_shape, self.device)


def build_layer(layer: Layer, in_shape: Shape, device: torch.device) -> nn.Module:
    return layer.build(in_shape, ModuleKit(device))


def build_row(layer: Layer, in_shape: Shape, device: str | torch.device = "cpu") -> Path:
    """One top-level layer alone, as a model of one row (its children rows included)."""
    return Path([layer.name], [build_layer(layer, in_shape, torch.device(device))])


def build_path(layers: tuple[Layer, ...], in_shape: Shape, device: torch.device) -> Path:
    return Path([layer.name for layer, _, _ in walk(layers, in_shape)],
                [build_layer(layer, shape, device) for layer, shape, _ in walk(layers, in_shape)])


class SpecNet(nn.Module):
    """The network a spec describes. In training mode it also returns the auxiliary heads'
    outputs, as (main, aux1, aux2, ...), like torchvision's GoogLeNet."""

    def __init__(self, spec: Spec, train: bool, device: torch.device):
        super().__init__()
        self.input_shape = spec.input_shape
        self.row_names: list[str] = []
        modules, heads, attach = [], [], []
        for layer, in_shape, out_shape in walk(spec.layers, spec.input_shape):
            self.row_names.append(layer.name)
            modules.append(build_layer(layer, in_shape, device))
            for aux in spec.aux if train else ():
                if aux.attach == layer.name:
                    heads.append(build_layer(aux.head, out_shape, device))
                    attach.append((len(modules) - 1, aux.head.name))
        self.layers = nn.ModuleList(modules)
        self.aux = nn.ModuleList(heads)
        self.aux_attach = attach  # (index of the layer fed, head name), in head order

    def row_children(self) -> Iterator[tuple[str, nn.Module]]:
        """Top-level rows in execution order, aux heads right after the layer they read."""
        heads = iter(self.aux)
        for index, (name, module) in enumerate(zip(self.row_names, self.layers)):
            yield name, module
            for attached, head_name in self.aux_attach:
                if attached == index:
                    yield head_name, next(heads)

    def forward(self, x: torch.Tensor):
        aux_outputs = []
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if self.training:
                aux_outputs += [head(x) for (at, _), head in zip(self.aux_attach, self.aux) if at == index]
        return (x, *aux_outputs) if aux_outputs else x


def build_model(spec: Spec, train: bool = False, device: str | torch.device = "cpu") -> SpecNet:
    """The real network: initialized parameters, or shapes only on device="meta".

    With train=True the auxiliary heads are built and the model is returned in training mode;
    otherwise it is returned in eval mode without them."""
    return SpecNet(spec, train=train, device=torch.device(device)).train(train)
