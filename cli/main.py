"""The `gcost` command group: the one place where errors become exit codes.

Exit codes: 0 success; 1 a `gcost check` regression; 2 a usage or spec error (one line, no
traceback); 3 an internal error (a bug: set GCOST_DEBUG=1 for the traceback)."""
from __future__ import annotations

import os
import sys

import click

from googlenet_cost import __version__
from googlenet_cost.errors import GcostError

EXIT_USAGE = 2
EXIT_INTERNAL = 3


class UserError(click.ClickException):
    exit_code = EXIT_USAGE

    def show(self, file=None) -> None:
        click.echo(f"gcost: error: {self.format_message()}", err=True)


class Gcost(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GcostError as e:
            raise UserError(str(e)) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except Exception as e:  # the single boundary: a bug must not look like a user error
            if os.environ.get("GCOST_DEBUG"):
                raise
            click.echo(f"gcost: internal error: {type(e).__name__}: {e} "
                       "(set GCOST_DEBUG=1 for the traceback, and please report it)", err=True)
            sys.exit(EXIT_INTERNAL)


@click.group(cls=Gcost, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gcost")
def gcost() -> None:
    """Architecture cost analysis for convolutional networks: per-layer shapes, params, MACs and
    measured latency, from a YAML spec (GoogLeNet and friends)."""


@gcost.command()
def specs() -> None:
    """List the built-in specs (usable by name, e.g. `gcost analyze googlenet`)."""
    from googlenet_cost.spec import builtin_specs, load_spec

    from .render import console

    for name, path in sorted(builtin_specs().items()):
        spec = load_spec(path)
        console().print(f"[bold]{name}[/bold]  {spec.description}")


def _register() -> None:
    from .analyze import analyze
    from .check import baseline, check
    from .compare import compare

    for command in (analyze, compare, check, baseline):
        gcost.add_command(command)


_register()


def main() -> None:
    gcost(prog_name="gcost")
