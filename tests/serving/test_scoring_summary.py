"""scoring_summary: what a scoring run says in its log and its asset event, in words a person reads
right: a run with nothing to do is normal, not a failure; problems are warnings."""

import logging

from imdb_pipeline.serving.scoring_summary import describe

RUN = {"model_version": "v7", "rescore": "latest", "inbox": "/data/inbox"}


def batch(file, status, **more):
    return {"file": file, "status": status, "reason": more.pop("reason", ""), **more}


def test_no_champion_says_what_starts_scoring():
    [(level, line)] = describe({**RUN, "model_version": None, "waiting": 1, "batches": []})
    assert level == logging.INFO
    assert line.startswith("nothing to score yet: no champion (1 file in the inbox wait")
    assert "imdb_sentiment" in line


def test_nothing_to_do_reads_as_normal():
    empty = describe({**RUN, "waiting": 0, "already_scored": 0, "batches": []})
    assert empty == [(logging.INFO, "champion v7: nothing new: the inbox is empty")]
    one_done = describe({**RUN, "waiting": 1, "already_scored": 1, "batches": []})
    assert one_done == [
        (logging.INFO, "champion v7: nothing new: all 1 file already scored by this champion")
    ]
    held = describe({**RUN, "rescore": "none", "waiting": 2, "already_scored": 1, "batches": []})
    assert held[0][1] == "champion v7: nothing new: 2 files in the inbox, none to score with rescore=none"


def test_a_run_that_did_something_counts_each_outcome_and_warns_of_problems():
    summary = {
        **RUN,
        "waiting": 4,
        "already_scored": 1,
        "batches": [
            batch("a.txt", "scored", rows=10, positive_rate=0.5, drifted=False, drift_flags=[]),
            batch("b.txt", "scored", rows=5, positive_rate=0.9, drifted=True, drift_flags=["length"]),
            batch("junk.txt", "quarantined", reason="not a text file"),
        ],
    }
    lines = describe(summary)
    assert lines[0] == (
        logging.INFO,
        "champion v7: 2 scored, 1 quarantined, 1 drifted "
        "(4 in the inbox, 1 already scored by it, rescore=latest)",
    )
    levels = {line.split()[1]: level for level, line in lines[1:]}
    assert levels == {"a.txt:": logging.INFO, "b.txt:": logging.WARNING, "junk.txt:": logging.WARNING}


def test_a_summary_written_before_already_scored_was_counted_still_reads():
    [(_, line)] = describe({**RUN, "waiting": 0, "batches": []})
    assert line == "champion v7: nothing new: the inbox is empty"
