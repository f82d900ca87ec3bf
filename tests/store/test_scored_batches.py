"""scored_batches: batch keys, the claim that lets one run score a batch, finished and recent batches."""

import multiprocessing
import os

from imdb_pipeline.store import artifacts, scored_batches


def test_batch_key_names_the_file_and_its_content(tmp_path):
    key = scored_batches.batch_key("a b.txt", "0123456789abcdef" * 4)
    assert key == "a%20b.txt__0123456789abcdef"
    assert scored_batches.batch_key("a b.txt", "f" * 64) != key


def test_any_file_name_gets_a_key_that_is_one_folder_name():
    odd = [os.fsdecode(b"\xff\xfe.txt"), "new\nline.txt", "-rf.txt", "é" * 120 + ".txt", ".." + "x" * 250]
    keys = [scored_batches.batch_key(name, "ab" * 32) for name in odd]
    assert len(set(keys)) == len(keys)
    for key in keys:
        assert "/" not in key and "\n" not in key and not key.startswith(".")
        assert len(os.fsencode(f".{key}.claim")) <= 255 and key.isascii()


def _hold_claim(folder, key, ready, release):
    with scored_batches.claim(folder, key) as claimed:
        assert claimed
        ready.set()
        release.wait(10)


def test_a_claim_held_by_another_process_is_refused_and_freed_when_it_dies(tmp_path):
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_claim, args=(tmp_path, "k", ready, release))
    holder.start()
    assert ready.wait(10)
    with scored_batches.claim(tmp_path, "k") as claimed:
        assert not claimed
    holder.kill()  # a worker killed mid-batch: the kernel drops its lock
    holder.join()
    with scored_batches.claim(tmp_path, "k") as claimed:
        assert claimed


def test_finished_keys_lists_versions_per_batch(tmp_path):
    for version, key in [("v1", "a"), ("v2", "a"), ("v2", "b")]:
        with artifacts.stage_writer(scored_batches.scored_dir(tmp_path) / version, key) as out:
            out.path("scores", "scores.jsonl").write_text("")
    (scored_batches.scored_dir(tmp_path) / "v2" / ".c.partial-x").mkdir()
    (scored_batches.scored_dir(tmp_path) / "v2" / "unfinished").mkdir()
    assert scored_batches.finished_keys(tmp_path) == {"a": {"v1", "v2"}, "b": {"v2"}}


def test_recent_batches_newest_first(tmp_path):
    for age, key in enumerate(["old", "new"]):
        with artifacts.stage_writer(scored_batches.scored_dir(tmp_path) / "v1", key) as out:
            artifacts.write_json(out.path("stats", scored_batches.STATS), {"file": key})
        stats = scored_batches.scored_dir(tmp_path) / "v1" / key / scored_batches.STATS
        os.utime(stats, (1000 + age, 1000 + age))
    assert [row["file"] for row in scored_batches.recent_batches(tmp_path)] == ["new", "old"]
