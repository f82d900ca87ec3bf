"""`python -m imdb_pipeline.stages.runner` with a bucket URL as its run folder: the whole pipeline,
as documented, writes every stage to the bucket and promotes the champion there."""

import json
import subprocess
import sys

from stage_runs import TINY_PARAMS

from imdb_pipeline.stages.graph import STAGES
from imdb_pipeline.store import artifacts, model_store


def test_the_command_runs_every_stage_into_the_bucket(s3_root, tiny_aclimdb_tarball, tmp_path):
    run_dir = f"{s3_root}/cli/first"
    params = [f"--param={name}={json.dumps(value)}" for name, value in TINY_PARAMS.items()]
    result = subprocess.run(
        [
            sys.executable, "-m", "imdb_pipeline.stages.runner", "--run-dir", run_dir,
            f"--param=data_path={tiny_aclimdb_tarball}", "--param=min_accuracy=0.6", *params, "--promote",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout)
    assert set(printed) == set(STAGES)
    assert all(path.startswith(f"{run_dir}/") for outputs in printed.values() for path in outputs.values())
    run = artifacts.location(run_dir)
    assert all(run.store.exists(run / stage / "manifest.json") for stage in STAGES)
    assert model_store.current()["run"] == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["local-cache"]  # the cache only: no "s3:", no artifacts
