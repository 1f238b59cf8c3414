"""Every shipped spec in half precision on the CPU (issue 24): one forward pass of each built model in
bf16 and in fp16 at batch 1, its time, and whether its output is finite and close to fp32's (the
largest difference relative to the largest fp32 output). Writes docs/benchmarks-half-cpu.md. The
suite runs every layer type in both dtypes (tests/timing/test_half_precision.py); this runs the
whole networks, which takes minutes on a 2-core CPU (vgg16 alone about a minute per dtype)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import googlenet_cost as gc  # noqa: E402
from benchmarks.common import environment, publish  # noqa: E402
from googlenet_cost.views.formats import markdown_table  # noqa: E402

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def main() -> None:
    rows = []
    for name in sorted(gc.builtin_specs()):
        spec = gc.load_spec(name)
        torch.manual_seed(0)
        model = gc.build_model(spec).eval()
        x = torch.randn(1, *spec.input_shape)
        with torch.no_grad():
            reference = model(x)
        scale = reference.abs().max().item() or 1.0
        for label, dtype in DTYPES.items():
            half = gc.build_model(spec).eval()
            half.load_state_dict(model.state_dict())
            half = half.to(dtype)
            start = time.perf_counter()
            try:
                with torch.no_grad():
                    out = half(x.to(dtype))
                seconds = time.perf_counter() - start
                finite = bool(torch.isfinite(out).all())
                error = (out.float() - reference).abs().max().item() / scale
                rows.append([name, label, f"{seconds:.2f}", "yes" if finite else "NO", f"{error:.3f}"])
            except Exception as e:  # noqa: BLE001 - a benchmark reports every failure in its table
                rows.append([name, label, "failed", "", f"{type(e).__name__}: {str(e)[:80]}"])
            print(" | ".join(rows[-1]), flush=True)
    table = markdown_table(["spec", "dtype", "forward s", "finite", "max error / max output"], rows, {2, 4})
    failed = [r for r in rows if r[2] == "failed" or r[3] != "yes"]
    text = (f"# Half precision on the CPU\n\nWritten by `benchmarks/half_precision.py` on {environment()}: one "
            "forward pass per shipped spec and dtype at batch 1, from the fp32 model's weights; the error is the "
            "largest difference from the fp32 output over the largest fp32 output.\n\n" + table
            + ("\nEvery shipped spec runs in bf16 and fp16 on this CPU.\n" if not failed else
               f"\nFailed: {', '.join(f'{r[0]} {r[1]}' for r in failed)}.\n"))
    publish("benchmarks-half-cpu.md", text)


if __name__ == "__main__":
    main()
