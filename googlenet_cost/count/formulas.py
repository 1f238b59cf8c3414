"""gcost's FLOP formulas (2 per MAC) beside torch's FlopCounterMode's: the one it gets wrong (a
grouped convolution's weight gradient, pytorch/pytorch#183405) and the matrix and vector products it
has none for. Shape-level functions, as torch's own formulas are."""
from __future__ import annotations

import torch


def formulas() -> dict:
    """gcost's FLOP formulas (2 per MAC) by operator: the weight gradient of a conv costs exactly
    its forward (every (output, weight) product once); and the matrix and vector products torch's
    counter leaves out: in-place addmm_ and baddbmm_, addbmm, mv, addmv, dot, vdot, addr (an outer
    product: a matrix product with one term), _int_mm, _addmm_activation and cdist (one
    multiply-accumulate per coordinate of every pair, forward and backward)."""
    aten = torch.ops.aten
    matrix = {aten.addmm_: _addmm_flop, aten._addmm_activation: _addmm_flop, aten._int_mm: _mm_flop,
              aten.baddbmm_: _baddbmm_flop, aten.addbmm: _addbmm_flop, aten.addbmm_: _addbmm_flop,
              aten.mv: _mv_flop, aten.addmv: _addmv_flop, aten.addmv_: _addmv_flop, aten.dot: _dot_flop,
              aten.vdot: _dot_flop, aten.addr: _addr_flop, aten._cdist_forward: _cdist_flop,
              aten._cdist_backward: _cdist_backward_flop}
    return {aten.convolution_backward: conv_backward_flop, **matrix}


def _mm_flop(a, b, *args, out_shape=None, **kwargs) -> int:
    return 2 * a[0] * a[1] * b[1]


def _addmm_flop(bias, a, b, *args, out_shape=None, **kwargs) -> int:
    return _mm_flop(a, b)


def _baddbmm_flop(bias, a, b, *args, out_shape=None, **kwargs) -> int:
    return 2 * a[0] * a[1] * a[2] * b[2]


_addbmm_flop = _baddbmm_flop  # the same products, then summed over the batch


def _mv_flop(matrix, vector, *args, out_shape=None, **kwargs) -> int:
    return 2 * matrix[0] * matrix[1]


def _addmv_flop(bias, matrix, vector, *args, out_shape=None, **kwargs) -> int:
    return _mv_flop(matrix, vector)


def _dot_flop(a, b, *args, out_shape=None, **kwargs) -> int:
    return 2 * a[0]


def _addr_flop(bias, u, v, *args, out_shape=None, **kwargs) -> int:
    return 2 * u[0] * v[0]


def _cdist_flop(x1, x2, *args, out_shape=None, **kwargs) -> int:
    """Every pair of rows of x1 (P x M) and x2 (R x M), per batch: M multiply-accumulates."""
    import math

    return 2 * math.prod(x1[:-2]) * x1[-2] * x2[-2] * x1[-1]


def _cdist_backward_flop(grad, x1, x2, *args, out_shape=None, **kwargs) -> int:
    return _cdist_flop(x1, x2)


def conv_backward_flop(grad_out_shape, x_shape, w_shape, bias, stride, padding, dilation, transposed,
                       output_padding, groups, output_mask, out_shape=None, **kwargs) -> int:
    """FLOPs (2 per MAC) of aten.convolution_backward: torch's formula for the input's gradient,
    the conv's own forward count for the weight's (which torch overcounts when groups > 1)."""
    from torch.utils.flop_counter import conv_backward_flop as torch_formula, conv_flop_count

    flops = torch_formula(grad_out_shape, x_shape, w_shape, bias, stride, padding, dilation, transposed,
                          output_padding, groups, [output_mask[0], False, False], out_val=out_shape)  # shape-wrapped
    if output_mask[1]:
        flops += conv_flop_count(list(x_shape), list(w_shape), list(grad_out_shape), transposed)
    return flops
