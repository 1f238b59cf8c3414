"""Builder: spec -> real torch.nn.Module, one small function per layer type (a registry).

The built network keeps a row structure matching the spec: each top-level layer is one module
in `SpecNet.layers`, composite layers expose their children through `row_children()`, so
counting and timing can attribute their numbers to the spec's rows without guessing.
"""
from __future__ import annotations

from typing import Callable, Iterator

import torch
from torch import nn

from ..spec.layers import (ACTIVATIONS, ActivationSpec, AdaptiveAvgPoolSpec, AdaptiveMaxPoolSpec, AvgPoolSpec,
                     BatchNormSpec, ConvSpec, DropoutSpec, FlattenSpec, GlobalAvgPoolSpec, GlobalMaxPoolSpec, Layer,
                     LinearSpec, LRNSpec, MaxPoolSpec, ParallelSpec, SequenceSpec, Shape, SoftmaxSpec, walk)
from ..spec.model import Spec

Builder = Callable[[Layer, Shape, torch.device], nn.Module]
BUILDERS: dict[str, Builder] = {}


def register_builder(type_name: str) -> Callable[[Builder], Builder]:
    """Register the function that builds layers of one spec `type`."""

    def register(fn: Builder) -> Builder:
        if type_name in BUILDERS:
            raise RuntimeError(f"a builder for {type_name!r} is registered already")
        BUILDERS[type_name] = fn
        return fn

    return register


def build_layer(layer: Layer, in_shape: Shape, device: torch.device) -> nn.Module:
    try:
        builder = BUILDERS[layer.type_name]
    except KeyError:
        raise KeyError(f"no builder for layer type {layer.type_name!r}; "
                       f"known: {', '.join(sorted(BUILDERS))}") from None
    return builder(layer, in_shape, device)


class Path(nn.Sequential):
    """Layers in order, remembering their spec names (module keys stay 0, 1, 2...)."""

    def __init__(self, names: list[str], modules: list[nn.Module]):
        super().__init__(*modules)
        self.row_names = tuple(names)

    def row_children(self) -> Iterator[tuple[str, nn.Module]]:
        yield from zip(self.row_names, self)


def build_row(layer: Layer, in_shape: Shape, device: str | torch.device = "cpu") -> Path:
    """One top-level layer alone, as a model of one row (its children rows included)."""
    return Path([layer.name], [build_layer(layer, in_shape, torch.device(device))])


def build_path(layers: tuple[Layer, ...], in_shape: Shape, device: torch.device) -> Path:
    return Path([layer.name for layer, _, _ in walk(layers, in_shape)],
                [build_layer(layer, shape, device) for layer, shape, _ in walk(layers, in_shape)])


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

    def __init__(self, paths: list[Path], merge: str, activation: nn.Module | None = None):
        super().__init__()
        for path in paths:
            _out_of_place_first(path)
        self.paths = nn.ModuleList(paths)
        self.merge = merge
        self.activation = activation  # after the merge (a residual block's ReLU); not a row of its own

    def row_children(self) -> Iterator[tuple[str, nn.Module]]:
        for path in self.paths:
            yield from path.row_children()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [path(x) for path in self.paths]
        if self.merge == "concat":
            total = torch.cat(outs, dim=1)  # N x (sum of C) x H x W
        else:
            total = outs[0]
            for out in outs[1:]:
                total = total + out if self.merge == "add" else total * out  # mul: a gate, broadcast
        return total if self.activation is None else self.activation(total)


@register_builder("conv")
def _conv(layer: ConvSpec, in_shape: Shape, device: torch.device) -> nn.Module:
    modules: list[nn.Module] = [nn.Conv2d(in_shape[0], layer.out, layer.kernel, layer.stride, layer.resolved_padding(),
                                          dilation=layer.dilation, groups=layer.groups, bias=layer.bias,
                                          device=device)]
    if layer.norm == "batchnorm":
        modules.append(nn.BatchNorm2d(layer.out, eps=layer.norm_eps, device=device))
    activation = activation_module(layer.activation)
    if activation is not None:
        modules.append(activation)
    return modules[0] if len(modules) == 1 else nn.Sequential(*modules)


