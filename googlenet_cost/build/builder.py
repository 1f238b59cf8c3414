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
                     BatchNormSpec, ChannelShuffleSpec, ConvSpec, LayerNormSpec, LayerScaleSpec, DropoutSpec, FlattenSpec,
                     GlobalAvgPoolSpec, GlobalMaxPoolSpec, Layer,
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


@register_builder("conv")
def _conv(layer: ConvSpec, in_shape: Shape, device: torch.device) -> nn.Module:
    out = layer.width(in_shape[0])
    modules: list[nn.Module] = [nn.Conv2d(in_shape[0], out, layer.kernel, layer.stride, layer.resolved_padding(),
                                          dilation=layer.dilation, groups=layer.group_count(in_shape[0]),
                                          bias=layer.bias, device=device)]
    if layer.norm == "batchnorm":
        modules.append(nn.BatchNorm2d(out, eps=layer.norm_eps, device=device))
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
    inputs = layer.path_inputs(in_shape)
    split = tuple(shape[0] for shape in inputs) if getattr(layer, "split", False) else None
    return Parallel([build_path(path, path_in, device) for path, path_in in zip(layer.branches(in_shape), inputs)],
                    layer.merge, activation_module(layer.merge_activation()), split)


class LayerNorm2d(nn.LayerNorm):
    """Layer normalization over the channels of each position of an N x C x H x W map, as
    torchvision's ConvNeXt writes it: permuted to N x H x W x C, normalized, permuted back; then
    copied to a contiguous N x C x H x W tensor, as every layer here hands on (torchvision's hands
    on the permuted view, whose strides steer later operators, a concat's output among them)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)  # N x H x W x C
        x = nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2).clone(memory_format=torch.contiguous_format)  # N x C x H x W


@register_builder("layernorm")
def _layernorm(layer: LayerNormSpec, in_shape: Shape, device: torch.device) -> nn.Module:
    norm = LayerNorm2d if len(in_shape) == 3 else nn.LayerNorm
    return norm(in_shape[0], eps=layer.eps, device=device)


class LayerScale(nn.Module):
    """A learned multiplier per channel, as ConvNeXt's `layer_scale * x` (C x 1 x 1 on a map)."""

    def __init__(self, in_shape: Shape, init: float, device: torch.device):
        super().__init__()
        self.scale = nn.Parameter(torch.full((in_shape[0], *(1,) * (len(in_shape) - 1)), init, device=device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x


@register_builder("layer_scale")
def _layer_scale(layer: LayerScaleSpec, in_shape: Shape, device: torch.device) -> nn.Module:
    return LayerScale(in_shape, layer.init, device)


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


@register_builder("channel_shuffle")
def _channel_shuffle(layer: ChannelShuffleSpec, in_shape: Shape, device: torch.device) -> nn.Module:
    return ChannelShuffle(layer.groups)


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
