"""Variants are data: the base spec plus overrides applied with dataclasses.replace.

A loaded spec is never mutated; each variant is a new Spec, validated again (its shapes must
still fit). Labels are part of the JSON contract: reduce=N, reduce-scale=F, no-reduce, naive,
factorize, head=fc, and `set <edits>` for --set.

Variants select layers by role, anywhere in the tree (top-level layers, sequences, repeats,
branches, inception modules, at any depth, and the aux heads): a conv's `role:` (layers.ROLES; a conv
written without one and named `*_reduce` or `*pool_proj*` has that role by its name) and the implicit
roles of an inception module's columns (3x3_reduce and 5x5_reduce: reduce; pool_proj: pool_proj).
--factorize selects by shape: every 5x5 conv at stride 1. `--module GLOB` limits a variant to the
rows it matches and everything inside them, and each row it matches must then change; without it,
a variant that changes nothing is an error naming what it looked for. `--set` (spec/edits.py) edits
the keys of the layers whose row paths match its globs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

from ..errors import GcostError, SpecError
from .edits import set_keys
from .layers import (AdaptiveAvgPoolSpec, AvgPoolSpec, BranchesSpec, ConvSpec, GlobalAvgPoolSpec, InceptionSpec, Layer,
                     LinearSpec, SequenceSpec, factorized_5x5)
from .model import Spec
from .reader import MAX_CHANNELS
from .tree import MAX_SCALE, Scope, listed, module_scope, rewrite, row_paths  # noqa: F401 (row_paths: API)


@dataclass(frozen=True)
class Change:
    """One kind of variant, as what it does to a conv its rule selects: the conv's replacement (a
    tuple of layers, empty to remove it), or None where the rule does not select the conv."""

    label: str
    conv: Callable[[ConvSpec], tuple[Layer, ...] | None]
    what: str  # what it looks for, for errors: "reduce conv (role reduce, ...)"
    # convs close to the rule that it leaves as they are, said in a note (a 5x5 conv at stride 2)
    near: Callable[[ConvSpec], bool] | None = None
    near_note: str = ""
    by_role: bool = True  # it selects convs by role (an error then says which roles the spec has)


@dataclass(frozen=True)
class Variant:
    label: str
    spec: Spec
    notes: tuple[str, ...] = ()  # said with the variant's report (e.g. convs it left as they were)


def _format_number(value: float) -> str:
    return f"{value:g}"


REDUCE_WHAT = "reduce conv (role: reduce, a conv named *_reduce, or an inception 3x3_reduce/5x5_reduce column)"


def _with_role(role: str,
               new: Callable[[ConvSpec], tuple[Layer, ...]]) -> Callable[[ConvSpec], tuple[Layer, ...] | None]:
    """The conv rule of a role variant: `new` on convs of `role`, None (not selected) on the others."""
    return lambda conv: new(conv) if conv.role == role else None


def reduce_to(width: int) -> Change:
    if not 1 <= width <= MAX_CHANNELS:
        raise GcostError(f"--reduce must be between 1 and {MAX_CHANNELS:,}, got {width}")
    return Change(f"reduce={width}", _with_role("reduce", lambda conv: (replace(conv, out=width, expansion=None),)),
                  REDUCE_WHAT)


def reduce_scale(factor: float) -> Change:
    if not (math.isfinite(factor) and 0 < factor <= MAX_SCALE):
        raise GcostError(f"--reduce-scale must be a number above 0 and at most {MAX_SCALE}, "
                         f"got {_format_number(factor)}")

    def scaled(conv: ConvSpec) -> tuple[Layer, ...]:
        if conv.out is None:  # a width relative to its input's: scaled with it, bounded when planned
            return (replace(conv, expansion=(conv.expansion or 1.0) * factor),)
        new = max(1, round(conv.out * factor))
        if new > MAX_CHANNELS:
            raise GcostError(f"--reduce-scale {_format_number(factor)} makes reduce convs {new:,} wide "
                             f"(at most {MAX_CHANNELS:,})")
        return (replace(conv, out=new),)

    return Change(f"reduce-scale={_format_number(factor)}", _with_role("reduce", scaled), REDUCE_WHAT)


def no_reduce() -> Change:
    """The reduce convs removed: what came after one reads what it read (an inception module's 3x3
    and 5x5 read the module input); output shapes stay the same."""
    return Change("no-reduce", _with_role("reduce", lambda conv: ()), REDUCE_WHAT)


def naive() -> Change:
    """The paper's Figure 2(a): no reduce convs and no pool projection, so widths grow."""
    return Change("naive", lambda conv: () if conv.role in ("reduce", "pool_proj") else None,
                  "reduce or pool_proj conv (role: reduce or pool_proj, a conv named *_reduce or *pool_proj*, or an "
                  "inception 3x3_reduce/5x5_reduce/pool_proj column)")


