"""Row-by-row figures of the reference specs, measured on the live torchvision models they follow.

For each shipped spec that must equal a torchvision model exactly (specs/inception_v3.yaml,
efficientnet_b0, resnet50, mobilenet_v2, densenet121, shufflenet_v2_x1_0, convnext_tiny), this maps
every row of the spec to the torchvision module(s) that compute it, runs the torchvision model once
(batch 2, hooks on every module) and records the module's output shape (C, H, W) and parameter
count, plus the model's totals counted by gcost's rule on the live model (as `gcost analyze --model
torchvision.models:NAME` does). Rows with no module of their own in torchvision (its functional
poolings, the nested branches gcost names, ShuffleNetV2's concat and channel shuffle) are listed
as such. Two things in ConvNeXt are not a module's (C, H, W) output, and are mapped as follows
(see channels_last_modules and convnext):

- its MLP runs on a permuted map: between each CNBlock's Permute([0, 2, 3, 1]) and Permute([0, 3,
  1, 2]) the modules (LayerNorm, Linear, GELU, Linear) output N x H x W x C tensors. Those modules
  are found from the model's structure (not from their names), recorded in the spec's entry under
  "channels_last", and their measured shape (H, W, C) is recorded as (C, H, W): the same numbers
  in gcost's order, where gcost computes the per-pixel Linear as a 1x1 conv on the N x C x H x W map;
- its layer scale is an nn.Parameter of the CNBlock itself (`self.layer_scale * self.block(x)`),
  not a module. Parameters held directly by a module that has children are recorded under
  "parameters_without_module" (path: count) and may be named in a row's modules: the layer_scale
  row's params are that parameter's, and its output shape is the output of the CNBlock's
  stochastic_depth, which receives `layer_scale * block(x)` and, in eval, returns it unchanged.

It also measures torchvision models changed by hand as compare's variants change a spec (VARIANTS:
ResNet-50 with its reduce convs halved, EfficientNet-B0 factorized, SqueezeNet 1.1 without its
squeeze convs, ...), whose totals the variants must equal. Writes
tests/data/reference_rows.json, which tests/spec/test_reference_specs.py and test_variants.py
compare with gcost's rows; needs torchvision, so it runs in a separate environment:

    python3 -m venv ../tvenv && ../tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 click rich pyyaml
    PYTHONPATH=. ../tvenv/bin/python benchmarks/reference_rows.py"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torchvision  # noqa: E402
from torch import nn  # noqa: E402

import googlenet_cost as gc  # noqa: E402
from googlenet_cost.spec.plan import plan_rows  # noqa: E402
from googlenet_cost.sources import ModuleSource  # noqa: E402

OUT = ROOT / "tests" / "data" / "reference_rows.json"


def by_name(model: nn.Module) -> Callable[[str], list[str]]:
    """Rows named like torchvision's modules (Mixed_7b/branch3x3_2/branch3x3_2a is
    Mixed_7b.branch3x3_2a): descend segment by segment, skipping gcost's own grouping levels."""
    def find(row: str) -> list[str]:
        module, path, matched = model, [], False
        for segment in row.split("/"):
            matched = segment in dict(module.named_children())
            if matched:
                module = getattr(module, segment)
                path.append(segment)
        return [".".join(path)] if matched else []
    return find


def resnet(model: nn.Module) -> Callable[[str], list[str]]:
    """Rows named like torchvision's modules, where a conv row is torchvision's conv and the batch
    norm after it (layer2/0/conv2 is layer2[0].conv2 and layer2[0].bn2)."""
    find = by_name(model)

    def modules(row: str) -> list[str]:
        found = find(row)
        convs = [path for path in found if re.fullmatch(r"(layer\d\.\d+\.)?conv\d", path)]
        return [*found, *(path.replace("conv", "bn") for path in convs)]
    return modules


