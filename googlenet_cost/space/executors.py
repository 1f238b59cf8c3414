"""Where a sweep's work runs: counting the candidates, and timing table entries and networks.

`LocalExecutor` runs everything in this process on one device (`--device`). `RayExecutor`
(ray_executor.py, `--executor ray`) runs the same functions as Ray tasks and actors on a cluster,
one device kind per actor. Both hand results back one at a time (`done`), so the sweep stores each
table entry the moment it is timed."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

from .candidates import Counted, Unit, count_all
from .table import Conditions

if TYPE_CHECKING:
    from ..spec.model import Spec
    from ..timing.cuda import TorchCuda
    from ..timing.settings import TimingOptions
    from .table import Timed

Progress = Callable[..., Any]  # (label, fraction[, detail]), as cli/render.Progress takes it
Done = Callable[[int, "Timed"], None]  # (position in the list given, what was timed)
COUNT_CHUNK = 25  # candidates per counting task (and per progress step)


@dataclass(frozen=True)
class Device:
    """One device a table is built on: its kind as the sweep names it (cpu, cuda, or an accelerator
    type given to --device-kinds) and the conditions its entries are stored under."""

    kind: str
    conditions: Conditions


class Executor(Protocol):
    name: str

    def count(self, spec: Spec, items: Sequence[tuple[int, str, str]], *, batch: int, itemsize: int, units: bool,
              progress: Progress | None = None) -> list[Counted]: ...

    def devices(self) -> list[Device]: ...

    def warm(self, device: Device, spec: Spec) -> None: ...

    def measure_units(self, device: Device, units: Sequence[Unit], done: Done) -> None: ...

    def measure_networks(self, device: Device, specs: Sequence[Spec], done: Done) -> None: ...

    def close(self) -> None: ...


def chunks(items: Sequence, size: int = COUNT_CHUNK) -> list[Sequence]:
    return [items[start:start + size] for start in range(0, len(items), size)]


class LocalExecutor:
    """Everything in this process; timing on the device of `timing` (None: counting only)."""

    name = "local"

    def __init__(self, timing: TimingOptions | None, cuda: TorchCuda | None = None, *, dtype: str):
        self.timing, self.cuda, self.dtype = timing, cuda, dtype  # dtype: the run's (RunOptions.dtype)
        self._decided: TimingOptions | None = None

    def count(self, spec: Spec, items: Sequence[tuple[int, str, str]], *, batch: int, itemsize: int, units: bool,
              progress: Progress | None = None) -> list[Counted]:
        counted: list[Counted] = []
        for chunk in chunks(items):
            counted += count_all(spec, chunk, batch=batch, itemsize=itemsize, units=units)
            if progress:
                progress("counting candidates", len(counted) / len(items), f"{len(counted):,} of {len(items):,}")
        return counted

    def options(self) -> TimingOptions:
        """The timing options with the thread count decided, once for the whole sweep."""
        from .measure import decided

        if self._decided is None:
            assert self.timing is not None, "a sweep without timing measures nothing"
            self._decided = decided(self.timing, self.dtype, self.cuda)
        return self._decided

    def devices(self) -> list[Device]:
        from ..timing.device import resolve_device
        from .measure import conditions

        options = self.options()
        return [Device(resolve_device(options.device, self.cuda).type, conditions(options, self.dtype, self.cuda))]

    def warm(self, device: Device, spec: Spec) -> None:
        from .measure import warm_process

        warm_process(spec, self.options(), self.dtype, self.cuda)

    def measure_units(self, device: Device, units: Sequence[Unit], done: Done) -> None:
        from .measure import time_unit

        for position, unit in enumerate(units):
            done(position, time_unit(unit, self.options(), self.dtype, self.cuda))

    def measure_networks(self, device: Device, specs: Sequence[Spec], done: Done) -> None:
        from .measure import time_network

        for position, spec in enumerate(specs):
            done(position, time_network(spec, self.options(), self.dtype, self.cuda))

    def close(self) -> None:
        pass
