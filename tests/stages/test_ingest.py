"""Ingest: both sources give the same compact arrays; bad input gets one clear message."""

import bz2
import gzip
import io
import os
import shutil
import tarfile

import numpy as np
import pytest
from sample_data import write_aclimdb

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.core.parameters import PipelineConfig
from imdb_pipeline.data.input_limits import InputLimits
from imdb_pipeline.features import tokenizer
from imdb_pipeline.features.tokenized import load_split
from imdb_pipeline.stages import ingest
from imdb_pipeline.stages.runner import run_stage
from imdb_pipeline.store import artifacts


def run_ingest(tmp_path, **params):
    run_path = tmp_path / "run"
    return run_stage("ingest", params, run_path), run_path


def test_aclimdb_directory_and_tarball_give_identical_arrays(
    tiny_aclimdb_dir, tiny_aclimdb_tarball, tmp_path, artifact_root
):
    from_dir, _ = run_ingest(tmp_path / "a", data_path=str(tiny_aclimdb_dir))
    from_tar, _ = run_ingest(tmp_path / "b", data_path=str(tiny_aclimdb_tarball))
    for name in ("train_tokens", "test_tokens"):
        a, b = artifacts.load_arrays(from_dir[name]), artifacts.load_arrays(from_tar[name])
        assert all(np.array_equal(a[key], b[key]) for key in ("tokens", "offsets", "labels"))
    assert artifacts.read_json(from_dir["word_index"]) == artifacts.read_json(from_tar["word_index"])


def test_aclimdb_arrays_are_compact_keras_style_sequences(tiny_aclimdb_dir, tmp_path, artifact_root):
    outputs, run_path = run_ingest(tmp_path, data_path=str(tiny_aclimdb_dir))
    train = load_split(outputs["train_tokens"])
    assert (train.tokens.dtype, train.offsets.dtype, train.labels.dtype) == (np.int32, np.int64, np.uint8)
    assert len(train) == 120 and train.labels.sum() == 60  # unsup/ ignored
    assert (train.tokens[train.offsets[:-1]] == tokenizer.START).all()
    word_rank = artifacts.read_json(outputs["word_index"])
    assert "br" not in word_rank and "really" in word_rank  # <br /> removed, punctuation stripped
    assert word_rank[max(word_rank, key=lambda w: -word_rank[w])] == 1
    summary = artifacts.read_manifest(run_path / "ingest")["summary"]
    assert summary["reviews"] == {"train": 120, "test": 120}


def test_keras_npz_is_flattened_with_start_and_offset(tiny_keras_npz, tmp_path, artifact_root):
    outputs, _ = run_ingest(tmp_path, data_path=str(tiny_keras_npz))
    train = load_split(outputs["train_tokens"])
    raw = np.load(tiny_keras_npz, allow_pickle=True)["x_train"]
    first = train.tokens[train.offsets[0] : train.offsets[1]]
    assert first.tolist() == [tokenizer.START] + [rank + tokenizer.INDEX_FROM for rank in raw[0]]
    assert len(train) == len(raw)


def test_pickled_npz_that_is_not_keras_published_file_is_refused(
    tiny_keras_npz_file, tmp_path, artifact_root
):
    with pytest.raises(PipelineInputError, match=r"not Keras' published imdb\.npz"):
        run_ingest(tmp_path, data_path=str(tiny_keras_npz_file))
    assert not (tmp_path / "run" / "ingest").exists()


def test_npz_with_wrong_keys_is_refused(tmp_path, artifact_root):
    path = tmp_path / "imdb.npz"
    np.savez(path, features=np.zeros(3))
    with pytest.raises(PipelineInputError, match="lacks x_test, x_train, y_test, y_train"):
        run_ingest(tmp_path, data_path=str(path))


def test_missing_path_says_what_to_give(tmp_path, artifact_root):
    with pytest.raises(PipelineInputError, match="does not exist on this worker"):
        run_ingest(tmp_path, data_path=str(tmp_path / "nowhere.tar.gz"))


