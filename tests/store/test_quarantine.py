"""quarantine: an inbox entry set aside with its reason, on a local disk and in a bucket."""

from scoring_support import quarantined

from imdb_pipeline.store import quarantine


def test_quarantine_moves_the_file_beside_its_reason(tmp_path):
    path = tmp_path / "inbox" / "junk.txt"
    path.parent.mkdir()
    path.write_bytes(b"\x00\x01")
    folder = quarantine.quarantine(path, "junk.txt__00", "binary", "v1", tmp_path)
    assert not path.exists() and (folder / "junk.txt").read_bytes() == b"\x00\x01"
    assert quarantine.quarantine(path, "junk.txt__00", "binary", "v1", tmp_path) is None
    [row] = quarantined(tmp_path)
    assert (row["file"], row["reason"], row["model_version"]) == ("junk.txt", "binary", "v1")
