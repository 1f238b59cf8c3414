"""A sweep's grid: `--grid 'GLOB.KEY=V1|V2|...'` axes, their Cartesian product, and a random sample
of it (`--sample N --seed S`) drawn without listing the product.

Each value is what `--set` reads (a number, or `xF` for F times the layer's own), so a candidate's
edits are one `--set` string: the axes' `GLOB.KEY=VALUE` joined by `;`, in the order the axes were
given (spec/edits.py makes them in that order, as `gcost analyze --set` does). No torch here."""
from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Iterator, Sequence

from ..errors import GcostError, quoted
from ..spec.edits import parse_edits

MAX_VALUES = 1_000  # values on one axis
MAX_CANDIDATES = 100_000  # a product larger than this needs --sample
MAX_SAMPLE = 1_000_000
AXIS = re.compile(r"(?P<target>[^=|;]+\.[A-Za-z0-9_]+)=(?P<values>[^=;]+)")


@dataclass(frozen=True)
class Axis:
    """One --grid: the key GLOB.KEY and the values it takes, as written."""

    glob: str
    key: str
    values: tuple[str, ...]

    @property
    def target(self) -> str:
        return f"{self.glob}.{self.key}"

    def edit(self, value: str) -> str:
        return f"{self.target}={value}"


def parse_axis(text: str) -> Axis:
    """'inception_*/5x5_reduce.out=x0.5|x1|x2' -> Axis; each value checked as --set checks it."""
    match = AXIS.fullmatch(text.strip())
    if not match:
        raise GcostError(f"--grid {quoted(text)}: write GLOB.KEY=V1|V2|..., e.g. 'inception_*/5x5_reduce.out=x0.5|x1|x2'")
    target = match.group("target").strip()
    values = tuple(value.strip() for value in match.group("values").split("|"))
    if not all(values):
        raise GcostError(f"--grid {quoted(text)}: an empty value between '|'s")
    if len(values) > MAX_VALUES:
        raise GcostError(f"--grid {quoted(text)}: {len(values):,} values; at most {MAX_VALUES:,} on one axis")
    twice = sorted({value for value in values if values.count(value) > 1})
    if twice:
        raise GcostError(f"--grid {quoted(text)}: {', '.join(twice)} given twice")
    glob, _, key = target.rpartition(".")
    for value in values:
        parse_edits(f"{target}={value}")  # the form and the number, in --set's words
    return Axis(glob.strip(), key, values)


def parse_grid(texts: Sequence[str]) -> tuple[Axis, ...]:
    if not texts:
        raise GcostError("give at least one --grid 'GLOB.KEY=V1|V2|...'")
    axes = tuple(parse_axis(text) for text in texts)
    targets = [axis.target for axis in axes]
    twice = sorted({target for target in targets if targets.count(target) > 1})
    if twice:
        raise GcostError(f"--grid {quoted(twice[0])} given twice: give each key's values in one --grid")
    return axes


def product_size(axes: Sequence[Axis]) -> int:
    return math.prod(len(axis.values) for axis in axes)


def chosen_indices(axes: Sequence[Axis], sample: int | None, seed: int) -> list[int]:
    """The candidates' positions in the product (row-major: the last axis varies fastest): all of
    them, or `sample` drawn at random with `seed` (all when the product has no more), ascending."""
    size = product_size(axes)
    if sample is None:
        if size > MAX_CANDIDATES:
            raise GcostError(f"the grid has {size:,} candidates, more than {MAX_CANDIDATES:,}: add --sample N to draw "
                             "N of them at random")
        return list(range(size))
    if not 1 <= sample <= MAX_SAMPLE:
        raise GcostError(f"--sample must be from 1 to {MAX_SAMPLE:,}, got {sample:,}")
    if sample >= size:
        return list(range(size))
    return sorted(random.Random(seed).sample(range(size), sample))


def values_at(axes: Sequence[Axis], index: int) -> tuple[str, ...]:
    """The values of candidate `index` of the product, one per axis."""
    values = []
    for axis in reversed(axes):
        index, position = divmod(index, len(axis.values))
        values.append(axis.values[position])
    return tuple(reversed(values))


def edits_text(axes: Sequence[Axis], values: Sequence[str]) -> str:
    """The candidate's `--set` string: 'GLOB.KEY=VALUE;...' in the axes' order."""
    return ";".join(axis.edit(value) for axis, value in zip(axes, values))


def short_names(axes: Sequence[Axis]) -> list[str]:
    """Each axis's name in labels: the glob's last path segment and the key ('5x5_reduce.out'), or
    the whole GLOB.KEY where two axes would read the same."""
    short = [f"{axis.glob.rsplit('/', 1)[-1]}.{axis.key}" for axis in axes]
    return [name if short.count(name) == 1 else axis.target for name, axis in zip(short, axes)]


def labelled(axes: Sequence[Axis], indices: Sequence[int]) -> Iterator[tuple[int, str, str]]:
    """(index, label, edits) of each chosen candidate: label '5x5_reduce.out=x0.5 pool_proj.out=32'."""
    names = short_names(axes)
    for index in indices:
        values = values_at(axes, index)
        yield index, " ".join(f"{name}={value}" for name, value in zip(names, values)), edits_text(axes, values)
