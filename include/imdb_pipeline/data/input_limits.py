"""The limits every reader of input data checks before it reads or allocates, and how to raise them.

Readers stream, so memory follows what is kept (the review text being tokenized and the token
arrays), never the size an archive claims. The defaults hold the Large Movie Review Dataset
(labeled or complete) with room to spare; a larger corpus raises them in the worker's environment.
"""

from __future__ import annotations

import dataclasses
import os

from imdb_pipeline.core.errors import PipelineInputError


@dataclasses.dataclass(frozen=True)
class Limit:
    env: str
    default: int
    unit: str
    ceiling: int  # a larger value is a typo, not a setting: refused (it would not fit a read's size either)


LIMITS = {
    "data_bytes": Limit("IMDB_MAX_DATA_BYTES", 512 << 20, "uncompressed bytes of data", 1 << 40),
    "review_bytes": Limit("IMDB_MAX_REVIEW_BYTES", 1 << 20, "bytes in one review", 1 << 30),
    "members": Limit("IMDB_MAX_MEMBERS", 250_000, "archive members, folder entries or reviews", 1 << 31),
}


@dataclasses.dataclass(frozen=True)
class InputLimits:
    data_bytes: int
    review_bytes: int
    members: int

    @classmethod
    def from_env(cls) -> InputLimits:
        return cls(**{name: _value(limit) for name, limit in LIMITS.items()})

    def check(self, source: object, name: str, amount: int, what: str) -> None:
        """Refuse ``amount`` (of ``what``, in ``source``) when it passes the limit ``name``."""
        value, limit = getattr(self, name), LIMITS[name]
        if amount > value:
            raise PipelineInputError(
                f"{source}: {what} is over the limit of {value:,} {limit.unit} ({limit.env}). "
                f"If the data is genuine, raise {limit.env} in the worker's environment "
                "(its memory must hold the reviews' tokens)."
            )


def _value(limit: Limit) -> int:
    raw = os.environ.get(limit.env, "").strip()
    if not raw:
        return limit.default
    if not (raw.isascii() and raw.isdigit() and len(raw) < 20 and 1 <= int(raw) <= limit.ceiling):
        raise PipelineInputError(
            f"{limit.env}={raw[:40]!r} in the worker's environment is not a whole number of {limit.unit} "
            f"from 1 to {limit.ceiling:,}: set it to one (default {limit.default:,}) or unset it."
        )
    return int(raw)


def check_setting(name: str, value: int, flag: str) -> int:
    """A command-line override of limit ``name``, refused outside 1..ceiling like the variable."""
    limit = LIMITS[name]
    if not 1 <= value <= limit.ceiling:
        raise PipelineInputError(
            f"{flag} {value} is not a number of {limit.unit} from 1 to {limit.ceiling:,} "
            f"(default {limit.default:,}, or {limit.env})."
        )
    return value
