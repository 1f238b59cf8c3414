"""A training step as one timed call (--step train): zero_grad, forward, the loss, backward, the
optimizer's step, with the boundaries between the parts marked so their shares can be reported."""
from __future__ import annotations

import time
from typing import Any

import torch

from ..inputs import Call
from .cuda import TorchCuda
from .stats import Phases


class TrainingStep:
    """One training step per call: zero_grad, forward, the loss (modules.training_loss: main
    output plus 0.3 x each auxiliary one), backward, the optimizer's step. With `marks`, the
    boundaries between forward, backward and optimizer step are marked, and read by `collect()`
    once the step has finished (on a GPU: after the device synchronized), so their shares can be
    reported (`phases`)."""

    def __init__(self, model: torch.nn.Module, optimizer: str, marks: "PhaseMarks | None" = None):
        parameters = [p for p in model.parameters() if p.requires_grad]
        self.optimizer: torch.optim.Optimizer | None = None  # a network with nothing to train: no step
        if parameters and optimizer == "adam":
            self.optimizer = torch.optim.Adam(parameters, lr=1e-3)
        elif parameters:
            self.optimizer = torch.optim.SGD(parameters, lr=1e-3, momentum=0.9 if optimizer == "momentum" else 0.0)
        self.model, self.marks = model, marks

    def __call__(self, call: Call) -> None:
        from ..modules import training_loss

        mark = self.marks.mark if self.marks is not None else (lambda boundary: None)
        if self.optimizer is not None:
            self.optimizer.zero_grad(set_to_none=True)
        mark(0)
        loss = training_loss(call.into(self.model))
        mark(1)
        if loss is not None and loss.requires_grad:  # no trainable parameter: nothing to differentiate
            loss.backward()
        mark(2)
        if self.optimizer is not None:
            self.optimizer.step()
        mark(3)

    def collect(self) -> None:
        """Read the last step's phases; call once it has finished."""
        if self.marks is not None:
            self.marks.collect()

    def phases(self, skip: int) -> Phases | None:
        """Median milliseconds of forward, backward and optimizer step over the timed calls (the
        first `skip` were warm-up)."""
        import statistics

        timed = self.marks.steps[skip:] if self.marks is not None else []
        if not timed:
            return None
        return Phases(*(statistics.median(step[i] for step in timed) for i in range(3)))


class PhaseMarks:
    """The four boundaries of a training step on the host clock (the CPU runs the parts in order);
    `steps` holds each collected step's (forward, backward, optimizer) milliseconds."""

    def __init__(self):
        self.at: list[Any] = [0.0] * 4
        self.steps: list[tuple[float, float, float]] = []

    def mark(self, boundary: int) -> None:
        self.at[boundary] = time.perf_counter()

    def collect(self) -> None:
        self.steps.append(tuple(self._elapsed_ms(self.at[i], self.at[i + 1]) for i in range(3)))

    def _elapsed_ms(self, start: Any, end: Any) -> float:
        return (end - start) * 1000


class EventMarks(PhaseMarks):
    """The boundaries as four CUDA events on the device's stream, made once, before any timing:
    recorded during each step and read after the device synchronized, so no event is created
    inside a timed window."""

    def __init__(self, cuda: TorchCuda, device: torch.device):
        super().__init__()
        self.stream = cuda.current_stream(device)
        self.at = [cuda.event() for _ in range(4)]

    def mark(self, boundary: int) -> None:
        self.at[boundary].record(self.stream)

    def _elapsed_ms(self, start: Any, end: Any) -> float:
        return start.elapsed_time(end)


def phase_marks(device: torch.device, cuda: TorchCuda) -> PhaseMarks:
    return PhaseMarks() if device.type == "cpu" else EventMarks(cuda, device)
