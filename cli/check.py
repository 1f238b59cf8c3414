"""gcost check / gcost baseline: a model-size regression gate for CI.

Exit codes: 0 every metric within its limit, 1 a regression, 2 a usage or spec error (a check
without any limit too, unless --allow-empty). Under GitHub Actions, check also writes the job
summary, annotations and step outputs itself (googlenet_cost/gate/github.py)."""
from __future__ import annotations

import click

from googlenet_cost import metrics as gate_metrics
from googlenet_cost.views.gate import FORMATS as CHECK_FORMATS

from .flags import (DEVICE, OUTPUT, STRICT, TRAIN, batch_option, complete_spec, guard_outputs, model_options,
                      step_options)


def _limit_options(fn):
    """A --max-* option per metric of the gate's table (googlenet_cost/metrics.py), its value passed under
    the metric's budget key (max_params, ...)."""
    for metric in reversed(gate_metrics.METRICS):
        fn = click.option(metric.option, metric.budget_key, metavar="N",
                          help=f"Limit on {metric.help}; K/M/G suffixes are decimal.")(fn)
    return fn


def _given_limits(values: dict) -> dict:
    """{max_params: "7.1M", ...}: the --max-* options given, by budget key, in the table's order."""
    return {metric.budget_key: values[metric.budget_key] for metric in gate_metrics.METRICS
            if values.get(metric.budget_key) is not None}


@click.command(short_help="Fail (exit 1) when a network exceeds its budget or grew past its baseline.")
@click.argument("specs", nargs=-1, shell_complete=complete_spec)
@model_options("Also check a Python model", repeatable=True)
@_limit_options
@click.option("--budgets", "budgets_path", type=click.Path(dir_okay=False),
              help="YAML file of per-spec limits: {googlenet: {max_params: 7.1M}}.")
@click.option("--baseline", "baseline_path", type=click.Path(dir_okay=False),
              help="Lock file from `gcost baseline`: no metric may grow beyond the tolerance.")
@click.option("--tolerance", default="0%", show_default=True, help="Allowed growth over the baseline.")
@click.option("--allow-new", is_flag=True,
              help="A network missing from the baseline is checked against its other limits only "
                   "(without it, that is an error: a renamed spec would escape the gate).")
@click.option("--allow-empty", is_flag=True,
              help="Pass a check given no limits at all (without it, that is an error: such a gate never fails).")
@click.option("--strict-versions", is_flag=True,
              help="A baseline recorded by another gcost or torch version is an error (without it, a note).")
@click.option("--latency-tolerance", default="10%", show_default=True,
              help="Allowed latency over its limit or baseline.")
@click.option("--latency", "with_latency", is_flag=True,
              help="Also time the models: their median latency against the baseline's and --max-latency-ms.")
@DEVICE
@TRAIN
@step_options
@batch_option(lists=False)
@STRICT
@click.option("--format", "fmt", type=click.Choice(CHECK_FORMATS), default="table", show_default=True,
              help="Output format; codequality: GitLab's Code Quality report (JSON).")
@OUTPUT
def check(specs, model_ref, model_args, input_text, budgets_path, baseline_path, tolerance, allow_new, allow_empty,
          strict_versions, latency_tolerance, with_latency, device, train, step, optimizer, batch, strict, fmt, output,
          **limits):
    """Fail (exit 1) when a network exceeds its size budget or grew past its baseline.

    Under GitHub Actions (GITHUB_ACTIONS=true) it also appends its Markdown to the job summary,
    annotates each limit exceeded (and each layer grown) and sets the step outputs `passed` and
    `failures`; a check that cannot run (exit 2) writes its error there too."""
    import os
    from dataclasses import replace

    from googlenet_cost.errors import GcostError
    from googlenet_cost.gate.run import run_check
    from googlenet_cost.gate.github import running_in_actions
    from googlenet_cost.options import RunOptions
    from googlenet_cost.sources import open_sources
    from googlenet_cost.views import gate as check_view

    from .render import emit, environment_size, say, warn

    in_actions = running_in_actions(os.environ)
    try:
        guard_outputs([output], list(specs), [budgets_path, baseline_path])
        if fmt == "table" and not output:  # the terminal's size, read before the work rather than after it
            for variable in ("COLUMNS", "LINES"):
                environment_size(variable)
        options = RunOptions(batch=batch, train=train, step=step, optimizer=optimizer, strict=strict)
        result = run_check(open_sources(specs, model_ref, input_text, model_args), options,
                           flags=_given_limits(limits), budgets_path=budgets_path, baseline_path=baseline_path,
                           tolerance=tolerance, latency_tolerance=latency_tolerance, with_latency=with_latency,
                           allow_new=allow_new, allow_empty=allow_empty, strict_versions=strict_versions,
                           device=device)
    except (GcostError, click.UsageError) as e:
        if in_actions:  # the job summary and an annotation say why the gate did not run, not only the log
            _tell_actions_it_could_not_run(e.format_message() if isinstance(e, click.UsageError) else str(e))
        raise
    if result.baseline is not None:
        result = replace(result, accept=_baseline_command(specs, model_ref, model_args, input_text, result, device,
                                                          with_latency))
    emit(check_view.render(result, fmt), lambda: check_view.to_rich(result), output)
    if fmt == "table" or output:
        for line in check_view.details(result):
            warn(line)
        accept = check_view.accept_line(result)
        if accept:
            say(accept)
    if output or (not result.entries and fmt != "table"):  # the log keeps the verdict; the table view says it
        say(check_view.summary_line(result))
    if in_actions:
        _tell_actions(result, data_on_stdout=fmt != "table" and not output)
    click.get_current_context().exit(result.return_code)