def test_empty_file_is_refused(tmp_path, artifact_root):
    empty = tmp_path / "aclImdb_v1.tar.gz"
    empty.write_bytes(b"")
    with pytest.raises(PipelineInputError, match="empty file"):
        run_ingest(tmp_path, data_path=str(empty))


def test_corrupt_archive_is_refused_and_nothing_is_left(tiny_aclimdb_tarball, tmp_path, artifact_root):
    corrupt = tmp_path / "aclImdb_v1.tar.gz"
    corrupt.write_bytes(tiny_aclimdb_tarball.read_bytes()[:2000])
    with pytest.raises(
        PipelineInputError,
        match="ends early, truncated or damaged: the compressed stream stops before its end",
    ):
        run_ingest(tmp_path, data_path=str(corrupt))
    assert list((tmp_path / "run").iterdir()) == []  # no ingest/ and no temporary folder


def test_not_gzip_is_refused(tmp_path, artifact_root):
    bogus = tmp_path / "aclImdb_v1.tar.gz"
    bogus.write_text("this is not an archive")
    with pytest.raises(PipelineInputError, match="not a readable tar archive"):
        run_ingest(tmp_path, data_path=str(bogus))


@pytest.mark.parametrize("member", ["../evil.txt", "/abs/evil.txt"])
def test_tarball_with_escaping_members_is_refused(tmp_path, member, artifact_root):
    archive_path = tmp_path / "aclImdb_evil.tar.gz"
    with tarfile.open(archive_path, "w:gz") as archive:
        info = tarfile.TarInfo(member)  # TarInfo keeps the name as given; add() would strip the "/"
        info.size = 1
        archive.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(PipelineInputError, match="unsafe member"):
        run_ingest(tmp_path, data_path=str(archive_path))


