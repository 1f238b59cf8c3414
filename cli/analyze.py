"""gcost analyze: one network's per-layer cost table (and its measured latency)."""
from __future__ import annotations

import click

from googlenet_cost.options import DEFAULT_MODEL_DEPTH
from googlenet_cost.views.columns import columns_help
from googlenet_cost.views.table import TABLE_MAX_ROWS

from .flags import (FORMAT, OUTPUT, STRICT, TRAIN, batch_option, complete_spec, depth_choice, guard_outputs, int_list,
                      measured_depth, model_options, roofline_from, roofline_options, step_options, timing_from,
                      timing_options)


@click.command(short_help="Per-layer shapes, params, MACs, the paper's figures and latency of one network.")
@click.argument("spec", required=False, default=None, shell_complete=complete_spec)
@model_options("Analyze a Python model instead of a spec")
@FORMAT
@OUTPUT
@TRAIN
@step_options
@batch_option(lists=True)
@click.option("--verify", is_flag=True, help="Cross-check every layer's MACs with fvcore.")
@click.option("--set", "set_edits", metavar="EDITS",
              help="Analyze the spec with these edits made, as compare's --set reads them: 'GLOB.KEY=VALUE;...' "
                   "(VALUE a number, or xF for F times the layer's own); gcost sweep lists each candidate's.")
@click.option("--depth", callback=lambda ctx, param, value: depth_choice(value), default=None,
              metavar="top|branches|all|N",
              help="Rows shown: top-level only, every level (branches, all), or N levels; a Python model "
                   f"is also measured N levels deep (default {DEFAULT_MODEL_DEPTH}). Default: all, except top for a terminal "
                   f"table of more than {TABLE_MAX_ROWS:,} rows.")
@STRICT
@click.option("--per-layer", is_flag=True, help="Add per-layer latency and each row's top operator (separate profiled pass).")
@click.option("--columns", metavar="LIST", help=columns_help())
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Draw the roofline (.png, .svg or .pdf): every layer's intensity against its FLOP/s, the "
                   "roofs labelled, and the rows without MACs against the bandwidth roofs. Implies --roofline.")
@click.option("--plot-kind", type=click.Choice(["roofline", "bars"]), default="roofline", show_default=True,
              help="What --plot draws: the roofline, or bars of each top-level row's measured (--per-layer), "
                   "expected and bound time.")
@roofline_options
@timing_options
def analyze(spec, model_ref, model_args, input_text, fmt, output, train, step, optimizer, batch, verify, set_edits,
            depth, strict, per_layer, columns, plot_path, plot_kind, roofline, peaks_choice, **timing):
    """Per-layer output shape, params, MACs, receptive field, the paper's figures, and latency.

    SPEC is a YAML file or a built-in spec name (default: googlenet)."""
    from googlenet_cost.views.columns import parse_columns
    from googlenet_cost.views.formats import render
    from googlenet_cost.views.prose import latency_panel
    from googlenet_cost.views.table import analyze_view
    from googlenet_cost.analysis import analyze as run_analysis
    from googlenet_cost.options import RunOptions
    from googlenet_cost.sources import open_source

    from .render import Progress, emit, fit_width, say, say_progress, warn

    guard_outputs([output, plot_path], [spec or (None if model_ref else "googlenet")])
    fit_width()  # an unreadable COLUMNS is warned about (once) before any work
    if plot_path:
        from googlenet_cost.views.plots import plot_backend

        plot_backend(plot_path)
    chosen = parse_columns(columns)
    batches = int_list(batch, option="--batch")
    options = RunOptions(batch=batches[0], train=train, step=step, optimizer=optimizer, verify=verify, strict=strict,
                         depth=measured_depth(depth),
                         timing=timing_from(timing, batches, per_layer=per_layer), dtype=timing["dtype"],
                         bound_batches=batches[1:])
    source = open_source(spec, model_ref, input_text, model_args)
    if set_edits is not None:
        from googlenet_cost.sources import SpecSource
        from googlenet_cost.spec.edits import set_keys
        from googlenet_cost.spec.tree import Scope

        if model_ref:
            raise click.UsageError("--set edits a spec: leave out --model")
        source = SpecSource(set_keys(source.spec, set_edits, Scope(None))[1])
    options = roofline_from(roofline or plot_path is not None, peaks_choice, timing, options)
    with Progress(enabled=fmt == "table" and output is None) as progress:
        report = run_analysis(source, options, progress=progress)

    def views() -> list:
        table, words = analyze_view(report, depth, width=None if output else fit_width(), columns=chosen)
        return [table, *words, *([latency_panel(report.timed)] if report.timed else [])]

    emit(render(report, fmt, depth or "branches", columns=chosen), views, output)
    for note in report.notes:  # --verify's agreement is a finding, not a warning: said plainly
        say_progress(note)
    for message in report.warnings:
        warn(message)
    if plot_path:
        from googlenet_cost.views.roofline import plot_report

        plot_report(report, plot_path, plot_kind)
        say(f"wrote {plot_path}")
