"""Errors that retrying cannot fix.

A ``PipelineInputError`` means the input (a path, an archive, a parameter) is wrong: the DAG's
retry policy fails such a task at once instead of retrying it, and the message says what to do.
"""


class PipelineInputError(ValueError):
    """Bad input: a missing or corrupt file, an empty split, an invalid parameter."""


class MissingUpstreamError(PipelineInputError):
    """A stage's inputs are not in the run folder: an earlier stage has to run first."""
