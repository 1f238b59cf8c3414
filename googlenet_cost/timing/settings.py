"""TimingOptions: how to time (device, batches, the loop's limits, compare's precision).
No torch: the CLI builds it before torch is imported. The dtype and whether a training step is
timed are the TimingTarget's (what is timed), read from RunOptions, which decides them once. Here too,
the element size of each dtype that memory is sized by (the optimizers' state is googlenet_cost/optimizers.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .loop import LoopLimits

if TYPE_CHECKING:
    from .threads import ThreadChoice


DTYPE_BYTES = {"fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2}  # bytes per floating-point element, by --dtype


@dataclass(frozen=True)
class TimingOptions:
    device: str = "auto"  # "auto", "cpu", "cuda" or "cuda:N"
    batches: tuple[int, ...] = (1,)
    channels_last: bool = False
    cuda_graph: bool = False
    compile: bool = False
    per_layer: bool = False
    cold_cache: bool = False
    threads: int | None = None  # CPU threads (--threads); None: chosen from the machine's load (timing/threads.py)
    thread_choice: ThreadChoice | None = None  # the decision, once made (measure.with_thread_choice)
    inputs: int = 4  # input buffers in rotation
    limits: LoopLimits = LoopLimits()
    precision: float = 0.02  # compare: stop once every ratio's 95% interval is within +-this
    max_time_s: float = 30.0  # compare: time budget for all variants (warm-up included), a hard cap
    min_effect: float = 0.01  # compare: a latency ratio within +-this of 1.0 is "no meaningful difference"
