"""GitHub Actions, spoken by the gate itself: workflow commands (`::error file=...,title=...::`),
the job summary ($GITHUB_STEP_SUMMARY) and step outputs ($GITHUB_OUTPUT).

The protocol only: escaping, the command lines, appending to the runner's files. The sentences an
annotation carries are written in views/gate.py. An annotation's title, message and file are first
made inert by gcost's one rule (escaping.printable: no control character, no `##[`, no `::`
starting a word; a newline stays, for GitHub's escaping), then escaped as the Actions toolkit does
(@actions/core `command.ts`): data escapes `%`, CR and LF; property values also `:` and `,`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ..escaping import printable

SUMMARY_VARIABLE = "GITHUB_STEP_SUMMARY"
OUTPUT_VARIABLE = "GITHUB_OUTPUT"


def running_in_actions(environ: Mapping[str, str]) -> bool:
    """Whether this process runs as a GitHub Actions step (the runner sets GITHUB_ACTIONS=true)."""
    return environ.get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    """A workflow command's message: `%`, CR and LF escaped (the command is one line)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value (file=, title=): also `:` and `,`, which end a value."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


@dataclass(frozen=True)
class Annotation:
    """One annotation of a check: `level` is "error" (a limit exceeded) or "warning" (a grown layer);
    `file` the file the network is written in, relative to the repository, when there is one."""
    level: str
    title: str
    message: str
    file: str | None = None

    def command(self, environ: Mapping[str, str] | None = None) -> str:
        """The workflow command the runner turns into this annotation (its file relative to the
        runner's workspace, see relative_to_workspace)."""
        file = relative_to_workspace(self.file, environ or {})
        properties = ([f"file={escape_property(_inert(file))}"] if file else []) + \
            [f"title={escape_property(_inert(self.title))}"]
        return f"::{self.level} {','.join(properties)}::{escape_data(_inert(self.message))}"


def _inert(text: str) -> str:
    return printable(text)


def append_to(variable: str, text: str, environ: Mapping[str, str]) -> str | None:
    """Append `text` to the file the runner names in `variable` (created when missing, never
    truncated: earlier steps' content stays). Returns a one-line problem, or None when written
    (or when the variable is unset: nothing to write to)."""
    path = environ.get(variable, "")
    if not path:
        return None
    from ..files import append_text

    try:
        append_text(path, text)  # never through a symlink, never blocked on a FIFO
    except (OSError, ValueError) as e:  # ValueError: a path with a NUL byte
        reason = getattr(e, "strerror", None) or str(e)
        return f"could not write ${variable} ({path!r}): {reason}"
    return None


def outputs_text(outputs: Mapping[str, str]) -> str:
    """Step outputs as $GITHUB_OUTPUT reads them: one `name=value` line each (one-line values)."""
    return "".join(f"{name}={value}\n" for name, value in outputs.items())


def check_outputs(passed: bool, failures: int) -> dict[str, str]:
    """The step outputs of `gcost check` (`steps.<id>.outputs.passed`, `.failures`)."""
    return {"passed": "true" if passed else "false", "failures": str(failures)}


def publish(summary: str, outputs: Mapping[str, str], environ: Mapping[str, str]) -> list[str]:
    """Append `summary` (Markdown) to the job summary and `outputs` to the step's outputs; the
    problems met, one line each (a summary that cannot be written never fails the gate)."""
    problems = [append_to(SUMMARY_VARIABLE, summary if summary.endswith("\n") else summary + "\n", environ),
                append_to(OUTPUT_VARIABLE, outputs_text(outputs), environ)]
    return [problem for problem in problems if problem]


def relative_to_workspace(path: str | None, environ: Mapping[str, str]) -> str | None:
    """An annotation's file, relative to the repository (the runner's GITHUB_WORKSPACE) when it
    was given as an absolute path inside it; as given otherwise."""
    import os

    workspace = environ.get("GITHUB_WORKSPACE", "")
    if path and workspace and os.path.isabs(path):
        relative = os.path.relpath(path, workspace)
        if relative != os.pardir and not relative.startswith(os.pardir + os.sep):
            return relative.replace(os.sep, "/")
    return path
