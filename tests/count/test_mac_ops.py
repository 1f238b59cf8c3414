"""Matrix-like operators torch's flop counter has no formula for (issue 25): gcost counts them by
hand-checkable formulas, an operator that only sounds like one (bilinear upsampling, lgamma) is not
reported, and every other operator whose name says it multiplies matrices is reported (and fails
--strict) rather than silently counting 0."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from googlenet_cost.count.counting import MAC_NAME, NOT_MACS, formulas, measure_model, might_hide_macs


class Products(nn.Module):
    """One of torch's products of matrices or vectors on a (F,) input, with parameters of its own."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self.w = nn.Parameter(torch.ones(6, 4))
        self.v = nn.Parameter(torch.ones(6))
        self.cube = nn.Parameter(torch.ones(3, 4, 5))

    def forward(self, x):  # x: (B, 4)
        if self.kind == "mv":
            return torch.stack([torch.mv(self.w, row) for row in x])  # 6 x 4 per sample
        if self.kind == "addmv":
            return torch.stack([torch.addmv(self.v, self.w, row) for row in x])
        if self.kind == "dot":
            return torch.stack([torch.dot(row, row) for row in x])  # 4
        if self.kind == "addr":
            return torch.stack([torch.addr(self.w, self.v, row) for row in x])  # 6 x 4 outer products
        if self.kind == "addbmm":
            return torch.stack([torch.addbmm(torch.zeros(4, 5, device=x.device), row.expand(3, 4, 4), self.cube) for row in x])
        if self.kind == "addmm_":
            out = torch.zeros(x.shape[0], 6, device=x.device)
            return out.addmm_(x, self.w.t())  # in place: 6 x 4 per sample
        if self.kind == "cdist":
            return torch.cdist(x, self.w)  # 6 pairs x 4 coordinates per sample
        raise ValueError(self.kind)


@pytest.mark.parametrize("kind, macs", [("mv", 24), ("addmv", 24), ("dot", 4), ("addr", 24),
                                         ("addbmm", 3 * 4 * 4 * 5), ("addmm_", 24), ("cdist", 24)])
@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_products_without_a_torch_formula_are_counted(kind, macs, device):
    measured = measure_model(Products(kind).to(device), (4,), batch=3, user_code="test.py:products", depth=2)
    assert sum(row.macs for row in measured.rows if row.parent is None) == macs
    assert measured.uncounted == frozenset()  # nothing left for --strict to refuse


def test_a_bilinear_upsample_is_not_mistaken_for_a_matrix_product():
    model = nn.Sequential(nn.Conv2d(2, 2, 1), nn.Upsample(scale_factor=2, mode="bilinear"))
    assert measure_model(model, (2, 4, 4), batch=1, depth=2).uncounted == frozenset()


def test_every_operator_named_like_a_product_is_counted_decomposed_or_reported():
    """torch's own list: an operator whose name says it multiplies matrices either has a formula
    (torch's or gcost's), runs as other operators (a composite: those are seen), is one of the names
    that only sound like it, or is reported as possibly hiding MACs; never silently free."""
    from torch.utils.flop_counter import flop_registry

    counted = set(flop_registry) | set(formulas())
    silent = []
    for name in dir(torch.ops.aten):
        packet = getattr(torch.ops.aten, name, None)
        if not isinstance(packet, torch._ops.OpOverloadPacket) or not MAC_NAME.search(name.lstrip("_")):
            continue
        if packet in counted or NOT_MACS.search(name):
            continue
        overload = getattr(packet, packet.overloads()[0])
        if torch._C._dispatch_has_kernel_for_dispatch_key(overload.name(), "CompositeImplicitAutograd"):
            continue
        if not might_hide_macs(overload):
            silent.append(name)
    assert silent == []
