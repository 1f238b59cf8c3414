"""The one exception type users see: it names the file, the layer and the problem."""
from __future__ import annotations


class GcostError(Exception):
    """A user-facing error (bad spec, bad argument, missing file). The CLI exits 2 on it."""

    def __init__(self, message: str, *, file: str | None = None, layer: str | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.layer = layer

    def __str__(self) -> str:
        """One line, whatever it quotes: a newline in a file name is shown as \\n."""
        where = [part for part in (self.file, f"layer '{self.layer}'" if self.layer else None) if part]
        return ": ".join([*where, self.message]).replace("\r", "\\r").replace("\n", "\\n")

    def located(self, *, file: str | None = None, layer: str | None = None) -> "GcostError":
        """The same error with its location filled in where it was still unknown."""
        return type(self)(self.message, file=self.file or file, layer=self.layer or layer)


def quoted(value: object, limit: int = 40) -> str:
    """repr() of user data for a message, cut to `limit` characters: never an unbounded repr
    (an alias bomb's value is billions of elements)."""
    import reprlib

    if isinstance(value, int) and value.bit_length() > 10_000:  # repr() refuses ints over 4,300 digits
        return f"<an integer of about {int(value.bit_length() * 0.30103):,} digits>"
    shortener = reprlib.Repr()
    shortener.maxstring = shortener.maxother = limit
    shortener.maxlist = shortener.maxtuple = shortener.maxdict = shortener.maxset = 4
    shortener.maxlevel = 2
    text = shortener.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def first_line(error: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message, cut to `limit` characters (torch's and compilers'
    messages run to pages; gcost's errors are one line)."""
    try:
        text = str(error).strip()
    except Exception:  # the analyzed code's exception class may fail to print itself
        return f"<{type(error).__name__} whose message cannot be printed>"
    return text.splitlines()[0][:limit] if text else ""


def one_line(text: object, limit: int = 300) -> str:
    """A message from a library (PyYAML's span lines: the problem, then where) as one line, cut to
    `limit` characters: gcost's errors are one line."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())[:limit]


# Exceptions that keep their own way out when the analyzed code raises them: Ctrl-C is exit 130,
# sys.exit is exit 2 saying so (cli/main.py). Everything else the user's code raises, BaseException
# subclasses of its own included, is "the model raised ...", exit 2.
PASSES_THROUGH = (KeyboardInterrupt, SystemExit)


def model_raised(reference: str, error: BaseException, where: str | None = None, hint: str = "") -> "GcostError":
    """An exception from the analyzed model's own code (its factory, forward or backward), as the
    user's error: "the model raised TypeError: ... (in block)", and what may fix it."""
    place = f" (in {where})" if where else ""
    return GcostError(f"the model raised {type(error).__name__}: {first_line(error)}{place}{hint}", file=reference)


def did_you_mean(word: object, choices) -> str:
    """ " (did you mean 'conv'?)" for the closest choice, or "" when none is close."""
    from difflib import get_close_matches

    if not isinstance(word, str):
        return ""
    hint = get_close_matches(word[:100], [str(c) for c in choices], n=1, cutoff=0.5)
    return f" (did you mean '{hint[0]}'?)" if hint else ""


class SpecError(GcostError):
    """The spec cannot be read, is malformed, or describes a network whose shapes do not fit."""
