"""A spec's rows, counted: the closed form (spec.plan) beside what its layers, built alone, measure
(counting.measure_plan, once per distinct unit: count.units), fvcore with --verify, and the
training step's cost with --step train. Every disagreement between the independent counts is a
warning; the paper's printed figures are compared on the top-level rows."""
from __future__ import annotations

import warnings as warnings_module
from typing import TYPE_CHECKING

from ..errors import GcostError
from ..report import Counted, LayerRow, PaperComparison, intensity
from ..spec.layers import Traffic, numel, passes_through
from ..spec.layers.base import INDEX_BYTES
from ..spec.plan import PlannedRow, plan_rows, top_layers
from .units import MeasurementPlan, UnitCache, require_cpu_memory

if TYPE_CHECKING:
    from ..options import RunOptions
    from ..spec.model import Spec
    from .counting import MeasuredRow
    from .cross_check import FvcoreCount


VERIFIED = "--verify: fvcore's MACs equal gcost's on "  # how the agreement line begins (a note, not a warning)


def count_spec(spec: Spec, options: RunOptions, cache: UnitCache) -> Counted:
    """Count (per sample) the network `spec` describes, in the mode `options` asks for."""
    from .counting import measure_plan
    from .cross_check import fvcore_layers

    planned = plan_rows(spec, train=options.train_mode)
    plan = MeasurementPlan.of(planned)
    layers = top_layers(planned)
    batch = options.batch
    single = single_value_norm(planned) if options.train_mode else None
    if single and options.training and batch < 2:
        raise GcostError("--step train needs --batch 2 or more: it batch-normalizes one value per channel at "
                         "batch 1, which PyTorch refuses in training mode", file=spec.path, layer=single)
    counting_batch = max(batch, 2) if single else batch  # counts are per sample either way
    try:
        measured = measure_plan(plan, counting_batch, train=options.train_mode,
                                device=plan.counting_device(counting_batch), cache=cache)
    except GcostError as e:
        raise e.located(file=spec.path) from e
    warnings = _disagreements(planned, measured, counting_batch, options.train_mode)
    notes: list[str] = []
    if counting_batch != batch:
        warnings.append(f"counted at batch {counting_batch}: {single} batch-normalizes one value per channel, "
                        "which PyTorch refuses to train at batch 1 (counts are per sample either way; "
                        f"bytes are at batch {counting_batch})")
    if options.verify:
        require_cpu_memory(plan.largest_unit_bytes(batch, whole=True), "--verify (fvcore on real tensors)")
        with warnings_module.catch_warnings():  # torch.jit's deprecation notices, fvcore's own: not the user's
            warnings_module.simplefilter("ignore")
            reference = fvcore_layers(layers, counting_batch, train=options.train_mode, cache=cache)
        notes = [fvcore_agreement(measured, reference)]
        warnings += fvcore_disagreements(measured, reference)
    rows = [_row(planned_row, measured_row, counting_batch, options.itemsize)
            for planned_row, measured_row in zip(planned, measured)]
    training = None
    if options.training:
        from .training import spec_training

        rows, training, disagree = spec_training(spec, plan, rows, batch, plan.training_device(batch),
                                                 options.optimizer, cache)
        warnings += disagree
    return Counted(rows=rows, training=training, warnings=warnings, notes=notes, bytes_batch=counting_batch)


def single_value_norm(planned: list[PlannedRow]) -> str | None:
    """The first row whose batch norm sees one value per channel in a sample (a 1x1 map, as
    Inception v3's auxiliary head): training mode needs a batch of 2 or more to run it."""
    for row in planned:
        if row.layer.normalizes_batch() and numel(row.out_shape[1:]) == 1:
            return row.name
    return None


def _disagreements(planned: list[PlannedRow], measured: list[MeasuredRow], batch: int, train: bool) -> list[str]:
    left, right = "closed form", "PyTorch FlopCounterMode"
    if [p.name for p in planned] != [m.name for m in measured]:
        return [f"rows disagree between {left} and {right}: the built model does not follow the spec"]
    problems = []
    for plan, meas in zip(planned, measured):
        traffic = plan.layer.traffic(plan.in_shape, batch, train)
        expected = {"output_shape": plan.out_shape, "params": plan.cost.params,
                    "weights": plan.cost.weights, "macs": plan.cost.macs, "traffic": traffic,
                    "fused traffic": fused_traffic(plan, batch, train, traffic=traffic)}
        for key, value in expected.items():
            found = meas.fused.total if key == "fused traffic" else getattr(meas, key)
            if found != value:
                problems.append(f"{key} disagree on {plan.name}: {left} {value}, {right} {found}")
    return problems


def _fvcore_compared(measured: list[MeasuredRow], count: FvcoreCount) -> tuple[dict[str, int], dict[str, set[str]]]:
    """fvcore's MACs by row name, and the rows holding an operator fvcore cannot count (with those
    operators), which are not compared: fvcore is the one that is short there."""
    from .counting import with_derived_rows

    blind = {**count.blind, **{row.name: count.blind[row.parent] for row in measured
                               if row.name.endswith("/(own)") and row.parent in count.blind}}
    return with_derived_rows(measured, count.macs), blind


