"""What each row's operators are and move, as the counting's dispatch recorder (counting._OpRecorder)
sees them: the outermost operators below torch's CompositeImplicitAutograd decompositions, named by
their schema (`func._schema.name`: "aten::convolution", "aten::avg_pool3d"), the names torch.profiler
shows for the same calls.

- `io_traffic`: one operator's memory traffic in eager execution (the traffic model of
  spec.layers.Traffic, docs/roofline.md);
- `OpTally`: a row's calls, FLOPs (FlopCounterMode's, 2 per MAC) and traffic of one operator and
  kind, summed over the row; `op_kind`: the kind that changes an operator's rate (a convolution's
  class, a pool's stride);
- `FusedTracker`: a row's bytes as one kernel would move them (`bytes_fused`): the tensors it reads
  that were not made inside it (its inputs, weights and buffers), each once, and what it writes
  that outlives it (its output, the state it updates in place)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import torch

from ..modules import storage_id
from ..report import OpCount
from ..spec.layers import Traffic

# Operators that allocate without writing, and batch norms, whose saved statistics and running
# statistics (updated in place, which their schemas do not say) are written only in training (in
# eval the CPU's kernel returns empty statistics where the meta device returns per-channel ones).
ALLOCATES_ONLY = ("empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided")
BATCH_NORMS = {"native_batch_norm": 5, "_native_batch_norm_legit": 5, "_native_batch_norm_legit_functional": 5,
               "cudnn_batch_norm": 5, "miopen_batch_norm": 5}  # name -> position of its `training` argument
# Operators that read rows of a table by index: the table's position among the arguments (its
# read is capped at the elements written: an embedding of 4 tokens does not read a million rows).
LOOKUPS = {"embedding": 0, "index_select": 0, "gather": 0, "index": 0, "take": 0, "_embedding_bag": 0,
           "embedding_bag": 0, "take_along_dim": 0}
CONVOLUTIONS = {"convolution": 8, "_convolution": 8, "convolution_overrideable": 8}  # name -> groups' position
STRIDED_POOLS = {"max_pool2d_with_indices": 2, "avg_pool2d": 2}  # name -> stride's position
_WRITTEN_ARGS: dict = {}


@dataclass(frozen=True)
class OpTally:
    """One operator (and kind) of a row, summed over its calls; bytes are priced at the report's
    dtype later (report.OpCount)."""

    name: str  # "aten::convolution"
    kind: str  # "conv 1x1", "conv kxk", "conv depthwise", "matmul", a pool's "stride 1" or "strided", or ""
    calls: int
    flops: int  # 2 per MAC, at the batch measured
    traffic: Traffic  # at the batch measured


Tallies = tuple[OpTally, ...]


def combine(groups: Iterable[Tallies], sign: int = 1, first: Tallies = ()) -> Tallies:
    """`first` plus (sign 1) or minus (sign -1) every group, by (name, kind); entries left with no
    calls dropped; in order of first appearance."""
    totals: dict[tuple[str, str], list] = {}
    for index, group in enumerate([first, *groups]):
        factor = 1 if index == 0 else sign
        for tally in group:
            entry = totals.setdefault((tally.name, tally.kind), [0, 0, Traffic()])
            entry[0] += factor * tally.calls
            entry[1] += factor * tally.flops
            entry[2] = entry[2] + tally.traffic if factor > 0 else entry[2] - tally.traffic
    return tuple(OpTally(name, kind, calls, flops, traffic) for (name, kind), (calls, flops, traffic) in totals.items()
                 if calls > 0)


def op_counts(tallies: Tallies, itemsize: int) -> tuple[OpCount, ...]:
    """A row's operators for the report: bytes at the dtype's `itemsize`."""
    return tuple(OpCount(t.name, t.calls, t.flops, t.traffic.bytes(itemsize), t.kind) for t in tallies)


def op_kind(func, args: tuple, flops: int) -> str:
    """What changes an operator's rate beyond its size: a convolution's class (depthwise, 1 x 1 or
    k x k), a matrix product's ("matmul"), a pool's stride ("stride 1" or "strided")."""
    name = func._overloadpacket.__name__
    if name in CONVOLUTIONS and len(args) > 1 and isinstance(args[1], torch.Tensor):
        weight = args[1]
        groups = args[CONVOLUTIONS[name]] if len(args) > CONVOLUTIONS[name] else 1
        if isinstance(groups, int) and groups > 1 and weight.shape[1] == 1:
            return "conv depthwise"
        return "conv 1x1" if all(size == 1 for size in weight.shape[2:]) else "conv kxk"
    if flops > 0:
        return "matmul"
    position = STRIDED_POOLS.get(name)
    if position is not None and len(args) > 1:
        stride = args[position] if len(args) > position and args[position] else args[1]  # [] means the kernel's
        stride = [stride] if isinstance(stride, int) else list(stride)
        return "stride 1" if all(step == 1 for step in stride) else "strided"
    return ""


def op_io(func, args: tuple, kwargs: dict, result) -> tuple[list[torch.Tensor], list[torch.Tensor], dict[int, int]]:
    """(what one operator reads, what it writes, caps on what it reads by tensor id) as the traffic
    model counts them (io_traffic). Views and allocations read and write nothing."""
    name = func._overloadpacket.__name__
    if func.is_view or name in ALLOCATES_ONLY:
        return [], [], {}
    inputs = list(tensors((*args, *kwargs.values())))
    outputs = list(tensors(result))
    written = _written_args(func)
    training_position = BATCH_NORMS.get(name)
    if training_position is not None:  # running mean and variance: updated in place in training, unannotated
        training = len(args) > training_position and bool(args[training_position])
        outputs, written = (outputs, (3, 4)) if training else (outputs[:1], ())
    outputs += [args[i] for i in written if i < len(args) and isinstance(args[i], torch.Tensor)]
    table = LOOKUPS.get(name)
    caps = {}
    if table is not None and table < len(args) and isinstance(args[table], torch.Tensor) and outputs:
        caps[id(args[table])] = outputs[0].numel()
    return inputs, outputs, caps


def io_traffic(inputs: list[torch.Tensor], outputs: list[torch.Tensor], caps: dict[int, int]) -> Traffic:
    """The memory traffic of one operator in eager execution, from its tensors as op_io finds them
    (the traffic model of spec.layers.Traffic): each input read once, as the memory it spans (tensors sharing memory, as
    x and x in x * x or x and its view, are read once; a broadcast, stride-0 view reads what it
    spans, not its logical size; disjoint slices of one tensor add up), each output and each
    argument the operator's schema says it writes, written once; a lookup (embedding, gather,
    index_select ...) reads at most as many table elements as it writes. Views and allocations move
    nothing."""
    return moved(inputs, caps) + moved(outputs)


def _written_args(func) -> tuple[int, ...]:
    """Positions of the arguments `func` writes (its schema's `Tensor(a!)`), cached per operator."""
    if func not in _WRITTEN_ARGS:
        _WRITTEN_ARGS[func] = tuple(i for i, argument in enumerate(func._schema.arguments)
                                    if argument.alias_info is not None and argument.alias_info.is_write)
    return _WRITTEN_ARGS[func]


def tensors(value) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from tensors(item)


Span = tuple[int, bool, int, int, int]  # storage, floating, element size, first element, end


def span(tensor: torch.Tensor, cap: int | None = None) -> Span | None:
    """The elements of its storage a tensor spans (a stride-0 broadcast spans one row; a view spans
    from its first to its last element); None when empty."""
    if tensor.numel() == 0:
        return None
    extent = 1 + sum((size - 1) * stride for size, stride in zip(tensor.shape, tensor.stride()) if size > 1)
    extent = min(extent, cap if cap is not None else extent)
    start = tensor.storage_offset()
    return storage_id(tensor), tensor.is_floating_point(), tensor.element_size(), start, start + extent


def covered(spans: Iterable[Span]) -> Traffic:
    """Traffic of touching these spans, each element once: per storage the union of its ranges,
    floating-point elements apart from other bytes."""
    by_storage: dict[int, tuple[bool, int, list[tuple[int, int]]]] = {}
    for key, floating, size, low, high in spans:
        by_storage.setdefault(key, (floating, size, []))[2].append((low, high))
    elements = other = 0
    for floating, size, ranges in by_storage.values():
        total, end = 0, None
        for low, high in sorted(ranges):
            if end is None or low >= end:
                total += high - low
                end = high
            elif high > end:
                total += high - end
                end = high
        if floating:
            elements += total
        else:
            other += total * size
    return Traffic(elements, other)


def moved(items: list[torch.Tensor], caps: dict[int, int] | None = None) -> Traffic:
    """Traffic of touching the memory these tensors span, each element once. `caps` bounds a
    tensor's elements (by id: a lookup's table)."""
    return covered(s for s in (span(t, (caps or {}).get(id(t))) for t in items) if s is not None)


@dataclass(frozen=True)
class Fused:
    """A row's traffic as one kernel would move it: activations read from outside the row, its
    weights and buffers (read, and written when updated in place), what it writes that outlives it."""

    inputs: Traffic = Traffic()
    weights: Traffic = Traffic()
    outputs: Traffic = Traffic()

    @property
    def total(self) -> Traffic:
        return self.inputs + self.weights + self.outputs


class FusedTracker:
    """Per row, while the forward runs: the spans it reads that no operator of the row wrote
    before (an input, a weight), the storages its operators write, and at its end (`finish`, from
    its forward hook) the spans of its output that it wrote and of the state it updated in place."""

    def __init__(self, state: set[int]):
        self.state = state  # storages of the model's parameters and buffers
        self.reads: dict[str, list[Span]] = {}
        self.read_keys: dict[str, set[int]] = {}  # the storages in reads, per row (kept beside it, not rebuilt)
        self.written: dict[str, set[int]] = {}
        self.updated: dict[str, list[Span]] = {}  # in-place writes to what the row had read from outside
        self.result: dict[str, Fused] = {}

    def record(self, rows: Iterable[str], inputs: list[torch.Tensor], outputs: list[torch.Tensor],
               caps: dict[int, int]) -> None:
        read = [s for s in (span(t, caps.get(id(t))) for t in inputs) if s is not None]
        wrote = [s for s in (span(t) for t in outputs) if s is not None]
        for row in rows:
            written = self.written.setdefault(row, set())
            outside = [s for s in read if s[0] not in written]
            self.reads.setdefault(row, []).extend(outside)
            read_from_outside = self.read_keys.setdefault(row, set())
            read_from_outside.update(s[0] for s in outside)
            self.updated.setdefault(row, []).extend(s for s in wrote if s[0] in read_from_outside)
            written.update(s[0] for s in wrote)

    def finish(self, row: str, output) -> None:
        """The row's forward returned `output`: its traffic as one kernel is settled."""
        written = self.written.get(row, set())
        reads = self.reads.get(row, [])
        weights = [s for s in reads if s[0] in self.state]
        state_updates = [s for s in self.updated.get(row, []) if s[0] in self.state]
        made = [s for s in (span(t) for t in tensors(output)) if s is not None and s[0] in written
                and s[0] not in self.state]
        self.result[row] = Fused(inputs=covered(s for s in reads if s[0] not in self.state),
                                 weights=covered(weights) + covered(state_updates), outputs=covered(made))
