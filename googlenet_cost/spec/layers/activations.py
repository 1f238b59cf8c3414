"""Activation layer specs: one YAML `type` per elementwise function, and the names the
`activation` key of conv, linear, inception, se and defaults accepts."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .base import Layer, ModuleKit, Shape, layer_type

if TYPE_CHECKING:
    from ..reader import Reader

# function: (its torch.nn module, whether it runs in place)
_MODULES = {"relu": ("ReLU", True), "relu6": ("ReLU6", True), "leaky_relu": ("LeakyReLU", True),
            "sigmoid": ("Sigmoid", False), "hardsigmoid": ("Hardsigmoid", True), "tanh": ("Tanh", False),
            "silu": ("SiLU", True), "hardswish": ("Hardswish", True), "gelu": ("GELU", False)}
ACTIVATIONS = tuple(_MODULES)
ACTIVATION_CHOICES = ("none", *ACTIVATIONS)  # the `activation` key of conv, linear, inception, se, defaults
RELU, SIGMOID = "relu", "sigmoid"  # the activation of a conv (and se's squeeze) and se's gate unless said otherwise
SLOPED = ("leaky_relu",)  # functions with a negative slope (the `slope` key)


@dataclass(frozen=True, kw_only=True)
class ActivationSpec(Layer):
    """An elementwise non-linearity, one layer type per function (ACTIVATIONS): no parameters, no
    MACs, the shape unchanged."""

    slope: float = 0.01  # leaky_relu's negative slope
    numeric_keys: ClassVar[tuple[str, ...]] = ()  # its numeric YAML keys (what --set can change)
    module: ClassVar[str] = ""  # its torch.nn module
    inplace: ClassVar[bool] = False

    @classmethod
    def parse(cls, r: "Reader") -> "ActivationSpec":
        if "slope" not in cls.numeric_keys:
            return cls(name=r.name)
        return cls(name=r.name, slope=r.number("slope", 0.01, low=0.0, low_open=False, high=1e6))

    def build(self, in_shape: Shape, kit: ModuleKit) -> Any:
        module = getattr(kit.nn, self.module)
        if "slope" in self.numeric_keys:
            return module(self.slope, inplace=self.inplace)
        return module(inplace=True) if self.inplace else module()


def activation_module(function: str, kit: ModuleKit, slope: float = 0.01) -> Any:
    """The nn.Module of an activation name (ACTIVATION_CHOICES); None for "none"."""
    return None if function == "none" else ACTIVATION_SPECS[function](name="", slope=slope).build((), kit)


def _activation_type(function: str) -> type[ActivationSpec]:
    title = "".join(part.title() for part in function.split("_"))
    module, inplace = _MODULES[function]
    members = {"__module__": __name__, "module": module, "inplace": inplace,
               "numeric_keys": ("slope",) if function in SLOPED else ()}
    cls = dataclass(frozen=True, kw_only=True)(type(f"{title}Spec", (ActivationSpec,), members))
    return layer_type(function)(cls)


ACTIVATION_SPECS: dict[str, type[ActivationSpec]] = {function: _activation_type(function) for function in ACTIVATIONS}
ReLUSpec = ACTIVATION_SPECS[RELU]
