"""`--interpolate`: on a dense grid, units between two timed ones along one channel count are
interpolated instead of timed (the way TF-NAS builds its tables: time every few widths, interpolate
the rest).

A line is a set of units whose configurations are equal but for one channel count: a conv's or
linear's `out`, one of an inception module's widths, or the input's channels. On each line with
three or more units, the anchors are timed (or found in the store): the narrowest and the widest
unit, every stored one, and between them enough units that neighbouring anchors are at most
MAX_RATIO apart. A unit between two neighbouring anchors gets the straight line between their
medians at its channel count. Units of the base network are always timed (they calibrate). No torch."""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

MAX_RATIO = 2.0  # neighbouring anchors on a line at most this far apart (the grid is "dense" there)
CHANNEL_FIELDS = ("out", "widths")


@dataclass(frozen=True)
class Interpolated:
    """A unit's median read off the line between two anchors' medians."""

    channels: int
    low: tuple[int, str]  # (channels, key) of the narrower anchor
    high: tuple[int, str]

    def median_ms(self, medians: Mapping[str, float]) -> float:
        (x0, k0), (x1, k1) = self.low, self.high
        return medians[k0] + (medians[k1] - medians[k0]) * (self.channels - x0) / (x1 - x0)


def channel_leaves(config: Any, path: tuple = ()) -> Iterator[tuple[tuple, int]]:
    """(path, value) of every channel count in a unit's configuration."""
    if path == ("input",) and isinstance(config, list) and len(config) == 3:
        yield ("input", 0), config[0]
        return
    if isinstance(config, dict):
        for name, value in config.items():
            yield from channel_leaves(value, path + (name,))
    elif isinstance(config, list):
        for position, value in enumerate(config):
            yield from channel_leaves(value, path + (position,))
    elif isinstance(config, int) and not isinstance(config, bool) and any(p in CHANNEL_FIELDS for p in path):
        yield path, config


def _masked(config: Any, path: tuple) -> str:
    """The configuration with the leaf at `path` blanked: units on one line share it."""
    def blank(value: Any, rest: tuple) -> Any:
        if not rest:
            return None
        if isinstance(value, dict):
            return {**value, rest[0]: blank(value[rest[0]], rest[1:])}
        return [blank(item, rest[1:]) if position == rest[0] else item for position, item in enumerate(value)]

    return json.dumps([list(map(str, path)), blank(config, path)], sort_keys=True)


def plan_interpolation(configs: Mapping[str, Any], stored: set[str], missing: list[str], *,
                       protect: set[str]) -> tuple[list[str], dict[str, Interpolated]]:
    """Which of the `missing` units to time, and the estimate of each one interpolated instead."""
    lines: dict[str, dict[int, str]] = defaultdict(dict)
    for key, config in configs.items():
        for path, value in channel_leaves(config):
            lines[_masked(config, path)][value] = key
    anchors: set[str] = set()
    between: dict[str, Interpolated] = {}
    for points in lines.values():
        if len(points) < 3:
            continue
        chosen = _anchors(points, stored)
        anchors.update(points[value] for value in chosen)
        for low, high in zip(chosen, chosen[1:]):
            if high <= MAX_RATIO * low:
                for value in points:
                    if low < value < high:
                        between.setdefault(points[value], Interpolated(value, (low, points[low]), (high, points[high])))
    to_time = [key for key in missing if key in anchors or key in protect or key not in between]
    timed = set(to_time)
    return to_time, {key: between[key] for key in missing if key not in timed}


def _anchors(points: Mapping[int, str], stored: set[str]) -> list[int]:
    """The channel counts to time on one line, ascending: both ends, every stored one, and between
    them the widest step that stays within MAX_RATIO (the next count where none does)."""
    values = sorted(points)
    fixed = sorted({values[0], values[-1], *(v for v in values if points[v] in stored)})
    chosen = [fixed[0]]
    for target in fixed[1:]:
        while target > MAX_RATIO * chosen[-1]:
            inside = [v for v in values if chosen[-1] < v < target]
            reach = [v for v in inside if v <= MAX_RATIO * chosen[-1]]
            if not inside:
                break
            chosen.append(reach[-1] if reach else inside[0])
        chosen.append(target)
    return chosen
