"""SweepOptions: every decision about one sweep, made at the edge (cli/sweep.py, or the Python API's
keywords in api_sweep.py) and read below. The batch, dtype and timing are a RunOptions', as in
every other command. No torch."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from ..errors import GcostError
from ..options import RunOptions
from .grid import Axis
from .pareto import Objective

LATENCY_MODES = ("predicted", "measured", "none")
DEFAULT_MEASURE = 5  # --latency predicted without --measure: up to this many candidates timed end to end
MAX_MEASURE = 10_000
# The front without --pareto: the most capacity for the time (or, counting only, for the MACs).
DEFAULT_OBJECTIVES = {True: (Objective("params", "max"), Objective("latency", "min")),
                      False: (Objective("params", "max"), Objective("macs", "min"))}


@dataclass(frozen=True)
class SweepOptions:
    axes: tuple[Axis, ...]
    run: RunOptions = RunOptions()  # batch, dtype and timing (None with --latency none)
    latency: str = "predicted"  # predicted (from the tables), measured (every candidate end to end) or none
    sample: int | None = None  # --sample N: N candidates drawn at random (None: the whole product)
    seed: int = 0
    measure: int | None = None  # --measure K: candidates timed end to end to check the predictor (None: default)
    pareto: tuple[Objective, ...] | None = None  # None: DEFAULT_OBJECTIVES
    limits: Mapping[str, float] = field(default_factory=dict)  # gate metric key -> limit (--max-params, ...)
    interpolate: bool = False  # units between two timed ones of a dense grid interpolated, not timed

    def __post_init__(self) -> None:
        if self.latency not in LATENCY_MODES:
            raise GcostError(f"--latency must be one of {', '.join(LATENCY_MODES)}, got {self.latency!r}")
        if self.latency != "none" and self.run.timing is None:
            raise GcostError(f"--latency {self.latency} times candidates: leave out --no-latency (or use --latency none)")
        if self.latency == "none" and self.run.timing is not None:
            object.__setattr__(self, "run", self.run.with_timing(None))
        if self.measure is not None and not 0 <= self.measure <= MAX_MEASURE:
            raise GcostError(f"--measure must be from 0 to {MAX_MEASURE:,}, got {self.measure:,}")
        if self.measure and self.latency != "predicted":
            raise GcostError("--measure checks the predictor: it goes with --latency predicted")
        if self.run.training or self.run.train_mode:
            raise GcostError("a sweep counts and times inference in eval mode: leave out --train and --step train")
        objectives = self.objectives
        if any(o.metric == "latency" for o in objectives) and self.latency == "none":
            raise GcostError("--pareto latency needs timing: use --latency predicted or measured")
        if "latency_ms" in self.limits and self.latency == "none":
            raise GcostError("--max-latency-ms needs timing: use --latency predicted or measured")

    @property
    def objectives(self) -> tuple[Objective, ...]:
        return self.pareto if self.pareto is not None else DEFAULT_OBJECTIVES[self.latency != "none"]

    @property
    def measure_count(self) -> int:
        """Candidates timed end to end to check the predictor."""
        if self.latency != "predicted":
            return 0
        return DEFAULT_MEASURE if self.measure is None else self.measure
