"""The library's own exception types: every error a user can cause is one of these."""


class RadiodiffError(Exception):
    """Base class: a problem the user can fix (the message says what, where and what to do)."""


class ConfigError(RadiodiffError):
    """A config file or value is wrong: unknown key, wrong type, impossible value."""


class DataError(RadiodiffError):
    """A data set folder or file is missing or not in the expected layout."""


class CheckpointError(RadiodiffError):
    """A checkpoint is missing, corrupt, foreign or of another architecture."""


class LogFormatError(RadiodiffError):
    """A log file cannot be read as a training log (empty, no training lines, unreadable)."""


class TrainingError(RadiodiffError):
    """Training cannot go on (non-finite loss, impossible resume)."""


class NotebookError(RadiodiffError):
    """A notebook parameter is unknown or a notebook cell failed."""


class ConfigWarning(UserWarning):
    """A config value that is valid but probably not what was meant (said at the start of training)."""


class AnalysisError(RadiodiffError, ValueError):
    """An analysis or plot argument is impossible (unknown metric, bad smoothing weight, ...)."""


class DataWarning(UserWarning):
    """Data read in a way worth knowing (a PNG converted to grey without loss), said once per kind."""


class OutputError(RadiodiffError):
    """An output file or folder cannot be written: a file where a folder is wanted, no permission,
    a read-only disk, or another process writing it."""
