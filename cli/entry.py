"""The console script's entry point: kept tiny, so that Ctrl-C is exit 130 from the first
instruction on, also while click, rich or torch are being imported, and also when a library
swallows the KeyboardInterrupt (some import-time code does): the signal itself is remembered."""
from __future__ import annotations

import signal
import sys

EXIT_INTERRUPTED = 130


class _Interrupts:
    seen = False

    @classmethod
    def handler(cls, signum, frame) -> None:
        cls.seen = True
        raise KeyboardInterrupt


def interrupted() -> bool:
    """Whether SIGINT arrived in this process (through the console script's handler)."""
    return _Interrupts.seen


def main() -> None:
    signal.signal(signal.SIGINT, _Interrupts.handler)
    try:
        from .main import main as run

        run()
    except KeyboardInterrupt:
        print("gcost: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except SystemExit:
        if _Interrupts.seen:
            sys.exit(EXIT_INTERRUPTED)
        raise
