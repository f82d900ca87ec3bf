"""Input limits come from the worker's environment; bad values name the variable."""

import pytest

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.data.input_limits import LIMITS, InputLimits


def test_defaults_and_environment_overrides(monkeypatch):
    for limit in LIMITS.values():
        monkeypatch.delenv(limit.env, raising=False)
    assert InputLimits.from_env() == InputLimits(data_bytes=512 << 20, review_bytes=1 << 20, members=250_000)
    monkeypatch.setenv("IMDB_MAX_DATA_BYTES", "2000000000")
    assert InputLimits.from_env().data_bytes == 2_000_000_000


@pytest.mark.parametrize("value", ["-1", "0", "1e9", "lots", "99999999999999999999", "2147483649", "²"])
def test_a_bad_limit_value_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("IMDB_MAX_MEMBERS", value)
    with pytest.raises(
        PipelineInputError, match=r"IMDB_MAX_MEMBERS=.* is not a whole number of .* from 1 to 2,147,483,648"
    ):
        InputLimits.from_env()


def test_the_message_names_the_limit_and_how_to_raise_it():
    limits = InputLimits(data_bytes=10, review_bytes=10, members=10)
    limits.check("data.tar", "members", 10, "the number of archive members")  # at the limit: fine
    with pytest.raises(PipelineInputError) as raised:
        limits.check("data.tar", "members", 11, "the number of archive members")
    assert str(raised.value).startswith(
        "data.tar: the number of archive members is over the limit of 10 archive members, folder entries "
        "or reviews (IMDB_MAX_MEMBERS). If the data is genuine, raise IMDB_MAX_MEMBERS"
    )
