"""run_stage: upstream from XCom or from the run folder, always verified; the command line."""

import json
import shutil

import pytest

from imdb_pipeline import pipeline
from imdb_pipeline.errors import MissingUpstreamError


def test_inputs_come_from_the_run_folder_when_xcom_is_absent(tiny_aclimdb_dir, tmp_path, artifact_root):
    ingested = pipeline.run_stage("ingest", {"data_path": str(tiny_aclimdb_dir)}, tmp_path)
    assert pipeline.gather_inputs("vectorize", tmp_path, [None]) == ingested
    assert pipeline.gather_inputs("vectorize", tmp_path, [ingested]) == ingested


def test_xcom_pointing_outside_a_finished_stage_is_refused(tiny_aclimdb_dir, tmp_path, artifact_root):
    ingested = pipeline.run_stage("ingest", {"data_path": str(tiny_aclimdb_dir)}, tmp_path)
    stray = tmp_path / "elsewhere" / "train.npz"
    stray.parent.mkdir()
    shutil.copyfile(ingested["train_tokens"], stray)
    with pytest.raises(MissingUpstreamError, match="is not part of a finished stage"):
        pipeline.gather_inputs("vectorize", tmp_path, [{**ingested, "train_tokens": str(stray)}])


def test_missing_upstream_names_the_task_to_run(tmp_path):
    with pytest.raises(MissingUpstreamError, match="airflow tasks test imdb_sentiment ingest"):
        pipeline.gather_inputs("vectorize", tmp_path)


def test_unknown_stage_is_refused():
    with pytest.raises(ValueError, match="unknown stage"):
        pipeline.stage_function("deploy")


def test_command_line_runs_one_stage(tiny_aclimdb_dir, tmp_path, artifact_root, capsys):
    assert (
        pipeline.main(
            [
                "--run-dir",
                str(tmp_path),
                "--stage",
                "ingest",
                "--param",
                f"data_path={tiny_aclimdb_dir}",
                "--param",
                "num_words=50",
            ]
        )
        == 0
    )
    outputs = json.loads(capsys.readouterr().out)
    assert set(outputs["ingest"]) == {"train_tokens", "test_tokens", "word_index"}
    assert json.loads((tmp_path / "ingest" / "manifest.json").read_text())["config"]["num_words"] == 50
    shutil.rmtree(tmp_path / "ingest")