def efficientnet(row: str) -> list[str]:
    """stem, stageN, stageN/K, head = features.0, features.N, features.N.K, features.8; a block's
    expand, dw, se, project are its block.0, block.1 ... in order (stage 1 has no expand)."""
    parts = row.split("/")
    top = {"stem": "features.0", "head": "features.8", "avgpool": "avgpool", "dropout": "classifier.0",
           "fc": "classifier.1"}
    if len(parts) == 1:
        match = re.fullmatch(r"stage(\d)", row)
        return [f"features.{match.group(1)}"] if match else [top[row]] if row in top else []
    stage = parts[0][len("stage"):]
    block, rest = f"features.{stage}.{parts[1]}", parts[2:]
    if not rest:
        return [block]
    order = ["expand", "dw", "se", "project"] if stage != "1" else ["dw", "se", "project"]
    inner = f"{block}.block.{order.index(rest[0])}"
    se = {"pool": "avgpool", "fc1": "fc1", "fc2": "fc2"}
    return [inner] if len(rest) == 1 else [f"{inner}.{se[rest[1]]}"]


def mobilenet_v2(row: str) -> list[str]:
    """stem, block1..17, last = features.0..18; a block's expand, dw = conv.0, conv.1 (project
    is conv.2, a conv, then conv.3, its batch norm: the first block has no expand)."""
    parts = row.split("/")
    top = {"stem": "features.0", "last": "features.18", "dropout": "classifier.0", "fc": "classifier.1"}
    if len(parts) == 1:
        match = re.fullmatch(r"block(\d+)", row)
        return [f"features.{match.group(1)}"] if match else [top[row]] if row in top else []
    block = f"features.{parts[0][len('block'):]}.conv"
    offset = 0 if parts[0] != "block1" else -1
    return {"expand": [f"{block}.0"], "dw": [f"{block}.{1 + offset}"],
            "project": [f"{block}.{2 + offset}", f"{block}.{3 + offset}"]}[parts[1]]


def densenet121(row: str) -> list[str]:
    """conv0 .. pool0, norm5 = features.*; denseB_L's children = features.denseblockB.denselayerL.*
    (the layer's concat happens in torchvision's dense block: no module of its own);
    transitionN = features.transitionN."""
    parts = row.split("/")
    if parts[0] in ("conv0", "norm0", "relu0", "pool0", "norm5") or parts[0].startswith("transition"):
        return [".".join(["features", *parts])]
    if parts[0] == "classifier":
        return ["classifier"]
    match = re.fullmatch(r"dense(\d)_(\d+)", parts[0])
    if not match:
        return []
    block, layer = match.groups()
    if len(parts) == 1:
        return []
    return [f"features.denseblock{block}.denselayer{layer}.{parts[1]}"]


def shufflenet_v2(row: str) -> list[str]:
    """conv1, maxpool, stageN, stageN/K, conv5, fc are torchvision's modules; a unit's branchX/conv
    is the conv in branchX with its batch norm (and ReLU): branch1's dw, pw = 0-1, 2-4, branch2's
    pw1, dw, pw2 = 0-2, 3-4, 5-7. A unit's concat (its split) and shuffle, the global average pool
    (x.mean([2, 3])) and the flatten have no module of their own."""
    parts = row.split("/")
    if parts[0] in ("conv1", "maxpool", "conv5", "fc") or (len(parts) <= 2 and parts[0].startswith("stage")):
        return [".".join(parts)]
    if len(parts) < 4 or parts[2] != "concat":
        return []
    branch = f"{parts[0]}.{parts[1]}.{parts[3]}"
    if len(parts) == 4:
        return [branch]
    indices = {"branch1": {"dw": [0, 1], "pw": [2, 3, 4]},
               "branch2": {"pw1": [0, 1, 2], "dw": [3, 4], "pw2": [5, 6, 7]}}[parts[3]][parts[4]]
    return [f"{branch}.{index}" for index in indices]


