"""The console script's entry point: kept tiny, so that Ctrl-C is exit 130 from the first
instruction on. Two things make that harder than a `try/except KeyboardInterrupt`:

- some import-time library code swallows the KeyboardInterrupt, so the signal itself is
  remembered (any later ending is 130) and delivered again every RETRY_S by a timer until gcost
  is on its way out;
- torch aborts the process (SIGABRT) when interrupted inside its C extension's initialization,
  so while torch is being imported the interrupt is held back (the timer delivers it once the
  import has finished).
"""
from __future__ import annotations

import signal
import sys

from .interrupts import EXIT_INTERRUPTED, _Interrupts, ending


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
