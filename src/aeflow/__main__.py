"""`python -m aeflow` and the `aeflow` command. Ctrl-C while the command line is still loading (click, yaml,
the configs) ends in one line as well: the import is inside the handler, not before it."""

import sys


def run() -> None:
    try:
        from aeflow.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("aeflow: interrupted (Ctrl-C) while starting; nothing was done\n")
        sys.exit(130)
    main()


if __name__ == "__main__":
    run()
