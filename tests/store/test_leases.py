"""leases: who is doing something on a bucket, until when; renewed while held, taken over once expired."""

import json
import threading
import time

from imdb_pipeline.store import artifacts, leases


def test_a_held_lease_keeps_others_out_and_is_released(s3_root):
    path = artifacts.artifact_root() / "job.lease"
    with leases.held(path, 30) as mine:
        assert mine
        with leases.held(path, 30) as other:
            assert not other
    assert path.store.read(path) is None
    with leases.held(path, 30) as again:
        assert again


def test_an_expired_lease_of_a_killed_holder_is_taken_over(s3_root):
    path = artifacts.artifact_root() / "job.lease"
    dead = {"owner": "killed", "host": "gone", "pid": 1, "expires": time.time() - 1}
    path.store.create(path, json.dumps(dead).encode())
    with leases.held(path, 30) as taken:
        assert taken
        assert b"killed" not in path.store.read(path)


def test_a_lease_is_renewed_while_held(s3_root):
    path = artifacts.artifact_root() / "job.lease"
    with leases.held(path, 1.5) as mine:
        assert mine
        time.sleep(2.5)  # longer than the lease: renewals keep it
        with leases.held(path, 1.5) as other:
            assert not other


def test_only_one_of_many_racing_holders_gets_it(s3_root):
    path = artifacts.artifact_root() / "job.lease"
    winners, barrier = [], threading.Barrier(8)

    def contend():
        barrier.wait()
        with leases.held(path, 30) as got:
            if got:
                winners.append(1)
                time.sleep(0.5)

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
