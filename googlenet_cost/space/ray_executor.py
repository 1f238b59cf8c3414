"""`--executor ray`: a sweep's counting and timing on a Ray cluster (the optional `ray` extra).

Counting runs as Ray tasks, COUNT_CHUNK candidates each, in parallel over the cluster's CPUs. Timing
runs on one actor per device kind (`--device-kinds cpu,H100,A100`: `cpu`, or an accelerator type as
Ray names it, which the actor asks for through Ray's resources: one GPU of that type), and an actor
runs one measurement at a time, so timings never share their device. The driver (this process)
keeps the store: it asks the actors only for the entries the store lacks, and stores each result
the moment it arrives.

Without `--ray-address`, a local cluster is started on this machine, reachable on loopback only,
and shut down at the end. Ray is imported only here, and only when this executor is made."""
from __future__ import annotations

import os
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..errors import GcostError, first_line, quoted
from .candidates import Counted, Unit, count_all
from .executors import Device, Done, Progress, chunks

if TYPE_CHECKING:
    from ..spec.model import Spec
    from ..timing.settings import TimingOptions
    from .table import Conditions, Timed

# A local cluster's settings, read when Ray is first imported: its services on the loopback address
# only (Ray's own setting for machines that are no cluster), and no usage statistics sent anywhere.
LOCAL_ENVIRONMENT = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
LOCAL_OBJECT_STORE_BYTES = 256 * 2**20  # the sweep's objects are specs and timings: small
KIND = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def parse_kinds(text: str | None) -> tuple[str, ...]:
    """--device-kinds 'cpu,H100' -> ("cpu", "H100"); default ("cpu",)."""
    if text is None:
        return ("cpu",)
    kinds = tuple(kind.strip() for kind in text.split(",") if kind.strip())
    bad = [kind for kind in kinds if not KIND.fullmatch(kind)]
    if not kinds or bad:
        raise GcostError(f"--device-kinds {quoted(text)}: give kinds like cpu,H100,A100 (cpu, or Ray's accelerator "
                         "types)")
    if len(set(kinds)) != len(kinds):
        raise GcostError(f"--device-kinds {quoted(text)}: a kind given twice")
    return kinds


def import_ray(local: bool) -> Any:
    """Ray, imported now; for a local cluster with its loopback-only settings (set before the import)."""
    if local:
        for name, value in LOCAL_ENVIRONMENT.items():
            os.environ.setdefault(name, value)
    try:
        import ray
    except ImportError:
        raise GcostError("--executor ray needs Ray: pip install 'gcost[ray]'") from None
    return ray


class Measurer:
    """The actor of one device kind: times units and networks there, one at a time."""

    def __init__(self, timing: TimingOptions, dtype: str):
        from .measure import decided

        self.options, self.dtype = decided(timing, dtype), dtype

    def conditions(self) -> Conditions:
        from .measure import conditions

        return conditions(self.options, self.dtype)

    def warm(self, spec: Spec) -> None:
        from .measure import warm_process

        warm_process(spec, self.options, self.dtype)

    def time_unit(self, unit: Unit) -> Timed:
        from .measure import time_unit

        return time_unit(unit, self.options, self.dtype)

    def time_network(self, spec: Spec) -> Timed:
        from .measure import time_network

        return time_network(spec, self.options, self.dtype)


