"""`python -m aeflow` and the `aeflow` command. Ctrl-C while the command line is still loading (click, yaml,
the configs) ends in one line as well: the import is inside the handler, not before it."""

import os
import signal
import sys

INTERRUPTED = 130


def run() -> None:
    try:
        from aeflow.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("aeflow: interrupted (Ctrl-C) while starting; nothing was done\n")
        sys.exit(INTERRUPTED)
    try:
        main()
    except SystemExit as e:
        if e.code != INTERRUPTED:
            signal.signal(signal.SIGINT, signal.SIG_IGN)   # below
            raise
        # A Ctrl-C that landed inside a C extension's import (torch runs Python code from C) leaves Python
        # marked as killed by SIGINT, and it would exit by that signal after the line was printed: say 130.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(INTERRUPTED)
    # The command has finished and said so; the interpreter's teardown (torch's threads, the modules) takes a
    # moment more, during which Python has put SIGINT back to the system's default: a Ctrl-C then would kill the
    # process without a word. There is nothing left to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    run()
