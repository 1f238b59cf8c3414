"""gcost's latency verdicts on a shared CPU (issue 31): `gcost compare googlenet COPY.yaml --no-reduce`
(COPY the same network under another name) run several times on an idle machine and with two busy
loops holding both CPUs, with the default threads (decided from the load) and with --threads 1;
then `--max-time 5` under the same load, and `--reduce 16 --no-reduce` on the idle machine.

A run is right when the copy gets "no measurable/meaningful difference" and no-reduce "slower"; a
wrong direction is the copy called faster or slower, or no-reduce called faster. Writes
docs/benchmarks-load.md. Run it on a machine with nothing else running (the busy loops are its own):

    python benchmarks/load.py [--runs 5]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import environment, publish  # noqa: E402
from googlenet_cost.views.formats import markdown_table  # noqa: E402

RIGHT = {"copy": ("no measurable difference", "no meaningful difference"), "no-reduce": ("slower",)}
WRONG = {"copy": ("faster", "slower"), "no-reduce": ("faster",)}
BUSY = "while True:\n    pass\n"


@contextlib.contextmanager
def busy_loops(count: int):
    loops = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(count)]
    try:
        time.sleep(1.0)  # running before gcost starts, as other users' work is
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def compare(copy: Path, *extra: str) -> tuple[dict, float, int]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "gcost_cli", "compare", "googlenet", str(copy), "--no-reduce",
                           "--format", "json", *extra], cwd=ROOT, capture_output=True, text=True)
    took = time.perf_counter() - start
    return (json.loads(done.stdout) if done.returncode == 0 else {}), took, done.returncode


def verdicts(data: dict) -> dict[str, dict]:
    """label -> its latency ratio entry; the copy is labelled by its spec name."""
    found = {}
    for line in data.get("summary", []):
        label = "copy" if line["label"].startswith("googlenet_copy") else line["label"]
        found[label] = line["latency_ratio"]
    return found


def shown(ratio: dict) -> str:
    if ratio["median"] is None:
        return f"{ratio['verdict']} ({ratio['rounds']} rounds)"
    low, high = ratio["ci95"]
    return f"{ratio['median']:.3f} [{low:.3f}-{high:.3f}] {ratio['verdict']}"


def row(scenario: str, threads: str, index: int, data: dict, took: float, code: int) -> tuple[list[str], bool, bool]:
    if code != 0:
        return [scenario, threads, str(index), "exit %d" % code] + [""] * 6, False, False
    found = verdicts(data)
    first = data["variants"][0]["latency"]
    run = data["timing"][0]
    right = all(found[k]["verdict"] in RIGHT[k] for k in RIGHT)
    wrong = any(found[k]["verdict"] in WRONG[k] for k in WRONG)
    return [scenario, threads, str(index), f"{first['threads']} ({first.get('threads_reason') or ''})",
            run["clock"], f"{first['median_ms']:.1f}", shown(found["copy"]), shown(found["no-reduce"]),
            f"{run['rounds']} in {run['elapsed_s']:.1f} s (warm-up {run['warmup_s']:.1f} s)",
            "right" if right else "WRONG" if wrong else "undecided"], right, wrong


def one_model() -> list[list[str]]:
    """`gcost analyze googlenet` with 1 and 2 threads, idle and beside one and two busy loops: the
    median and spread on the run's clock, and the wall clock beside an on-CPU figure."""
    rows = []
    for loops in (0, 1, 2):
        with busy_loops(loops):
            for threads in ("2", "1"):
                done = subprocess.run([sys.executable, "-m", "gcost_cli", "analyze", "googlenet", "--threads", threads,
                                       "--min-time", "3", "--format", "json"], cwd=ROOT, capture_output=True,
                                      text=True, check=True)
                latency = json.loads(done.stdout)["latency"]
                load = latency["load"] or {}
                wall = latency["wall_median_ms"]
                rows.append([str(loops), threads, latency["clock"], f"{latency['median_ms']:.1f}",
                             f"{latency['iqr_ms'] / latency['median_ms']:.0%}", "" if wall is None else f"{wall:.1f}",
                             f"{load.get('contended', '')} of {load.get('samples', '')}",
                             f"{load.get('waited_share', 0):.0%}"])
                print(" | ".join(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--one-model", action="store_true", help="only the one-model table (a minute), printed")
    args = parser.parse_args()
    single = one_model()
    if args.one_model:
        return
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "googlenet_copy.yaml"
        text = (ROOT / "specs" / "googlenet.yaml").read_text()
        copy.write_text(text.replace("\nname: googlenet\n", "\nname: googlenet_copy\n", 1))
        rows, tally = [], {}
        for scenario, loops in (("idle", 0), ("2 busy loops", 2)):
            for threads in ("default", "--threads 1"):
                extra = [] if threads == "default" else ["--threads", "1"]
                with busy_loops(loops):
                    for index in range(1, args.runs + 1):
                        data, took, code = compare(copy, *extra)
                        cells, right, wrong = row(scenario, threads, index, data, took, code)
                        rows.append(cells)
                        print(" | ".join(cells), flush=True)
                        key = (scenario, threads)
                        right_count, wrong_count = tally.get(key, (0, 0))
                        tally[key] = (right_count + right, wrong_count + wrong)
        capped = []
        with busy_loops(2):
            for index in range(1, args.runs + 1):
                data, took, code = compare(copy, "--max-time", "5")
                run = data["timing"][0] if data else {}
                found = verdicts(data) if data else {}
                capped.append([str(index), str(code), f"{run.get('elapsed_s', float('nan')):.2f}",
                               f"{run.get('warmup_s', float('nan')):.2f}", str(run.get("rounds", "")),
                               shown(found["copy"]) if found else "", shown(found["no-reduce"]) if found else "",
                               f"{took:.1f}"])
                print(" | ".join(capped[-1]), flush=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "gcost_cli", "compare", "--reduce", "16", "--no-reduce", "--format",
                               "json"], cwd=ROOT, capture_output=True, text=True)
        quiet = json.loads(done.stdout)
        quiet_took = time.perf_counter() - start
    summary = [[scenario, threads, f"{right} of {args.runs}", f"{wrong}"]
               for (scenario, threads), (right, wrong) in tally.items()]
    quiet_rows = [[line["label"], shown(line["latency_ratio"])] for line in quiet["summary"]]
    text = (f"# gcost on a shared CPU\n\nMeasured by `python benchmarks/load.py --runs {args.runs}` on "
            f"{environment()}, nothing else running but the busy loops it starts itself "
            f"(`python -c 'while True: pass'`).\n\n"
            "## One model\n\n`gcost analyze googlenet --threads N --min-time 3`: the median on the run's clock "
            "(docs/latency.md: on-CPU time when other work held the one thread's CPU in 20% of the iterations or "
            "more), its interquartile range over the median, the wall-clock median beside an on-CPU one, and the "
            "samples in which the process waited for a CPU more than 5% of the time.\n\n"
            + markdown_table(["busy loops", "threads", "clock", "median ms", "IQR / median", "wall median ms",
                              "contended samples", "waited / wall"], single, {0, 1, 3, 4, 5, 7})
            + "\n\n## Comparisons\n\n"
            "`gcost compare googlenet COPY.yaml --no-reduce` (COPY: the same network under another name), "
            "defaults (30 s, ±2%, 1% minimum effect). Right: the copy gets no measurable/meaningful difference "
            "and no-reduce is slower; wrong: the copy faster or slower, or no-reduce faster.\n\n"
            + markdown_table(["load", "threads asked", "runs right", "wrong direction"], summary, {2, 3})
            + "\n\nEvery run (the baseline's median on the run's clock):\n\n"
            + markdown_table(["load", "threads asked", "run", "threads used (why)", "clock", "baseline ms",
                              "copy", "no-reduce", "rounds", "result"], rows, {2, 5})
            + "\n\n`--max-time 5` under the two busy loops (timing = the interleaved rounds and warm-up; "
              "the process also builds and counts the three networks):\n\n"
            + markdown_table(["run", "exit", "timing s", "of it warm-up s", "rounds", "copy", "no-reduce",
                              "process s"], capped, {0, 1, 2, 3, 4, 7})
            + f"\n\nIdle machine, `gcost compare --reduce 16 --no-reduce` ({quiet_took:.1f} s in all, "
              f"{quiet['timing'][0]['elapsed_s']:.1f} s of timing, stopped by {quiet['timing'][0]['stopped_by']}):\n\n"
            + markdown_table(["variant", "latency ratio"], quiet_rows, set()) + "\n")
    publish("benchmarks-load.md", text)


if __name__ == "__main__":
    main()
