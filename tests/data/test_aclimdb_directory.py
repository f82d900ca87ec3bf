"""The folder reader: regular files inside the dataset only, sizes and counts within the limits."""

import contextlib
import os

import pytest
from sample_data import write_aclimdb

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.data import aclimdb_directory
from imdb_pipeline.data.aclimdb_directory import iter_directory
from imdb_pipeline.data.input_limits import InputLimits

LIMITS = InputLimits.from_env()


@pytest.fixture
def dataset(tmp_path):
    return write_aclimdb(tmp_path / "data", per_class=3)


def test_reviews_come_split_by_split_class_by_class_in_name_order(dataset):
    paths = [review.path for review in iter_directory(dataset, LIMITS)]
    assert paths[:3] == ["train/neg/0_2.txt", "train/neg/1_2.txt", "train/neg/2_2.txt"]
    assert len(paths) == 12 and paths[-1] == "test/pos/2_8.txt"  # unsup/ and README ignored


def test_a_link_inside_the_dataset_is_read(dataset):
    os.symlink(dataset / "train" / "pos" / "0_8.txt", dataset / "train" / "pos" / "9_8.txt")
    assert len(list(iter_directory(dataset, LIMITS))) == 13


def test_a_review_linking_out_of_the_dataset_is_refused(dataset, tmp_path):
    (tmp_path / "secret.txt").write_text("not a review")
    os.symlink(tmp_path / "secret.txt", dataset / "train" / "pos" / "9_8.txt")
    with pytest.raises(PipelineInputError, match=r"is a symbolic link to .*secret\.txt, outside the dataset"):
        list(iter_directory(dataset, LIMITS))


def test_a_class_folder_linking_out_of_the_dataset_is_refused(dataset, tmp_path):
    (dataset / "test" / "neg").rename(tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", dataset / "test" / "neg")
    with pytest.raises(PipelineInputError, match="outside the dataset"):
        list(iter_directory(dataset, LIMITS))


def test_a_fifo_review_is_refused_without_waiting(dataset):
    os.mkfifo(dataset / "train" / "pos" / "9_8.txt")
    with pytest.raises(PipelineInputError, match=r"9_8\.txt is a FIFO \(named pipe\), not a regular file"):
        list(iter_directory(dataset, LIMITS))


def test_a_review_over_the_size_limit_is_refused(dataset):
    (dataset / "test" / "pos" / "9_8.txt").write_bytes(b"word " * 300)
    limits = InputLimits(data_bytes=1 << 20, review_bytes=1000, members=1000)
    with pytest.raises(
        PipelineInputError, match=r"9_8\.txt: the review is over the limit of 1,000 .*IMDB_MAX_REVIEW_BYTES"
    ):
        list(iter_directory(dataset, limits))


def test_reviews_over_the_data_limit_are_refused(dataset):
    limits = InputLimits(data_bytes=500, review_bytes=1000, members=1000)
    with pytest.raises(
        PipelineInputError, match=r"the reviews' total size is over the limit of 500 .*IMDB_MAX_DATA_BYTES"
    ):
        list(iter_directory(dataset, limits))


def test_too_many_files_are_refused_before_they_are_listed_whole(dataset, monkeypatch):
    crowded = dataset / "train" / "neg"  # the first folder read
    for i in range(100):
        (crowded / f"{i + 10}_2.txt").write_text("one more review")
    listed, real_scandir = [], os.scandir

    @contextlib.contextmanager
    def counted_scandir(folder):
        with real_scandir(folder) as listing:
            yield (listed.append(entry.name) or entry for entry in listing)

    opened, real_open = [], aclimdb_directory.open_regular_file
    monkeypatch.setattr(os, "scandir", counted_scandir)
    monkeypatch.setattr(
        aclimdb_directory, "open_regular_file", lambda path: opened.append(path) or real_open(path)
    )
    limits = InputLimits(data_bytes=1 << 20, review_bytes=1000, members=4)
    with pytest.raises(
        PipelineInputError,
        match=r"number of files in the review folders is over the limit of 4 .*IMDB_MAX_MEMBERS",
    ):
        list(iter_directory(dataset, limits))
    # The listing stopped at the first file over the limit: 5 of the folder's 103, none of them read.
    assert len(listed) == 5 and len(os.listdir(crowded)) == 103
    assert opened == []
