"""Errors a user can act on. The CLI prints their message on one line and exits with `exit_code`."""


class AeflowError(Exception):
    """Base class: a problem with the user's input, named together with its fix."""

    exit_code = 2


class ConfigError(AeflowError):
    """An unknown name, a bad value or an inconsistent configuration."""


class Mismatch(ConfigError):
    """A folder holds something other than what was asked for (another run, another lineage): not reused."""


class DataError(AeflowError):
    """A dataset file that is missing, truncated, corrupt or of the wrong kind."""


class TrainingError(AeflowError):
    """Training cannot go on (e.g. the loss became NaN); the last good checkpoint is kept."""

    exit_code = 1


class Interrupted(Exception):
    """Work was stopped by the user (Ctrl-C); what was finished is kept and the same command continues it."""

    exit_code = 130


class Cancelled(Exception):
    """Work stopped because nobody waits for its result any more (a request the client dropped)."""


class ConformanceError(AeflowError):
    """A model does not behave as the capabilities it declares say (`aeflow.check_model`)."""
