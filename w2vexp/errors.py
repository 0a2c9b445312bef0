"""The exceptions that reach the user as one clear line instead of a stack trace.

They derive from Hydra's CompactHydraException, which Hydra reports by its message alone (no
stack trace) and with a non-zero exit -- also when it is a job of a multirun that failed, after
the other jobs have run.
"""
from hydra.errors import CompactHydraException


class UserError(CompactHydraException):
    """A problem with the user's input (config, corpus, run folder)."""

    exit_code = 2


class DataError(UserError):
    """The corpus cannot be used (missing, empty, binary, too small, download failed)."""


class RunFolderError(UserError):
    """The run folder cannot be used (locked by another process, refused by resume=never, ...)."""


class TrainingFailed(UserError):
    """Training stopped for a reason recorded in run.json (diverged, no good checkpoint)."""

    exit_code = 1
