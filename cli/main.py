"""The `gcost` command group: the one place where errors become exit codes.

Exit codes: 0 success; 1 a `gcost check` regression; 2 a usage or spec error (one line, no
traceback); 3 an internal error (a bug: set GCOST_DEBUG=1 for the traceback); 130 interrupted
(Ctrl-C); 141 standard output closed early (`| head`). Nothing the analyzed code does (sys.exit
in a model or factory) can choose gcost's exit code."""
from __future__ import annotations

import errno
import os
import sys
import threading

import click

from googlenet_cost import __version__
from googlenet_cost.errors import GcostError, first_line

from googlenet_cost.escaping import printable

from .flags import complete_spec
from .render import say

EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_PIPE_CLOSED = 141


class UserError(click.ClickException):
    exit_code = EXIT_USAGE

    def show(self, file=None) -> None:
        say(f"gcost: error: {printable(self.format_message())}")


class ClosedStream:
    """Stands in for a standard stream the process was started without (`gcost ... >&-`): a write
    fails as writing to a closed descriptor does (EBADF), so the report is never lost silently."""

    def __init__(self, name: str):
        self.name = name

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, f"{self.name} is closed")

    def isatty(self) -> bool:
        return False

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        raise OSError(errno.EBADF, f"{self.name} is closed")


def usage_line(error: click.UsageError) -> str:
    """click's usage errors in gcost's one-line style, with where to look for help."""
    command = error.ctx.command_path if error.ctx is not None else "gcost"
    return f"{error.format_message()} (see '{command} --help')"


def _interrupted() -> click.exceptions.Exit:
    from .interrupts import EXIT_INTERRUPTED, ending

    ending()  # a second signal must not break the way out
    say("gcost: interrupted")
    return click.exceptions.Exit(EXIT_INTERRUPTED)


def _stdout_closed() -> click.exceptions.Exit:
    """The reader went away (`| head`): stop quietly, and keep Python's exit-time flush quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (a test runner's buffer)
        pass
    return click.exceptions.Exit(EXIT_PIPE_CLOSED)


class Gcost(click.Group):
    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as e:
            if type(e).__name__ == "NoArgsIsHelpError":
                raise
            raise UserError(usage_line(e)) from None

    def invoke(self, ctx: click.Context):
        import warnings

        try:
            with warnings.catch_warnings():  # restores Python's own way of showing them afterwards
                warnings.showwarning = _python_warning
                return super().invoke(ctx)
        except GcostError as e:
            raise UserError(str(e)) from None
        except UserError:
            raise
        except click.UsageError as e:
            raise UserError(usage_line(e)) from None
        except (click.ClickException, click.exceptions.Exit):
            raise
        except (KeyboardInterrupt, click.Abort) as e:
            from .interrupts import raised_by_code

            if isinstance(e, KeyboardInterrupt) and raised_by_code():
                raise UserError(f"the analyzed code raised {type(e).__name__} without a Ctrl-C: "
                                f"{first_line(e)}") from None
            raise _interrupted() from None
        except BrokenPipeError:
            raise _stdout_closed() from None
        except SystemExit as e:  # gcost exits through click; this came from the analyzed code
            raise UserError(f"the analyzed code called sys.exit({e.code!r}); gcost does not let a model "
                            "or factory choose its exit code") from None
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise UserError(f"cannot write the output: {e.strerror}") from None
            if e.errno == errno.EBADF:
                raise UserError(f"cannot write the output: {e.strerror}; give -o FILE") from None
            return _internal(e)
        except Exception as e:  # the single boundary: a bug must not look like a user error
            return _internal(e)
        except BaseException as e:  # not an Exception: gcost raises none, so the analyzed code did
            raise UserError(f"the analyzed code raised {type(e).__name__}: {first_line(e)}") from None


def _python_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A Python warning (the analyzed code's, a library's) in gcost's form: one line, `warning:` first,
    where Python would print two (the message, then the source line) or more."""
    from .render import warn

    warn(printable(f"{category.__name__}: {message} ({filename}:{lineno})", one_line=True))


def _internal(error: Exception):
    from .interrupts import interrupted

    if interrupted():  # a Ctrl-C that a library swallowed, breaking what came after it
        raise _interrupted() from None
    if os.environ.get("GCOST_DEBUG"):
        raise error
    say(f"gcost: internal error: {type(error).__name__}: {printable(str(error))[:300]} "
        "(set GCOST_DEBUG=1 for the traceback, and please report it)")
    raise click.exceptions.Exit(EXIT_INTERNAL)


