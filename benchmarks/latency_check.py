"""Is gcost's latency harness right? On the same model in one process, gcost's median against
references that measure the same thing, each pairing stated:

- torch.utils.benchmark.Timer (CPU and GPU), warm cache, against gcost warm cache. Timer times
  blocks of back-to-back calls with one synchronize per block; gcost synchronizes after every
  forward. On a GPU, Timer's calls can overlap the next launch with the previous kernels, so it may
  read lower on launch-bound models: that difference is the method, not an error.
- triton.testing.do_bench (GPU, when installed) against gcost --cold-cache. Both zero a 256 MB
  buffer before every call and time each call with CUDA events, but not the same way: do_bench
  enqueues flush, events and call back to back and synchronizes once at the end, so the host runs
  ahead and its launch overhead hides behind queued work; gcost synchronizes after the flush and
  after every call, so the GPU waits for each launch. On a launch-bound model gcost reads higher:
  that difference is the method, not an error.

Both sides run under the same numerics (gcost's timing context: cudnn.benchmark on, TF32 as the
dtype says, the same thread count). Expected ratios: 0.95-1.05 on GPU, 0.9-1.1 on CPU; repeated
gcost runs within 2% on GPU. Writes docs/benchmarks-latency-check-<device>.md.

Run: python benchmarks/latency_check.py [--device cuda] [--spec googlenet] [--batch 1]"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import googlenet_cost as gc  # noqa: E402
from benchmarks.common import publish  # noqa: E402
from googlenet_cost.views.formats import markdown_table  # noqa: E402
from googlenet_cost.timing.loop import LoopLimits  # noqa: E402
from googlenet_cost.options import RunOptions  # noqa: E402
from googlenet_cost.sources import spec_target  # noqa: E402
from googlenet_cost.timing.measure import (TimingOptions, cuda_backend, device_label, measure_latency,  # noqa: E402
                                           resolve_device, timing_context, with_thread_choice)


def reference_timer_ms(spec, device: torch.device, batch: int) -> float:
    from torch.utils import benchmark

    model = gc.build_model(spec, device=device).eval()
    x = torch.randn(batch, *spec.input_shape, device=device)
    timer = benchmark.Timer("model(x)", globals={"model": model, "x": x}, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=3).median * 1000


def triton_ms(spec, device: torch.device, batch: int) -> float | None:
    try:
        from triton.testing import do_bench
    except ImportError:
        return None
    model = gc.build_model(spec, device=device).eval()
    x = torch.randn(batch, *spec.input_shape, device=device)
    return float(do_bench(lambda: model(x), warmup=500, rep=3000, return_mode="median"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--spec", default="googlenet")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=3.0, help="seconds of timed iterations per gcost run")
    args = parser.parse_args()
    spec = gc.load_spec(args.spec)
    device = resolve_device(args.device)
    options = TimingOptions(device=str(device), batches=(args.batch,),
                            limits=LoopLimits(warmup_min_s=min(1.0, args.min_time), min_time_s=args.min_time,
                                              min_iters=50))
    options = with_thread_choice(options)  # gcost and the references on the same threads
    macs = gc.analyze(spec).totals.macs
    target = spec_target(spec, RunOptions())
    ours = [measure_latency(target, options, macs=macs)[0].median_ms for _ in range(args.repeats)]
    with timing_context(options, device, cuda_backend(), target):  # the references under the same numerics
        threads = torch.get_num_threads()
        reference = reference_timer_ms(spec, device, args.batch)
        bench = triton_ms(spec, device, args.batch) if device.type == "cuda" else None
    rows = [["gcost, warm cache (median of each run)", ", ".join(f"{m:.3f}" for m in ours), "", "per-call sync"],
            ["torch.utils.benchmark.Timer, warm cache", f"{reference:.3f}",
             f"{statistics.median(ours) / reference:.3f}", "blocks of calls, one sync per block"]]
    if bench is not None:
        cold = measure_latency(target, TimingOptions(**{**options.__dict__, "cold_cache": True}),
                               macs=macs)[0].median_ms
        rows += [["gcost --cold-cache", f"{cold:.3f}", "", "256 MB flush, sync, events, sync after each call"],
                 ["triton.testing.do_bench (flushes L2)", f"{bench:.3f}", f"{cold / bench:.3f}",
                  "256 MB flush, events, no sync between calls"]]
    spread = (max(ours) - min(ours)) / statistics.median(ours)
    table = markdown_table(["timer", "median ms", "gcost / this", "method"], rows, {1, 2})
    name = device_label(device, threads)
    text = (f"# Latency harness check ({device.type})\n\n`benchmarks/latency_check.py --spec {args.spec} "
            f"--batch {args.batch}` on {date.today()}: {name}, torch {torch.__version__}, Python "
            f"{platform.python_version()}. Each reference is compared with the gcost run of the same cache "
            "state, under the same numerics and thread count.\n\n"
            f"{table}\nRepeated gcost runs spread {spread:.1%} (max - min over median). Expected: ratios within "
            "0.95-1.05 on GPU and 0.9-1.1 on CPU; repeats within 2% on GPU.\n")
    publish(f"benchmarks-latency-check-{device.type}.md", text)


if __name__ == "__main__":
    main()
