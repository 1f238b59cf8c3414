"""The report: plain data. `to_dict()` is the JSON contract (docs/json.md); every formatter is a
view of the same rows, so numbers cannot disagree between formats. Imports no torch."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .inputs import Inputs
    from .roofline.roofs import Peaks
    from .timing.per_layer import LayerLatency, OpTime
    from .timing.stats import LatencyStats

COUNTING_RULE = {
    "macs": "multiply-accumulates of convolutions, linear layers, matrix and vector products (matmul, bmm, einsum, "
            "mv, dot, outer products, cdist) and attention's products, per sample (the paper's multiply-adds)",
    "flops": "2 x MACs",
    "not_counted": "bias adds, normalization, pooling, LRN, softmax and elementwise ops",
    "params": "all parameters, biases and normalization affine parameters included",
    "weights": "parameters read as a matrix or kernel by a MAC-carrying operator (conv and linear kernels, "
               "attention projections, recurrent weights); no biases, no normalization parameters",
    "paper_params_compare_with": "weights (the paper's K is 1024)",
    "paper_ops_compare_with": "macs (the paper's M is 10^6)",
    "bytes": "memory traffic of the forward's operators at the batch and dtype, as eager PyTorch runs them: "
             "each operator reads each distinct input tensor once (parameters once per batch) and writes its "
             "outputs and what it updates in place once; views move nothing; fused or cache-resident "
             "execution moves less (docs/roofline.md)",
    "bytes_fused": "a row's traffic as one fused kernel would move it: what it reads that it did not make (its "
                   "inputs, weights and buffers) once, and what it writes that outlives it (its output, state it "
                   "updates) once; bytes - bytes_fused is what fusing the row's operators could save at most",
    "arithmetic_intensity": "FLOPs per byte moved: 2 x MACs x batch / bytes",
}

SCHEMA_VERSION = 3  # 2: latency p99_ms may be null; layer_latency reshaped. 3: bytes, intensity, roofline
# (3 grew, compatibly: operators, bytes_fused; with --roofline roof, expected_ms, limit_ops, batches)


@dataclass(frozen=True)
class SourceInfo:
    """What a report describes (a Source's `info()`): a spec's name, file, cited source and
    description, or a Python model's reference with source "python". `to_dict()` is the JSON's
    "spec" object."""

    name: str
    path: str | None = None  # the spec's file; None for a Python model
    source: str | None = None  # where a spec's figures come from (a paper, a URL); "python" for a Python model
    description: str | None = None
    input_shape: tuple[int, ...] = ()  # one sample's input (its first tensor's, for several)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(self.input_shape))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "source": self.source, "description": self.description,
                "input_shape": list(self.input_shape)}


@dataclass(frozen=True)
class PaperComparison:
    """Table 1's printed figures beside ours; `*_ok` is False where they disagree beyond rounding."""

    params_text: str | None
    params: int | None
    params_ok: bool | None  # compared with our weights
    ops_text: str | None
    ops: int | None
    ops_ok: bool | None  # compared with our MACs
    output_shape: list[int] | None
    output_ok: bool | None

    @property
    def ok(self) -> bool:
        return all(flag is not False for flag in (self.params_ok, self.ops_ok, self.output_ok))


@dataclass(frozen=True)
class OpCount:
    """One operator of a row, summed over its calls in one forward pass: named as torch's schema
    names it (and torch.profiler shows it), "aten::convolution", "aten::avg_pool3d"."""

    name: str
    calls: int
    flops: int  # 2 per MAC (FlopCounterMode's formulas), at the batch its bytes were counted at
    bytes: int  # the traffic model's bytes, at that batch and the report's dtype
    kind: str = ""  # what its rate depends on beyond its size: "conv 1x1", "conv kxk", "conv depthwise",
    # "matmul", a pool's "stride 1" or "strided"; "" for the rest

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind or None, "calls": self.calls, "flops": self.flops,
                "bytes": self.bytes}