def convnext(row: str) -> list[str]:
    """stem, stageN, downsampleN (the one after stage N) are features.0, features.(2N-1),
    features.(2N); a stem's or downsampling's conv and norm are its Conv2d and LayerNorm2d.
    stageN/K is the CNBlock features.(2N-1).K; its block is the CNBlock's Sequential, whose dwconv,
    norm, pwconv1, act, pwconv2 are block.0, .2, .3, .4, .5 (block.1 and .6 are the Permutes, no
    row of their own; .2 to .5 output N x H x W x C: see channels_last_modules). Its layer_scale is
    the CNBlock's own parameter layer_scale (its params), with the output of its stochastic_depth
    (its shape: stochastic depth receives layer_scale * block(x), and in eval returns it).
    avgpool is avgpool; classifier/norm, flatten, fc are classifier.0, .1, .2."""
    parts = row.split("/")
    top = {"stem": "features.0", "avgpool": "avgpool", "classifier": "classifier"}
    for n in range(1, 5):
        top[f"stage{n}"], top[f"downsample{n}"] = f"features.{2 * n - 1}", f"features.{2 * n}"
    if parts[0] not in top:
        return []
    module = top[parts[0]]
    if len(parts) == 1:
        return [module]
    if parts[0].startswith("stage"):
        block = f"{module}.{parts[1]}"
        if len(parts) == 2:
            return [block]
        if parts[2] == "layer_scale":
            return [f"{block}.layer_scale", f"{block}.stochastic_depth"]
        if len(parts) == 3:
            return [f"{block}.block"]
        index = {"dwconv": 0, "norm": 2, "pwconv1": 3, "act": 4, "pwconv2": 5}[parts[3]]
        return [f"{block}.block.{index}"]
    index = {"conv": 0, "norm": 1} if parts[0] == "stem" else {"norm": 0, "conv": 1} if parts[0] != "classifier" \
        else {"norm": 0, "flatten": 1, "fc": 2}
    return [f"{module}.{index[parts[1]]}"]


REFERENCES = {  # spec: (torchvision factory arguments, input, row -> module paths)
    "inception_v3": ({"aux_logits": True, "init_weights": False}, (3, 299, 299), by_name),
    "efficientnet_b0": ({}, (3, 224, 224), lambda model: efficientnet),
    "resnet50": ({}, (3, 224, 224), resnet),
    "mobilenet_v2": ({}, (3, 224, 224), lambda model: mobilenet_v2),
    "densenet121": ({}, (3, 224, 224), lambda model: densenet121),
    "shufflenet_v2_x1_0": ({}, (3, 224, 224), lambda model: shufflenet_v2),
    "convnext_tiny": ({}, (3, 224, 224), lambda model: convnext),
}


def channels_last_modules(model: nn.Module) -> list[str]:
    """The modules that run on a permuted N x H x W x C map (ConvNeXt's MLP): in a Sequential, the
    children after a torchvision Permute([0, 2, 3, 1]) and before the Permute([0, 3, 1, 2]) that
    undoes it. Found from the model's structure; no other permutation is expected."""
    from torchvision.ops.misc import Permute

    found = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.Sequential):
            continue
        inside = False
        for key, child in module.named_children():
            if isinstance(child, Permute):
                if list(child.dims) not in ([0, 2, 3, 1], [0, 3, 1, 2]) or inside != (list(child.dims) == [0, 3, 1, 2]):
                    raise ValueError(f"{name}.{key}: unexpected Permute{child.dims}")
                inside = not inside
            elif inside:
                found.append(f"{name}.{key}")
        if inside:
            raise ValueError(f"{name}: permuted to N x H x W x C and not back")
    return found


def parameters_without_module(model: nn.Module) -> dict[str, int]:
    """Parameters held directly by a module that has children (ConvNeXt's CNBlock.layer_scale), so
    in no module of their own: path -> count."""
    return {f"{name}.{key}" if name else key: parameter.numel() for name, module in model.named_modules()
            if any(True for _ in module.children()) for key, parameter in module.named_parameters(recurse=False)}


def module_figures(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, tuple[list[int] | None, int]]:
    """Every module's output shape and params (shapes per sample, in C, H, W order: a channels-last
    module's measured H, W, C is recorded as C, H, W), and each parameter without a module of its
    own with its count (no shape)."""
    shapes: dict[str, list[int]] = {}
    handles = []
    for name, module in model.named_modules():
        def hook(module, inputs, output, name=name):
            tensor = output[0] if isinstance(output, tuple) else output
            if isinstance(tensor, torch.Tensor):
                shapes[name] = list(tensor.shape[1:])
        handles.append(module.register_forward_hook(hook))
    with torch.no_grad():
        model(torch.zeros(2, *input_shape))
    for handle in handles:
        handle.remove()
    for name in channels_last_modules(model):
        shapes[name] = [shapes[name][-1], *shapes[name][:-1]]  # H, W, C -> C, H, W
    figures: dict[str, tuple[list[int] | None, int]] = {
        name: (shapes[name], sum(p.numel() for p in module.parameters()))
        for name, module in model.named_modules() if name in shapes}
    figures.update((path, (None, count)) for path, count in parameters_without_module(model).items())
    return figures