def fvcore_agreement(measured: list[MeasuredRow], count: FvcoreCount) -> str:
    """--verify's one line: on how many rows fvcore's MACs equal gcost's."""
    reference, blind = _fvcore_compared(measured, count)
    compared = [row for row in measured if row.name not in blind]
    agree = sum(reference.get(row.name, 0) == row.macs for row in compared)
    everything = f"all {agree:,} rows" if agree != 1 else "its one row"
    line = (f"{VERIFIED}{everything}" if agree == len(compared) else
            f"{VERIFIED}{agree:,} of {len(compared):,} rows")
    return line + (f" ({len(blind):,} more hold operators fvcore cannot count)" if blind else "")


def fvcore_disagreements(measured: list[MeasuredRow], count: FvcoreCount) -> list[str]:
    """Rows where the two counters disagree. Rows holding an operator fvcore cannot count are
    not compared (fvcore is the one that is short there), and one line says so."""
    reference, blind = _fvcore_compared(measured, count)
    problems = [f"MACs disagree on {row.name}: PyTorch FlopCounterMode {row.macs:,}, "
                f"fvcore {reference.get(row.name, 0):,}"
                for row in measured if row.name not in blind and reference.get(row.name, 0) != row.macs]
    if blind:
        ops = sorted({op for found in blind.values() for op in found})
        problems.append(f"fvcore cannot count {', '.join(ops)}: rows {', '.join(list(blind)[:5])}"
                        f"{' ...' if len(blind) > 5 else ''} are checked by gcost's own count only")
    return problems


def _row(plan: PlannedRow, measured: MeasuredRow, batch: int, itemsize: int) -> LayerRow:
    from ..spec import table1
    from .operators import op_counts

    moved = measured.traffic.bytes(itemsize)
    return LayerRow(name=plan.name, parent=plan.parent, type=plan.type, kernel=plan.layer.kernel_text(),
                    output_shape=list(measured.output_shape), params=measured.params,
                    weights=measured.weights, macs=measured.macs,
                    receptive_field=list(plan.field.size), paper=_paper(plan, measured),
                    bytes=moved, arithmetic_intensity=intensity(measured.macs, batch, moved),
                    depth=table1.depth(plan.layer, plan.in_shape), filters=table1.filters(plan.layer),
                    operators=op_counts(measured.operators, itemsize), bytes_fused=measured.fused.total.bytes(itemsize),
                    passes_through=passes_through(plan.layer))


def fused_traffic(plan: PlannedRow, batch: int, train: bool, *, traffic: Traffic | None = None) -> Traffic:
    """The closed form of a row's bytes_fused: its input and output once per sample, its
    parameters and batch norms' running statistics once (in training the statistics also written,
    and each norm's int64 step counter read and written); nothing for a row whose operators move
    nothing (a flatten, dropout in eval). `traffic`: the row's eager traffic, where the caller has it."""
    layer = plan.layer
    if (traffic if traffic is not None else layer.traffic(plan.in_shape, batch, train)) == Traffic():
        return Traffic()
    norms = list(_batch_norms(layer, plan.in_shape, plan.out_shape))
    channels = sum(norms)
    activations = batch * (numel(plan.in_shape) + numel(plan.out_shape))
    if not train:
        return Traffic(activations + plan.cost.params + 2 * channels)
    return Traffic(activations + plan.cost.params + 4 * channels, 2 * INDEX_BYTES * len(norms))


def _batch_norms(layer, in_shape, out_shape):
    """The channels of every batch norm inside `layer` (a conv's own norm included: it normalizes
    the conv's output channels)."""
    from ..spec.layers import walk

    if layer.normalizes_batch():
        yield out_shape[0]
    for path, path_in in zip(layer.branches(in_shape), layer.path_inputs(in_shape)):
        for child, child_in, child_out in walk(path, path_in):
            yield from _batch_norms(child, child_in, child_out)


def _paper(plan: PlannedRow, measured: MeasuredRow) -> PaperComparison | None:
    paper = plan.layer.paper
    if paper is None or plan.parent is not None:
        return None
    shape = tuple(measured.output_shape)
    as_map = shape if len(shape) == 3 else (*shape, 1, 1)
    return PaperComparison(
        params_text=paper.params and paper.params.text,
        params=paper.params and round(paper.params.value),
        params_ok=None if paper.params is None else paper.params.matches(measured.weights),
        ops_text=paper.ops and paper.ops.text,
        ops=paper.ops and round(paper.ops.value),
        ops_ok=None if paper.ops is None else paper.ops.matches(measured.macs),
        output_shape=None if paper.output is None else list(paper.output),
        output_ok=None if paper.output is None else paper.output == as_map)
