"""Interrupt state of the console script (cli/entry.py installs the handler): whether SIGINT
arrived, whether a KeyboardInterrupt came from the analyzed code instead, and the way out.
Its own module, so that cli/main.py reads it without importing the entry point."""
from __future__ import annotations

import signal
import sys

EXIT_INTERRUPTED = 130
RETRY_S = 0.1


class _Interrupts:
    seen = False
    exiting = False  # set once gcost is ending: a late signal must not break the ending

    @classmethod
    def handler(cls, signum, frame) -> None:
        cls.seen = True
        if cls.exiting:
            return
        if signum == signal.SIGINT:  # from now on, again every RETRY_S until ending()
            signal.signal(signal.SIGALRM, cls.handler)
            signal.setitimer(signal.ITIMER_REAL, RETRY_S, RETRY_S)
        if not _importing("torch"):
            raise KeyboardInterrupt


def _importing(name: str) -> bool:
    module = sys.modules.get(name)
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


def interrupted() -> bool:
    """Whether SIGINT arrived in this process (through the console script's handler)."""
    return _Interrupts.seen


def raised_by_code() -> bool:
    """A KeyboardInterrupt that no SIGINT caused (the console script's handler listens and saw
    none): the analyzed code raised it itself, which is its error, not a Ctrl-C."""
    return signal.getsignal(signal.SIGINT) == _Interrupts.handler and not _Interrupts.seen  # == : a bound method


def ending() -> None:
    """Exiting: no held-back interrupt may fire during the interpreter's shutdown."""
    _Interrupts.exiting = True
    signal.setitimer(signal.ITIMER_REAL, 0)
