"""model_store on a bucket: the champion pointer switched only with If-Match, promotions that race,
rollback and pruning, all against the S3 API server."""

import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.core.parameters import PipelineConfig
from imdb_pipeline.stages import promote, runner
from imdb_pipeline.stages.graph import GRAPH
from imdb_pipeline.store import artifacts, model_store


@pytest.fixture(scope="module")
def other_run(tiny_run, tmp_path_factory) -> dict:
    """A second finished tiny run whose model differs (another seed): a second candidate."""
    run_path = tmp_path_factory.mktemp("other-run")
    params = {**tiny_run["params"], "seed": 2}
    return {"path": run_path, "params": params, "outputs": runner.run_pipeline(params, run_path)}


def promote_into_bucket(tiny_run, run_id: str, **params) -> dict:
    """The promote stage of a finished tiny run, into a run folder of the bucket root."""
    config = PipelineConfig.from_params({**tiny_run["params"], "min_accuracy": 0, **params})
    upstream = {stage: tiny_run["outputs"][stage] for stage in GRAPH["promote"]}
    inputs = runner.gather_inputs("promote", tiny_run["path"], upstream)
    outputs = runner.run_in_folder(
        promote.promote, config, artifacts.run_dir("imdb_sentiment", run_id), "promote", inputs
    )
    return artifacts.read_json(outputs["promotion"])


def test_a_promotion_writes_the_version_then_the_pointer(s3_root, tiny_run):
    record = promote_into_bucket(tiny_run, "run-1")
    assert record["promoted"]
    root = artifacts.artifact_root()
    pointer = json.loads(root.store.read(root / "champion"))
    assert pointer["version"] == record["version"] == model_store.current()["version"]
    champion = model_store.current()
    assert (artifacts.Path(champion["folder"]) / "model.keras").is_file()  # the worker's verified copy
    assert model_store.versions() == [record["version"]]


def test_a_switch_from_a_stale_pointer_is_refused(s3_root, tiny_run, other_run):
    first = promote_into_bucket(tiny_run, "run-1")
    seen = model_store.current()
    second = promote_into_bucket(other_run, "run-2", force_promote=True)
    assert second["promoted"] and second["version"] != first["version"]
    with pytest.raises(model_store.ChampionChanged):
        model_store.switch_to(first["version"], replacing=seen["pointer_etag"])
    assert model_store.current()["version"] == second["version"]


def test_a_promotion_that_loses_the_switch_judges_again_and_leaves_no_orphan(s3_root, tiny_run, monkeypatch):
    real_switch, lost = model_store.switch_to, []

    def switch_after_a_rival(version, root=None, replacing=None):
        if not lost:
            lost.append(version)
            raise model_store.ChampionChanged("a rival switched it first")
        real_switch(version, root, replacing)

    monkeypatch.setattr(model_store, "switch_to", switch_after_a_rival)
    record = promote_into_bucket(tiny_run, "run-1")
    assert record["promoted"] and lost and record["version"] != lost[0]
    assert model_store.versions() == [record["version"]]  # the lost version was discarded


def test_two_promotions_at_once_leave_one_consistent_champion(s3_root, tiny_run, other_run, monkeypatch):
    """Two promote tasks of two runs at the same moment, without the lease (as if it had expired):
    both read "no champion" before either installs (a barrier makes them overlap), and If-Match on
    the pointer alone keeps the history a chain."""
    from contextlib import nullcontext

    monkeypatch.setattr(model_store, "promotion_lock", lambda root=None: nullcontext())
    both_judged, real_install, first_install = threading.Barrier(2), model_store.install, threading.local()

    def install_after_both_judged(*args, **kwargs):
        if not getattr(first_install, "done", False):
            first_install.done = True
            both_judged.wait(timeout=60)
        return real_install(*args, **kwargs)

    monkeypatch.setattr(model_store, "install", install_after_both_judged)
    with ThreadPoolExecutor(2) as pool:
        records = list(
            pool.map(
                lambda pair: promote_into_bucket(pair[0], pair[1], force_promote=True),
                [(tiny_run, "a"), (other_run, "b")],
            )
        )
    promoted = [r for r in records if r["promoted"]]
    assert len(promoted) == 2  # forced: the loser judges again against the winner and replaces it
    champion = model_store.current()
    assert champion["version"] in {r["version"] for r in promoted}
    assert champion["previous"] in {r["version"] for r in promoted} - {champion["version"]}
    assert set(model_store.versions()) == {r["version"] for r in promoted}  # the lost install is gone


def test_rollback_and_the_command_line_on_a_bucket(s3_root, tiny_run, other_run):
    first = promote_into_bucket(tiny_run, "run-1")
    promote_into_bucket(other_run, "run-2", force_promote=True)
    result = subprocess.run(
        [sys.executable, "-m", "imdb_pipeline.store.model_store", "--rollback"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"champion is now {first['version']}" in result.stdout
    assert model_store.current()["version"] == first["version"]


def test_a_damaged_champion_in_the_bucket_is_refused_with_what_to_do(s3_root, tiny_run):
    record = promote_into_bucket(tiny_run, "run-1")
    root = artifacts.artifact_root()
    version_dir = root / model_store.VERSIONS / record["version"]
    manifest = json.loads(root.store.read(version_dir / "manifest.json"))
    root.store.put(version_dir / manifest["folder"] / "model.keras", b"not a model")
    for mirror in (artifacts.local_cache.cache_root() / "stages").iterdir():
        artifacts.local_cache.forget(mirror)
    with pytest.raises(PipelineInputError, match=r"missing or damaged.*--rollback"):
        model_store.current()


def test_pruning_keeps_the_newest_and_the_previous(s3_root, tiny_run, other_run, monkeypatch):
    monkeypatch.setattr(model_store.prune, "__defaults__", (None, 2))
    runs = [tiny_run, other_run, tiny_run, other_run]  # the same model again is a new version after another
    records = [promote_into_bucket(run, f"run-{i}", force_promote=True) for i, run in enumerate(runs)]
    assert len({record["version"] for record in records}) == 4
    kept = model_store.versions()
    assert records[-1]["version"] in kept and records[-2]["version"] in kept and len(kept) == 2
