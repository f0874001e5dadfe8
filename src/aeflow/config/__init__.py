"""Configuration, split by job: `validation` (the type checker, from/to dicts, `checked`, the refusals),
`runs` (the run's dataclass configs), `yaml_io` (YAML files and KEY=VALUE options), `memory` (what the machine
can hold). The names every layer uses are re-exported here."""

from aeflow.config.memory import available_memory
from aeflow.config.runs import DATASET_NAMES, MIN_SCORED_IMAGES, DataConfig, RunConfig, TrainConfig, WeightSchedule
from aeflow.config.validation import check_fields, checked, choice, from_dict, require, to_dict
from aeflow.config.yaml_io import parse_assignments, read_yaml

__all__ = ["DATASET_NAMES", "MIN_SCORED_IMAGES", "DataConfig", "RunConfig", "TrainConfig", "WeightSchedule",
           "available_memory", "check_fields", "checked", "choice", "from_dict", "parse_assignments", "read_yaml",
           "require", "to_dict"]
