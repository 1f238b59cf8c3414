"""gcost on real architectures: torchvision's models through `--model`, against torchvision's own
metadata (num_params, and _ops: GFLOPS that are multiply-accumulates). Needs torchvision, so it runs
in a separate environment, never in the test suite; writes docs/zoo.md.

Run (the environment of docs/zoo.md):
    python3 -m venv ../tvenv && ../tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 click rich pyyaml
    PYTHONPATH=. ../tvenv/bin/python benchmarks/zoo.py"""
from __future__ import annotations

import platform
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torchvision  # noqa: E402
from torchvision.models import get_model, get_model_weights  # noqa: E402

from benchmarks.common import publish  # noqa: E402
from googlenet_cost.errors import GcostError  # noqa: E402
from googlenet_cost.views.formats import markdown_table  # noqa: E402
from googlenet_cost.sources import ModuleSource  # noqa: E402

MODELS = {  # name: (input shape, factory arguments)
    "googlenet": ((3, 224, 224), {"aux_logits": False, "init_weights": False}),
    "inception_v3": ((3, 299, 299), {"aux_logits": True, "init_weights": False}),  # meta counts the aux head
    "resnet18": ((3, 224, 224), {}), "resnet50": ((3, 224, 224), {}),
    "mobilenet_v2": ((3, 224, 224), {}), "mobilenet_v3_large": ((3, 224, 224), {}),
    "efficientnet_b0": ((3, 224, 224), {}), "densenet121": ((3, 224, 224), {}),
    "shufflenet_v2_x1_0": ((3, 224, 224), {}), "squeezenet1_0": ((3, 224, 224), {}),
    "regnet_y_400mf": ((3, 224, 224), {}), "convnext_tiny": ((3, 224, 224), {}),
    "alexnet": ((3, 224, 224), {}), "vgg16": ((3, 224, 224), {}),
    "vit_b_16": ((3, 224, 224), {}), "swin_t": ((3, 224, 224), {}),
}


def row(name: str, shape: tuple[int, ...], arguments: dict) -> list[str]:
    meta = get_model_weights(name).DEFAULT.meta
    source = ModuleSource(f"torchvision.models:{name}", lambda: get_model(name, **arguments), shape)
    try:
        report = source.analyze(strict=True)
        strict = "passes"
    except GcostError as e:
        report = source.analyze(strict=False)
        strict = f"fails: {str(e)[:80]}"
    published_macs = round(meta["_ops"] * 1e9)
    ours = report.totals
    macs_ok = round(ours.macs / 1e9, 3) == round(meta["_ops"], 3)
    return [name, "x".join(map(str, shape)), f"{ours.params:,}", f"{meta['num_params']:,}",
            "yes" if ours.params == meta["num_params"] else "NO", f"{ours.weights:,}", f"{ours.macs:,}",
            f"{meta['_ops']:.3f} G", "yes" if macs_ok else f"NO ({ours.macs / published_macs:.3f}x)", strict]


def main() -> None:
    rows = []
    for name, (shape, arguments) in MODELS.items():
        rows.append(row(name, shape, arguments))
        print(" | ".join(rows[-1]), flush=True)
    table = markdown_table(["model", "input", "gcost params", "torchvision num_params", "equal", "gcost weights",
                            "gcost MACs", "torchvision GFLOPS (MACs)", "equal to 3 decimals", "--strict"],
                           rows, {2, 3, 5, 6, 7})
    text = (f"# gcost on torchvision's models\n\nMeasured by `benchmarks/zoo.py` on {date.today()}: torch "
            f"{torch.__version__}, torchvision {torchvision.__version__}, Python {platform.python_version()}, in a "
            "separate environment (the test suite does not need torchvision). Each model is analyzed as "
            "`gcost analyze --model torchvision.models:NAME --input ... --strict` would (eval mode, batch 1), "
            "and compared with the metadata torchvision publishes for its default weights: `num_params`, and "
            "`_ops`, GFLOPS that are multiply-accumulates (torchvision counts them with its own tool). "
            "As in torchvision's metadata, googlenet is built without its auxiliary heads and inception_v3 with "
            "its one (in eval mode it holds parameters and runs no MACs).\n\n"
            f"{table}\nWeights are the parameters a MAC-carrying operator reads as a matrix or kernel, so "
            "inception_v3's auxiliary head, which holds parameters but does not run in eval mode, has none. "
            "The exact figures are pinned in tests/count/test_zoo_figures.py; where torchvision is installed those "
            "tests also analyze the live models: `PYTHONPATH=. ../tvenv/bin/python -m pytest "
            "tests/count/test_zoo_figures.py`.\n\n"
            "The shipped specs written after these models (specs/inception_v3.yaml, efficientnet_b0, "
            "resnet50, mobilenet_v2, densenet121) are checked against the live models row by row (each "
            "row's output shape and parameters, and the totals) by `benchmarks/reference_rows.py`, run "
            "in the same environment (`PYTHONPATH=. ../tvenv/bin/python benchmarks/reference_rows.py`), "
            "which writes tests/data/reference_rows.json for tests/spec/test_reference_specs.py.\n")
    publish("zoo.md", text)


if __name__ == "__main__":
    main()