def test_tarball_with_symlink_is_refused(tmp_path, artifact_root):
    archive_path = tmp_path / "aclImdb_link.tar.gz"
    with tarfile.open(archive_path, "w:gz") as archive:
        link = tarfile.TarInfo("aclImdb/train/pos/0_9.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    with pytest.raises(PipelineInputError, match="link member"):
        run_ingest(tmp_path, data_path=str(archive_path))


def test_empty_split_is_refused(tmp_path, artifact_root):
    dataset = write_aclimdb(tmp_path / "data", per_class=3)
    for review in (dataset / "test").rglob("*.txt"):
        review.unlink()
    with pytest.raises(PipelineInputError, match="has no test reviews"):
        run_ingest(tmp_path, data_path=str(dataset))


def test_missing_class_is_refused(tmp_path, artifact_root):
    dataset = write_aclimdb(tmp_path / "data", per_class=3)
    for review in (dataset / "train" / "neg").glob("*.txt"):
        review.unlink()
    with pytest.raises(PipelineInputError, match="the train split has no neg reviews"):
        run_ingest(tmp_path, data_path=str(dataset))


def test_directory_without_dataset_layout_is_refused(tmp_path, artifact_root):
    with pytest.raises(PipelineInputError, match="has no train/ or test/ folder"):
        run_ingest(tmp_path, data_path=str(tmp_path))


def test_non_utf8_review_is_decoded_with_replacement_and_counted(tmp_path, artifact_root):
    dataset = write_aclimdb(tmp_path / "data", per_class=3)
    (dataset / "train" / "pos" / "99_10.txt").write_bytes(b"caf\xe9 was great \xff\xfe")
    outputs, run_path = run_ingest(tmp_path, data_path=str(dataset))
    summary = artifacts.read_manifest(run_path / "ingest")["summary"]
    assert summary["undecodable_reviews"] == {"train": 1, "test": 0}
    assert "caf\ufffd" in artifacts.read_json(outputs["word_index"])


def test_keras_source_reads_word_index_beside_the_npz(tiny_keras_npz, tmp_path, artifact_root):
    (tiny_keras_npz.parent / "imdb_word_index.json").rename(tmp_path / "moved.json")
    try:
        with pytest.raises(PipelineInputError, match=r"imdb_word_index\.json is missing"):
            run_ingest(tmp_path, data_path=str(tiny_keras_npz))
    finally:
        (tmp_path / "moved.json").rename(tiny_keras_npz.parent / "imdb_word_index.json")


def test_config_is_validated_before_anything_is_read(tmp_path, artifact_root):
    with pytest.raises(PipelineInputError, match="num_words"):
        run_ingest(tmp_path, num_words=2)
    assert not (tmp_path / "run").exists()


def test_download_without_network_fails_with_advice(tmp_path, artifact_root, monkeypatch):
    from imdb_pipeline.store import downloads

    monkeypatch.setattr(downloads, "KERAS_ORIGIN", "http://127.0.0.1:9/")  # discard port: refused
    with pytest.raises(downloads.DownloadError, match="set data_path to a local copy"):
        ingest.locate_data(PipelineConfig.from_params({}), artifacts.cache_dir(), InputLimits.from_env())
    assert list(artifacts.cache_dir().glob("*.partial")) == []


def test_summary_states_counts_per_class_duplicates_and_overlap(tmp_path, artifact_root):
    dataset = write_aclimdb(tmp_path / "data", per_class=3)
    shutil.copy(dataset / "train" / "pos" / "0_8.txt", dataset / "train" / "pos" / "7_8.txt")
    shutil.copy(dataset / "train" / "neg" / "1_2.txt", dataset / "test" / "neg" / "7_2.txt")
    _, run_path = run_ingest(tmp_path, data_path=str(dataset))
    summary = artifacts.read_manifest(run_path / "ingest")["summary"]
    assert summary["reviews"] == {"train": 7, "test": 7}
    assert summary["reviews_by_class"] == {"train": {"neg": 3, "pos": 4}, "test": {"neg": 4, "pos": 3}}
    assert summary["duplicate_reviews"] == {"train": 1, "test": 0}
    assert summary["test_reviews_also_in_train"] == 1


def test_a_bzip2_tarball_is_read_like_its_gzip_twin(
    tiny_aclimdb_dir, tiny_aclimdb_tarball, tmp_path, artifact_root
):
    bzipped = tmp_path / "aclImdb_v1.tar.bz2"
    bzipped.write_bytes(bz2.compress(gzip.decompress(tiny_aclimdb_tarball.read_bytes())))
    from_gzip, _ = run_ingest(tmp_path / "a", data_path=str(tiny_aclimdb_tarball))
    from_bzip2, _ = run_ingest(tmp_path / "b", data_path=str(bzipped), source="aclimdb")
    for name in ("train_tokens", "test_tokens", "word_index"):
        assert artifacts.sha256_file(from_gzip[name]) == artifacts.sha256_file(from_bzip2[name]), name


def test_a_missing_worker_data_path_is_named_as_such(tmp_path, artifact_root, monkeypatch):
    monkeypatch.setenv("IMDB_DATA_PATH", str(tmp_path / "gone" / "aclImdb"))
    with pytest.raises(
        PipelineInputError,
        match=r"^IMDB_DATA_PATH \(this worker's environment\) '.*gone/aclImdb' does not exist",
    ):
        run_ingest(tmp_path)
    assert not (tmp_path / "run" / "ingest").exists()


def test_a_worker_data_path_of_the_wrong_kind_is_named_as_such(tmp_path, artifact_root, monkeypatch):
    (tmp_path / "notes.txt").write_text("not data")
    monkeypatch.setenv("IMDB_DATA_PATH", str(tmp_path / "notes.txt"))
    with pytest.raises(
        PipelineInputError, match=r"^IMDB_DATA_PATH \(this worker's environment\) .* fix IMDB_DATA_PATH"
    ):
        run_ingest(tmp_path)


def test_a_device_as_data_path_is_refused_before_reading(tmp_path, artifact_root):
    with pytest.raises(
        PipelineInputError, match="data_path '/dev/zero' is a character device, not a regular file"
    ):
        run_ingest(tmp_path, data_path="/dev/zero", source="aclimdb")
    assert list((tmp_path / "run").iterdir()) == []


def test_a_truncated_tarball_fails_the_stage_and_writes_nothing(
    tiny_aclimdb_tarball, tmp_path, artifact_root
):
    cut = tmp_path / "aclImdb_v1.tar"
    cut.write_bytes(gzip.decompress(tiny_aclimdb_tarball.read_bytes())[: 512 * 200])
    with pytest.raises(PipelineInputError, match="ends early, truncated or damaged"):
        run_ingest(tmp_path, data_path=str(cut))
    assert list((tmp_path / "run").iterdir()) == []


def test_running_out_of_memory_is_an_input_error_not_retried(
    tiny_aclimdb_dir, tmp_path, artifact_root, monkeypatch
):
    def exhausted(*args):
        raise MemoryError

    monkeypatch.setattr(ingest, "read_aclimdb", exhausted)
    with pytest.raises(PipelineInputError, match=r"ran out of memory reading the data.*IMDB_MAX_DATA_BYTES"):
        run_ingest(tmp_path, data_path=str(tiny_aclimdb_dir))
    assert list((tmp_path / "run").iterdir()) == []


def npz_with_label_2(folder):
    x = np.array([[4, 5], [6, 7]], dtype=np.int32)
    np.savez(folder / "imdb.npz", x_train=x, y_train=np.array([0, 2]), x_test=x, y_test=np.array([0, 1]))
    return folder / "imdb.npz"


def fifo_tarball(folder):
    os.mkfifo(folder / "aclImdb_v1.tar.gz")
    return folder / "aclImdb_v1.tar.gz"


def dataset_linking_out(folder):
    dataset = write_aclimdb(folder / "data", per_class=3)
    (folder / "outside.txt").write_text("secret")
    os.symlink(folder / "outside.txt", dataset / "train" / "pos" / "9_8.txt")
    return dataset


def dataset_with_a_long_review(folder):
    dataset = write_aclimdb(folder / "data", per_class=3)
    (dataset / "test" / "neg" / "9_1.txt").write_text("long " * 400)
    return dataset


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (npz_with_label_2, r"y_train holds labels other than 0 and 1 \(\[2\]\)"),
        (fifo_tarball, r"is a FIFO \(named pipe\), not a regular file or folder"),
        (dataset_linking_out, "outside the dataset"),
        (dataset_with_a_long_review, "the review is over the limit of 1,000 bytes in one review"),
    ],
)
def test_bad_input_of_each_class_fails_the_stage_and_writes_nothing(
    tmp_path, artifact_root, monkeypatch, make, message
):
    monkeypatch.setenv("IMDB_MAX_REVIEW_BYTES", "1000")
    with pytest.raises(PipelineInputError, match=message):
        run_ingest(tmp_path, data_path=str(make(tmp_path)))
    assert not (tmp_path / "run").exists() or list((tmp_path / "run").iterdir()) == []


def test_summary_records_the_path_as_given_beside_the_path_read(
    tiny_aclimdb_dir, tmp_path, artifact_root, monkeypatch
):
    link = tmp_path / "data-link"
    link.symlink_to(tiny_aclimdb_dir, target_is_directory=True)
    monkeypatch.setenv("IMDB_DATA_PATH", str(link))  # a worker's copy, reached through a symlink
    _, run_path = run_ingest(tmp_path)
    summary = artifacts.read_manifest(run_path / "ingest")["summary"]
    assert summary["data_path"] == str(tiny_aclimdb_dir.resolve())  # as before: the path read
    assert (summary["data_path_as_given"], summary["data_path_from"]) == (str(link), "IMDB_DATA_PATH")
    monkeypatch.delenv("IMDB_DATA_PATH")
    assert ingest.data_path_as_given(PipelineConfig.from_params({})) == ("", "download")
    typed = PipelineConfig.from_params({"data_path": "~/imdb.npz"})
    assert ingest.data_path_as_given(typed) == ("~/imdb.npz", "data_path")
