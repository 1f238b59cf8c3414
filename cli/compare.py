"""gcost compare: variants of a network (bottleneck widths, no bottleneck, heads) side by side."""
from __future__ import annotations

import click

from googlenet_cost.errors import quoted
from googlenet_cost.options import DEFAULT_MODEL_DEPTH

from .flags import (FORMAT, OUTPUT, TRAIN, batch_option, complete_spec, depth_choice, guard_outputs, int_list,
                      interval_options, measured_depth, model_options, roofline_from, roofline_options, step_options,
                      timing_from, timing_options)


def _record(kind: str):
    """Remember variant options in command-line order (click processes them in that order)."""

    def callback(ctx: click.Context, param: click.Parameter, value):
        if value is None or value is False or value == ():
            return value
        for item in value if isinstance(value, tuple) else (value,):
            ctx.meta.setdefault("gcost_variants", []).append((kind, item))
        return value

    return callback


def _floats(value: str) -> list[float]:
    """--reduce-scale 0.5,2: factors above 0 and at most variants.MAX_SCALE, through the one
    bounded number parser; an empty list is refused too."""
    from googlenet_cost.quantity import NumberError, parse_real
    from googlenet_cost.spec.variants import MAX_SCALE

    items = [v for v in value.split(",") if v.strip()]
    if not items:
        raise click.BadParameter(f"expected numbers like 0.5,2, got {quoted(value)}", param_hint="--reduce-scale")
    try:
        return [parse_real(v, what="--reduce-scale", low=0, low_open=True, high=MAX_SCALE,
                           expect=f"a number above 0 and at most {MAX_SCALE:g}") for v in items]
    except NumberError as e:
        raise click.BadParameter(str(e), param_hint="--reduce-scale") from None


@click.command(short_help="Compare a network with variants of it (bottleneck widths, heads) and other specs.")
@click.argument("specs", nargs=-1, shell_complete=complete_spec)
@click.option("--reduce", "reduce_", multiple=True, callback=_record("reduce"), expose_value=False,
              help="Every reduce conv (role reduce: an inception 3x3_reduce / 5x5_reduce column, a conv with "
                   "role: reduce or named *_reduce) gets this width (repeatable, or 8,16,32).")
@click.option("--reduce-scale", multiple=True, callback=_record("reduce-scale"), expose_value=False,
              help="Every reduce width times this factor (repeatable).")
@click.option("--no-reduce", is_flag=True, callback=_record("no-reduce"), expose_value=False,
              help="Remove the reduce convs: 3x3 and 5x5 read the module input.")
@click.option("--naive", is_flag=True, callback=_record("naive"), expose_value=False,
              help="The paper's Figure 2(a) module: no reduce, no pool projection.")
@click.option("--factorize", is_flag=True, callback=_record("factorize"), expose_value=False,
              help="Inception v2: every 5x5 conv at stride 1 becomes two stacked 3x3 convs.")
@click.option("--set", "set_", multiple=True, callback=_record("set"), expose_value=False,
              metavar="'[NAME:] GLOB.KEY=VALUE'",
              help="A variant with keys set on the layers whose row paths match GLOB (* within a path segment, ** "
                   "across): VALUE a number or xF (F times the layer's own); several edits separated by ';', e.g. "
                   "'half: layer*/*/conv1.out=x0.5' (NAME labels it; repeatable: one variant each).")
@click.option("--head", type=click.Choice(["fc"]), callback=_record("head"), expose_value=False,
              help="fc: flatten the last feature map into the classifier instead of pooling it.")
@click.option("--module", "module_glob", metavar="GLOB",
              help="Vary only inside the rows whose path matches, e.g. 'inception_4*' or 'layer2/*' (each must "
                   "change), and show only those rows (--depth counts from them); totals stay whole.")
@click.option("--depth", callback=lambda ctx, param, value: depth_choice(value), default=None,
              metavar="top|branches|all|N",
              help="Rows: top-level layers (the default), or their branches too; a Python model is also measured "
                   f"N levels deep (default {DEFAULT_MODEL_DEPTH}), as analyze measures it.")
