"""Errors that retrying cannot fix, and how a command line reports them.

A ``PipelineInputError`` means the input (a path, an archive, a parameter) is wrong: the DAG's
retry policy fails such a task at once instead of retrying it, and the message says what to do.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


class PipelineInputError(ValueError):
    """Bad input: a missing or corrupt file, an empty split, an invalid parameter."""


class MissingUpstreamError(PipelineInputError):
    """A stage's inputs are not in the run folder: an earlier stage has to run first."""


class StorageUnavailableError(ConnectionError):
    """The artifact store cannot be reached (a network, an endpoint): a retry may help, unlike bad input."""


def run_cli(command: Callable[..., Any], *args: Any) -> int:
    """A command line's exit status: 0 once ``command(*args)`` returns; 2 when it raises
    ``PipelineInputError``, 3 for ``StorageUnavailableError``, after one line ``error: <message>`` on
    stderr (the message is the whole story, no traceback)."""
    try:
        command(*args)
    except PipelineInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except StorageUnavailableError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    return 0
