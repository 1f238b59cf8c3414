"""What timing is given to time (TimingTarget): the one way timing/ reaches a network, made by
each Source (sources.py) from the run's RunOptions: no spec, build or count is seen below it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from ..inputs import Inputs, as_inputs

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class TimingTarget:
    """What to time: a model on a device, its inputs, its size for the memory check, and at what
    dtype its forward or a training step is timed (RunOptions decides: dtype, depth, step_optimizer)."""

    name: str
    make_model: Callable[[torch.device], torch.nn.Module]
    inputs: Inputs  # or one tensor's shape per sample
    params: int
    activation_sizes: tuple[int, ...]  # output elements per sample of every row
    owned: bool = True  # make_model returns a new model; False: it may be the caller's (copy it)
    user_code: bool = False  # a Python model: what its code raises while timed is the user's error
    dtype: str = field(kw_only=True)  # the floating-point type it is cast to and timed at: fp32, tf32, fp16, bf16
    depth: int | None = field(kw_only=True)  # a Python model's rows: its module tree this deep (None: all)
    step_optimizer: str | None = field(kw_only=True)  # a training step with this optimizer is timed; None: the forward

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", as_inputs(self.inputs))  # a shape: one tensor of it

    @property
    def training(self) -> bool:
        return self.step_optimizer is not None
