"""Where GoogLeNet's LRN time goes (issue 32), written to docs/benchmarks-lrn.md: torch.profiler's
self CPU time per operator of one nn.LocalResponseNorm(5) (norm1's 1x64x56x56 and norm2's
1x192x56x56 input), with one thread, beside the bytes gcost's traffic model counts for each
operator and the bandwidth that makes; and, for scale, a plain copy of the same input.

Run it under the exclusive CPU lock: flock -x /work/.cpu-lock python benchmarks/lrn_profile.py"""
from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import environment, publish  # noqa: E402
from googlenet_cost.views.formats import markdown_table  # noqa: E402

ITERATIONS = 50
SHAPES = {"norm1": (1, 64, 56, 56), "norm2": (1, 192, 56, 56)}


def profile(shape: tuple[int, ...]) -> tuple[dict[str, float], float, float]:
    """(self CPU ms per call by operator, ms per forward, ms per plain copy of the input)."""
    import torch
    from torch.profiler import ProfilerActivity, profile as run_profile

    lrn = torch.nn.LocalResponseNorm(5)
    x = torch.randn(*shape)
    with torch.inference_mode():
        for _ in range(10):
            lrn(x)
        with run_profile(activities=[ProfilerActivity.CPU]) as run:
            for _ in range(ITERATIONS):
                lrn(x)
        self_ms: dict[str, float] = defaultdict(float)
        for event in run.key_averages():
            self_ms[event.key] += event.self_cpu_time_total / 1e3 / ITERATIONS
        start = time.perf_counter()
        for _ in range(ITERATIONS):
            lrn(x)
        forward = (time.perf_counter() - start) / ITERATIONS * 1e3
        out = torch.empty_like(x)
        out.copy_(x)
        start = time.perf_counter()
        for _ in range(ITERATIONS):
            out.copy_(x)
        copy = (time.perf_counter() - start) / ITERATIONS * 1e3
    return dict(self_ms), forward, copy


def traffic(shape: tuple[int, ...]) -> dict[str, int]:
    """The bytes gcost's recorder counts per operator of the same module (fp32)."""
    import torch

    from googlenet_cost.count.counting import measure_model

    rows = measure_model(torch.nn.Sequential(torch.nn.LocalResponseNorm(5)), shape[1:], shape[0], device="meta", depth=None).rows
    moved: dict[str, int] = defaultdict(int)
    for op in rows[0].operators:
        moved[op.name] += op.traffic.bytes(4)
    return dict(moved)


def main() -> None:
    import torch

    torch.set_num_threads(1)
    torch.ones(6 * 2**20)  # the allocator warm, as in any timing loop (microbench.warm_allocator)
    load = os.getloadavg()[0]
    sections = []
    for name, shape in SHAPES.items():
        self_ms, forward, copy = profile(shape)
        moved = traffic(shape)
        total = sum(self_ms.values())
        rows = []
        for op, ms in sorted(self_ms.items(), key=lambda item: -item[1]):
            if ms / total < 0.005:
                continue
            rate = moved.get(op, 0) / (ms / 1e3) / 1e9 if moved.get(op) else None
            rows.append([op, f"{ms:.3f}", f"{ms / total:.0%}", f"{moved.get(op, 0):,}" if op in moved else "",
                         "" if rate is None else f"{rate:.2f}"])
        elements = 1
        for size in shape:
            elements *= size
        sections.append(f"### {name}: nn.LocalResponseNorm(5) on {'x'.join(map(str, shape))}\n\n"
                        + markdown_table(["operator", "self ms per call", "share", "bytes (traffic model)",
                                          "GB/s"], rows, {1, 2, 3, 4})
                        + f"\nThe whole forward: {forward:.3f} ms. A plain copy of its input ({4 * elements:,} "
                          f"bytes, {8 * elements:,} moved) takes {copy:.3f} ms ({8 * elements / (copy / 1e3) / 1e9:.1f} "
                          f"GB/s): one fused pass would move 2N, the eager operators move "
                          f"{sum(moved.values()):,} bytes.\n")
    text = (f"# LRN, operator by operator\n\nWritten by `benchmarks/lrn_profile.py` on {environment()}, one thread, "
            f"load average {load:.2f} at the start, under the exclusive CPU lock. torch.profiler's self CPU time per "
            f"operator, averaged over {ITERATIONS} forwards after 10 warm-up ones; bytes as gcost's recorder counts "
            "them for the same operators (fp32).\n\n" + "\n".join(sections))
    publish("benchmarks-lrn.md", text)


if __name__ == "__main__":
    main()
