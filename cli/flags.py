"""Options shared by several commands, and their parsing into library types."""
from __future__ import annotations

from typing import Any, Callable

import click

from googlenet_cost.errors import quoted
from googlenet_cost.timing.settings import DTYPE_BYTES
from googlenet_cost.views.formats import FORMATS

FORMAT = click.option("--format", "fmt", type=click.Choice(FORMATS),
                      default="table", show_default=True, help="Output format.")
OUTPUT = click.option("-o", "--output", type=click.Path(dir_okay=False),
                      help="Write to this regular file (atomically; a symlink, FIFO or device is refused) instead of "
                           "the terminal.")


def complete_spec(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    """Shell completion of SPEC arguments: built-in spec names and .yaml files (and folders)."""
    import glob
    import os

    from click.shell_completion import CompletionItem
    from googlenet_cost.spec.model import builtin_specs

    names = [CompletionItem(name) for name in sorted(builtin_specs()) if name.startswith(incomplete)]
    paths = [path + ("/" if os.path.isdir(path) else "") for path in sorted(glob.glob(glob.escape(incomplete) + "*"))
             if os.path.isdir(path) or path.endswith((".yaml", ".yml"))]
    return names + [CompletionItem(path) for path in paths]


def model_options(purpose: str, *, repeatable: bool = False) -> Callable:
    """--model, --model-arg and --input: a network written in Python instead of (or beside) specs.
    With `repeatable`, --model may be given several times (a tuple of references, each model
    built with the same --model-arg and --input). Given without --model, --input and --model-arg
    are refused before the command runs (refuse_model_flags_alone), in every command alike."""
    def decorate(fn: Callable) -> Callable:
        import functools

        @functools.wraps(fn)
        def refusing_model_flags_alone(*args: Any, **kwargs: Any) -> Any:
            refuse_model_flags_alone(kwargs.get("model_ref"), kwargs.get("input_text"), kwargs.get("model_args"))
            return fn(*args, **kwargs)

        return _model_flags(refusing_model_flags_alone, purpose, repeatable)
    return decorate


def refuse_model_flags_alone(model_ref: Any, input_text: str | None, model_args: tuple[str, ...] | None) -> None:
    """--input and --model-arg describe a --model: without one they would be silently ignored (a spec
    carries its own input shape and takes no arguments), so they are refused, before any work."""
    from googlenet_cost.errors import GcostError

    if model_ref:
        return
    given = [flag for flag, value in (("--input", input_text), ("--model-arg", model_args)) if value]
    if given:
        raise GcostError(f"{' and '.join(given)} {'go' if len(given) > 1 else 'goes'} with --model; a spec carries "
                         "its own input shape and takes no arguments")


def _model_flags(fn: Callable, purpose: str, repeatable: bool) -> Callable:
    models, factory = (("every --model", "every --model's factory") if repeatable
                       else ("--model", "the --model factory"))
    fn = click.option("--input", "input_text", metavar="SHAPES",
                      help=f"Input of one sample for {models}: a shape, e.g. 3x224x224 (197x768 for tokens); "
                           "several inputs comma-separated, each [NAME=]SHAPE[:KIND] (NAME= for a keyword "
                           "argument, KIND int64 for token ids, bool for masks), e.g. "
                           "3x224x224,text=77:int64.")(fn)
    fn = click.option("--model-arg", "model_args", multiple=True, metavar="NAME=VALUE",
                      help=f"An argument for {factory} (repeatable); values read as YAML: "
                           "aux_logits=false, width=0.5.")(fn)
    return click.option("--model", "model_ref", metavar="MODULE:FACTORY", multiple=repeatable,
                        help=f"{purpose}: a callable returning an nn.Module, as package.module:factory "
                             "or path/to/file.py:factory" + (" (repeatable)." if repeatable else "."))(fn)


OUTPUT_OPTIONS = {"output": "-o", "plot_path": "--plot"}  # a command's output parameters, as users type them


def guard_outputs(outputs: dict[str, str | None] | list[str | None], specs: list[str | None] = (),
                  files: list[str | None] = ()) -> None:
    """Refuse, before any work, an output (-o, --plot) that is one of the inputs: a spec (built-in
    names included), a budgets or lock file. An empty output name is refused too. `outputs` maps
    each option to its value ({"-o": output, "--plot": plot}); a list's values are named by the
    running command's OUTPUT_OPTIONS that hold them, so a message names the option given."""
    from googlenet_cost.errors import GcostError
    from googlenet_cost.files import refuse_overwriting_inputs
    from googlenet_cost.spec.model import resolve_spec_path

    inputs = [f for f in files if f]
    for spec in specs:
        if spec:
            try:
                inputs.append(str(resolve_spec_path(spec)))
            except GcostError:
                continue  # reported when the spec is loaded
    named = outputs.items() if isinstance(outputs, dict) else _named_outputs(outputs)
    for option, output in named:
        refuse_overwriting_inputs(output, inputs, option)


def _named_outputs(values: list[str | None]) -> list[tuple[str, str | None]]:
    ctx = click.get_current_context(silent=True)
    given = {name: ctx.params[name] for name in OUTPUT_OPTIONS if ctx is not None and name in ctx.params}
    named = []
    for value in values:
        name = next((name for name, held in given.items() if value is not None and held == value), "output")
        given.pop(name, None)
        named.append((OUTPUT_OPTIONS[name], value))
    return named


MAX_DEPTH_LEVELS = 1_000  # --depth N: more levels than any model nests (Python's recursion stops sooner)
MAX_BATCH = 1_000_000  # --batch: samples per batch


class Number(click.ParamType):
    """A number read by gcost's one bounded parser (googlenet_cost.quantity): ASCII digits, at most
    40 characters, finite, from `low` to `high`. click's FloatRange lets NaN through, and its int()
    reads other scripts' digits."""

    def __init__(self, low: float, high: float, *, whole: bool = False, unit: str = ""):
        self.low, self.high, self.whole = low, high, whole
        self.name = "integer" if whole else "float"
        kind = "a whole number" if whole else "a number"
        self.expect = f"{kind} from {low:,} to {high:,}{unit}"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from googlenet_cost.quantity import NumberError, parse_int, parse_real

        try:
            if self.whole:
                return parse_int(value, low=int(self.low), high=int(self.high), expect=self.expect)
            return parse_real(value, low=self.low, high=self.high, expect=self.expect)
        except NumberError as e:
            self.fail(str(e), param, ctx)


class Fraction(click.ParamType):
    """'2%' or 0.02, more than 0 (quantity.parse_fraction), checked when the option is read, with
    or without --no-latency."""

    name = "fraction"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from googlenet_cost.quantity import NumberError, parse_fraction

        what = param.opts[0] if param is not None and param.opts else "value"
        try:
            fraction = parse_fraction(value, what=what)
        except NumberError as e:
            self.fail(str(e), param, ctx)
        if not fraction > 0:
            self.fail("must be more than 0", param, ctx)
        return fraction


def depth_choice(value: str | None) -> str | None:
    """--depth: top, branches, all, or a number of levels (at least 1), as ASCII digits."""
    from googlenet_cost.quantity import NumberError, parse_int

    if value is None or value in ("top", "branches", "all"):
        return value
    try:
        return str(parse_int(value, low=1, high=MAX_DEPTH_LEVELS))
    except NumberError:
        raise click.BadParameter(f"use top, branches, all or a number of levels from 1 to {MAX_DEPTH_LEVELS:,}, "
                                 f"got {quoted(value)}", param_hint="--depth") from None


def measured_depth(depth: str | None) -> int | None:
    """The levels a Python model is measured at (RunOptions.depth): those --depth shows (top 1,
    branches and all every level), or DEFAULT_MODEL_DEPTH when --depth is not given."""
    from googlenet_cost.options import DEFAULT_MODEL_DEPTH
    from googlenet_cost.views.cells import levels_shown

    return DEFAULT_MODEL_DEPTH if depth is None else levels_shown(depth)


def int_list(value: str | None, *, option: str, high: int = MAX_BATCH) -> tuple[int, ...]:
    """'1,8,64' -> (1, 8, 64), each from 1 to `high`; a clear usage error otherwise."""
    from googlenet_cost.quantity import NumberError, parse_int

    if value is None:
        return ()
    items = [v.strip() for v in str(value).split(",") if v.strip()]
    try:
        numbers = tuple(parse_int(v, what=option, low=1, high=high) for v in items)
    except NumberError as e:
        expected = {"low": "numbers of at least 1", "high": f"numbers of at most {high:,}"}.get(
            e.problem, "whole numbers like 1,8,64")
        raise click.BadParameter(f"expected {expected}, got {quoted(value)}", param_hint=option) from None
    if not numbers:
        raise click.BadParameter(f"expected numbers of at least 1, got {quoted(value)}", param_hint=option)
    return numbers


def timing_options(fn: Callable) -> Callable:
    decorators = [
        click.option("--no-latency", is_flag=True, help="Skip timing the forward pass."),
        DEVICE,
        click.option("--dtype", type=click.Choice(list(DTYPE_BYTES)), default="fp32", show_default=True,
                     help="Floating-point type of timing and of the bytes moved (tf32: fp32 tensors, "
                          "TensorFloat-32 matrix products on CUDA)."),
        click.option("--channels-last", is_flag=True, help="Time with channels_last memory format."),
        click.option("--cuda-graph", is_flag=True, help="Capture and replay CUDA graphs (no launch overhead)."),
        click.option("--compile", "compiled", is_flag=True, help="Time torch.compile(model)."),
        click.option("--cold-cache", is_flag=True, help="Flush the cache (256 MB) before every iteration."),
        click.option("--threads", type=Number(1, 1_000_000, whole=True),
                     help="CPU threads for timing, at most 4 per CPU of the machine. Default: decided from the "
                          "machine's load, every idle CPU when threads pay off, else 1 (the output says why)."),
        click.option("--min-time", type=Number(0, 86_400, unit=" seconds"), default=1.0, show_default=True,
                     help="Seconds of timed iterations at least (per configuration)."),
        click.option("--min-iters", type=Number(1, 1_000_000, whole=True), default=30, show_default=True,
                     help="Timed iterations at least."),
        click.option("--warmup", type=Number(0, 86_400, unit=" seconds"), default=0.5, show_default=True,
                     help="Seconds of warm-up at least, then until iteration times settle (compare: the "
                          "warm-up of every variant together takes at most 20% of --max-time)."),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def step_options(fn: Callable) -> Callable:
    """--step and --optimizer: what a training step costs (backward MACs, memory, step latency)."""
    from googlenet_cost.optimizers import OPTIMIZERS
    from googlenet_cost.options import STEPS

    fn = click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="momentum",
                      show_default=True, help="With --step train: optimizer state in the memory (momentum: "
                                              "1 tensor per parameter, adam: 2) and in the timed step.")(fn)
    return click.option("--step", type=click.Choice(STEPS), default="inference", show_default=True,
                        help="train: also what a training step costs: backward MACs per layer in train mode (aux "
                             "heads included), its memory at --batch, and its latency when timed.")(fn)


# The same flag means the same thing in every command, in these words.
DEVICE_HELP = "Where timing and peak measurements run: auto (CUDA when present, else CPU), cpu, cuda or cuda:N."
DEVICE = click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
STRICT = click.option("--strict", is_flag=True, help="Python models: operators with no MAC formula are an error.")
TRAIN = click.option("--train", is_flag=True,
                     help="Train mode, without a training step: auxiliary heads included, batch norm on the "
                          "batch's statistics, dropout on (--step train implies it).")


def batch_option(lists: bool) -> Callable:
    """--batch: one size everywhere; a list only where each size is timed (analyze, compare)."""
    if lists:
        return click.option("--batch", default="1", show_default=True,
                            help="Batch size of the counts, bytes and timing; a list like 1,8,64 times each size "
                                 "(counts and bytes use the first).")
    return click.option("--batch", type=Number(1, MAX_BATCH, whole=True), default=1, show_default=True,
                        help="Batch size of the counts, bytes, training step and --latency timing (one size).")


def roofline_options(fn: Callable) -> Callable:
    """--roofline and --peaks: every row bounded by a machine's peaks (googlenet_cost/roofline)."""
    fn = click.option("--peaks", "peaks_choice", metavar="NAME|FILE.yaml",
                      help="The peaks --roofline bounds with: a datasheet (h200, h100-sxm, h100-pcie, a100, l40s, "
                           "a10, t4, orin) or a YAML file of your own device; a bound, never a measurement. "
                           "Default: this machine's (gcost peaks). Implies --roofline.")(fn)
    return click.option("--roofline", is_flag=True,
                        help="Bound every row by the machine's peaks: bytes moved, arithmetic intensity, bound ms, "
                             "compute- or memory-limited, and with --per-layer each row's efficiency.")(fn)


def roofline_from(roofline: bool, choice: str | None, timing: dict[str, Any], options):
    """The RunOptions with the CPU's thread count decided for the run's timing (timing/threads.py,
    once, before anything is measured) and the Peaks --roofline bounds with (None without it): a
    datasheet's or a file's, or this machine's for the device and the threads the run times with,
    measured once and cached."""
    if options.timing is not None:
        from googlenet_cost.timing.measure import with_thread_choice

        options = options.with_timing(with_thread_choice(options.timing))
    if not roofline and choice is None:
        return options
    from googlenet_cost.roofline.peaks import resolve_peaks

    from .render import say_progress

    threads = options.timing.threads if options.timing is not None else timing["threads"]
    return options.with_roofline(resolve_peaks(choice, device="auto" if choice else timing["device"],
                                               dtype=timing["dtype"], threads=None if choice else threads,
                                               progress=say_progress))


def interval_options(fn: Callable) -> Callable:
    """compare's adaptive sampling: how narrow the latency ratios' intervals must get, and the
    time budget."""
    fn = click.option("--min-effect", type=Fraction(), default="1%", show_default=True,
                      help="The smallest latency difference that counts: a measured ratio within ± this of 1.0 "
                           "is 'no meaningful difference'.")(fn)
    fn = click.option("--max-time", type=Number(1, 86_400, unit=" seconds"), default=30.0, show_default=True,
                      help="Seconds of timing at most, all variants and warm-up included (a hard cap: a round "
                           "that would end past it is not run).")(fn)
    return click.option("--precision", type=Fraction(), default="2%", show_default=True,
                        help="Time until every latency ratio's 95% interval is within ± this.")(fn)


def timing_from(options: dict[str, Any], batches: tuple[int, ...], per_layer: bool = False):
    """TimingOptions from the options `timing_options` (and `interval_options`) added, or None
    with --no-latency. Their values were checked when click read them (Number, Fraction), with
    or without --no-latency. The dtype and the step are the RunOptions' (a command builds it beside)."""
    if options["no_latency"]:
        return None
    from googlenet_cost.timing.loop import LoopLimits
    from googlenet_cost.timing.settings import TimingOptions

    limits = LoopLimits(warmup_min_s=options["warmup"], min_time_s=options["min_time"],
                        min_iters=options["min_iters"])
    extra = {}
    if "precision" in options:
        extra = {"precision": options["precision"], "max_time_s": options["max_time"],
                 "min_effect": options["min_effect"]}
    return TimingOptions(device=options["device"], batches=batches,
                         channels_last=options["channels_last"], cuda_graph=options["cuda_graph"],
                         compile=options["compiled"], cold_cache=options["cold_cache"],
                         threads=options["threads"], per_layer=per_layer, limits=limits, **extra)