@model_options("Compare a Python model too (after the specs)", repeatable=True)
@TRAIN
@step_options
@batch_option(lists=True)
@click.option("--per-layer", is_flag=True,
              help="Also profile every variant's rows (each alone, after the interleaved timing) and say how much "
                   "of the baseline's time the rows a variant changes take: the best latency ratio it can give.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Draw a .png, .svg or .pdf chart: params, MACs and latency per variant; with --roofline the "
                   "roofline of every variant's layers.")
@FORMAT
@OUTPUT
@roofline_options
@timing_options
@interval_options
@click.pass_context
def compare(ctx, specs, module_glob, depth, model_ref, model_args, input_text, train, step, optimizer, batch,
            per_layer, plot_path, fmt, output, roofline, peaks_choice, **timing):
    """Compare the spec (default: googlenet, unless only --model is given) with variants of it, with
    other SPECS, and with Python models (--model, repeatable).

    The first column is the baseline (the first spec as written, or the first model), then one
    column per variant in the order given, then one per extra spec, then one per model."""
    from googlenet_cost.views import compare as comparison_view
    from googlenet_cost.views.compare_text import summary_text
    from googlenet_cost.comparison import compare as run_compare
    from googlenet_cost.options import RunOptions
    from googlenet_cost.spec.layers import MAX_CHANNELS
    from googlenet_cost.spec.variants import build_variants

    from .render import Progress, emit, fit_width, say, say_progress, warn

    guard_outputs([output, plot_path], list(specs) or ["googlenet"])
    fit_width()  # an unreadable COLUMNS is warned about (once) before any work
    if plot_path:
        from googlenet_cost.views.plots import plot_backend

        plot_backend(plot_path)
    batches = int_list(batch, option="--batch")
    requested = []
    for kind, value in ctx.meta.get("gcost_variants", []):
        if kind == "reduce":
            requested += [("reduce", n) for n in int_list(value, option="--reduce", high=MAX_CHANNELS)]
        elif kind == "reduce-scale":
            requested += [("reduce-scale", f) for f in _floats(value)]
        else:
            requested.append((kind, value))
    from googlenet_cost.comparison import Entry, entries_of
    from googlenet_cost.errors import GcostError
    from googlenet_cost.sources import open_sources

    models = open_sources([], model_ref, input_text, model_args) if model_ref else []
    if models and not specs and (requested or module_glob):
        raise GcostError("variants (--reduce, --set, ...) change a spec: give the spec to vary beside --model")
    variants = entries_of(build_variants(list(specs), requested, module_glob)) if specs or not models else []
    variants += [Entry(model.key, model) for model in models]
    options = RunOptions(batch=batches[0], train=train, step=step, optimizer=optimizer,
                         depth=measured_depth(depth),
                         timing=timing_from(timing, batches, per_layer=per_layer), dtype=timing["dtype"])
    options = roofline_from(roofline, peaks_choice, timing, options)
    with Progress(enabled=fmt == "table" and output is None) as progress:
        result = run_compare(variants, options, progress=progress)
    for label, report in zip(result.labels, result.reports):
        for note in report.notes:  # said plainly: not a warning
            say_progress(f"{label}: {note}")
        for message in report.warnings:
            warn(f"{label}: {message}")
    shown = module_glob if specs or not models else None
    depth = depth or "top"
    emit(comparison_view.render(result, fmt, depth, shown),
         lambda: [*comparison_view.to_rich(result, depth, None if output else fit_width(), shown),
                  summary_text(result)], output)
    if plot_path and options.roofline is not None:
        from googlenet_cost.views.roofline import plot_comparison

        plot_comparison(result, plot_path)
    elif plot_path:
        from googlenet_cost.views.compare_plot import plot

        plot(result, plot_path)
        say(f"wrote {plot_path}")
