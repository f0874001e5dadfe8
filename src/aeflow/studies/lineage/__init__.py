"""`aeflow lineage`: the whole story as one command. Thirteen chapters (in order, or in lanes side by side:
lanes.py) as lists of runs made with `aeflow.runs.ensure` under one folder, each measured by aeflow's own
metrics and drawn; every claim of the story is judged held, not held or unsettled from those numbers; one
report (report.html, .md, .json) tells it.
Interrupt it anywhere and run the same command again: finished chapters are reused (their runs' weights
digests prove it) and the unfinished one continues from its runs' checkpoints.

The package's top imports nothing heavy (the CLI checks a budget's name before torch loads); the work is
in run.py (`run_lineage`), chapters.py, claims.py, book.py and budgets.py.
"""

from aeflow.studies.lineage.budgets import BUDGETS, Budget, budget_for

__all__ = ["BUDGETS", "Budget", "budget_for"]
