"""The console script's entry point: kept tiny, so that Ctrl-C is exit 130 from the first
instruction on. Two things make that harder than a `try/except KeyboardInterrupt`:

- some import-time library code swallows the KeyboardInterrupt, so the signal itself is
  remembered and turns any later ending into 130;
- torch aborts the process (SIGABRT) when interrupted inside its C extension's initialization,
  so an interrupt that arrives while torch is being imported is held back and delivered (by a
  short timer) as soon as the import has finished.
"""
from __future__ import annotations

import signal
import sys

EXIT_INTERRUPTED = 130
RETRY_S = 0.05


class _Interrupts:
    seen = False
    exiting = False  # set once gcost is ending: a late signal must not break the ending

    @classmethod
    def handler(cls, signum, frame) -> None:
        cls.seen = True
        if cls.exiting:
            return
        if _importing("torch"):
            signal.signal(signal.SIGALRM, cls.handler)
            signal.setitimer(signal.ITIMER_REAL, RETRY_S)
            return
        signal.setitimer(signal.ITIMER_REAL, 0)
        raise KeyboardInterrupt


def _importing(name: str) -> bool:
    module = sys.modules.get(name)
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


def interrupted() -> bool:
    """Whether SIGINT arrived in this process (through the console script's handler)."""
    return _Interrupts.seen


def ending() -> None:
    """Exiting: no held-back interrupt may fire during the interpreter's shutdown."""
    _Interrupts.exiting = True
    signal.setitimer(signal.ITIMER_REAL, 0)


def main() -> None:
    signal.signal(signal.SIGINT, _Interrupts.handler)
    try:
        from .main import main as run

        run()
    except KeyboardInterrupt:  # from code that ran before cli.main's own handlers
        ending()
        print("gcost: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except SystemExit:
        ending()
        if _Interrupts.seen:
            sys.exit(EXIT_INTERRUPTED)
        raise
