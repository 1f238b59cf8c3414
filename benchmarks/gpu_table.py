"""The GPU latency table of docs/benchmarks.md: googlenet at batch 1, 8, 64, 256 in fp32, tf32,
fp16 and bf16, eager vs CUDA graph vs torch.compile. Needs a CUDA device; writes
docs/benchmarks-gpu-table.md with the device name, torch version and date.

Run from the source tree on the GPU machine: PYTHONPATH=. python benchmarks/gpu_table.py"""
from __future__ import annotations

import argparse
import platform
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import googlenet_cost as gc  # noqa: E402
from googlenet_cost.errors import GcostError  # noqa: E402
from benchmarks.common import publish  # noqa: E402
from googlenet_cost.views.formats import markdown_table  # noqa: E402
from googlenet_cost.options import RunOptions  # noqa: E402
from googlenet_cost.sources import spec_target  # noqa: E402
from googlenet_cost.timing.measure import TimingOptions, measure_latency  # noqa: E402
from googlenet_cost.timing.loop import LoopLimits  # noqa: E402

MODES = {"eager": {}, "cuda graph": {"cuda_graph": True}, "compiled": {"compile": True}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", default="googlenet")
    parser.add_argument("--batches", default="1,8,64,256")
    parser.add_argument("--dtypes", default="fp32,tf32,fp16,bf16")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--min-time", type=float, default=1.0)
    parser.add_argument("--device", default="cuda", help="cuda; cpu only to rehearse the script (gpu_check.py --dry-run)")
    args = parser.parse_args()
    if args.device != "cpu" and not torch.cuda.is_available():
        sys.exit("gpu_table.py needs a CUDA device")
    spec = gc.load_spec(args.spec)
    macs = gc.analyze(spec).totals.macs
    base = TimingOptions(device=args.device, limits=LoopLimits(warmup_min_s=min(0.5, args.min_time),
                                                               min_time_s=args.min_time))
    rows = []
    for mode in args.modes.split(","):
        for dtype in args.dtypes.split(","):
            for batch in (int(b) for b in args.batches.split(",")):
                options = replace(base, batches=(batch,), **MODES[mode])
                target = spec_target(spec, RunOptions(dtype=dtype))
                try:
                    [s] = measure_latency(target, options, macs=macs)
                except (GcostError, RuntimeError) as e:  # e.g. compile unavailable: say so in the table
                    rows.append([mode, dtype, str(batch)] + ["—"] * 8 + [str(e).splitlines()[0][:60]])
                    continue
                rows.append([mode, dtype, str(batch), f"{s.median_ms:.3f}", f"{s.p10_ms:.3f}", f"{s.p90_ms:.3f}",
                             f"{s.throughput_per_s:,.0f}", f"{s.tflops:.1f}",
                             f"{s.peak_fraction:.1%}" if s.peak_fraction is not None else "",
                             f"{(s.peak_memory_bytes or 0) / 2**20:,.0f}",
                             f"{(s.self_check.events_vs_wall if s.self_check else None) or 0:.3f}",
                             "; ".join(w[:40] for w in s.warnings)])
                print(" | ".join(rows[-1]), flush=True)
    table = markdown_table(["mode", "dtype", "batch", "median ms", "p10 ms", "p90 ms", "samples/s", "TFLOP/s",
                            "of peak", "peak MiB", "events/wall", "warnings"], rows, set(range(2, 11)))
    name = torch.cuda.get_device_name() if args.device != "cpu" else "CPU (a rehearsal, not a GPU table)"
    text = (f"# GPU latency: {spec.name}\n\nMeasured by `benchmarks/gpu_table.py` on {date.today()}: {name}, "
            f"torch {torch.__version__} (CUDA {torch.version.cuda}), Python {platform.python_version()}. "
            f"CUDA events around each forward, warm-up per configuration, median of at least "
            f"{args.min_time:g} s of iterations. TFLOP/s = 2 x MACs x batch / median.\n\n{table}")
    publish("benchmarks-gpu-table.md", text)


if __name__ == "__main__":
    main()
