"""Activation layer specs: one YAML `type` per elementwise function, and the names the
`activation` key of conv, linear, inception and defaults accepts."""
from __future__ import annotations

from dataclasses import dataclass

from .base import Layer, layer_type

ACTIVATIONS = ("relu", "relu6", "leaky_relu", "sigmoid", "hardsigmoid", "tanh", "silu", "hardswish", "gelu")
ACTIVATION_CHOICES = ("none", *ACTIVATIONS)  # the `activation` key of conv, linear, inception, defaults


@dataclass(frozen=True, kw_only=True)
class ActivationSpec(Layer):
    """An elementwise non-linearity, one layer type per function (ACTIVATIONS): no parameters, no
    MACs, the shape unchanged."""

    slope: float = 0.01  # leaky_relu's negative slope


def _activation_type(function: str) -> type[ActivationSpec]:
    title = "".join(part.title() for part in function.split("_"))
    cls = dataclass(frozen=True, kw_only=True)(type(f"{title}Spec", (ActivationSpec,), {"__module__": __name__}))
    return layer_type(function)(cls)


ACTIVATION_SPECS: dict[str, type[ActivationSpec]] = {function: _activation_type(function) for function in ACTIVATIONS}
ReLUSpec = ACTIVATION_SPECS["relu"]
