"""Studies: lists of runs made with `aeflow.runs.ensure`, and what they measure and draw across them."""
