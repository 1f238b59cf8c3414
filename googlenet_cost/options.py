"""RunOptions: every decision about a run, made once at the edge (each command of cli/ builds one
from its options, the Python API from its keywords) and read everywhere below. Imports no torch.

No function below takes `optimizer=None` to mean "not training": it reads `options.training`."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .optimizers import OPTIMIZERS
from .timing.settings import DTYPE_BYTES, TimingOptions

if TYPE_CHECKING:
    from .roofline.roofs import Peaks

STEPS = ("inference", "train")
DEFAULT_MODEL_DEPTH = 2  # a Python model's rows: its module tree this many levels deep


@dataclass(frozen=True)
class RunOptions:
    batch: int = 1  # samples in the counting pass (and a training step's batch); counts are per sample
    train: bool = False  # --train: train mode, auxiliary heads included
    step: str = "inference"  # "train": also what a training step costs (backward, memory, step latency)
    optimizer: str = "momentum"  # the training step's optimizer (its state in the memory, the timed step)
    depth: int | None = DEFAULT_MODEL_DEPTH  # a Python model is measured this many levels deep (None: all)
    verify: bool = False  # cross-check every row's MACs with fvcore
    strict: bool = False  # a Python model's operators with no MAC formula are an error
    timing: TimingOptions | None = None  # None: no latency measured
    dtype: str = "fp32"  # the floating-point type counted (bytes moved) and timed: fp32, tf32, fp16, bf16
    roofline: Peaks | None = None  # --roofline: the peaks that bound every row (resolved at the edge); None: no bounds
    bound_batches: tuple[int, ...] = ()  # --roofline --batch 1,8,64: the further batches each row is bounded at

    def __post_init__(self) -> None:
        if self.dtype not in DTYPE_BYTES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPE_BYTES)}, got {self.dtype!r}")
        if self.roofline is not None and self.roofline.dtype != self.dtype:
            raise ValueError(f"the roofline's peaks are of {self.roofline.dtype}, the run is {self.dtype}")
        if self.step not in STEPS:
            raise ValueError(f"step must be one of {', '.join(STEPS)}, got {self.step!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")

    @property
    def itemsize(self) -> int:
        """Bytes of one floating-point element at the report's dtype."""
        return DTYPE_BYTES[self.dtype]

    @property
    def training(self) -> bool:
        """Whether the run measures a training step (--step train)."""
        return self.step == "train"

    @property
    def train_mode(self) -> bool:
        """Whether the model runs in train mode: --train, or a training step."""
        return self.train or self.training

    @property
    def mode(self) -> str:
        return "train" if self.train_mode else "eval"

    @property
    def step_optimizer(self) -> str | None:
        """The optimizer of the training step measured, None when no step is (the JSON's value)."""
        return self.optimizer if self.training else None

    def with_timing(self, timing: TimingOptions | None) -> RunOptions:
        return replace(self, timing=timing)

    def with_roofline(self, peaks: Peaks | None) -> RunOptions:
        return replace(self, roofline=peaks)


def from_keywords(batch: int = 1, *, train: bool = False, verify: bool = False, strict: bool = False,
                  depth: int | None = DEFAULT_MODEL_DEPTH, timing: TimingOptions | None = None,
                  optimizer: str | None = None, dtype: str | None = None,
                  roofline: Peaks | None = None) -> RunOptions:
    """RunOptions from the Python API's keywords (googlenet_cost.analyze, Source.analyze), where an
    optimizer given asks for a training step with it: the one place that reading is made."""
    if timing is not None and not isinstance(timing, TimingOptions):
        raise TypeError(f"timing must be a TimingOptions or None, got {type(timing).__name__}")
    step = "inference" if optimizer is None else "train"
    return RunOptions(batch=batch, train=train, step=step, optimizer=optimizer or "momentum", depth=depth,
                      verify=verify, strict=strict, timing=timing, dtype=dtype or "fp32", roofline=roofline)
