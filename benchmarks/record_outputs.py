"""Record (or check) gcost's deterministic outputs on every shipped spec.

    python benchmarks/record_outputs.py DIR            # record into DIR
    python benchmarks/record_outputs.py DIR --check    # compare today's outputs with DIR

Every command runs without timing (--no-latency), so its stdout is fully deterministic: the JSON,
CSV, Markdown and table of analyze, compare and check, and their stderr and exit codes. Used to
prove that a refactoring changed nothing a user sees (issue 21's byte-identical requirement).
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SPECS = sorted(p.stem for p in (ROOT / "specs").glob("*.yaml"))
PYMODEL = ["--model", "tests.pymodels:tiny", "--input", "3x32x32"]


def commands():
    for spec in SPECS:
        for fmt in ("json", "csv", "markdown", "table"):
            yield f"analyze-{spec}-{fmt}", ["analyze", spec, "--no-latency", "--format", fmt]
        yield f"analyze-{spec}-train", ["analyze", spec, "--no-latency", "--step", "train",
                                        "--format", "json"]
        yield f"analyze-{spec}-top", ["analyze", spec, "--no-latency", "--depth", "top",
                                      "--train", "--format", "json"]
        yield f"compare-{spec}", ["compare", spec, "--reduce", "16", "--no-reduce",
                                  "--no-latency", "--format", "json"]
        yield f"check-{spec}", ["check", spec, "--baseline", "gcost.lock.json",
                                "--max-params", "7M", "--format", "json"]
    yield "analyze-googlenet-verify", ["analyze", "googlenet", "--no-latency", "--verify",
                                       "--format", "json"]
    yield "compare-googlenet-table", ["compare", "--reduce", "8,16,32", "--no-reduce", "--naive",
                                      "--no-latency"]
    yield "compare-googlenet-train", ["compare", "--reduce", "16", "--no-latency", "--step",
                                      "train", "--depth", "branches", "--format", "json"]
    yield "compare-specs", ["compare", "googlenet", "resnet50", "vgg16", "--no-latency",
                            "--format", "markdown"]
    yield "check-all-table", ["check", *SPECS, "--baseline", "gcost.lock.json"]
    yield "check-train", ["check", "googlenet", "--step", "train", "--batch", "4",
                          "--max-step-macs", "10G", "--max-train-bytes", "1G", "--format", "json"]
    yield "analyze-pymodel", ["analyze", *PYMODEL, "--no-latency", "--format", "json"]
    yield "analyze-pymodel-train", ["analyze", *PYMODEL, "--no-latency", "--step", "train",
                                    "--format", "json"]
    yield "check-pymodel", ["check", *PYMODEL, "--max-macs", "1M", "--format", "json"]
    yield "bad-spec", ["analyze", "tests/bad_specs/" + sorted(
        os.listdir(ROOT / "tests" / "bad_specs"))[0], "--no-latency"]


def run(args):
    env = dict(os.environ, COLUMNS="120", NO_COLOR="1", GCOST_DEVICE="cpu")
    done = subprocess.run([sys.executable, "-m", "gcost_cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    return {"args": args, "rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir", type=pathlib.Path)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    differ = 0
    for name, cmd in commands():
        result = run(cmd)
        path = args.dir / f"{name}.json"
        if args.check:
            before = json.loads(path.read_text())
            if before != result:
                differ += 1
                print(f"DIFFERS: {name}: {' '.join(cmd)}")
            else:
                print(f"same:    {name}")
        else:
            path.write_text(json.dumps(result, indent=1))
            print(f"{name}: rc {result['rc']}")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
