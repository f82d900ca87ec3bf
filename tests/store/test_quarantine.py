"""quarantine: an inbox entry set aside with its reason, on a local disk and in a bucket."""

import json

import pytest
from scoring_support import quarantined

from imdb_pipeline.store import artifacts, quarantine


def test_quarantine_moves_the_file_beside_its_reason(tmp_path):
    path = tmp_path / "inbox" / "junk.txt"
    path.parent.mkdir()
    path.write_bytes(b"\x00\x01")
    folder = quarantine.quarantine(path, "junk.txt__00", "binary", "v1", tmp_path)
    assert not path.exists() and (folder / "junk.txt").read_bytes() == b"\x00\x01"
    assert quarantine.quarantine(path, "junk.txt__00", "binary", "v1", tmp_path) is None
    [row] = quarantined(tmp_path)
    assert (row["file"], row["reason"], row["model_version"]) == ("junk.txt", "binary", "v1")


def test_a_bucket_object_leaves_the_inbox_only_if_it_is_still_the_one_judged(s3_root, tmp_path):
    root = artifacts.artifact_root()
    store, entry = root.store, root / "inbox" / "junk.txt"
    store.put(entry, b"\x00judged")
    judged = store.etag(entry)
    store.put(entry, b"replaced by the producer meanwhile")
    with pytest.raises(quarantine.FileChanged):
        quarantine.quarantine_object(entry, judged, "junk.txt__00", "binary", "v1", root)
    assert store.read(entry) == b"replaced by the producer meanwhile"
    assert store.children(root / "quarantine") == []  # nothing half-made left
    folder = quarantine.quarantine_object(entry, store.etag(entry), "junk.txt__00", "binary", "v1", root)
    assert (
        store.read(entry) is None and store.read(folder / "junk.txt") == b"replaced by the producer meanwhile"
    )
    assert json.loads(store.read(folder / "reason.json"))["reason"] == "binary"
