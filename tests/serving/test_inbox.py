"""inbox: which files are batches, and reading them in chunks with what was seen counted."""

import json
import os

import pytest

from imdb_pipeline.data.input_limits import InputLimits
from imdb_pipeline.serving import inbox, inbox_file, inbox_rows
from imdb_pipeline.store import artifacts


def read_all(path, limits=None):
    counts = inbox_rows.ReadCounts()
    ids, texts = [], []
    with inbox_file.BatchFile(path) as batch:
        for chunk in batch.chunks(counts, limits):
            ids += chunk.ids
            texts += chunk.texts
    return ids, texts, counts


def test_inbox_is_the_env_folder_else_under_the_artifact_root(tmp_path, monkeypatch):
    monkeypatch.delenv(inbox.INBOX_ENV, raising=False)
    assert inbox.inbox_dir(tmp_path) == tmp_path / "inbox"
    monkeypatch.setenv(inbox.INBOX_ENV, str(tmp_path / "drop"))
    assert inbox.inbox_dir(tmp_path) == tmp_path / "drop"


def test_entries_are_txt_and_jsonl_names_oldest_first_of_any_kind_never_followed(tmp_path):
    for age, name in enumerate(["new.txt", "old.jsonl", ".writing.txt", "notes.md", "mid.txt"]):
        path = tmp_path / name
        path.write_text("x\n")
        os.utime(path, (1000 - age * 10, 1000 - age * 10))
    (tmp_path / "folder.txt").mkdir()
    os.utime(tmp_path / "folder.txt", (2000, 2000))
    (tmp_path / "passwd.txt").symlink_to("/etc/passwd")
    os.utime(tmp_path / "passwd.txt", (3000, 3000), follow_symlinks=False)
    found = [(entry.path.name, entry.kind) for entry in inbox.entries(tmp_path)]
    assert found == [
        ("mid.txt", "regular file"),
        ("old.jsonl", "regular file"),
        ("new.txt", "regular file"),
        ("folder.txt", "folder"),
        ("passwd.txt", "symbolic link"),  # the link's own time: lstat, not its target's
    ]
    assert inbox.entries(tmp_path / "missing") == []


def test_names_print_on_one_line_whatever_their_bytes(tmp_path):
    assert artifacts.printable("a\nb.txt") == "a\\nb.txt"
    assert artifacts.printable(os.fsdecode(b"caf\xe9.txt")) == "caf\\xe9.txt"
    assert artifacts.printable("café.txt") == "café.txt"


def test_txt_ids_are_line_numbers_and_blank_lines_are_counted_not_scored(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"\xef\xbb\xbfGreat film\r\n\n   \nAwful plot\n")
    ids, texts, counts = read_all(path)
    assert (ids, texts) == ([1, 4], ["Great film", "Awful plot"])
    assert (counts.lines, counts.blank_rows, counts.undecodable_bytes) == (4, 2, 0)


def test_jsonl_rows_keep_their_ids(tmp_path):
    path = tmp_path / "a.jsonl"
    rows = [{"id": "r1", "text": "fine"}, {"id": 7, "text": " "}, {"id": "r3", "text": "bad", "extra": 1}]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    ids, texts, counts = read_all(path)
    assert (ids, texts, counts.blank_rows) == (["r1", "r3"], ["fine", "bad"], 1)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"id": 1, "review": "x"}', r"wrong columns \(\['id', 'review'\]\)"),
        ('["id", "text"]', "wrong columns"),
        ("not json", "is not JSON"),
        ('{"id": true, "text": "x"}', "'id' must be a string or a whole number"),
        ('{"id": 1, "text": 5}', "'text' a string"),
    ],
)
def test_a_jsonl_line_with_the_wrong_columns_quarantines_the_file(tmp_path, line, reason):
    path = tmp_path / "a.jsonl"
    path.write_text('{"id": 0, "text": "ok"}\n' + line + "\n")
    with pytest.raises(inbox.QuarantineError, match=r"line 2 of a\.jsonl.*" + reason):
        read_all(path)


def test_a_few_undecodable_bytes_are_counted_and_replaced(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"caf\xe9 good\n" + b"plain review text\n" * 40)
    _, texts, counts = read_all(path)
    assert texts[0] == "caf\ufffd good" and len(texts) == 41
    assert (counts.undecodable_rows, counts.undecodable_bytes) == (1, 1)


def test_binary_junk_is_quarantined(tmp_path):
    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"ok\n" + bytes(range(256)) * 4)
    with pytest.raises(
        inbox.QuarantineError, match=r"line 2 of nul\.txt holds NUL bytes: it is not a text file"
    ):
        read_all(nul)
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"\xe9\xe8\xe0 \xff\xfe\n" * 10)
    with pytest.raises(inbox.QuarantineError, match="bytes are not UTF-8 text"):
        read_all(latin)


def test_a_line_over_the_review_limit_and_a_non_file_are_quarantined(tmp_path):
    path = tmp_path / "long.txt"
    path.write_text("short\n" + "x" * 101 + "\n")
    with pytest.raises(inbox.QuarantineError, match=r"line 2 of long\.txt is longer than 100 bytes"):
        read_all(path, InputLimits(data_bytes=1 << 20, review_bytes=100, members=10))
    os.mkfifo(tmp_path / "pipe.txt")
    with pytest.raises(inbox.QuarantineError, match="not a regular file"):
        read_all(tmp_path / "pipe.txt")
    (tmp_path / "link.txt").symlink_to(tmp_path / "long.txt")
    with pytest.raises(inbox.QuarantineError, match="is a symbolic link: links are never followed"):
        read_all(tmp_path / "link.txt")
    with pytest.raises(FileNotFoundError):  # gone: skipped by the run, not quarantined
        read_all(tmp_path / "gone.txt")


def test_chunks_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(inbox_rows, "CHUNK_LINES", 3)
    path = tmp_path / "a.txt"
    path.write_text("".join(f"review {i}\n" for i in range(10)))
    with inbox_file.BatchFile(path) as batch:
        sizes = [len(chunk.texts) for chunk in batch.chunks(inbox_rows.ReadCounts())]
    assert sizes == [3, 3, 3, 1]