def activation_module(function: str, slope: float = 0.01) -> nn.Module | None:
    """The nn.Module of an activation name (layers.ACTIVATIONS); None for "none"."""
    makers = {"relu": lambda: nn.ReLU(inplace=True), "relu6": lambda: nn.ReLU6(inplace=True),
              "leaky_relu": lambda: nn.LeakyReLU(slope, inplace=True), "sigmoid": nn.Sigmoid,
              "hardsigmoid": lambda: nn.Hardsigmoid(inplace=True), "tanh": nn.Tanh,
              "silu": lambda: nn.SiLU(inplace=True), "hardswish": lambda: nn.Hardswish(inplace=True),
              "gelu": nn.GELU, "none": lambda: None}
    return makers[function]()


@register_builder("maxpool")
def _maxpool(layer: MaxPoolSpec, in_shape: Shape, device: torch.device) -> nn.Module:
    return nn.MaxPool2d(layer.kernel, layer.stride, layer.padding, ceil_mode=layer.ceil_mode)


@register_builder("avgpool")
def _avgpool(layer: AvgPoolSpec, in_shape: Shape, device: torch.device) -> nn.Module:
    return nn.AvgPool2d(layer.kernel, layer.stride, layer.padding, ceil_mode=layer.ceil_mode)


@register_builder("global_avgpool")
def _global_avgpool(layer: GlobalAvgPoolSpec, in_shape: Shape, device: torch.device) -> nn.Module:
    return nn.AdaptiveAvgPool2d(1)


@register_builder("global_maxpool")
def _global_maxpool(layer: GlobalMaxPoolSpec, in_shape: Shape, device: torch.device) -> nn.Module:
    return nn.AdaptiveMaxPool2d(1)


@register_builder("adaptive_maxpool")
def _adaptive_maxpool(layer: AdaptiveMaxPoolSpec, in_shape: Shape, device: torch.device) -> nn.Module:
    return nn.AdaptiveMaxPool2d(layer.output)


@register_builder("adaptive_avgpool")
def _adaptive_avgpool(layer: AdaptiveAvgPoolSpec, in_shape: Shape, device: torch.device) -> nn.Module:
    return nn.AdaptiveAvgPool2d(layer.output)


class LocalResponseNorm(nn.LocalResponseNorm):
    """PyTorch's LRN, which on the CPU has no bf16 or fp16 kernel for its 3-D average pool: there
    it runs in fp32 and casts back (the result at the input's dtype; the casts' time counts, and
    docs/latency.md says so). Elsewhere, and in fp32, exactly nn.LocalResponseNorm."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and x.dtype in (torch.bfloat16, torch.float16):
            return super().forward(x.float()).to(x.dtype)
        return super().forward(x)


@register_builder("lrn")
def _lrn(layer: LRNSpec, in_shape: Shape, device: torch.device) -> nn.Module:
    return LocalResponseNorm(layer.size, layer.alpha, layer.beta, layer.k)


@register_builder("batchnorm")
def _batchnorm(layer: BatchNormSpec, in_shape: Shape, device: torch.device) -> nn.Module:
    return nn.BatchNorm2d(in_shape[0], eps=layer.eps, momentum=layer.momentum, device=device)


def _activation(layer: ActivationSpec, in_shape: Shape, device: torch.device) -> nn.Module:
    return activation_module(layer.type_name, layer.slope)


for _function in ACTIVATIONS:
    register_builder(_function)(_activation)


@register_builder("dropout")
def _dropout(layer: DropoutSpec, in_shape: Shape, device: torch.device) -> nn.Module:
    return nn.Dropout(layer.p)


@register_builder("flatten")
def _flatten(layer: FlattenSpec, in_shape: Shape, device: torch.device) -> nn.Module:
    return nn.Flatten(1)


@register_builder("linear")
def _linear(layer: LinearSpec, in_shape: Shape, device: torch.device) -> nn.Module:
    fc = nn.Linear(in_shape[0], layer.out, bias=layer.bias, device=device)
    activation = activation_module(layer.activation)
    return fc if activation is None else nn.Sequential(fc, activation)


@register_builder("softmax")
def _softmax(layer: SoftmaxSpec, in_shape: Shape, device: torch.device) -> nn.Module:
    return nn.Softmax(dim=1)


@register_builder("repeat")
@register_builder("sequence")
def _sequence(layer: SequenceSpec, in_shape: Shape, device: torch.device) -> nn.Module:
    return build_path(layer.layers, in_shape, device)


@register_builder("se")
@register_builder("branches")
@register_builder("inception")
def _parallel(layer: ParallelSpec, in_shape: Shape, device: torch.device) -> nn.Module:
    return Parallel([build_path(path, in_shape, device) for path in layer.branches(in_shape)], layer.merge,
                    activation_module(layer.merge_activation()))


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
