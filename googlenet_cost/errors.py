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
        where = [part for part in (self.file, f"layer '{self.layer}'" if self.layer else None) if part]
        return ": ".join([*where, self.message])

    def located(self, *, file: str | None = None, layer: str | None = None) -> "GcostError":
        """The same error with its location filled in where it was still unknown."""
        return type(self)(self.message, file=self.file or file, layer=self.layer or layer)


def quoted(value: object, limit: int = 40) -> str:
    """repr() of user data for a message, cut to `limit` characters: never an unbounded repr
    (an alias bomb's value is billions of elements)."""
    import reprlib

    shortener = reprlib.Repr()
    shortener.maxstring = shortener.maxother = limit
    shortener.maxlist = shortener.maxtuple = shortener.maxdict = shortener.maxset = 4
    shortener.maxlevel = 2
    text = shortener.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def first_line(error: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message, cut to `limit` characters (torch's and compilers'
    messages run to pages; gcost's errors are one line)."""
    text = str(error).strip()
    return text.splitlines()[0][:limit] if text else ""


def model_raised(reference: str, error: BaseException, where: str | None = None) -> "GcostError":
    """An exception from the analyzed model's own code (its factory, forward or backward), as the
    user's error: "the model raised TypeError: ... (in block)"."""
    place = f" (in {where})" if where else ""
    return GcostError(f"the model raised {type(error).__name__}: {first_line(error)}{place}", file=reference)


def did_you_mean(word: object, choices) -> str:
    """ " (did you mean 'conv'?)" for the closest choice, or "" when none is close."""
    from difflib import get_close_matches

    if not isinstance(word, str):
        return ""
    hint = get_close_matches(word[:100], [str(c) for c in choices], n=1, cutoff=0.5)
    return f" (did you mean '{hint[0]}'?)" if hint else ""


class SpecError(GcostError):
    """The spec cannot be read, is malformed, or describes a network whose shapes do not fit."""