@dataclass(frozen=True)
class BatchBound:
    """--roofline with --batch 1,8,64: a row's bytes and bound at one more batch."""

    batch: int
    bytes: int
    bytes_fused: int
    bound_ms: float
    roof: str | None  # "compute" or "memory"; None where nothing is computed or moved

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LayerRow:
    name: str
    parent: str | None
    type: str
    kernel: str  # "7x7/2" for windows, "" otherwise
    output_shape: list[int]  # per sample, (C, H, W) or (F,)
    params: int
    weights: int
    macs: int  # per sample
    receptive_field: list[int]  # [height, width] in input pixels
    paper: PaperComparison | None = None
    latency_ms: float | None = None  # from the per-layer profiling pass, when asked
    written: int | None = None  # Python models: elements its operators write, per sample (children included)
    backward_macs: int | None = None  # --step train: MACs of its backward pass, per sample
    saved_bytes: int | None = None  # --step train: bytes autograd keeps for its backward, at the batch
    bytes: int = 0  # memory traffic of its operators' forward, at the batch and the report's dtype
    arithmetic_intensity: float | None = None  # FLOP per byte moved (2 x MACs x batch / bytes); None: no bytes
    bound_ms: float | None = None  # --roofline: the least time the machine's peaks allow (roofline/bound.py)
    limit: str | None = None  # --roofline: compute, memory, kernel or overhead (roofline/limits.py)
    efficiency: float | None = None  # --roofline --per-layer: bound / measured latency (1.0: at the roof)
    ops: tuple[OpTime, ...] | None = None  # --per-layer: its operators' profiled time, slowest first
    frozen_params: int = 0  # of its params, those that need no gradient (requires_grad False): a frozen stem
    depth: int | None = None  # a spec's rows: Table 1's depth, conv and linear layers on its longest path
    filters: dict[str, int] = field(default_factory=dict)  # a spec's rows: Table 1's #1x1 ... pool proj columns
    operators: tuple[OpCount, ...] = ()  # its operators (children's included), in the order they first ran
    bytes_fused: int = 0  # its inputs, weights and outputs as one kernel would move them (batch, dtype)
    roof: str | None = None  # --roofline: "compute" or "memory", the roof its bound sits under
    expected_ms: float | None = None  # --roofline with measured operator rates: its operators at those rates
    limit_ops: tuple[str, ...] = ()  # --roofline: the operators responsible for a kernel or overhead limit
    batches: tuple[BatchBound, ...] = ()  # --roofline --batch 1,8,64: bytes and bound at each batch
    passes_through: bool = False  # a spec row whose output is its last child's (a sequence, a repeat): no tensor of its own

    @property
    def activations(self) -> int:
        """Elements of activation memory per sample: what a Python model's operators write inside
        the row, or a spec row's output."""
        return self.written if self.written is not None else math.prod(self.output_shape)


@dataclass(frozen=True)
class Totals:
    params: int
    weights: int
    macs: int
    activations: int  # output elements of every row that makes a tensor (children included), per sample
    bytes: int = 0  # memory traffic of the forward, at the batch and the report's dtype
    arithmetic_intensity: float | None = None  # the model's FLOP per byte
    bound_ms: float | None = None  # --roofline: the sum of the top-level rows' bounds
    frozen_params: int = 0  # params that need no gradient
    paper_params: int | None = None  # the sum of the spec's paper params figures (K = 1024); None: no figures
    paper_ops: int | None = None  # the sum of its paper ops figures (M = 10^6)
    depth: int | None = None  # a spec's: conv and linear layers on the longest path (GoogLeNet: 22)
    bytes_fused: int = 0  # the top-level rows' bytes_fused summed
    expected_ms: float | None = None  # --roofline with operator rates: the sum of the top-level rows' expected_ms

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def trainable_params(self) -> int:
        """Params that need a gradient (requires_grad True)."""
        return self.params - self.frozen_params


def intensity(macs: int, batch: int, moved: int) -> float | None:
    """Arithmetic intensity: FLOPs (2 per MAC, `macs` per sample) per byte moved; None without bytes."""
    return 2 * macs * batch / moved if moved > 0 else None


@dataclass(frozen=True)
class TrainingSummary:
    """What a training step costs (count/training.py): MACs per sample, bytes at `batch` in fp32.
    `to_dict()` is the "training" object of the JSON contract, in this field order."""

    batch: int
    optimizer: str  # sgd, momentum or adam
    dtype: str
    forward_macs: int
    backward_macs: int
    step_macs: int  # forward + backward
    param_bytes: int
    grad_bytes: int
    optimizer_bytes: int
    saved_bytes: int  # activations autograd keeps for backward
    train_bytes: int  # the sum of the four above
    not_counted: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Counted:
    """What a source's counting hands the pipeline: its rows, a training step's summary (with
    --step train) and the warnings of the cross-checks."""

    rows: list[LayerRow]
    training: TrainingSummary | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # findings that need no action (--verify's agreement)
    bytes_batch: int | None = None  # the batch its bytes were counted at, when not the run's


