"""A Python model's rows, counted: its module tree, `depth` levels deep, measured on the meta
device (or real CPU tensors when it cannot run there), fvcore with --verify, and the training
step's cost with --step train. There is no closed form to compare with, and no paper."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..errors import PASSES_THROUGH, GcostError, model_raised
from ..report import Counted, LayerRow, intensity
from ..spec.layers import numel
from .units import require_cpu_memory

if TYPE_CHECKING:
    from ..inputs import Inputs
    from ..options import RunOptions
    from .counting import Measurement

MakeModel = Callable[[Any], Any]  # device -> a new torch.nn.Module of the user's


def count_module(make_model: MakeModel, inputs: Inputs, name: str, options: RunOptions) -> Counted:
    from .cross_check import fvcore_count
    from .operators import op_counts
    from .spec_counts import fvcore_agreement, fvcore_disagreements

    batch, depth, train = options.batch, options.depth, options.train_mode
    try:
        measurement = _measure(make_model, inputs, batch, train, name, depth)
    except GcostError as e:
        raise e.located(file=name) from e
    measured, uncounted = measurement.rows, measurement.uncounted
    warnings, notes = [], []
    if uncounted:
        message = ("operators with no MAC formula, not counted (their cost is missing from the "
                   f"totals): {', '.join(sorted(uncounted))}")
        if options.strict:
            raise GcostError(f"--strict: {message}", file=name)
        warnings.append(message)
    if options.verify:
        require_cpu_memory(4 * (sum(m.params for m in measured if m.parent is None)
                                + batch * (inputs.elements + sum(numel(m.output_shape) for m in measured))),
                           "--verify (fvcore on real tensors)")
        reference = fvcore_count(make_model("cpu").train(train), inputs, batch, depth=depth)
        notes.append(fvcore_agreement(measured, reference))
        warnings += fvcore_disagreements(measured, reference)
    rows = [LayerRow(name=m.name, parent=m.parent, type=m.type, kernel=m.kernel,
                     output_shape=list(m.output_shape), params=m.params, weights=m.weights, macs=m.macs,
                     receptive_field=[], written=m.activations, bytes=m.traffic.bytes(options.itemsize),
                     frozen_params=m.frozen,
                     arithmetic_intensity=intensity(m.macs, batch, m.traffic.bytes(options.itemsize)),
                     operators=op_counts(m.operators, options.itemsize),
                     bytes_fused=m.fused.total.bytes(options.itemsize))
            for m in measured]
    training = None
    if options.training:
        from .training import module_training

        try:
            rows, training = module_training(make_model("meta").train(True), inputs, rows, batch,
                                             options.optimizer, depth)
        except GcostError as e:
            raise e.located(file=name) from None
        except PASSES_THROUGH:
            raise
        except BaseException as e:  # the model's own backward: its error, in one line
            raise model_raised(name, e, "its backward pass") from e
    return Counted(rows=rows, training=training, warnings=warnings, notes=notes)


# A Python model is counted on real CPU tensors, rather than on the meta device, while a bound on its
# work stays far below a spec's CPU limits (units.CPU_COUNTING_MAX_MACS): its parameters times the
# elements of its input (every weight used at most once per input position, which holds for convs and
# linear layers without upsampling), and its parameters and input in memory.
CPU_MODEL_MAX_WORK = 1_000_000_000
CPU_MODEL_MAX_BYTES = 256 << 20


def small_enough_for_cpu(model: Any, inputs: Inputs, batch: int) -> bool:
    """Whether a real CPU forward of `model` (built on the meta device: only its sizes are read) is
    surely cheap."""
    params = sum(p.numel() for p in model.parameters())
    elements = batch * inputs.elements
    return params * max(elements, 1) <= CPU_MODEL_MAX_WORK and 4 * (params + elements) <= CPU_MODEL_MAX_BYTES


def _measure(make_model: MakeModel, inputs: Inputs, batch: int, train: bool,
             name: str, depth: int | None) -> Measurement:
    """On the meta device, or on real CPU tensors for models that cannot run there (data-dependent
    ops, .item()). A small model (small_enough_for_cpu) is tried on the CPU first: the meta device's
    first pass imports torch._dynamo and sympy, about a second, where a small model's real pass takes
    milliseconds. It goes to the meta device still when it cannot run on the CPU (it lives on meta,
    or fails on real values) or runs an operator there with no MAC formula (a fused CPU kernel, such
    as an LSTM's, that the meta device decomposes into counted ones)."""
    from .counting import measure_model

    model = make_model("meta").train(train)
    if small_enough_for_cpu(model, inputs, batch):
        try:
            measured = measure_model(make_model("cpu").train(train), inputs, batch, user_code=name, depth=depth)
        except GcostError:
            measured = None
        if measured is not None and not measured.uncounted:
            return measured
    try:
        return measure_model(model, inputs, batch, user_code=name, depth=depth)
    except GcostError:
        require_cpu_memory(4 * 4 * batch * inputs.elements, "counting on real CPU tensors (the model "
                           "cannot run on the meta device)")
        return measure_model(make_model("cpu").train(train), inputs, batch, user_code=name, depth=depth)