def reference(spec_name: str, train: bool) -> dict:
    arguments, input_shape, mapper = REFERENCES[spec_name]
    factory = getattr(torchvision.models, spec_name)
    model = factory(**arguments).train(train)
    figures = module_figures(model, input_shape)
    find = mapper(model)
    rows, unmatched = {}, []
    for row in plan_rows(gc.load_spec(spec_name), train=train):
        modules = find(row.name)
        if not modules:
            unmatched.append(row.name)
            continue
        rows[row.name] = {"modules": modules, "output_shape": figures[modules[-1]][0],
                          "params": sum(figures[m][1] for m in modules)}
        assert rows[row.name]["output_shape"] is not None, f"{row.name}: its last module must be a module"
    if not train and spec_name == "inception_v3":
        model.aux_logits, model.AuxLogits = False, None  # eval as the spec: no aux head
    source = ModuleSource(f"torchvision.models:{spec_name}", lambda: model, input_shape)
    totals = source.analyze(train=train, batch=2).totals
    result = {"params": totals.params, "macs": totals.macs, "rows": rows, "without_module": unmatched}
    # recorded where the model has any (ConvNeXt): what was mapped, and how (see the docstring above)
    if channels_last_modules(model):
        result["channels_last"] = channels_last_modules(model)
    if parameters_without_module(model):
        result["parameters_without_module"] = parameters_without_module(model)
    return result


def resnet50_reduce_halved() -> nn.Module:
    """torchvision's ResNet-50 with each bottleneck's 1x1 reduce (conv1) and its batch norm at half
    width, and conv2 reading it: what `compare resnet50 --reduce-scale 0.5` builds."""
    model = torchvision.models.resnet50()
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        for block in stage:
            width = block.conv1.out_channels // 2
            block.conv1 = nn.Conv2d(block.conv1.in_channels, width, 1, bias=False)
            block.bn1 = nn.BatchNorm2d(width)
            conv2 = block.conv2
            block.conv2 = nn.Conv2d(width, conv2.out_channels, 3, conv2.stride, conv2.padding, bias=False)
    return model


def resnet50_half_width() -> nn.Module:
    """torchvision's own ResNet-50 with half the bottleneck width (width_per_group 32 instead of 64):
    conv1, conv2 and their batch norms at half width, what `--set 'layer*/*/conv1.out=x0.5;
    layer*/*/conv2.out=x0.5'` builds."""
    from torchvision.models.resnet import Bottleneck, ResNet

    return ResNet(Bottleneck, [3, 4, 6, 3], width_per_group=32)


def efficientnet_b0_factorized() -> nn.Module:
    """torchvision's EfficientNet-B0 with every stride-1 5x5 depthwise conv (with its batch norm and
    SiLU) replaced by two stacked 3x3 depthwise Conv2dNormActivation: `compare efficientnet_b0
    --factorize`."""
    from functools import partial

    from torchvision.ops.misc import Conv2dNormActivation

    model = torchvision.models.efficientnet_b0()
    norm = partial(nn.BatchNorm2d, eps=1e-5)
    for module in model.modules():
        if isinstance(module, Conv2dNormActivation) and module[0].kernel_size == (5, 5) and module[0].stride == (1, 1):
            width = module[0].out_channels
            pair = nn.Sequential(*(Conv2dNormActivation(width, width, 3, groups=width, norm_layer=norm,
                                                        activation_layer=nn.SiLU) for _ in range(2)))
            for parent in model.modules():
                for key, child in parent.named_children():
                    if child is module:
                        setattr(parent, key, pair)
    return model


def squeezenet1_1_squeeze(scale: float | None) -> Callable[[], nn.Module]:
    """torchvision's SqueezeNet 1.1 with each Fire's squeeze conv at `scale` times its width, or
    removed (None: the expand convs read the Fire's input): `compare --reduce-scale` and
    `--no-reduce` on tests/spec/squeezenet1_1.yaml."""
    def build() -> nn.Module:
        from torchvision.models.squeezenet import Fire

        model = torchvision.models.squeezenet1_1()
        for fire in (m for m in model.modules() if isinstance(m, Fire)):
            inplanes, squeeze = fire.squeeze.in_channels, fire.squeeze.out_channels
            width = inplanes if scale is None else round(squeeze * scale)
            fire.squeeze = nn.Identity() if scale is None else nn.Conv2d(inplanes, width, 1)
            if scale is None:
                fire.squeeze_activation = nn.Identity()
            fire.expand1x1 = nn.Conv2d(width, fire.expand1x1.out_channels, 1)
            fire.expand3x3 = nn.Conv2d(width, fire.expand3x3.out_channels, 3, padding=1)
        return model
    return build


