"""analyze(): spec -> Report. Plans rows from the spec (closed form), builds each distinct layer
(on the CPU or the meta device) and measures it, compares the two (and fvcore with verify=True),
and optionally times it. analyze_module() does the same for any nn.Module (no closed form, no
paper figures)."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from .errors import PASSES_THROUGH, GcostError, model_raised
from .spec.layers import numel, passes_through
from .spec.plan import PlannedRow, plan_rows, top_layers
from .report import LayerRow, PaperComparison, Report, totals_of
from .spec.model import Spec

Progress = Callable[[str, float], Any]


def analyze(spec: Spec, batch: int = 1, *, train: bool = False, verify: bool = False,
            timing: Any = None, progress: Progress | None = None, optimizer: str | None = None) -> Report:
    """Count (and with `timing`, a timing.measure.TimingOptions, time) the network `spec` describes.

    Counts are per sample; `batch` is the batch of the counting pass (timing has its own list).
    Each top-level layer is built and measured alone on its planned input, once per distinct
    layer (counting.measure_layers); the shapes it measures are checked against the plan,
    which is what chains the layers together. With `optimizer` (--step train) the report also
    holds what a training step costs (training.py), in train mode with the auxiliary heads."""
    from .count.counting import fvcore_layers, measure_layers

    _check_batch(batch)
    train = train or optimizer is not None
    planned = plan_rows(spec, train=train)
    layers = top_layers(planned)
    single = _single_value_norm(planned) if train else None
    if single and optimizer is not None and batch < 2:
        raise GcostError("--step train needs --batch 2 or more: it batch-normalizes one value per channel at "
                         "batch 1, which PyTorch refuses in training mode", file=spec.path, layer=single)
    counting_batch = max(batch, 2) if single else batch  # counts are per sample either way
    try:
        measured = measure_layers(layers, counting_batch, train=train, device=_counting_device(planned, counting_batch))
    except GcostError as e:
        raise e.located(file=spec.path) from e
    warnings = _disagreements(planned, measured)
    if counting_batch != batch:
        warnings.append(f"counted at batch {counting_batch}: {single} batch-normalizes one value per channel, "
                        "which PyTorch refuses to train at batch 1 (counts are per sample either way)")
    if verify:
        require_cpu_memory(_largest_layer_bytes(planned, batch, whole_top=True), "--verify (fvcore on real tensors)")
        blind: dict[str, set[str]] = {}
        warnings += _fvcore_disagreements(measured, fvcore_layers(layers, counting_batch, train=train, blind=blind),
                                          blind)
    rows = [_row(plan, meas) for plan, meas in zip(planned, measured)]
    training = None
    if optimizer is not None:
        from .count.training import spec_training

        rows, training, disagree = spec_training(spec, planned, rows, batch, _counting_device(planned, batch),
                                                 optimizer)
        warnings += disagree
    target = None
    if timing is not None:
        from .timing.measure import spec_target

        target = spec_target(spec)
    return assemble(spec.to_dict(), spec.input_shape, rows, batch=batch, train=train,
                    warnings=warnings, timing=timing, target=target, progress=progress, training=training)


def analyze_module(make_model: Callable[[Any], Any], input_shape: tuple[int, ...], *, name: str,
                   batch: int = 1, train: bool = False, verify: bool = False, strict: bool = False,
                   timing: Any = None, progress: Progress | None = None, depth: int | None = 2,
                   optimizer: str | None = None) -> Report:
    """The same analysis for a model written in Python: rows are its module tree, `depth` levels
    deep (None: every module)."""
    from .count.counting import fvcore_macs
    from .timing.measure import TimingTarget

    _check_batch(batch)
    train = train or optimizer is not None
    uncounted: set[str] = set()
    try:
        measured = _measure_python_model(make_model, input_shape, batch, train, uncounted, name, depth)
    except GcostError as e:
        raise e.located(file=name) from e
    warnings = []
    if uncounted:
        message = ("operators with no MAC formula, not counted (their cost is missing from the "
                   f"totals): {', '.join(sorted(uncounted))}")
        if strict:
            raise GcostError(f"--strict: {message}", file=name)
        warnings.append(message)
    if verify:
        require_cpu_memory(4 * (sum(m.params for m in measured if m.parent is None)
                                + batch * (numel(input_shape) + sum(numel(m.output_shape) for m in measured))),
                           "--verify (fvcore on real tensors)")
        blind = {}
        warnings += _fvcore_disagreements(measured, fvcore_macs(make_model("cpu").train(train), input_shape, batch,
                                                                blind=blind, depth=depth), blind)
    rows = [LayerRow(name=m.name, parent=m.parent, type=m.type, kernel=m.kernel,
                     output_shape=list(m.output_shape), params=m.params, weights=m.weights, macs=m.macs,
                     receptive_field=[], written=m.activations) for m in measured]
    training = None
    if optimizer is not None:
        from .count.training import module_training

        try:
            rows, training = module_training(make_model("meta").train(True), tuple(input_shape), rows, batch,
                                             optimizer, depth)
        except (GcostError, *PASSES_THROUGH):
            raise
        except BaseException as e:  # the model's own backward: its error, in one line
            raise model_raised(name, e, "its backward pass") from e
    target = None
    if timing is not None:
        target = TimingTarget(name=name, make_model=make_model, input_shape=tuple(input_shape),
                              params=sum(r.params for r in rows if r.parent is None),
                              activation_sizes=tuple(r.activations for r in rows), user_code=True,
                              depth=depth)
    spec_info = {"name": name, "path": None, "source": "python", "description": None,
                 "input_shape": list(input_shape)}
    return assemble(spec_info, input_shape, rows, batch=batch, train=train, warnings=warnings,
                    timing=timing, target=target, progress=progress, training=training)


def _measure_python_model(make_model: Callable[[Any], Any], input_shape: tuple[int, ...], batch: int,
                          train: bool, uncounted: set[str], name: str, depth: int | None) -> list:
    """On the meta device, or on real CPU tensors for models that cannot run there (data-dependent
    ops, .item())."""
    from .count.counting import measure_rows

    try:
        return measure_rows(make_model("meta").train(train), input_shape, batch, uncounted=uncounted,
                            user_code=name, depth=depth)
    except GcostError:
        uncounted.clear()
        require_cpu_memory(4 * 4 * batch * numel(input_shape), "counting on real CPU tensors (the model "
                           "cannot run on the meta device)")
        return measure_rows(make_model("cpu").train(train), input_shape, batch, uncounted=uncounted,
                            user_code=name, depth=depth)


def assemble(spec_info: dict, input_shape, rows: list[LayerRow], *, batch: int, train: bool,
             warnings: list[str], timing: Any, target: Any, progress: Progress | None,
             training: dict | None = None) -> Report:
    """The Report, with the latency (and per-layer latency) measured when `timing` is given."""
    from .report import COUNTING_RULE

    latency = layer_latency = None
    if timing is not None:
        from .timing.measure import measure_latency
        from .timing.per_layer import measure_layer_latency

        per_sample = training["step_macs"] if training and timing.step == "train" else totals_of(rows).macs
        latency = measure_latency(target, timing, macs=per_sample, progress=progress)
        for stats in latency if isinstance(latency, list) else [latency]:
            warnings = warnings + stats.warnings
        if timing.per_layer:
            layer_latency = measure_layer_latency(target, timing)
            rows = [replace(row, latency_ms=layer_latency.by_row.get(row.name)) for row in rows]
            warnings = warnings + layer_latency.warnings
    return Report(spec=spec_info, counting=dict(COUNTING_RULE), input_shape=list(input_shape),
                  batch=batch, mode="train" if train else "eval", layers=rows, totals=totals_of(rows),
                  latency=latency, layer_latency=layer_latency, training=training, warnings=warnings)


# Counting runs on the meta device, except for networks small enough that a real CPU pass is
# cheaper: in torch 2.x, meta tensors send elementwise ops (cat, add, dropout) through Python
# reference kernels whose first calls import torch._dynamo and sympy (about a second; so does
# Module.to_empty from meta). Both devices give the same counts; the tests check that.
# Only distinct layers are run, one at a time, so the limits are on their total work and on the
# largest one's memory.
CPU_COUNTING_MAX_MACS = 4_000_000_000
CPU_COUNTING_MAX_BYTES = 1 << 30


def _counting_device(planned: list[PlannedRow], batch: int) -> str:
    distinct = {row.layer.build_key(row.in_shape): row for row in _measured_units(planned).values()}
    macs = batch * sum(row.cost.macs for row in distinct.values())
    fits = _largest_layer_bytes(planned, batch) <= CPU_COUNTING_MAX_BYTES
    return "cpu" if macs <= CPU_COUNTING_MAX_MACS and fits else "meta"


def _measured_units(planned: list[PlannedRow]) -> dict[str, PlannedRow]:
    """The rows counting builds and runs alone (counting.measure_layers): top-level layers, and
    inside a sequence or repeat its children, by row name."""
    expanded: set[str | None] = {None}
    units = {}
    for row in planned:
        if row.parent in expanded:
            if passes_through(row.layer):
                expanded.add(row.name)
            else:
                units[row.name] = row
    return units


def _largest_layer_bytes(planned: list[PlannedRow], batch: int, *, whole_top: bool = False) -> int:
    """fp32 bytes of the largest layer counting runs alone on real tensors (with `whole_top`, as
    --verify runs fvcore: every top-level layer whole): its parameters, its input and every output
    inside it."""
    units = {row.name: row for row in planned if row.parent is None} if whole_top else _measured_units(planned)
    unit_of: dict[str, str] = {}
    elements: dict[str, int] = {}
    for row in planned:
        unit = row.name if row.name in units else unit_of.get(row.parent or "")
        if unit is not None:
            unit_of[row.name] = unit
            elements[unit] = elements.get(unit, 0) + batch * numel(row.out_shape)
    return 4 * max((row.cost.params + batch * numel(row.in_shape) + elements[name] for name, row in units.items()),
                   default=0)


def require_cpu_memory(need_bytes: int, what: str) -> None:
    """Refuse work on real CPU tensors that would not fit in what this process may use."""
    from .timing.memory import cpu_available_bytes

    free = cpu_available_bytes()
    if free is not None and need_bytes > 0.9 * free:
        raise GcostError(f"{what} needs about {need_bytes / 2**30:,.1f} GiB of memory, only "
                         f"{free / 2**30:,.1f} GiB are free to this process")


def _single_value_norm(planned: list[PlannedRow]) -> str | None:
    """The first row whose batch norm sees one value per channel in a sample (a 1x1 map, as
    Inception v3's auxiliary head): training mode needs a batch of 2 or more to run it."""
    for row in planned:
        norms = row.type == "batchnorm" or getattr(row.layer, "norm", "none") == "batchnorm"
        if norms and numel(row.out_shape[1:]) == 1:
            return row.name
    return None


def _check_batch(batch: int) -> None:
    if batch < 1:
        raise GcostError(f"batch must be at least 1, got {batch}")


def _disagreements(planned: list[PlannedRow], measured: list) -> list[str]:
    left, right = "closed form", "PyTorch FlopCounterMode"
    if [p.name for p in planned] != [m.name for m in measured]:
        return [f"rows disagree between {left} and {right}: the built model does not follow the spec"]
    problems = []
    for plan, meas in zip(planned, measured):
        expected = {"output_shape": plan.out_shape, "params": plan.cost.params,
                    "weights": plan.cost.weights, "macs": plan.cost.macs}
        for key, value in expected.items():
            if getattr(meas, key) != value:
                problems.append(f"{key} disagree on {plan.name}: {left} {value}, {right} {getattr(meas, key)}")
    return problems


def _fvcore_disagreements(measured: list, reference: dict[str, int], blind: dict[str, set[str]]) -> list[str]:
    """Rows where the two counters disagree. Rows holding an operator fvcore cannot count are
    not compared (fvcore is the one that is short there), and one line says so."""
    from .count.counting import with_derived_rows

    reference = with_derived_rows(measured, reference)
    blind = {**blind, **{row.name: blind[row.parent] for row in measured
                         if row.name.endswith("/(own)") and row.parent in blind}}
    problems = [f"MACs disagree on {row.name}: PyTorch FlopCounterMode {row.macs:,}, "
                f"fvcore {reference.get(row.name, 0):,}"
                for row in measured if row.name not in blind and reference.get(row.name, 0) != row.macs]
    if blind:
        ops = sorted({op for found in blind.values() for op in found})
        problems.append(f"fvcore cannot count {', '.join(ops)}: rows {', '.join(list(blind)[:5])}"
                        f"{' ...' if len(blind) > 5 else ''} are checked by gcost's own count only")
    return problems


def _row(plan: PlannedRow, measured) -> LayerRow:
    return LayerRow(name=plan.name, parent=plan.parent, type=plan.type, kernel=plan.layer.kernel_text(),
                    output_shape=list(measured.output_shape), params=measured.params,
                    weights=measured.weights, macs=measured.macs,
                    receptive_field=list(plan.field.size), paper=_paper(plan, measured))


def _paper(plan: PlannedRow, measured) -> PaperComparison | None:
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
