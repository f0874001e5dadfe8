"""A run is a folder: config.yaml, model.safetensors, metrics.jsonl, summary.json and pictures. It loads from
that folder alone. `train(config, out)` makes one in named stages, `ensure(config, out)` makes it only if it
is not finished (resuming a started one), `load(run_dir)` gives the model back, `draw` samples anything.
"""

from aeflow.runs.features import feature_extractor, score
from aeflow.runs.folder import CONFIG, SUMMARY, WEIGHTS, load, load_config, read_summary, weights_digest, write_summary
from aeflow.runs.pipeline import ensure, run_state
from aeflow.runs.sampling import SampleRequest, draw
from aeflow.runs.train import extend, make_config, train

__all__ = ["CONFIG", "SUMMARY", "WEIGHTS", "SampleRequest", "draw", "ensure", "extend", "feature_extractor", "load",
           "load_config", "make_config", "read_summary", "run_state", "score", "train", "weights_digest",
           "write_summary"]