def _is_5x5(conv: ConvSpec) -> bool:
    return conv.kernel == (5, 5)


def factorize() -> Change:
    """Inception v2's factorization: each 5x5 conv at stride 1 (any, depthwise ones included, which
    stay depthwise) becomes two stacked 3x3 convs, the first from the 5x5's input width to its output
    width, the second keeping it, with the 5x5's groups, bias, normalization and activation. The
    receptive field and output shape stay the same. Strided or dilated 5x5 convs are left as they
    are (two 3x3 convs would not keep their receptive field), and a note names them."""
    def factorized(conv: ConvSpec) -> tuple[Layer, ...] | None:
        if not (_is_5x5(conv) and conv.stride == (1, 1) and conv.dilation == (1, 1)):
            return None
        return (factorized_5x5(conv),)

    return Change("factorize", factorized,
                  "5x5 conv at stride 1 (an inception 5x5 column with kernel_5x5 5, or any conv with a 5x5 kernel, "
                  "stride 1 and no dilation)", near=_is_5x5,
                  near_note="left as they were: 5x5 convs that are strided or dilated (two stacked 3x3 convs "
                            "would not keep their receptive field)", by_role=False)


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


# ---- role variants -----------------------------------------------------------------------------------

def apply_change(spec: Spec, change: Change, scope: Scope) -> Variant:
    """The variant with `change` made on every conv its rule selects inside `scope`. Where nothing
    changes, or (with --module) where a row the glob chose holds nothing to change, exit 2 naming it."""
    changed: list[str] = []
    near: list[str] = []

    def visit(layer: Layer, path: str) -> tuple[Layer, ...] | None:
        if not isinstance(layer, ConvSpec) or not scope(path):
            return None
        new = change.conv(layer)
        if new is not None:
            changed.append(path)
        elif change.near is not None and change.near(layer):
            near.append(path)
        return new

    try:
        varied = rewrite(spec, visit, f"variant {change.label}")
    except GcostError as e:  # the change's own errors (a width out of range) name the file too
        raise e.located(file=spec.path) from None
    flag = "--" + change.label.split("=")[0]
    unchanged = scope.unchanged(changed)
    if scope.glob is not None and unchanged:
        raise GcostError(f"{flag} could not change {listed(unchanged)}: no {change.what} in "
                         f"{'it' if len(unchanged) == 1 else 'them'}", file=spec.path)
    if not changed:
        hint = _roles_hint(spec) if change.by_role else ""
        raise GcostError(f"{flag} could not change {spec.name}: no {change.what} in it{hint}",
                         file=spec.path)
    notes = (f"{change.near_note}: {listed(near)}",) if near else ()
    return _validated(change.label, varied, notes)


def _roles_hint(spec: Spec) -> str:
    """What a spec in which a role variant found nothing has instead, so the user knows what to add."""
    roles: set[str] = set()

    def visit(layer: Layer, path: str) -> None:
        if isinstance(layer, ConvSpec) and layer.role:
            roles.add(layer.role)
        return None

    rewrite(spec, visit)
    if roles:
        return f" (its convs' roles: {', '.join(sorted(roles))})"
    composite = any(isinstance(layer, (InceptionSpec, BranchesSpec, SequenceSpec)) for layer in spec.layers)
    return (" (no conv in it has a role: give one, e.g. `role: reduce`" +
            ("" if composite else ", and it has no inception or branches modules") + ")")


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
    every further spec as written. `requested` holds ("reduce", 16), ("no-reduce", True),
    ("set", "layer*/*/conv1.out=x0.5"), ..."""
    from .load import load_spec
    from .model import DEFAULT_SPEC

    base = load_spec(spec_refs[0] if spec_refs else DEFAULT_SPEC)
    variants = [Variant("baseline", base)]
    scope = module_scope(base, module_glob) if requested else Scope(None)
    for kind, value in requested:
        if kind == "head":
            variants.append(head_fc(base))
        elif kind == "set":
            label, varied = set_keys(base, str(value), scope)
            variants.append(_validated(label, varied))
        else:
            variants.append(apply_change(base, CHANGES[kind](value), scope))
    if module_glob and not requested:
        raise GcostError("--module limits variants: add --reduce, --no-reduce, --naive, --reduce-scale, --factorize "
                         "or --set")
    for ref in spec_refs[1:]:
        other = load_spec(ref)
        variants.append(Variant(other.name, other))
    labels = [v.label for v in variants]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise GcostError(f"variant asked for twice: {', '.join(duplicates)}")
    return variants
