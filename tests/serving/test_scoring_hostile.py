"""The scoring loop under hostile input: one bad inbox entry never stops a run, exactly once is bound
to the bytes scored, no link is ever followed, any file name works, and the champion store refuses
what a promotion cannot have made. Each class of case of docs/reliability.md's scoring table.

The inbox cases run the real command (``python -m imdb_pipeline.serving.inbox_scoring``); the races are made
deterministic by doing the producer's move at a fixed point of an in-process run; the faults that
root cannot meet on its own machine (an unreadable file, an unwritable inbox) are injected.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scoring_support import drop, install_champion, reviews

from imdb_pipeline.serving import inbox_rows, inbox_scoring
from imdb_pipeline.serving.scorer import Scorer
from imdb_pipeline.store import artifacts, model_store, quarantine, scored_batches

pytestmark = pytest.mark.slow

NON_UTF8 = os.fsdecode(b"caf\xe9-\xff.txt")
LONG = "l" * 251 + ".txt"  # 255 bytes, the longest name the file system allows
GOOD = {  # name -> reviews; each must be scored exactly once
    "good.txt": 150,
    NON_UTF8: 20,
    "two\nlines.txt": 20,
    LONG: 20,
    "-rf.txt": 20,
}


def lines(count: int, seed: int = 0) -> bytes:
    return ("\n".join(reviews(count, seed)) + "\n").encode()


def run_scoring(root: Path, *args: str, inbox_dir: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "IMDB_ARTIFACT_ROOT": str(root), "TF_CPP_MIN_LOG_LEVEL": "2"}
    if inbox_dir is not None:
        env["IMDB_INBOX"] = str(inbox_dir)
    command = [sys.executable, "-m", "imdb_pipeline.serving.inbox_scoring", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def scored_rows(root: Path) -> dict[str, int]:
    """file (as logged) -> rows, over every finished batch of every version."""
    found = {}
    for stats in scored_batches.scored_dir(root).glob(f"*/*/{scored_batches.STATS}"):
        record = artifacts.read_json(stats)
        assert record["file"] not in found, f"{record['file']} scored twice"
        found[record["file"]] = record["rows"]
    return found


def quarantined(root: Path) -> dict[str, dict]:
    rows = {}
    for reason in quarantine.quarantine_dir(root).glob(f"*/{quarantine.REASON}"):
        record = artifacts.read_json(reason)
        rows[record["file"]] = {**record, "folder": reason.parent}
    return rows


@pytest.fixture
def champion_root(tiny_run, artifact_root):
    install_champion(tiny_run["outputs"], artifact_root, tiny_run["params"]["num_words"])
    return artifact_root


# --- one run of the real command over an inbox full of poison, links and odd names --------------


def test_poison_pills_links_and_odd_names_never_stop_the_run(champion_root):
    box = champion_root / "inbox"
    for age, (name, count) in enumerate(GOOD.items()):
        drop(box, name, lines(count, seed=age), age=age)
    good_jsonl = b"".join(
        json.dumps({"id": f"r{i}", "text": t}).encode() + b"\n" for i, t in enumerate(reviews(30))
    )
    drop(box, "good.jsonl", good_jsonl, age=10)
    surrogate = (
        json.dumps({"id": 1, "text": "a fine film"}) + "\n" + '{"id": 2, "text": "bad \\ud800 text"}\n'
    )
    drop(box, "surrogate.jsonl", surrogate.encode(), age=11)
    drop(box, "nested.jsonl", b'{"id": 1, "text": ' + b"[" * 1200 + b"]" * 1200 + b"}\n", age=12)
    drop(
        box,
        "dupes.jsonl",
        b"".join(json.dumps({"id": i % 3, "text": "good"}).encode() + b"\n" for i in range(5)),
    )
    drop(box, "junk.txt", bytes(range(256)) * 8, age=13)
    drop(box, "empty.txt", b"\n \n", age=14)
    (box / "passwd.txt").symlink_to("/etc/passwd")
    (box / "loop.txt").symlink_to("loop.txt")
    os.mkfifo(box / "pipe.txt")
    (box / "folder.jsonl").mkdir()

    first = run_scoring(champion_root)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Traceback" not in first.stderr
    summary = json.loads(first.stdout)
    status = {b["file"]: b["status"] for b in summary["batches"]}
    printable = {artifacts.printable(name): count for name, count in GOOD.items()}
    for name in [*printable, "good.jsonl", "surrogate.jsonl", "dupes.jsonl"]:
        assert status[name] == "scored", (name, status)
    for name in [
        "nested.jsonl",
        "junk.txt",
        "empty.txt",
        "passwd.txt",
        "loop.txt",
        "pipe.txt",
        "folder.jsonl",
    ]:
        assert status[name] == "quarantined", (name, status)
    assert scored_rows(champion_root) == {
        **printable,
        "good.jsonl": 30,
        "surrogate.jsonl": 2,
        "dupes.jsonl": 5,
    }
    assert all("\n" not in line for line in first.stderr.splitlines())
    assert "scored two\\nlines.txt: 20 rows" in first.stderr  # one log line, the name escaped

    by_file = {b["file"]: b for b in summary["batches"]}
    stats = artifacts.read_json(Path(by_file["dupes.jsonl"]["folder"]) / scored_batches.STATS)
    assert (stats["duplicate_ids"], by_file["dupes.jsonl"]["duplicate_ids"]) == (2, 2)
    stats = artifacts.read_json(Path(by_file["surrogate.jsonl"]["folder"]) / scored_batches.STATS)
    assert stats["undecodable_rows"] == 1  # the lone surrogate became U+FFFD, and was counted

    reasons = quarantined(champion_root)
    assert "nested too deeply" in reasons["nested.jsonl"]["reason"]
    for link in ("passwd.txt", "loop.txt"):  # the link itself is set aside, never what it points to
        assert "symbolic link" in reasons[link]["reason"]
        assert (reasons[link]["folder"] / link).is_symlink()
    assert os.readlink(reasons["passwd.txt"]["folder"] / "passwd.txt") == "/etc/passwd"
    assert [reasons[name]["folder"].name for name in ("passwd.txt", "pipe.txt", "folder.jsonl")] == [
        "passwd.txt__link",
        "pipe.txt__fifo",
        "folder.jsonl__folder",
    ]
    assert "FIFO" in reasons["pipe.txt"]["reason"] and "folder" in reasons["folder.jsonl"]["reason"]
    passwd = Path("/etc/passwd").read_bytes()
    for path in champion_root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert passwd not in path.read_bytes(), f"{path} holds /etc/passwd"
    assert sorted(os.listdir(box)) == sorted([*GOOD, "dupes.jsonl", "good.jsonl", "surrogate.jsonl"])

    again = run_scoring(champion_root)
    assert again.returncode == 0 and json.loads(again.stdout)["batches"] == []  # nothing twice


def test_repeated_ids_can_quarantine_the_file(champion_root):
    drop(champion_root / "inbox", "dupes.jsonl", b'{"id": 7, "text": "good"}\n' * 3)
    result = run_scoring(champion_root, "--duplicate-ids", "quarantine")
    assert result.returncode == 0, result.stderr[-2000:]
    [batch] = json.loads(result.stdout)["batches"]
    assert batch["status"] == "quarantined" and "repeats 2 id(s)" in batch["reason"]


def test_an_inbox_on_another_file_system_moves_links_as_links_and_copies_only_files(champion_root):
    shm = Path("/dev/shm")
    if os.stat(shm).st_dev == os.stat(champion_root.parent).st_dev:
        pytest.fail("/dev/shm is on the test folder's file system: this test needs two file systems")
    box = Path(os.fsdecode(shm / f"imdb-inbox-{os.getpid()}"))
    box.mkdir()
    try:
        (box / "env.txt").symlink_to("/proc/self/environ")
        drop(box, "junk.txt", bytes(range(256)) * 8)
        drop(box, "good.txt", lines(20))
        result = run_scoring(champion_root, inbox_dir=box)
        assert result.returncode == 0, result.stderr[-2000:]
        reasons = quarantined(champion_root)
        env_copy = reasons["env.txt"]["folder"] / "env.txt"
        assert env_copy.is_symlink() and os.readlink(env_copy) == "/proc/self/environ"
        junk = reasons["junk.txt"]["folder"] / "junk.txt"
        assert junk.read_bytes() == bytes(range(256)) * 8 and (junk.stat().st_mode & 0o077) == 0
        assert sorted(os.listdir(box)) == ["good.txt"] and scored_rows(champion_root) == {"good.txt": 20}
    finally:
        for path in box.iterdir():
            path.unlink()
        box.rmdir()


# --- the producer's moves at fixed points of a run ----------------------------------------------


def test_a_file_renamed_over_after_planning_is_scored_as_it_is_under_its_own_key(champion_root, monkeypatch):
    box = champion_root / "inbox"
    drop(box, "daily.txt", lines(200, seed=1))
    planned = inbox_scoring.plan

    def producer_renames_over(*args):
        chosen = planned(*args)
        (box / ".daily").write_bytes(lines(300, seed=2))
        os.replace(box / ".daily", box / "daily.txt")  # the documented protocol, mid-run
        return chosen

    monkeypatch.setattr(inbox_scoring, "plan", producer_renames_over)
    [batch] = inbox_scoring.score_inbox(root=champion_root)["batches"]
    assert batch["status"] == "scored" and batch["rows"] == 300
    key = scored_batches.batch_key("daily.txt", artifacts.sha256_file(box / "daily.txt"))
    assert batch["key"] == key  # the key names the bytes that were scored
    monkeypatch.setattr(inbox_scoring, "plan", planned)
    assert inbox_scoring.score_inbox(root=champion_root)["batches"] == []  # not again under another key


@pytest.mark.parametrize("change", ["append", "truncate", "rewrite in place"])
def test_a_file_changed_while_scored_is_left_for_the_next_run(champion_root, monkeypatch, change):
    box = champion_root / "inbox"
    path = drop(box, "daily.txt", lines(12000))
    assert path.stat().st_size > 2 << 20  # larger than the reader's buffer: the change lands unread
    monkeypatch.setattr(inbox_rows, "CHUNK_LINES", 500)
    real = Scorer.score_counting

    def producer_writes(*args):
        if not producer_writes.done:
            producer_writes.done = True
            with open(path, "r+b") as handle:
                if change == "append":
                    handle.seek(0, os.SEEK_END)
                    handle.write(lines(250, seed=9))
                elif change == "truncate":
                    handle.truncate(1000)
                else:  # the bytes not read yet; bytes already read were scored as they were
                    handle.seek(-100, os.SEEK_END)
                    handle.write(b"X" * 99 + b"\n")
        return real(*args)

    producer_writes.done = False
    monkeypatch.setattr(Scorer, "score_counting", producer_writes)
    [batch] = inbox_scoring.score_inbox(root=champion_root)["batches"]
    assert batch["status"] == "changed" and "left for the next run" in batch["reason"]
    assert scored_rows(champion_root) == {}  # nothing stored under the old content's key
    monkeypatch.setattr(Scorer, "score_counting", real)
    [batch] = inbox_scoring.score_inbox(root=champion_root)["batches"]
    assert batch["status"] == "scored"
    assert batch["key"] == scored_batches.batch_key("daily.txt", artifacts.sha256_file(path))
    assert scored_rows(champion_root) == {"daily.txt": batch["rows"]}


def test_a_file_renamed_over_while_scored_is_scored_as_it_was_when_opened(champion_root, monkeypatch):
    box = champion_root / "inbox"
    before = lines(1500, seed=1)
    drop(box, "daily.txt", before)
    monkeypatch.setattr(inbox_rows, "CHUNK_LINES", 500)
    real = Scorer.score_counting

    def producer_renames_over(*args):
        if (box / "daily.txt").read_bytes() == before:  # once: the first chunk
            (box / ".daily").write_bytes(lines(100, seed=2))
            os.replace(box / ".daily", box / "daily.txt")
        return real(*args)

    monkeypatch.setattr(Scorer, "score_counting", producer_renames_over)
    [old] = inbox_scoring.score_inbox(root=champion_root)["batches"]
    assert (old["status"], old["rows"]) == ("scored", 1500)
    assert old["key"] == scored_batches.batch_key("daily.txt", artifacts.hashlib.sha256(before).hexdigest())
    monkeypatch.setattr(Scorer, "score_counting", real)
    [new] = inbox_scoring.score_inbox(root=champion_root)["batches"]  # the new content: its own batch
    assert (new["status"], new["rows"]) == ("scored", 100) and new["key"] != old["key"]


@pytest.mark.parametrize("swap", ["archived", "FIFO", "symlink"])
def test_an_entry_moved_or_swapped_after_planning_is_skipped_or_set_aside(champion_root, monkeypatch, swap):
    box = champion_root / "inbox"
    drop(box, "a.txt", lines(20), age=1)
    drop(box, "b.txt", lines(20, seed=1), age=2)
    planned = inbox_scoring.plan

    def someone_moves_a(*args):
        chosen = planned(*args)
        archive = champion_root / "archive"
        archive.mkdir(exist_ok=True)
        os.replace(box / "a.txt", archive / "a.txt")
        if swap == "FIFO":
            os.mkfifo(box / ".a")
            os.replace(box / ".a", box / "a.txt")
        elif swap == "symlink":
            (box / "a.txt").symlink_to(archive / "a.txt")
        return chosen

    monkeypatch.setattr(inbox_scoring, "plan", someone_moves_a)
    status = {b["file"]: b["status"] for b in inbox_scoring.score_inbox(root=champion_root)["batches"]}
    assert status == {
        "a.txt": {"archived": "gone", "FIFO": "quarantined", "symlink": "quarantined"}[swap],
        "b.txt": "scored",
    }
    if swap != "archived":
        assert not (box / "a.txt").exists() and not (box / "a.txt").is_symlink()


def test_an_unreadable_file_is_quarantined_and_an_unmovable_one_is_refused_in_place(
    champion_root, monkeypatch
):
    box = champion_root / "inbox"
    drop(box, "locked.txt", lines(20), age=1)
    drop(box, "junk.txt", bytes(range(256)) * 8, age=2)
    drop(box, "good.txt", lines(20, seed=1), age=3)
    real_open, real_rename = os.open, os.rename

    def no_read(path, flags, *args, **kwargs):  # what EACCES does to a worker that is not root
        if str(path).endswith("locked.txt") and not flags & (os.O_WRONLY | os.O_RDWR):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    def no_move(source, target, *args, **kwargs):  # an inbox the worker may not write
        if Path(source).parent == box:
            raise PermissionError(errno.EACCES, "Permission denied", str(source))
        return real_rename(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_read)
    summary = inbox_scoring.score_inbox(root=champion_root)
    status = {b["file"]: (b["status"], b["reason"]) for b in summary["batches"] if b["file"] != "good.txt"}
    assert status["locked.txt"] == ("quarantined", "locked.txt cannot be read (Permission denied).")
    assert status["junk.txt"][0] == "quarantined"

    drop(box, "junk2.txt", bytes(range(256)) * 8)
    monkeypatch.setattr(os, "rename", no_move)
    [refused] = inbox_scoring.score_inbox(root=champion_root)["batches"]
    assert refused["status"] == "refused" and "it stays in the inbox" in refused["reason"]
    assert (box / "junk2.txt").is_file()
    assert not any(q.name.startswith("junk2") for q in quarantine.quarantine_dir(champion_root).iterdir())
    assert not list(quarantine.quarantine_dir(champion_root).glob(".*"))  # no half-made folder


def test_an_unwritable_artifact_root_fails_the_run_with_one_line(champion_root, monkeypatch):
    drop(champion_root / "inbox", "good.txt", lines(20))

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(inbox_scoring.tempfile, "TemporaryFile", read_only)
    with pytest.raises(
        inbox_scoring.PipelineInputError, match=r"scores cannot be written under .*Read-only file system"
    ):
        inbox_scoring.score_inbox(root=champion_root)
    assert (champion_root / "inbox" / "good.txt").is_file()


# --- the champion store: what a promotion cannot have made is refused with one line --------------


def _run(module: str, root: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "IMDB_ARTIFACT_ROOT": str(root), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda link: link.symlink_to("champion"), "not at a version under champions/"),
        (lambda link: link.symlink_to("/etc"), "not at a version under champions/"),
        (lambda link: link.symlink_to("champions/../.."), "not at a version under champions/"),
        (lambda link: link.mkdir(), "is a folder, not the champion link"),
    ],
    ids=["loop", "out of the root", "dot-dot", "a real folder"],
)
def test_a_champion_link_no_promotion_made_is_refused_by_every_reader(artifact_root, make, message):
    artifact_root.mkdir(parents=True)
    make(model_store.champion_dir(artifact_root))
    for module, args in [
        ("imdb_pipeline.serving.inbox_scoring", ()),
        ("imdb_pipeline.serving.predict", ()),
        ("imdb_pipeline.store.model_store", ()),
        ("imdb_pipeline.store.model_store", ("--rollback",)),
    ]:
        result = _run(module, artifact_root, *args, stdin="a fine film\n")
        assert result.returncode == 2, (module, args, result.stderr[-2000:])
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert "Traceback" not in result.stderr and len(errors) == 1, (module, result.stderr[-2000:])
        if args != ("--rollback",):
            assert message in errors[0], (module, errors[0])


def _promote(root: Path, run: str, previous: str | None) -> str:
    source = root / "src" / run / "model.keras"
    source.parent.mkdir(parents=True)
    source.write_bytes(run.encode())
    with model_store.promotion_lock(root):
        version = model_store.install(
            {"model": str(source)}, {"dag_id": "d", "run": run, "previous": previous}, root
        )
        model_store.switch_to(version, root)
    return version


def test_rollback_skips_a_damaged_previous_version_for_the_newest_intact_older_one(artifact_root):
    first = _promote(artifact_root, "r1", None)
    second = _promote(artifact_root, "r2", first)
    _promote(artifact_root, "r3", second)
    (artifact_root / model_store.VERSIONS / second / "model.keras").write_bytes(b"edited")
    assert model_store.rollback(artifact_root) == first
    assert model_store.current(artifact_root)["version"] == first


def test_rollback_says_why_when_no_older_version_is_intact(artifact_root):
    first = _promote(artifact_root, "r1", None)
    second = _promote(artifact_root, "r2", first)
    (artifact_root / model_store.VERSIONS / first / "model.keras").write_bytes(b"edited")
    result = _run("imdb_pipeline.store.model_store", artifact_root, "--rollback")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"tried {first}: model.keras does not match its manifest" in result.stderr
    assert model_store.current(artifact_root)["version"] == second  # left as it was
