"""Variants are data: the base spec plus overrides applied with dataclasses.replace.

A loaded spec is never mutated; each variant is a new Spec, validated again (its shapes must
still fit). Labels are part of the JSON contract: reduce=N, reduce-scale=F, no-reduce, naive,
factorize, head=fc.

A variant changes *modules*: `inception` layers (through their Table 1 columns) and `branches`
layers, at any depth, through the convs inside them named by the paper's vocabulary: `*_reduce`
(the 1x1 in front of a 3x3 or 5x5), `*pool_proj*` (the 1x1 after the pool) and `*5x5*` (a 5x5 conv
at stride 1). A module that holds nothing a variant can change is named in the error, never
silently left as it was.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import Callable, Iterator

from ..errors import GcostError, SpecError, quoted
from .layers import (REDUCE_COLUMNS, AdaptiveAvgPoolSpec, AvgPoolSpec, BranchesSpec, ConvSpec,
                     GlobalAvgPoolSpec, InceptionSpec, Layer, LinearSpec, SequenceSpec, factorized_5x5)
from .model import Spec
from .parse import MAX_CHANNELS

MAX_SCALE = 1000.0
REDUCE_NAME, POOL_PROJ_NAME, FIVE_NAME = "*_reduce", "*pool_proj*", "*5x5*"


@dataclass(frozen=True)
class Change:
    """One kind of variant: what it does to an inception module, and to a conv inside a branches
    module (the conv's replacement: a tuple of layers, empty to remove it). Either returns None
    where it has nothing to change."""

    label: str
    inception: Callable[[InceptionSpec], InceptionSpec | None]
    conv: Callable[[ConvSpec], tuple[Layer, ...] | None]
    what: str  # what it looks for, for errors: "3x3_reduce/5x5_reduce column or conv named *_reduce"


@dataclass(frozen=True)
class Variant:
    label: str
    spec: Spec
    notes: tuple[str, ...] = ()  # said with the variant's report (e.g. modules it left as they were)


def _format_number(value: float) -> str:
    return f"{value:g}"


def _reduce_convs(conv: ConvSpec, width: Callable[[int], int]) -> tuple[Layer, ...] | None:
    if not fnmatchcase(conv.name, REDUCE_NAME):
        return None
    return (replace(conv, out=width(conv.out)),)


def _widths(m: InceptionSpec, width: Callable[[int], int]) -> InceptionSpec | None:
    present = {c: width(m.width(c)) for c in REDUCE_COLUMNS if m.width(c) is not None}
    return m.with_widths(**present) if present else None


REDUCE_WHAT = "3x3_reduce/5x5_reduce column or conv named *_reduce"


def reduce_to(width: int) -> Change:
    if not 1 <= width <= MAX_CHANNELS:
        raise GcostError(f"--reduce must be between 1 and {MAX_CHANNELS:,}, got {width}")
    return Change(f"reduce={width}", lambda m: _widths(m, lambda _: width),
                  lambda conv: _reduce_convs(conv, lambda _: width), REDUCE_WHAT)


def reduce_scale(factor: float) -> Change:
    if not (math.isfinite(factor) and 0 < factor <= MAX_SCALE):
        raise GcostError(f"--reduce-scale must be a number above 0 and at most {MAX_SCALE}, "
                         f"got {_format_number(factor)}")

    def scaled(width: int) -> int:
        new = max(1, round(width * factor))
        if new > MAX_CHANNELS:
            raise GcostError(f"--reduce-scale {_format_number(factor)} makes reduce convs {new:,} wide "
                             f"(at most {MAX_CHANNELS:,})")
        return new

    return Change(f"reduce-scale={_format_number(factor)}", lambda m: _widths(m, scaled),
                  lambda conv: _reduce_convs(conv, scaled), REDUCE_WHAT)


def _removed(*patterns: str) -> Callable[[ConvSpec], tuple[Layer, ...] | None]:
    return lambda conv: () if any(fnmatchcase(conv.name, p) for p in patterns) else None


def _without(m: InceptionSpec, columns: tuple[str, ...]) -> InceptionSpec | None:
    present = [c for c in columns if m.width(c) is not None]
    return m.with_widths(**{c: None for c in columns}) if present else None


def no_reduce() -> Change:
    """The 3x3 and 5x5 convs read the module input directly; output shapes stay the same."""
    return Change("no-reduce", lambda m: _without(m, REDUCE_COLUMNS), _removed(REDUCE_NAME), REDUCE_WHAT)


def naive() -> Change:
    """The paper's Figure 2(a): no reduce convs and no pool projection, so widths grow."""
    return Change("naive", lambda m: _without(m, (*REDUCE_COLUMNS, "pool_proj")),
                  _removed(REDUCE_NAME, POOL_PROJ_NAME),
                  "reduce or pool_proj column, or conv named *_reduce or *pool_proj*")


def factorize() -> Change:
    """Inception v2's factorization: each 5x5 conv at stride 1 becomes two stacked 3x3 convs, the
    first from the 5x5's input width to its output width, the second keeping it, with the 5x5's
    bias, normalization and activation. The receptive field and output shape stay the same."""
    return Change("factorize", _factorized_inception, _factorized,
                  "5x5 conv at stride 1 (an inception 5x5 column with kernel_5x5 5, or a conv named *5x5*)")


def _factorized_inception(m: InceptionSpec) -> InceptionSpec | None:
    """torchvision's GoogLeNet (kernel_5x5 3) has no 5x5 to factorize."""
    if m.kernel_5x5 != 5 or m.factorize_5x5 or m.width("5x5") is None:
        return None
    return replace(m, factorize_5x5=True)


def _factorized(conv: ConvSpec) -> tuple[Layer, ...] | None:
    square = conv.kernel == (5, 5) and conv.stride == (1, 1) and conv.dilation == (1, 1)
    if not (fnmatchcase(conv.name, FIVE_NAME) and square):
        return None
    return (factorized_5x5(conv),)


def head_fc(spec: Spec) -> Variant:
    """Drop the pooling in front of the classifier, so the last feature map is flattened into the
    linear layer (what global average pooling replaced)."""
    linear = next((i for i, layer in enumerate(spec.layers) if isinstance(layer, LinearSpec)), None)
    pools = (AvgPoolSpec, GlobalAvgPoolSpec, AdaptiveAvgPoolSpec)
    pooled = [i for i, layer in enumerate(spec.layers[:linear]) if isinstance(layer, pools)]
    if linear is None or not pooled:
        raise GcostError("--head fc: no average pooling in front of a linear classifier to replace",
                         file=spec.path)
    layers: tuple[Layer, ...] = spec.layers[:pooled[-1]] + spec.layers[pooled[-1] + 1:]
    return _validated("head=fc", replace(spec, layers=layers))


MODULE_TYPES = (InceptionSpec, BranchesSpec)


def modules(layers: tuple[Layer, ...], parent: str = "") -> Iterator[str]:
    """Row paths of the modules a variant may change: inception and branches layers at any depth
    (inside sequences and repeats), outermost only (a branches inside a module is part of it)."""
    for layer in layers:
        path = f"{parent}/{layer.name}" if parent else layer.name
        if isinstance(layer, MODULE_TYPES):
            yield path
        elif isinstance(layer, SequenceSpec):
            yield from modules(layer.layers, path)


def modules_matching(spec: Spec, pattern: str | None) -> set[str]:
    names = list(modules(spec.layers))
    if not names:
        raise GcostError("has no inception or branches modules to vary", file=spec.path)
    if pattern is None:
        return set(names)
    chosen = {name for name in names if fnmatchcase(name, pattern)}
    if not chosen:
        raise GcostError(f"--module {quoted(pattern)} matches no inception or branches module (there are "
                         f"{_listed(names)})", file=spec.path)
    return chosen


def _listed(names: list[str], shown: int = 8) -> str:
    """'a, b, c' or, past `shown` names, 'a, b, ... h and 4 more'."""
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def apply_to_modules(spec: Spec, change: Change, chosen: set[str], *, strict: bool = False) -> Variant:
    """The variant with `change` made in every chosen module. Where no module changes, or (with
    `strict`, when the user named the modules) where one of them does not, exit 2 naming them."""
    changed: set[str] = set()
    layers = _rewrite(spec.layers, "", chosen, change, changed)
    unchanged = sorted(chosen - changed, key=list(modules(spec.layers)).index)
    if not changed or (strict and unchanged):
        raise GcostError(f"--{change.label.split('=')[0]} could not change {_listed(unchanged)}: no {change.what} in "
                         f"{'it' if len(unchanged) == 1 else 'them'}", file=spec.path)
    notes = (f"changed {len(changed)} of {len(chosen)} modules; {_listed(unchanged)} hold no {change.what}",
             ) if unchanged else ()
    return _validated(change.label, replace(spec, layers=layers), notes)


def _rewrite(layers: tuple[Layer, ...], parent: str, chosen: set[str], change: Change,
             changed: set[str]) -> tuple[Layer, ...]:
    result = []
    for layer in layers:
        path = f"{parent}/{layer.name}" if parent else layer.name
        if path in chosen:
            new = _changed_module(layer, change)
            if new is not None:
                changed.add(path)
                layer = new
        elif isinstance(layer, SequenceSpec):  # a sequence or a repeat: modules may sit inside
            layer = replace(layer, layers=_rewrite(layer.layers, path, chosen, change, changed))
        result.append(layer)
    return tuple(result)


def _changed_module(layer: Layer, change: Change) -> Layer | None:
    """`layer` with the change made throughout (nested composites included); None if unchanged."""
    if isinstance(layer, InceptionSpec):
        return change.inception(layer)
    if isinstance(layer, ConvSpec):
        return None  # a conv is changed by its parent, which can replace it with several layers
    if isinstance(layer, BranchesSpec):
        paths = [_changed_path(path, change) for path in layer.paths]
        if all(p is None for p in paths):
            return None
        return replace(layer, paths=tuple(new if new is not None else old for new, old in zip(paths, layer.paths)))
    if isinstance(layer, SequenceSpec):
        new = _changed_path(layer.layers, change)
        return None if new is None else replace(layer, layers=new)
    return None


def _changed_path(path: tuple[Layer, ...], change: Change) -> tuple[Layer, ...] | None:
    result: list[Layer] = []
    touched = False
    for layer in path:
        new = change.conv(layer) if isinstance(layer, ConvSpec) else _as_tuple(_changed_module(layer, change))
        touched = touched or new is not None
        result.extend(new if new is not None else (layer,))
    return tuple(result) if touched else None


def _as_tuple(layer: Layer | None) -> tuple[Layer, ...] | None:
    return None if layer is None else (layer,)


def _validated(label: str, spec: Spec, notes: tuple[str, ...] = ()) -> Variant:
    from .plan import plan_rows

    try:
        plan_rows(spec, train=True)
    except SpecError as e:
        raise GcostError(f"variant {label}: {e.message}", file=spec.path, layer=e.layer) from None
    return Variant(label, spec, notes)


CHANGES = {"reduce": reduce_to, "reduce-scale": reduce_scale, "no-reduce": lambda _: no_reduce(),
           "naive": lambda _: naive(), "factorize": lambda _: factorize()}


def build_variants(spec_refs: list[str], requested: list[tuple[str, object]],
                   module_glob: str | None) -> list[Variant]:
    """The baseline (first spec, default googlenet), each requested variant of it in order, then
    every further spec as written. `requested` holds ("reduce", 16), ("no-reduce", True), ..."""
    from .load import load_spec
    from .model import DEFAULT_SPEC

    base = load_spec(spec_refs[0] if spec_refs else DEFAULT_SPEC)
    variants = [Variant("baseline", base)]
    for kind, value in requested:
        if kind == "head":
            variants.append(head_fc(base))
            continue
        variants.append(apply_to_modules(base, CHANGES[kind](value), modules_matching(base, module_glob),
                                         strict=module_glob is not None))
    if module_glob and not requested:
        raise GcostError("--module limits variants: add --reduce, --no-reduce, --naive, --reduce-scale or --factorize")
    for ref in spec_refs[1:]:
        other = load_spec(ref)
        variants.append(Variant(other.name, other))
    labels = [v.label for v in variants]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise GcostError(f"variant asked for twice: {', '.join(duplicates)}")
    return variants
