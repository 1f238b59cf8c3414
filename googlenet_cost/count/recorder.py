"""The counting's dispatch recorder: what a forward pass runs, operator by operator, attributed to
the rows active at the time (operators.py holds what it records: traffic, tallies, fused traffic)."""
from __future__ import annotations

import re

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ..modules import storage_id
from ..spec.layers import Traffic
from .formulas import formulas
from .operators import ALLOCATES_ONLY, FusedTracker, OpTally, Tallies, io_traffic, op_io, op_kind, tensors

# Which operators might hide multiply-accumulates. The counter's own formulas cover conv, mm,
# addmm, bmm, baddbmm and the attention kernels. Of the rest, torch's operator tags settle most:
# views, pointwise (in place or not), reductions and copies carry no MACs. Operators that are none
# of those are free too when they move or select data, normalize, pool or sort; an operator is
# reported only when its name says it multiplies matrices or kernels (mm, mv, conv, dot, einsum,
# attention, fft, recurrent cells ...) or when it is a custom operator outside aten and prims,
# whose contents nobody can see.
FREE_TAGS = ("pointwise", "reduction", "view_copy", "inplace_view")
MAC_NAME = re.compile(r"mm|mv|conv|dot|einsum|matmul|linear|bilinear|attention|fft|lstm|gru|rnn|cdist|"
                      r"tensordot|addr|baddbmm|addbmm|kron|outer|inner")
# Names that say so without multiplying matrices: interpolation (upsample_bilinear2d weighs a few
# neighbours), special functions (lgamma, digamma), running maxima, weight repacking.
NOT_MACS = re.compile(r"^_?upsample_|gamma|^cumm(ax|in)$|^_convert_weight_to_int")


def might_hide_macs(func) -> bool:
    """True for an operator with no MAC formula that could still multiply-accumulate."""
    packet = func._overloadpacket
    name = packet.__name__
    namespace = getattr(func, "namespace", "aten")
    if namespace not in ("aten", "prims"):
        return True
    if func.is_view or any(getattr(torch.Tag, tag, None) in func.tags for tag in FREE_TAGS):
        return False
    return MAC_NAME.search(name.lstrip("_")) is not None and NOT_MACS.search(name) is None


# The tensor arguments that are matrices or kernels (not biases) of the MAC-carrying operators;
# an operator not listed treats every tensor argument as one.
OPERAND_ARGS = {"convolution": (1,), "_convolution": (1,), "convolution_overrideable": (1,), "conv2d": (1,),
                "conv1d": (1,), "conv3d": (1,), "conv_transpose2d": (1,), "mkldnn_convolution": (1,),
                "cudnn_convolution": (1,), "addmm": (1, 2), "baddbmm": (1, 2), "addbmm": (1, 2), "addmv": (1, 2),
                "linear": (1,)}


class OpRecorder(TorchDispatchMode):
    """Records what a forward pass runs: operators with no formula that might hide MACs, the
    storages that MAC-carrying operators read as matrices or kernels (which parameters are
    weights), the elements every operator writes into new tensors (activations), its traffic, and
    each operator's calls, FLOPs and traffic (operators.OpTally), attributed to the rows active at
    the time (`active`, kept by forward hooks) and to the whole model (""); and what each row
    reads and writes as one kernel would (`fused`). It runs above `counter` (entered after it), so
    an operator's FLOPs are what the counter adds while it runs."""

    def __init__(self, active: list[str], counter=None, fused: FusedTracker | None = None) -> None:
        super().__init__()
        from torch.utils.flop_counter import flop_registry

        self.counted = {getattr(op, "__name__", str(op)) for op in [*flop_registry, *formulas()]}
        self.suspect: set[str] = set()
        self.operand_storages: set[int] = set()
        self.active = active
        self.counter, self.fused = counter, fused
        self.written: dict[str, int] = {}  # row name -> elements; "" for the whole model
        self.traffic: dict[str, Traffic] = {}  # row name -> memory traffic; "" for the whole model
        self.tallies: dict[str, dict[tuple[str, str], list]] = {}  # row -> (name, kind) -> [calls, flops, traffic]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = self._record(func, args)
        before = self._flops()
        result = func(*args, **kwargs)
        flops = self._flops() - before
        reads, writes, caps = op_io(func, args, kwargs, result)
        moved = io_traffic(reads, writes, caps)
        elements = 0
        if not out:
            elements = sum(t.numel() for t in (result if isinstance(result, (tuple, list)) else (result,))
                           if isinstance(t, torch.Tensor))
        rows = ("", *self.active)
        key = (func._schema.name, op_kind(func, args, flops))
        for row in rows:
            self.written[row] = self.written.get(row, 0) + elements
            self.traffic[row] = self.traffic.get(row, Traffic()) + moved
            tally = self.tallies.setdefault(row, {}).setdefault(key, [0, 0, Traffic()])
            tally[0] += 1
            tally[1] += flops
            tally[2] = tally[2] + moved
        if self.fused is not None:
            made = list(tensors(result)) if func._overloadpacket.__name__ in ALLOCATES_ONLY else writes
            self.fused.record(rows, reads, made, caps)  # an allocation is the row's, as what it writes
        return result

    def _flops(self) -> int:
        return sum(self.counter.flop_counts["Global"].values()) if self.counter is not None else 0

    def operators(self, row: str) -> Tallies:
        return tuple(OpTally(name, kind, calls, flops, traffic)
                     for (name, kind), (calls, flops, traffic) in self.tallies.get(row, {}).items())

    def _record(self, func, args) -> bool:
        """Note what `func` may cost; True when it writes into existing tensors (a view, in place)."""
        name = func._overloadpacket.__name__
        carries = name in self.counted or might_hide_macs(func)
        if carries:
            if name not in self.counted:
                self.suspect.add(name if getattr(func, "namespace", "aten") == "aten" else str(func._overloadpacket))
            positions = OPERAND_ARGS.get(name)
            for index, arg in enumerate(args):
                if positions is None or index in positions:
                    for tensor in (arg if isinstance(arg, (list, tuple)) else (arg,)):
                        if isinstance(tensor, torch.Tensor):
                            self.operand_storages.add(storage_id(tensor))
        return func.is_view or any(getattr(torch.Tag, tag, None) in func.tags
                                   for tag in ("inplace", "inplace_view", "out"))