SQUEEZENET = "tests/spec/squeezenet1_1.yaml"
VARIANTS = [  # (spec, variants as compare's build_variants takes them, the torchvision model changed by hand)
    ("resnet50", [["reduce-scale", 0.5]], resnet50_reduce_halved,
     "torchvision's resnet50, each bottleneck's conv1 and bn1 at half width, conv2 reading them"),
    ("resnet50", [["set", "layer*/*/conv1.out=x0.5;layer*/*/conv2.out=x0.5"]], resnet50_half_width,
     "torchvision's ResNet(Bottleneck, [3, 4, 6, 3], width_per_group=32)"),
    ("efficientnet_b0", [["factorize", True]], efficientnet_b0_factorized,
     "torchvision's efficientnet_b0, each stride-1 5x5 depthwise Conv2dNormActivation replaced by two 3x3 ones"),
    (SQUEEZENET, [["reduce-scale", 0.5]], squeezenet1_1_squeeze(0.5),
     "torchvision's squeezenet1_1, each Fire's squeeze conv at half width"),
    (SQUEEZENET, [["no-reduce", True]], squeezenet1_1_squeeze(None),
     "torchvision's squeezenet1_1, each Fire's squeeze conv and its ReLU replaced by nn.Identity"),
]


def variant_reference(spec: str, requested: list, factory: Callable[[], nn.Module], changed: str) -> dict:
    """The totals of a torchvision model changed by hand as a compare variant changes the spec, and
    its top-level modules' output shapes and params (rows the spec's mapper finds)."""
    model = factory().eval()
    totals = ModuleSource(changed, lambda: model, (3, 224, 224)).analyze(train=False, batch=2).totals
    result = {"spec": spec, "variants": requested, "changed_by_hand": changed,
              "params": totals.params, "macs": totals.macs, "rows": {}}
    if spec in REFERENCES:
        figures, find = module_figures(model, (3, 224, 224)), REFERENCES[spec][2](model)
        for row in plan_rows(gc.load_spec(spec), train=False):
            modules = find(row.name) if row.parent is None else []
            if modules:
                result["rows"][row.name] = {"modules": modules, "output_shape": figures[modules[-1]][0],
                                            "params": sum(figures[m][1] for m in modules)}
    return result


def _one_row_per_line(result: dict) -> str:
    """JSON with one line per row, so a re-measurement's diff reads row by row."""
    text = json.dumps(result, indent=1)
    return re.sub(r'\{\n\s+"modules": \[\n\s+([^\]]*?)\n\s+\],\n\s+"output_shape": \[([^\]]*)\],\n\s+"params": (\d+)\n\s+\}',
                  lambda m: '{"modules": [' + re.sub(r",\s+", ", ", m.group(1)) + '], "output_shape": ['
                  + re.sub(r"\s+", " ", m.group(2)).strip() + '], "params": ' + m.group(3) + "}", text) + "\n"


def main() -> None:
    result = {"measured_with": f"torch {torch.__version__}, torchvision {torchvision.__version__}",
              "command": "PYTHONPATH=. ../tvenv/bin/python benchmarks/reference_rows.py", "specs": {}}
    for spec_name in REFERENCES:
        result["specs"][spec_name] = {"eval": reference(spec_name, train=False)}
        if spec_name == "inception_v3":
            result["specs"][spec_name]["train"] = reference(spec_name, train=True)
    result["variants"] = [variant_reference(*case) for case in VARIANTS]
    OUT.write_text(_one_row_per_line(result))
    for spec_name, modes in result["specs"].items():
        for mode, data in modes.items():
            print(f"{spec_name} {mode}: {len(data['rows'])} rows matched, {len(data['without_module'])} "
                  f"without a module; params {data['params']:,}, MACs {data['macs']:,}")
    for case in result["variants"]:
        print(f"{case['spec']} {case['variants']}: params {case['params']:,}, MACs {case['macs']:,}")


if __name__ == "__main__":
    main()
