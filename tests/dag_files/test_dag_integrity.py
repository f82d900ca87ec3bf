"""The DAG files import cleanly, fast, without TensorFlow, and carry the promised interface.

In the spirit of the astro-cli project template's DAG import test.
"""

import subprocess
import sys

import pytest
from stage_runs import PROJECT

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.core.parameters import PARAM_SPECS
from imdb_pipeline.stages import graph
from imdb_pipeline.sweep.plan import SWEEP_PARAM_SPECS

# The book's values (DLwP 3.4), written out here rather than read from the schema under test.
BOOK = {
    "num_words": 10000,
    "hidden_layers": 2,
    "units": 16,
    "activation": "relu",
    "loss": "binary_crossentropy",
    "optimizer": "rmsprop",
    "learning_rate": 0.001,
    "batch_size": 512,
    "validation_size": 10000,
    "epochs": 20,
    "ngrams": 1,
    "dropout": 0.0,
}


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("IMDB_MAX_ACTIVE_RUNS", raising=False)  # the DAG files' defaults are under test
        return DagBag(dag_folder=str(PROJECT / "dags"))


@pytest.fixture(scope="module")
def dag(dag_bag):
    return dag_bag.dags["imdb_sentiment"]


@pytest.fixture(scope="module", params=["imdb_sentiment", "imdb_experiments", "imdb_score"])
def any_dag(dag_bag, request):
    return dag_bag.dags[request.param]


def test_no_import_errors(dag_bag):
    assert dag_bag.import_errors == {}
    assert {"imdb_sentiment", "imdb_experiments", "imdb_score"} <= set(dag_bag.dag_ids)


def test_sweep_maps_one_capped_training_per_trial(dag_bag):
    sweep = dag_bag.dags["imdb_experiments"]
    assert sweep.task_ids == ["plan", "ingest", "vectorize", "train", "evaluate_winner", "report"]
    train = sweep.get_task("train")
    assert train.is_mapped
    assert train.pool == "imdb_training" and train.max_active_tis_per_dagrun == 1
    assert train.upstream_task_ids == {"plan", "ingest", "vectorize"}
    assert sweep.get_task("ingest").upstream_task_ids == {"plan"}  # a bad grid fails before any work
    assert set(sweep.params) == set(SWEEP_PARAM_SPECS)
    assert type(sweep.timetable).__name__ == "NullTimetable"  # manual runs only


def test_the_dag_wires_the_pipeline_graph_and_nothing_else(dag):
    assert set(dag.task_ids) == set(graph.STAGES)
    for stage, upstream in graph.GRAPH.items():
        assert dag.get_task(stage).upstream_task_ids == set(upstream), stage
        # The task hands each upstream's XCom to the argument named after that stage.
        passed = dag.get_task(stage).op_kwargs
        assert {
            name: getattr(arg, "operator", None) and arg.operator.task_id for name, arg in passed.items()
        } == {name: name for name in upstream}, stage


def test_params_are_typed_with_the_books_defaults(dag):
    assert set(dag.params) == set(PARAM_SPECS)
    assert {name: dag.params[name] for name in BOOK} == BOOK
    assert dag.params["final_epochs"] is None and dag.params["seed"] == 1  # None: auto


def test_the_form_states_each_numbers_range_next_to_it(dag):
    """The form moves a number outside its range to the nearest end without a message: the range
    in the field's description says why."""
    described = {name: dag.params.get_param(name).description for name in ("num_words", "learning_rate")}
    assert described["num_words"].endswith("From 4 to 1,000,000.")
    assert described["learning_rate"].endswith("From 0.000001 to 100.")
    from imdb_airflow.dag_support import params_from_specs

    spec = {"default": 1e-7, "type": "number", "minimum": 1e-7, "maximum": 1.5e6, "description": "d."}
    assert params_from_specs({"x": spec})["x"].description == "d. From 0.0000001 to 1,500,000."


@pytest.mark.parametrize(
    "conf",
    [
        {"num_words": 2},
        {"activation": "softmax"},
        {"final_epochs": "best"},
        {"learning_rate": -1},
        {"epochs": "many"},
    ],
)
def test_bad_trigger_conf_is_refused_by_param_validation(dag, conf):
    """What the api-server does when a run is triggered: the serialized DAG's params validate the conf."""
    from airflow.exceptions import ParamValidationError
    from airflow.serialization.serialized_objects import DagSerialization

    serialized = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    serialized.params.deep_merge({}).validate()  # the defaults are valid
    with pytest.raises(ParamValidationError):
        serialized.params.deep_merge(conf).validate()


def test_every_task_retries_but_not_on_bad_input(any_dag):
    for task in any_dag.tasks:
        assert task.retries >= 1, task.task_id
        assert task.retry_exponential_backoff > 0
        rule = task.retry_policy.rules[0]
        assert rule.exception is PipelineInputError
        assert rule.matches(PipelineInputError("bad input")) and not rule.matches(OSError("flaky"))
        assert rule.action.value == "fail"


def test_bad_input_fails_a_task_with_its_message_and_not_the_librarys_frames(tmp_path):
    import traceback

    from imdb_airflow.dag_support import plain_refusals
    from imdb_pipeline.data import aclimdb

    missing = tmp_path / "aclImdb_v1.tar.gz"
    with pytest.raises(PipelineInputError) as refused, plain_refusals():
        list(aclimdb.iter_reviews(missing))
    frames = [frame.filename for frame in traceback.extract_tb(refused.value.__traceback__)]
    assert frames and not any("imdb_pipeline" in name for name in frames), frames
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
    assert str(missing) in str(refused.value)  # the message itself is kept whole


# Runs at once, per DAG: training one at a time unless IMDB_MAX_ACTIVE_RUNS says otherwise (unset
# here), one sweep at a time, and two scorings (each (file, champion) is claimed by one run).
MAX_ACTIVE_RUNS = {"imdb_sentiment": 1, "imdb_experiments": 1, "imdb_score": 2}


def test_dag_is_documented_and_scheduled_sensibly(any_dag):
    assert all(f"`{task.task_id}`" in any_dag.doc_md for task in any_dag.tasks)  # the doc names every task
    assert all(task.doc_md for task in any_dag.tasks)
    assert any_dag.catchup is False and any_dag.max_active_runs == MAX_ACTIVE_RUNS[any_dag.dag_id]
    assert any_dag.tags


@pytest.mark.parametrize("dag_file", ["imdb_sentiment.py", "imdb_experiments.py", "imdb_score.py"])
def test_parsing_the_dag_file_does_not_import_tensorflow_and_is_fast(dag_file):
    code = (
        "import time, runpy, sys; import airflow.sdk; start = time.perf_counter();"
        f"runpy.run_path({str(PROJECT / 'dags' / dag_file)!r});"
        "elapsed = time.perf_counter() - start;"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported at parse time';"
        "print(elapsed)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(result.stdout.strip().splitlines()[-1]) < 1.0
