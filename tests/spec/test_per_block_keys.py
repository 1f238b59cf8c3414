"""Per-block keys (issue 34): where a spec repeats a block, one edit changes a key of every block.
MobileNetV2's expand convs are `expansion: 6` times their block's input and its depthwise convs
`depthwise: true`, so `--set '**/expand.expansion=4'` is the network with t = 4 (it took six edits,
each block's widths written out). Checked against the same network written in plain PyTorch, as
torchvision's InvertedResidual builds it."""
from __future__ import annotations

import re

import pytest
import torch
from torch import nn

import googlenet_cost as gc
from googlenet_cost.errors import SpecError
from googlenet_cost.spec.plan import plan_rows
from googlenet_cost.spec.variants import build_variants

# torchvision's mobilenet_v2 inverted_residual_setting: (t, c, n, s), t replaced by the test's
SETTING = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def conv_bn(inp: int, out: int, kernel: int = 1, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Module:
    layers = [nn.Conv2d(inp, out, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(out)]
    return nn.Sequential(*layers, *([nn.ReLU6()] if act else []))


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, out: int, stride: int, t: int):
        super().__init__()
        hidden = int(round(inp * t))
        self.residual = stride == 1 and inp == out
        self.conv = nn.Sequential(*([conv_bn(inp, hidden)] if t != 1 else []),
                                  conv_bn(hidden, hidden, 3, stride, groups=hidden), conv_bn(hidden, out, act=False))

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


def mobilenet_v2(t: int) -> nn.Module:
    blocks, inp = [conv_bn(3, 32, 3, 2)], 32
    for expand, out, n, stride in SETTING:
        for i in range(n):
            blocks.append(InvertedResidual(inp, out, stride if i == 0 else 1, t if expand != 1 else 1))
            inp = out
    return nn.Sequential(*blocks, conv_bn(inp, 1280), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
                         nn.Linear(1280, 1000))


@pytest.mark.parametrize("t", [6, 4])
def test_one_edit_sets_every_blocks_expansion(t):
    variant = build_variants(["mobilenet_v2"], [("set", f"t{t}: **/expand.expansion={t}")], None)[1]
    rows = [row for row in plan_rows(variant.spec, train=False) if row.parent is None]
    reference = mobilenet_v2(t)
    assert sum(row.cost.params for row in rows) == sum(p.numel() for p in reference.parameters())
    assert sum(row.cost.macs for row in rows) == gc.summary(reference, input_size=(1, 3, 224, 224)).totals.macs
    assert variant.label == f"t{t}"


def test_the_shipped_spec_is_torchvisions_t6():
    rows = [row for row in plan_rows(gc.load_spec("mobilenet_v2"), train=False) if row.parent is None]
    assert sum(row.cost.params for row in rows) == 3_504_872  # torchvision's published figure


def test_a_relative_width_follows_what_reaches_it(write_spec):
    path = write_spec("name: r\ninput: [8, 4, 4]\nlayers:\n  - {name: c, type: conv, out: 8, kernel: 1}\n"
                      "  - {name: e, type: conv, expansion: 2.5, kernel: 1}\n"
                      "  - {name: d, type: conv, depthwise: true, kernel: 3, padding: 1}\n")
    variant = build_variants([str(path)], [("set", "c.out=4")], None)[1]
    widths = {row.name: row.out_shape[0] for row in plan_rows(variant.spec, train=False)}
    assert widths == {"c": 4, "e": 10, "d": 10}  # round(4 x 2.5); the depthwise conv as wide as its input
    built = gc.build_model(variant.spec)
    assert [m.groups for m in built.modules() if isinstance(m, nn.Conv2d)] == [1, 1, 10]
    assert built(torch.zeros(1, 8, 4, 4)).shape == (1, 10, 4, 4)


@pytest.mark.parametrize("keys,words", [
    ("out: 8, expansion: 2", "give out (a width) or expansion (times the input's width), not both"),
    ("depthwise: true, groups: 2", "give depthwise or groups, not both"),
    ("expansion: 0", "expansion must be"),
    ("expansion: 2000", "expansion must be"),
    ("kernel: 1", "missing required key 'out'"),
])
def test_relative_widths_are_checked(write_spec, keys, words):
    text = f"name: r\ninput: [8, 4, 4]\nlayers:\n  - {{name: c, type: conv, kernel: 1, {keys}}}\n".replace(
        "kernel: 1, kernel: 1", "kernel: 1")
    with pytest.raises(SpecError, match=re.escape(words)):
        gc.parse_spec(text)


def test_setting_out_on_a_relative_conv_makes_it_absolute_and_a_factor_says_what_to_set():
    varied = build_variants(["mobilenet_v2"], [("set", "block2/expand.out=64")], None)[1]
    widths = {row.name: row.out_shape[0] for row in plan_rows(varied.spec, train=False)}
    assert widths["block2/expand"] == widths["block2/dw"] == 64  # its depthwise conv follows
    with pytest.raises(gc.GcostError, match="block2/expand's width is relative to its input's \\(expansion 6\\): "
                                            "set its expansion, or out to a number"):
        build_variants(["mobilenet_v2"], [("set", "block2/expand.out=x0.5")], None)
