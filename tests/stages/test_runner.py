"""runner (run_stage): upstream from XCom or from the run folder, always verified; the command line."""

import json
import shutil

import pytest

from imdb_pipeline.core.errors import MissingUpstreamError
from imdb_pipeline.stages import graph, runner


def test_inputs_come_from_the_run_folder_when_xcom_is_absent(tiny_aclimdb_dir, tmp_path, artifact_root):
    ingested = runner.run_stage("ingest", {"data_path": str(tiny_aclimdb_dir)}, tmp_path)
    assert runner.gather_inputs("vectorize", tmp_path, {"ingest": None}) == ingested
    assert runner.gather_inputs("vectorize", tmp_path, {}) == ingested
    assert runner.gather_inputs("vectorize", tmp_path, {"ingest": ingested}) == ingested


def test_xcom_pointing_outside_a_finished_stage_is_refused(tiny_aclimdb_dir, tmp_path, artifact_root):
    ingested = runner.run_stage("ingest", {"data_path": str(tiny_aclimdb_dir)}, tmp_path)
    stray = tmp_path / "elsewhere" / "train.npz"
    stray.parent.mkdir()
    shutil.copyfile(ingested["train_tokens"], stray)
    with pytest.raises(MissingUpstreamError, match="is not part of a finished stage"):
        runner.gather_inputs("vectorize", tmp_path, {"ingest": {**ingested, "train_tokens": str(stray)}})


def test_missing_upstream_names_the_task_to_run(tmp_path):
    with pytest.raises(MissingUpstreamError, match="airflow tasks test imdb_sentiment ingest"):
        runner.gather_inputs("vectorize", tmp_path, dag_id="imdb_sentiment")
    with pytest.raises(
        MissingUpstreamError, match=r"python -m imdb_pipeline\.stages\.runner --run-dir .* --stage ingest"
    ):
        runner.gather_inputs("vectorize", tmp_path)


def test_upstream_outputs_are_passed_by_stage_name(tmp_path):
    with pytest.raises(ValueError, match="stage 'evaluate' reads vectorize, train, not ingest"):
        runner.gather_inputs("evaluate", tmp_path, {"ingest": {}, "train": {}})


def test_every_edge_of_the_graph_points_back_to_an_earlier_stage():
    for position, stage in enumerate(graph.STAGES):
        assert set(graph.GRAPH[stage]) <= set(graph.STAGES[:position]), stage
    assert tuple(runner.STAGE_FUNCTIONS) == graph.STAGES  # one function per stage, in the graph's order
    for stage, function in runner.STAGE_FUNCTIONS.items():
        assert function.__name__ == stage and function.__module__ == f"imdb_pipeline.stages.{stage}"


def test_bad_input_on_the_command_line_is_one_message_without_a_traceback(tmp_path, capsys):
    assert runner.main(["--run-dir", str(tmp_path), "--stage", "ingest", "--param", "epochs=0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: parameter epochs=0 is invalid") and "Traceback" not in err


def test_unknown_stage_is_refused():
    with pytest.raises(ValueError, match="unknown stage"):
        runner.stage_function("deploy")


def test_command_line_runs_one_stage(tiny_aclimdb_dir, tmp_path, artifact_root, capsys):
    assert (
        runner.main(
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