@click.group(cls=Gcost, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="gcost")
def gcost() -> None:
    """Architecture cost analysis for convolutional networks: per-layer shapes, params, MACs and
    measured latency, from a YAML spec (GoogLeNet and friends)."""


@gcost.command(short_help="List the built-in specs, usable by name; export one to edit.")
@click.option("--export", "export_name", metavar="NAME", shell_complete=complete_spec,
              help="Print the built-in spec NAME's YAML exactly as shipped: "
                   "`gcost specs --export googlenet > my.yaml` starts a spec of your own.")
@click.option("--path", "path_name", metavar="NAME", shell_complete=complete_spec,
              help="Print where the built-in spec NAME's file lives in this installation.")
def specs(export_name: str | None, path_name: str | None) -> None:
    """List the built-in specs. Their names work anywhere (`gcost analyze googlenet`); the
    `specs/...` paths in the docs are the repository's copies of the same files."""
    from googlenet_cost.spec.model import builtin_spec, builtin_specs

    from .render import console, plain_text

    if export_name is not None and path_name is not None:
        raise click.UsageError("give --export or --path, not both")
    if export_name is not None:
        click.echo(builtin_spec(export_name).read_bytes(), nl=False)  # bytes: written as shipped
        return
    if path_name is not None:
        click.echo(str(builtin_spec(path_name)))
        return
    from googlenet_cost.spec.load import spec_description

    for name, path in sorted(builtin_specs().items()):
        console().print(plain_text(f"{name}  {spec_description(path)}"))


def _register() -> None:
    from .analyze import analyze
    from .check import baseline, check
    from .compare import compare
    from .peaks import peaks
    from .sweep import sweep, table

    for command in (analyze, compare, check, baseline, peaks, sweep, table):
        gcost.add_command(command)


_register()


def main() -> None:
    """The console script. Interrupts and closed pipes are handled here too, so that even one
    arriving while arguments are parsed or torch is imported gets its exit code."""
    sys.unraisablehook = _unraisable  # the analyzed code's __del__ errors and threads' exceptions: one line
    threading.excepthook = _thread_raised
    if sys.stdout is None:
        sys.stdout = ClosedStream("standard output")
    if sys.stderr is None:
        sys.stderr = ClosedStream("standard error")
    try:
        code = gcost.main(prog_name="gcost", standalone_mode=False)
    except (KeyboardInterrupt, click.Abort):
        _exit(_interrupted().exit_code)
    except BrokenPipeError:
        _exit(_stdout_closed().exit_code)
    except click.exceptions.Exit as e:
        _exit(e.exit_code)
    except click.ClickException as e:
        try:
            e.show()
        except (OSError, ValueError):  # stderr closed or full: the exit code still tells
            pass
        _exit(e.exit_code)
    _exit(code if isinstance(code, int) else 0)


def _unraisable(unraisable) -> None:
    say(f"gcost: warning: ignored {type(unraisable.exc_value).__name__} in {unraisable.object!r:.80} "
        "(raised where Python cannot pass it on, e.g. a __del__ of the analyzed code)")


def _thread_raised(args) -> None:
    name = args.thread.name if args.thread is not None else "a thread"
    say(f"gcost: warning: {name} (started by the analyzed code) raised {args.exc_type.__name__}: "
        f"{first_line(args.exc_value) if args.exc_value is not None else ''}")


def _exit(code: int) -> None:
    """sys.exit, unless the analyzed code left threads running that are not daemons: Python would
    wait for them after the report, forever if they never end. gcost says so and ends without them.

    Before it, every object is frozen out of the garbage collector: its passes at shutdown walk
    every object torch and the analysis made, 0.3-0.5 s of a 1.5 s `gcost analyze` on a 2-CPU
    machine, to free memory the process gives back anyway. The rest of Python's ending (atexit
    handlers, flushing the streams, closing files, the exit code) is as it was."""
    import gc
    import threading

    gc.freeze()
    left = [t.name for t in threading.enumerate()
            if t is not threading.main_thread() and t.is_alive() and not t.daemon]
    if not left:
        sys.exit(code)
    say(f"gcost: warning: the analyzed code left {len(left)} thread(s) running ({', '.join(left)[:100]}); "
        "gcost ends without waiting for them")
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
