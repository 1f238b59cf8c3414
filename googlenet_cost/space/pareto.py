"""Objectives and the Pareto front.

`--pareto params:max,latency:min`: two or more of params, macs, bytes and latency, each to be
maximized or minimized. A candidate is on the front when no other candidate is at least as good
in every objective and better in one (equal candidates are all on it). Only valid candidates
within every budget, with a value for every objective, take part."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

from ..errors import GcostError, quoted

METRICS = ("params", "macs", "bytes", "latency")
DIRECTIONS = ("min", "max")


@dataclass(frozen=True)
class Objective:
    metric: str
    direction: str

    @property
    def text(self) -> str:
        return f"{self.metric}:{self.direction}"


def parse_objectives(text: str) -> tuple[Objective, ...]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    objectives = []
    for item in items:
        metric, _, direction = item.partition(":")
        metric, direction = metric.strip(), direction.strip()
        if metric not in METRICS or direction not in DIRECTIONS:
            raise GcostError(f"--pareto {quoted(item)}: write METRIC:min or METRIC:max, METRIC one of "
                             f"{', '.join(METRICS)}")
        objectives.append(Objective(metric, direction))
    metrics = [objective.metric for objective in objectives]
    if len(objectives) < 2 or len(set(metrics)) != len(metrics):
        raise GcostError(f"--pareto {quoted(text)}: give two or more different metrics, e.g. params:max,latency:min")
    return tuple(objectives)


T = TypeVar("T")


def front(items: Sequence[T], objectives: Sequence[Objective], value: Callable[[T, str], float]) -> set[int]:
    """Positions in `items` of those on the front. Items are sorted best-first on the objectives in
    order, so an item can only be dominated by one before it, and by then by one already on the front
    (domination is transitive): each is compared with the front so far, not with every other."""
    def score(index: int) -> tuple[float, ...]:
        return tuple(value(items[index], o.metric) * (-1 if o.direction == "max" else 1) for o in objectives)

    scores = {index: score(index) for index in range(len(items))}
    order = sorted(scores, key=lambda index: scores[index])
    on_front: list[int] = []
    for index in order:
        mine = scores[index]
        if not any(_dominates(scores[other], mine) for other in on_front):
            on_front.append(index)
    return set(on_front)


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """a at least as good as b everywhere and better somewhere (smaller is better: maxima are negated)."""
    return all(x <= y for x, y in zip(a, b)) and a != b
