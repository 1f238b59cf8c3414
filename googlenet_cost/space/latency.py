"""A sweep's latency on one device: its table built (entries found in the store, the rest timed
once each and stored the moment they are timed), every candidate predicted from it, and candidates
timed end to end (`--latency measured`, or `--measure K` to check the predictor)."""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..spec.model import Spec
from .candidates import Counted, Unit, edited, network_units
from .executors import Device, Executor
from .interpolate import Interpolated, plan_interpolation
from .predict import Calibration, predicted_ms
from .store import Store
from .table import Entry, Timed, entry_key, network_config, unit_config

Progress = Callable[..., Any]


@dataclass
class TableUse:
    """What the sweep's table took on one device (the JSON `store`, summed over devices)."""

    reused: int = 0  # entries found in the store (layers, the base network, candidates)
    measured_layers: int = 0  # units timed now (and stored)
    measured_networks: int = 0  # whole networks timed now (and stored): the base, candidates
    interpolated: int = 0  # units interpolated along a channel count instead of timed
    layer_entries: int = 0  # layer entries the predictions rest on (from the store or timed now)
    unsteady_layers: int = 0  # of those, the ones whose interquartile range is over 5% of their median


@dataclass
class Predictions:
    """Every candidate's prediction on one device."""

    predicted: dict[int, float] = field(default_factory=dict)  # candidate index -> ms
    interpolated: dict[int, int] = field(default_factory=dict)  # candidate index -> its units interpolated
    calibration: Calibration | None = None
    use: TableUse = field(default_factory=TableUse)
    warnings: list[str] = field(default_factory=list)  # what the timings of networks said about themselves


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class KeyBook:
    """Each distinct unit's configuration and key under one device's conditions, made once."""

    def __init__(self, device: Device):
        self.device = device
        self.configs: dict[str, dict] = {}
        self.units: dict[str, Unit] = {}
        self._keys: dict[Unit, str] = {}

    def key(self, unit: Unit) -> str:
        if unit not in self._keys:
            config = unit_config(unit)
            key = entry_key("layer", config, self.device.conditions)
            self._keys[unit], self.configs[key], self.units[key] = key, config, unit
        return self._keys[unit]


def predict_on(device: Device, executor: Executor, store: Store, spec: Spec, candidates: Sequence[Counted], *,
               interpolate: bool, progress: Progress | None = None) -> Predictions:
    book = KeyBook(device)
    keys_of = {c.index: [book.key(unit) for unit in c.units] for c in candidates}
    base_units = network_units(spec)
    base_keys = [book.key(unit) for unit in base_units]
    result = Predictions()
    stored = {key: entry.timed for key, entry in store.get(book.configs).items()}
    result.use.reused = len(stored)
    missing = [key for key in book.configs if key not in stored]
    estimates: dict[str, Interpolated] = {}
    if interpolate:
        to_time, estimates = plan_interpolation(book.configs, set(stored), missing, protect=set(base_keys))
        missing = to_time
    if missing:
        if progress:
            progress(f"running the base network on {device.kind} before timing its layers", 0.0)
        executor.warm(device, spec)
    _time_units(executor, device, store, book, missing, stored, progress)
    result.use.measured_layers = len(missing)
    medians = {key: timed.median_ms for key, timed in stored.items()}
    for key, estimate in estimates.items():
        medians[key] = estimate.median_ms(medians)
    result.use.interpolated = len(estimates)
    result.use.layer_entries = len(stored)
    result.use.unsteady_layers = sum(timed.unsteady for timed in stored.values())
    result.calibration = _calibration(executor, device, store, spec, base_units, [medians[key] for key in base_keys],
                                      result.use, result.warnings, progress)
    for index, keys in keys_of.items():
        result.predicted[index] = predicted_ms([medians[key] for key in keys], result.calibration)
        result.interpolated[index] = sum(key in estimates for key in keys)
    return result


def _time_units(executor: Executor, device: Device, store: Store, book: KeyBook, keys: list[str],
                stored: dict[str, Timed], progress: Progress | None) -> None:
    label = f"timing layers on {device.kind}"

    def done(position: int, timed: Timed) -> None:
        key = keys[position]
        store.put(Entry("layer", book.configs[key], device.conditions, timed, now()))
        stored[key] = timed
        if progress:
            progress(label, (position + 1) / len(keys), f"{position + 1:,} of {len(keys):,}")

    if keys:
        executor.measure_units(device, [book.units[key] for key in keys], done)


def _calibration(executor: Executor, device: Device, store: Store, spec: Spec, units: Sequence[Unit],
                 units_ms: list[float], use: TableUse, warnings: list[str], progress: Progress | None) -> Calibration:
    """The base network's end-to-end time (an entry of kind "network": from the store, else timed
    now and stored). A candidate equal to the base is timed apart from it (kind "candidate")."""
    config = network_config(units)
    key = entry_key("network", config, device.conditions)
    found = store.get([key]).get(key)
    if found is not None:
        use.reused += 1
        return Calibration(found.timed.median_ms, sum(units_ms))
    if progress:
        progress(f"timing the base network on {device.kind}", 0.0)
    timed: list[Timed] = []
    executor.measure_networks(device, [spec], lambda position, result: timed.append(result))
    store.put(Entry("network", config, device.conditions, timed[0], now()))
    use.measured_networks += 1
    warnings += [f"{device.kind}, the base network: {warning}" for warning in timed[0].warnings]
    return Calibration(timed[0].median_ms, sum(units_ms))


def measure_on(device: Device, executor: Executor, store: Store, spec: Spec, candidates: Sequence[Counted], *,
               use: TableUse, warnings: list[str], progress: Progress | None = None,
               label: str = "timing candidates") -> dict[int, float]:
    """Each candidate timed end to end (an entry of kind "candidate": found in the store, else timed
    now and stored the moment it is timed)."""
    varied = {c.index: edited(spec, c.edits) for c in candidates}
    configs = {c.index: network_config(network_units(varied[c.index])) for c in candidates}
    keys = {index: entry_key("candidate", config, device.conditions) for index, config in configs.items()}
    stored = store.get(keys.values())
    results = {index: stored[key].timed.median_ms for index, key in keys.items() if key in stored}
    use.reused += len(results)
    missing = [c.index for c in candidates if c.index not in results]
    labels = {c.index: c.label for c in candidates}
    label = f"{label} on {device.kind}"

    def done(position: int, timed: Timed) -> None:
        index = missing[position]
        store.put(Entry("candidate", configs[index], device.conditions, timed, now()))
        results[index] = timed.median_ms
        use.measured_networks += 1
        warnings.extend(f"{device.kind}, {labels[index]}: {warning}" for warning in timed.warnings)
        if progress:
            progress(label, (position + 1) / len(missing), f"{position + 1:,} of {len(missing):,}")

    if missing:
        executor.measure_networks(device, [varied[index] for index in missing], done)
    return results
