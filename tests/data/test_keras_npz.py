"""The Keras .npz reader: shapes, dtypes, sizes and values checked before use, one message each."""

import io
import json
import zipfile

import numpy as np
import pytest

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.data.input_limits import InputLimits
from imdb_pipeline.data.keras_npz import keras_word_index, read_keras_npz
from imdb_pipeline.features import tokenizer

LIMITS = InputLimits.from_env()
X = np.array([[5, 6, 7], [8, 9, 10], [11, 12, 13], [1, 2, 3]], dtype=np.int32)
Y = np.array([0, 1, 1, 0], dtype=np.int64)


def write_npz(path, **overrides):
    arrays = {"x_train": X, "y_train": Y, "x_test": X, "y_test": Y, **overrides}
    np.savez(path, **arrays)
    return path


def read(path, limits=LIMITS):
    return read_keras_npz(path, trusted_pickled_sha256=(), limits=limits)


def test_padded_2d_sequences_are_read_with_start_tokens_and_offset_ranks(tmp_path):
    train = read(write_npz(tmp_path / "imdb.npz"))["train"]
    assert train.tokens[train.offsets[0] : train.offsets[1]].tolist() == [tokenizer.START, 8, 9, 10]
    assert train.labels.tolist() == [0, 1, 1, 0] and train.labels.dtype == np.uint8


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"y_train": np.array([0, 1, 2, 257])}, r"y_train holds labels other than 0 and 1 \(\[2, 257\]\)"),
        ({"y_test": np.zeros((4, 1), np.int64)}, "y_test is 2-D int64: expected one integer label"),
        ({"y_test": np.array([0.0, 1.0, 1.0, 0.0])}, "y_test is 1-D float64: expected one integer label"),
        ({"x_train": np.zeros((4, 3, 2), np.int32)}, r"x_train is 3-D \(4, 3, 2\): expected one sequence"),
        ({"x_train": np.arange(4)}, r"x_train is 1-D \(4,\): expected one sequence"),
        ({"x_train": X.astype(np.float32)}, "x_train holds float32 values, not integer word ranks"),
        ({"x_test": np.array([["a", "b"]] * 4)}, "x_test holds <U1 values, not integer word ranks"),
        ({"x_train": X - 6}, r"x_train holds negative word ranks \(-5\)"),
        ({"x_test": X.astype(np.int64) << 31}, "x_test holds word ranks up to .*, past 2,147,483,644"),
        ({"x_test": X[:3]}, "3 test reviews but 4 labels"),
        ({"x_train": X[:0], "y_train": Y[:0]}, "the train split is empty"),
        ({"y_train": np.zeros(4, np.int64)}, "the train labels must contain both 0 and 1"),
    ],
)
def test_malformed_arrays_are_refused_with_one_message_each(tmp_path, override, message):
    with pytest.raises(PipelineInputError, match=message):
        read(write_npz(tmp_path / "imdb.npz", **override))


def huge_header_npz(path):
    """A valid-looking .npz whose x_train header claims 10¹¹ int32 values, holding a few bytes."""
    with zipfile.ZipFile(path, "w") as archive:
        for key, array in {"y_train": Y, "x_test": X, "y_test": Y}.items():
            buffer = io.BytesIO()
            np.save(buffer, array)
            archive.writestr(f"{key}.npy", buffer.getvalue())
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": "<i4", "fortran_order": False, "shape": (100_000, 1_000_000)}
        )
        archive.writestr("x_train.npy", header.getvalue() + b"\x00" * 64)
    return path


def test_a_header_claiming_huge_sizes_is_refused_before_allocating(tmp_path):
    with pytest.raises(
        PipelineInputError, match=r"header of x_train claims \(100000, 1000000\) int32 .* it is corrupt"
    ):
        read(huge_header_npz(tmp_path / "imdb.npz"))


def test_arrays_over_the_data_limit_are_refused(tmp_path):
    limits = InputLimits(data_bytes=300, review_bytes=1 << 20, members=1000)
    with pytest.raises(
        PipelineInputError, match=r"the arrays' total size is over the limit of 300 .*IMDB_MAX_DATA_BYTES"
    ):
        read(write_npz(tmp_path / "imdb.npz"), limits)


def test_more_reviews_than_the_limit_are_refused(tmp_path):
    limits = InputLimits(data_bytes=1 << 20, review_bytes=1 << 20, members=3)
    with pytest.raises(
        PipelineInputError, match=r"the number of train reviews is over the limit of 3 .*IMDB_MAX_MEMBERS"
    ):
        read(write_npz(tmp_path / "imdb.npz"), limits)


@pytest.mark.parametrize("member", ["notes.txt", "x_train"])
def test_a_zip_that_is_not_an_npz_is_refused(tmp_path, member):
    with zipfile.ZipFile(tmp_path / "imdb.npz", "w") as archive:
        archive.writestr(member, "hello")
    with pytest.raises(PipelineInputError, match="lacks x_test, x_train, y_test, y_train"):
        read(tmp_path / "imdb.npz")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "is not valid JSON"),
        (json.dumps({"film": -1}).encode(), "is not a word index"),
        (b"[1, 2]", "is not a word index"),
    ],
)
def test_a_malformed_word_index_is_refused(tmp_path, content, message):
    (tmp_path / "imdb_word_index.json").write_bytes(content)
    with pytest.raises(PipelineInputError, match=message):
        keras_word_index(tmp_path / "imdb.npz", tmp_path / "cache", LIMITS)