def _tell_actions(result, data_on_stdout: bool) -> None:
    """The annotations, the job summary and the step outputs of a check that ran. With a report on
    standard output the annotations go to standard error, so that the report stays whole."""
    import os

    from googlenet_cost.gate import github
    from googlenet_cost.views import gate as check_view

    from .render import warn

    for annotation in check_view.annotations(result):
        click.echo(annotation.command(os.environ), err=data_on_stdout)  # a command: escaped by its own rules
    for problem in github.publish(check_view.render(result, "markdown"),
                                  github.check_outputs(result.ok, result.failures), os.environ):
        warn(problem)


def _tell_actions_it_could_not_run(message: str) -> None:
    """An exit 2 under GitHub Actions: an error annotation naming the problem, the job summary
    saying so, and the outputs passed=false, failures=0 (no limit was checked)."""
    import os

    from googlenet_cost.gate import github
    from googlenet_cost.views import gate as check_view

    from .render import warn

    click.echo(check_view.error_annotation(message).command(os.environ), err=True)
    for problem in github.publish(check_view.error_markdown(message), github.check_outputs(False, 0), os.environ):
        warn(problem)


def _baseline_command(specs, model_refs, model_args, input_text, result, device: str, with_latency: bool) -> tuple:
    """The `gcost baseline` command that records what this check measured, under its conditions
    (a training limit made it a training step), into the lock it was checked against: the command
    that accepts a change."""
    options = result.options
    argv = ["gcost", "baseline", *specs]
    for reference in model_refs:
        argv += ["--model", reference]
    for argument in model_args:
        argv += ["--model-arg", argument]
    if input_text:
        argv += ["--input", input_text]
    if options.train and not options.training:
        argv.append("--train")
    if options.training:
        argv += ["--step", "train", "--optimizer", options.optimizer]
    if options.batch != 1:
        argv += ["--batch", str(options.batch)]
    if with_latency or result.baseline_timed or options.timing is not None:
        argv += ["--latency"] + (["--device", device] if device != "auto" else [])
    return tuple(argv + ["-o", result.baseline])


@click.command(short_help="Record today's params, weights, MACs and activations in a lock file.")
@click.argument("specs", nargs=-1, shell_complete=complete_spec)
@model_options("Also record a Python model", repeatable=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The lock file to write (atomically), e.g. gcost.lock.json.")
@click.option("--latency", "with_latency", is_flag=True, help="Also time the models and record their median latency.")
@DEVICE
@TRAIN
@step_options
@batch_option(lists=False)
def baseline(specs, model_ref, model_args, input_text, output, with_latency, device, train, step, optimizer, batch):
    """Record today's numbers (params, weights, MACs, activations, per layer) in a lock file."""
    from googlenet_cost.files import atomic_write_text
    from googlenet_cost.gate.run import run_baseline
    from googlenet_cost.gate.lock import lock_document
    from googlenet_cost.options import RunOptions
    from googlenet_cost.sources import open_sources

    guard_outputs([output], list(specs))
    options = RunOptions(batch=batch, train=train, step=step, optimizer=optimizer)
    reports = run_baseline(open_sources(specs, model_ref, input_text, model_args), options,
                           with_latency=with_latency, device=device)
    from .render import say

    atomic_write_text(output, lock_document(reports))
    say(f"wrote {output}: {', '.join(reports)}")
