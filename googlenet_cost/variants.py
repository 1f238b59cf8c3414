"""Variants are data: the base spec plus overrides applied with dataclasses.replace.

A loaded spec is never mutated; each variant is a new Spec, validated again (its shapes must
still fit). Labels are part of the JSON contract: reduce=N, reduce-scale=F, no-reduce, naive,
head=fc.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import Callable

from .errors import GcostError, SpecError, quoted
from .layers import (REDUCE_COLUMNS, AdaptiveAvgPoolSpec, AvgPoolSpec, GlobalAvgPoolSpec,
                     InceptionSpec, Layer, LinearSpec)
from .spec import Spec
from .spec_parse import MAX_CHANNELS

MAX_SCALE = 1000.0
Transform = Callable[[InceptionSpec], InceptionSpec]


@dataclass(frozen=True)
class Variant:
    label: str
    spec: Spec


def _format_number(value: float) -> str:
    return f"{value:g}"


def reduce_to(width: int) -> tuple[str, Transform]:
    if not 1 <= width <= MAX_CHANNELS:
        raise GcostError(f"--reduce must be between 1 and {MAX_CHANNELS:,}, got {width}")
    return f"reduce={width}", lambda m: m.with_widths(**{c: width for c in REDUCE_COLUMNS})


def reduce_scale(factor: float) -> tuple[str, Transform]:
    if not (math.isfinite(factor) and 0 < factor <= MAX_SCALE):
        raise GcostError(f"--reduce-scale must be a number above 0 and at most {MAX_SCALE}, "
                         f"got {_format_number(factor)}")

    def scale(m: InceptionSpec) -> InceptionSpec:
        widths = {c: max(1, round(m.width(c) * factor)) for c in REDUCE_COLUMNS if m.width(c) is not None}
        too_wide = {c: w for c, w in widths.items() if w > MAX_CHANNELS}
        if too_wide:
            raise GcostError(f"--reduce-scale {_format_number(factor)} makes {m.name}'s reduce convs "
                             f"{max(too_wide.values()):,} wide (at most {MAX_CHANNELS:,})")
        return m.with_widths(**widths)

    return f"reduce-scale={_format_number(factor)}", scale


def no_reduce() -> tuple[str, Transform]:
    """The 3x3 and 5x5 convs read the module input directly; output shapes stay the same."""
    return "no-reduce", lambda m: m.with_widths(**{c: None for c in REDUCE_COLUMNS})


def naive() -> tuple[str, Transform]:
    """The paper's Figure 2(a): no reduce convs and no pool projection, so widths grow."""
    return "naive", lambda m: m.with_widths(**{c: None for c in (*REDUCE_COLUMNS, "pool_proj")})


def modules_matching(spec: Spec, pattern: str | None) -> set[str]:
    names = {layer.name for layer in spec.layers if isinstance(layer, InceptionSpec)}
    if not names:
        raise GcostError("has no inception modules to vary", file=spec.path)
    if pattern is None:
        return names
    chosen = {name for name in names if fnmatchcase(name, pattern)}
    if not chosen:
        raise GcostError(f"--module {quoted(pattern)} matches no inception module (there are "
                         f"{', '.join(sorted(names))})", file=spec.path)
    return chosen


def apply_to_modules(spec: Spec, label: str, transform: Transform, modules: set[str]) -> Variant:
    layers = tuple(transform(layer) if layer.name in modules else layer for layer in spec.layers)
    return _validated(label, replace(spec, layers=layers))


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


def _validated(label: str, spec: Spec) -> Variant:
    from .plan import plan_rows

    try:
        plan_rows(spec, train=True)
    except SpecError as e:
        raise GcostError(f"variant {label}: {e.message}", file=spec.path, layer=e.layer) from None
    return Variant(label, spec)


def build_variants(spec_refs: list[str], requested: list[tuple[str, object]],
                   module_glob: str | None) -> list[Variant]:
    """The baseline (first spec, default googlenet), each requested variant of it in order, then
    every further spec as written. `requested` holds ("reduce", 16), ("no-reduce", True), ..."""
    from .sources import DEFAULT_SPEC
    from .loading import load_spec

    base = load_spec(spec_refs[0] if spec_refs else DEFAULT_SPEC)
    variants = [Variant("baseline", base)]
    makers = {"reduce": reduce_to, "reduce-scale": reduce_scale,
              "no-reduce": lambda _: no_reduce(), "naive": lambda _: naive()}
    for kind, value in requested:
        if kind == "head":
            variants.append(head_fc(base))
            continue
        label, transform = makers[kind](value)
        variants.append(apply_to_modules(base, label, transform, modules_matching(base, module_glob)))
    if module_glob and not requested:
        raise GcostError("--module limits variants: add --reduce, --no-reduce, --naive or --reduce-scale")
    for ref in spec_refs[1:]:
        other = load_spec(ref)
        variants.append(Variant(other.name, other))
    labels = [v.label for v in variants]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise GcostError(f"variant asked for twice: {', '.join(duplicates)}")
    return variants