@dataclass(frozen=True)
class Report:
    spec: SourceInfo  # what was analyzed (the JSON's "spec")
    counting: dict[str, Any]
    input_shape: list[int]
    batch: int
    mode: str  # "eval" or "train"
    layers: list[LayerRow]
    totals: Totals
    latency: tuple[LatencyStats, ...] = ()  # one per timed batch; empty without timing
    layer_latency: LayerLatency | None = None  # from --per-layer
    training: TrainingSummary | None = None  # --step train: the step's MACs and memory
    warnings: list[str] = field(default_factory=list)
    dtype: str = "fp32"  # the floating-point type of bytes moved (and of timing)
    machine: Peaks | None = None  # --roofline: the peaks the bounds use
    inputs: Inputs | None = None  # what the forward takes; None: one tensor of input_shape
    notes: list[str] = field(default_factory=list)  # findings said plainly, not warnings (--verify's agreement)

    @property
    def arguments(self) -> Inputs:
        """The network's inputs (a spec's: one image of input_shape)."""
        from .inputs import Inputs

        return self.inputs if self.inputs is not None else Inputs.single(tuple(self.input_shape))

    @property
    def efficiency(self) -> float | None:
        """--roofline with timing: the model's bound / its measured median (1.0: at the roof); None
        for a timed training step (the bound is the forward's)."""
        if self.totals.bound_ms is None or not self.latency or self.latency[0].step == "train":
            return None
        return self.totals.bound_ms / self.latency[0].median_ms

    @property
    def timed(self) -> tuple[LatencyStats, ...]:
        """The latency stats, one per timed batch (empty without timing)."""
        return self.latency

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "spec": self.spec.to_dict(),
            "counting": self.counting,
            "input_shape": self.input_shape,
            "inputs": self.arguments.to_list(),
            "batch": self.batch,
            "mode": self.mode,
            "dtype": self.dtype,
            "layers": [_row_dict(row, self.machine is not None) for row in self.layers],
            "totals": {"params": self.totals.params, "trainable_params": self.totals.trainable_params,
                       "frozen_params": self.totals.frozen_params, "weights": self.totals.weights,
                       "macs": self.totals.macs, "flops": self.totals.flops,
                       "activations": self.totals.activations, "bytes": self.totals.bytes,
                       "arithmetic_intensity": self.totals.arithmetic_intensity,
                       "bytes_fused": self.totals.bytes_fused,
                       "paper_params": self.totals.paper_params, "paper_ops": self.totals.paper_ops,
                       "depth": self.totals.depth,
                       **({"bound_ms": self.totals.bound_ms, "expected_ms": self.totals.expected_ms,
                           "efficiency": self.efficiency} if self.machine is not None else {}),
                       **({key: getattr(self.training, key) for key in ("backward_macs", "step_macs", "saved_bytes",
                                                                        "train_bytes")} if self.training else {})},
            "training": None if self.training is None else self.training.to_dict(),
            "latency": _latency_dict(self.latency),
            "layer_latency": None if self.layer_latency is None else self.layer_latency.to_dict(),
            "machine": None if self.machine is None else self.machine.to_dict(),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
        }


def _row_dict(row: LayerRow, roofline: bool = False) -> dict[str, Any]:
    paper = row.paper
    bound = {"bound_ms": row.bound_ms, "roof": row.roof, "expected_ms": row.expected_ms, "limit": row.limit,
             "limit_ops": list(row.limit_ops), "efficiency": row.efficiency,
             "batches": [item.to_dict() for item in row.batches] or None} if roofline else {}
    return {
        "name": row.name, "parent": row.parent, "type": row.type, "kernel": row.kernel or None,
        "output_shape": row.output_shape, "params": row.params, "frozen_params": row.frozen_params,
        "weights": row.weights,
        "macs": row.macs, "activations": row.activations, "bytes": row.bytes, "bytes_fused": row.bytes_fused,
        "arithmetic_intensity": row.arithmetic_intensity, "receptive_field": row.receptive_field,
        "depth": row.depth, "filters": dict(row.filters),
        "paper": None if paper is None else {
            "params": paper.params, "params_text": paper.params_text, "params_ok": paper.params_ok,
            "ops": paper.ops, "ops_text": paper.ops_text, "ops_ok": paper.ops_ok,
            "output_shape": paper.output_shape, "output_ok": paper.output_ok},
        "latency_ms": row.latency_ms,
        "backward_macs": row.backward_macs, "saved_bytes": row.saved_bytes, **bound,
        "operators": [op.to_dict() for op in row.operators],
        **({"ops": [op.to_dict() for op in row.ops]} if row.ops is not None else {}),
    }


def _latency_dict(latency: tuple[LatencyStats, ...]) -> Any:
    """The JSON's "latency": null untimed, one object for one batch, a list for several."""
    if not latency:
        return None
    if len(latency) > 1:
        return [item.to_dict() for item in latency]
    return latency[0].to_dict()


def totals_of(rows: list[LayerRow], batch: int = 1) -> Totals:
    """Totals are the sums of the top-level rows (a module row already sums its children).
    Activations: for a spec, the outputs of every row that makes a tensor, children included
    (what a plain forward keeps alive at some point; a sequence's output is its last layer's);
    for a Python model, every element its operators write, which the top-level rows hold."""
    top = [row for row in rows if row.parent is None]
    measured = any(row.written is not None for row in rows)
    made = [row for row in rows if not row.passes_through]
    macs, moved = sum(r.macs for r in top), sum(r.bytes for r in top)
    paper = [r.paper for r in top if r.paper is not None]
    params_figures = [p.params for p in paper if p.params is not None]
    ops_figures = [p.ops for p in paper if p.ops is not None]
    depths = [r.depth for r in top if r.depth is not None and r.type != "aux"]  # the main path's
    expected = [r.expected_ms for r in top]
    return Totals(params=sum(r.params for r in top), weights=sum(r.weights for r in top), macs=macs,
                  activations=sum(r.activations for r in (top if measured else made)), bytes=moved,
                  arithmetic_intensity=intensity(macs, batch, moved), bytes_fused=sum(r.bytes_fused for r in top),
                  expected_ms=sum(expected) if expected and None not in expected else None,
                  frozen_params=sum(r.frozen_params for r in top),
                  paper_params=sum(params_figures) if params_figures else None,
                  paper_ops=sum(ops_figures) if ops_figures else None,
                  depth=sum(depths) if depths else None)