class RayExecutor:
    name = "ray"

    def __init__(self, timing: TimingOptions | None, *, dtype: str, address: str | None,
                 kinds: Sequence[str] = ("cpu",), progress: Callable[[str], None] | None = None):
        self.ray = import_ray(local=address is None)
        self.timing, self.kinds, self.dtype = timing, tuple(kinds), dtype  # dtype: the run's (RunOptions.dtype)
        self._started = not self.ray.is_initialized()
        if self._started:
            if progress:
                progress(f"starting Ray ({'a local cluster' if address is None else address}) ...")
            self._init(address)
        self._devices: list[Device] | None = None
        self._actors: dict[str, Any] = {}
        try:
            self._check_kinds()
        except BaseException:
            self.close()
            raise

    def _init(self, address: str | None) -> None:
        # Ray's own log lines (its start, its token authentication) are not the sweep's output: errors only
        settings: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
        if address is None:
            settings["object_store_memory"] = LOCAL_OBJECT_STORE_BYTES
        try:
            self.ray.init(address=address, **settings)
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as e:
            where = f"--ray-address {address}" if address else "a local Ray cluster"
            raise GcostError(f"{where}: cannot start or reach it: {first_line(e, 200)}") from None

    def _check_kinds(self) -> None:
        if self.timing is None:
            return
        resources = self.ray.cluster_resources()
        offered = sorted(key.split(":", 1)[1] for key in resources if key.startswith("accelerator_type:"))
        for kind in self.kinds:
            there = resources.get("CPU", 0) >= 1 if kind == "cpu" else f"accelerator_type:{kind}" in resources
            if not there:
                raise GcostError(f"--device-kinds {kind}: no node of the Ray cluster offers it (its accelerator "
                                 f"types: {', '.join(offered) or 'none'}; cpu for its CPUs)")

    def count(self, spec: Spec, items: Sequence[tuple[int, str, str]], *, batch: int, itemsize: int, units: bool,
              progress: Progress | None = None) -> list[Counted]:
        task = self.ray.remote(num_cpus=1)(count_all)
        spec_ref = self.ray.put(spec)
        parts = chunks(items)
        refs = [task.remote(spec_ref, part, batch=batch, itemsize=itemsize, units=units) for part in parts]
        results: dict[int, list[Counted]] = {}
        for position, value in self._as_done(refs):
            results[position] = value
            if progress:
                done = sum(len(parts[p]) for p in results)
                progress("counting candidates on Ray", done / len(items), f"{done:,} of {len(items):,}")
        return [counted for position in range(len(parts)) for counted in results[position]]

    def _actor(self, kind: str) -> Any:
        if kind not in self._actors:
            assert self.timing is not None, "a sweep without timing measures nothing"
            if kind == "cpu":
                resources: dict[str, Any] = {"num_cpus": 1, "num_gpus": 0}
                timing = replace(self.timing, device="cpu")
            else:
                resources = {"num_cpus": 1, "num_gpus": 1, "accelerator_type": kind}
                timing = replace(self.timing, device="cuda")
            self._actors[kind] = self.ray.remote(Measurer).options(**resources).remote(timing, self.dtype)
        return self._actors[kind]

    def devices(self) -> list[Device]:
        if self._devices is None:
            found = self._get([self._actor(kind).conditions.remote() for kind in self.kinds])
            self._devices = [Device(kind, conditions) for kind, conditions in zip(self.kinds, found)]
        return self._devices

    def warm(self, device: Device, spec: Spec) -> None:
        self._get(self._actor(device.kind).warm.remote(spec))

    def measure_units(self, device: Device, units: Sequence[Unit], done: Done) -> None:
        actor = self._actor(device.kind)
        for position, timed in self._as_done([actor.time_unit.remote(unit) for unit in units]):
            done(position, timed)

    def measure_networks(self, device: Device, specs: Sequence[Spec], done: Done) -> None:
        actor = self._actor(device.kind)
        for position, timed in self._as_done([actor.time_network.remote(spec) for spec in specs]):
            done(position, timed)

    def _as_done(self, refs: list) -> Any:
        """(position, result) of each task as it finishes; a task's GcostError raised as it is."""
        positions = {ref: position for position, ref in enumerate(refs)}
        pending = list(refs)
        while pending:
            ready, pending = self.ray.wait(pending, num_returns=1)
            yield positions[ready[0]], self._get(ready[0])

    def _get(self, refs: Any) -> Any:
        try:
            return self.ray.get(refs)
        except self.ray.exceptions.RayTaskError as e:
            cause = getattr(e, "cause", None)
            if isinstance(cause, GcostError):
                raise GcostError(cause.message, file=cause.file, layer=cause.layer) from None
            raise GcostError(f"a Ray task failed: {first_line(cause or e, 300)}") from None

    def close(self) -> None:
        for actor in self._actors.values():
            self.ray.kill(actor)
        self._actors.clear()
        if self._started and self.ray.is_initialized():
            self.ray.shutdown()
