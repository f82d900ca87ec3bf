"""The plugin's model: the book's architecture, configurable, cheap to import, bounded in memory."""

import dataclasses
import itertools
import json
import os
import subprocess
import sys

import pytest

from imdb_model import ModelSpec, build_model, count_parameters, memory_refusal, training_memory_mb
from imdb_model.memory import DEFAULT_WORKER_MEMORY_MB, WORKER_MEMORY_ENV
from imdb_pipeline.core.parameters import PARAM_SPECS, PipelineConfig


def book_spec(**changes) -> ModelSpec:
    """A model as a run builds it, from a run's parameters: the book's (PipelineConfig's defaults)
    with ``changes`` (not validated here: the refusal of too big a model is under test)."""
    return ModelSpec.from_mapping({**PipelineConfig().to_dict(), **changes})


def test_books_model_has_160305_parameters_without_tensorflow():
    assert count_parameters(book_spec()) == 160_305


def test_model_spec_has_no_defaults_of_its_own():
    assert all(field.default is dataclasses.MISSING for field in dataclasses.fields(ModelSpec))
    with pytest.raises(ValueError, match="units"):
        ModelSpec.from_mapping({"num_words": 10000})
    assert book_spec() == ModelSpec.from_mapping({**PipelineConfig().to_dict(), "data_path": "ignored"})


def test_importing_the_plugin_does_not_import_tensorflow():
    code = (
        "import imdb_model, sys; from imdb_model import memory_refusal;"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules;"
        "assert not [m for m in sys.modules if m.startswith('imdb_pipeline')], 'it imported the library'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_importing_tensorflow_through_the_plugin_writes_nothing_to_stderr():
    """TensorFlow's start-up INFO records (absl pre-init notice, oneDNN, CPU features) are dropped."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")}
    code = "import imdb_model.training, warnings; warnings.warn('a real warning stays')"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [
        line for line in result.stderr.strip().splitlines() if "a real warning stays" in line
    ]
    assert "a real warning stays" in result.stderr


def test_startup_noise_filter_keeps_warnings_and_errors():
    from imdb_model.quiet_tensorflow import startup_noise_removed

    text = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1796031475.750614   28054 port.cc:153] oneDNN custom operations are on.\n"
        "I0000 00:00:1796031475.792485   28054 cpu_feature_guard.cc:227] This binary is optimized\n"
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow.\n"
        "W0000 00:00:1796031475.8   28054 some_op.cc:12] a real warning\n"
        "second line of the warning\n"
        "E0000 00:00:1796031475.9   28054 cuda_dnn.cc:8] Unable to register cuDNN factory\n"
        "E0000 00:00:1796031476.0   28054 other.cc:3] a real error\n"
        "/x.py:1: UserWarning: python warning\n"
    )
    assert startup_noise_removed(text) == (
        "W0000 00:00:1796031475.8   28054 some_op.cc:12] a real warning\n"
        "second line of the warning\n"
        "E0000 00:00:1796031476.0   28054 other.cc:3] a real error\n"
        "/x.py:1: UserWarning: python warning\n"
    )


# --- memory: estimated without TensorFlow, refused before any work ---------------------------------

SWEEP_MODELS = [
    {},
    {"hidden_layers": 1},
    {"hidden_layers": 3},
    {"units": 32},
    {"units": 64},
    {"loss": "mse"},
    {"activation": "tanh"},
    {"ngrams": 2, "num_words": 50000, "dropout": 0.5},
]


@pytest.mark.parametrize("changes", SWEEP_MODELS)
def test_books_and_sweeps_models_fit_the_per_task_goal(changes, monkeypatch):
    monkeypatch.delenv(WORKER_MEMORY_ENV, raising=False)
    spec, ngrams = book_spec(**changes), changes.get("ngrams", 1)
    assert training_memory_mb(spec, 512, ngrams=ngrams) <= DEFAULT_WORKER_MEMORY_MB == 1000
    assert memory_refusal(spec, 512, ngrams=ngrams) is None


def test_the_widest_model_is_refused_with_its_figure_and_the_limit(monkeypatch):
    monkeypatch.delenv(WORKER_MEMORY_ENV, raising=False)
    spec = book_spec(units=PARAM_SPECS["units"]["maximum"])
    message = memory_refusal(spec, 512)
    estimate = f"{training_memory_mb(spec, 512):,.0f} MB"
    assert message and estimate in message and "1,000 MB" in message and WORKER_MEMORY_ENV in message
    monkeypatch.setenv(WORKER_MEMORY_ENV, str(int(training_memory_mb(spec, 512)) + 1))
    assert memory_refusal(spec, 512) is None


def test_a_bad_memory_limit_says_so(monkeypatch):
    monkeypatch.setenv(WORKER_MEMORY_ENV, "lots")
    with pytest.raises(ValueError, match=WORKER_MEMORY_ENV):
        memory_refusal(book_spec(), 512)


def test_estimate_grows_with_every_size_and_is_capped_by_the_data():
    base = training_memory_mb(book_spec(), 512)
    for bigger in ({"units": 32}, {"num_words": 20000}, {"hidden_layers": 3}, {"optimizer": "adam"}):
        assert training_memory_mb(book_spec(**bigger), 512) > base, bigger
    assert training_memory_mb(book_spec(), 4096) > base
    assert training_memory_mb(book_spec(), 4096, ngrams=2) > training_memory_mb(book_spec(), 4096)
    assert training_memory_mb(book_spec(), 65536) == training_memory_mb(book_spec(), 65536, rows=25000)
    assert training_memory_mb(book_spec(), 65536, rows=1000) < training_memory_mb(book_spec(), 65536)


# Each corner of the form's ranges of the sizes the estimate depends on (``optimizer``: no slots, two).
FORM_ENDS = {
    **{
        name: (PARAM_SPECS[name]["minimum"], PARAM_SPECS[name]["maximum"])
        for name in ("num_words", "hidden_layers", "units", "batch_size")
    },
    "ngrams": (min(PARAM_SPECS["ngrams"]["enum"]), max(PARAM_SPECS["ngrams"]["enum"])),
    "optimizer": ("sgd", "adam"),
}
# Answers every corner in a fresh process, which must not have imported TensorFlow or Keras by then.
ANSWER_CORNERS = """
import json, sys, time
from imdb_model import ModelSpec, memory_refusal
corners = json.load(sys.stdin)
start = time.perf_counter()
answers = [
    memory_refusal(ModelSpec.from_mapping(corner), corner["batch_size"], ngrams=corner["ngrams"])
    for corner in corners
]
elapsed = time.perf_counter() - start
assert "tensorflow" not in sys.modules and "keras" not in sys.modules, "an answer imported TensorFlow"
print(json.dumps({"answers": answers, "seconds": elapsed}))
"""


def test_every_form_extreme_gets_an_answer_at_once():
    """Each corner of the form's ranges is answered by the pure estimate (no TensorFlow, no work): a
    refusal with the estimate when it is over the worker limit, nothing when it fits."""
    corners = [
        {**PipelineConfig().to_dict(), **dict(zip(FORM_ENDS, values, strict=True))}
        for values in itertools.product(*FORM_ENDS.values())
    ]
    env = {key: value for key, value in os.environ.items() if key != WORKER_MEMORY_ENV}  # the default limit
    result = subprocess.run(
        [sys.executable, "-c", ANSWER_CORNERS],
        input=json.dumps(corners),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    answered = json.loads(result.stdout)
    assert answered["seconds"] < 1.0, answered["seconds"]  # 64 answers: arithmetic, not a model
    fits = refused = 0
    for corner, answer in zip(corners, answered["answers"], strict=True):
        estimate = training_memory_mb(book_spec(**corner), corner["batch_size"], ngrams=corner["ngrams"])
        if estimate <= DEFAULT_WORKER_MEMORY_MB:
            assert answer is None, (corner, estimate, answer)
            fits += 1
        else:
            assert answer is not None, (corner, estimate)
            assert f"about {estimate:,.0f} MB" in answer, (corner, answer)
            assert f"above the worker limit of {DEFAULT_WORKER_MEMORY_MB:,} MB" in answer, (corner, answer)
            refused += 1
    assert fits and refused  # both answers occur among the corners: the comparison was exercised


# --- the model itself (TensorFlow) ---------------------------------------------------------------


@pytest.mark.slow
def test_books_model_layers_and_compilation():
    model = build_model(book_spec(), seed=0)
    assert model.count_params() == 160_305
    assert [layer.units for layer in model.layers[1:]] == [16, 16, 1]
    assert [layer.activation.__name__ for layer in model.layers[1:]] == ["relu", "relu", "sigmoid"]
    assert model.loss == "binary_crossentropy"
    assert model.optimizer.__class__.__name__ == "RMSprop"
    assert float(model.optimizer.learning_rate) == pytest.approx(0.001)


@pytest.mark.slow
@pytest.mark.parametrize(
    "changes",
    [
        {"hidden_layers": 1, "units": 32},
        {"hidden_layers": 3, "units": 64, "activation": "tanh"},
        {"loss": "mse", "optimizer": "adam", "learning_rate": 0.01},
        {"num_words": 500, "hidden_layers": 0},
    ],
)
def test_further_experiments_build_with_the_predicted_parameter_count(changes):
    spec = book_spec(**changes)
    model = build_model(spec, seed=0)
    assert model.count_params() == count_parameters(spec)
    assert len(model.layers) == spec.hidden_layers + 2
    assert model.loss == spec.loss


def test_airflow_plugin_loading_imports_no_tensorflow():
    """Airflow imports every .py under plugins/ (minus .airflowignore) in each component."""
    code = (
        "import sys; from airflow import plugins_manager as pm; pm.ensure_plugins_loaded();"
        "errors = pm.get_import_errors(); assert not errors, errors;"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow imported';"
        "assert 'imdb_plugins' in sys.modules, 'the plugin folder was not scanned';"
        # .airflowignore keeps the packages' files from being imported again under their bare names
        "bare = {'builder', 'layers', 'training', 'dag_support', 'report_tab', 'models_page'};"
        "assert not bare & set(sys.modules), bare & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_column_blocks_are_the_fewest_of_at_most_24_columns():
    from imdb_model.layers import MATMUL_BLOCK_COLUMNS, column_blocks

    assert column_blocks(16) == [16]
    assert column_blocks(24) == [24]
    assert column_blocks(64) == [21, 22, 21]
    for columns in (1, 25, 70, 1024, 4096):
        widths = column_blocks(columns)
        assert sum(widths) == columns and max(widths) <= MATMUL_BLOCK_COLUMNS
        assert len(widths) == -(-columns // MATMUL_BLOCK_COLUMNS)


@pytest.mark.slow
@pytest.mark.parametrize("units", [16, 64, 70])  # 64 and 70: the product in column blocks
def test_sparse_first_layer_computes_what_dense_computes(units):
    import numpy as np
    import tensorflow as tf

    from imdb_model.training import csr_to_sparse_tensor

    model = build_model(book_spec(num_words=50, units=units), seed=3)
    indptr = np.array([0, 3, 3, 5])
    indices = np.array([1, 4, 40, 2, 7])
    sparse = csr_to_sparse_tensor(indices, indptr, 50)
    dense = tf.sparse.to_dense(sparse)
    np.testing.assert_allclose(model(sparse).numpy(), model(dense).numpy(), atol=1e-6)
    with tf.GradientTape(persistent=True) as tape:
        sparse_loss = tf.reduce_sum(model(sparse))
        dense_loss = tf.reduce_sum(model(dense))
    kernel = model.get_layer("hidden_1").kernel
    np.testing.assert_allclose(
        tape.gradient(sparse_loss, kernel), tape.gradient(dense_loss, kernel), atol=1e-6
    )


@pytest.mark.slow
def test_wide_kernel_gradient_is_not_one_kernel_sized_tensor_per_block():
    """The blocks' gradient is assembled by one concat: no kernel-sized gradient per block (a
    strided slice per block would give 43 of them at 1,024 units, summed at the end)."""
    import tensorflow as tf

    from imdb_model.layers import column_blocks, sparse_matmul

    kernel = tf.Variable(tf.zeros([1000, 1024]))

    @tf.function
    def gradient(indices):
        sparse = tf.SparseTensor(indices, tf.ones([tf.shape(indices)[0]]), [8, 1000])
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(sparse_matmul(sparse, kernel))
        return tape.gradient(loss, kernel)

    graph = gradient.get_concrete_function(tf.TensorSpec([None, 2], tf.int64)).graph
    kernel_sized = [
        op.type
        for op in graph.get_operations()
        if op.type not in ("ReadVariableOp", "Const", "Identity")
        for output in op.outputs
        if output.shape.rank == 2 and output.shape[0] == 1000 and output.shape[1] == 1024
    ]
    assert len(column_blocks(1024)) == 43
    assert "StridedSliceGrad" not in kernel_sized and "AddN" not in kernel_sized
    assert kernel_sized.count("ConcatV2") == 1


@pytest.mark.slow
def test_compiled_training_is_seeded_and_learns():
    import numpy as np

    from imdb_model.training import CompiledTrainer, MultiHotRows

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400).astype(np.uint8)
    # Column 5 marks positive reviews, column 6 negative ones; the rest is noise.
    rows = [sorted({int(c) for c in rng.integers(10, 60, 8)} | {5 if y else 6}) for y in labels]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    data = MultiHotRows(np.concatenate(rows), indptr, labels, 60)

    def fit():
        model = build_model(book_spec(num_words=60, learning_rate=0.01), seed=11)
        return CompiledTrainer(model, batch_size=32, seed=11).fit(data, epochs=5, validation=data)

    first, second = fit(), fit()
    assert first["loss"] == second["loss"] and first["val_accuracy"] == second["val_accuracy"]
    assert first["loss"][-1] < first["loss"][0] and first["val_accuracy"][-1] > 0.95
    assert len(first["seconds"]) == 5


def test_dropout_follows_each_hidden_layer_and_adds_no_parameters():
    spec = book_spec(num_words=100, hidden_layers=2, units=8, dropout=0.5)
    model = build_model(spec, seed=1)
    names = [layer.name for layer in model.layers[1:]]
    assert names == ["hidden_1", "dropout_1", "hidden_2", "dropout_2", "positive_probability"]
    assert (
        model.count_params()
        == count_parameters(spec)
        == count_parameters(book_spec(num_words=100, hidden_layers=2, units=8))
    )
    assert "dropout" not in [layer.name for layer in build_model(book_spec(num_words=100), seed=1).layers[1:]]


# --- weighted input: tf-idf / NB weights inside the model, input dropout, L2 --------------------------


def weighted_model(seed=5, **changes):
    import numpy as np

    spec = book_spec(num_words=50, hidden_layers=0, **changes)
    weights = None if spec.weighting == "binary" else np.linspace(-2, 2, 50).astype(np.float32)
    return spec, weights, build_model(spec, seed=seed, column_weights=weights)


def sample_rows():
    import numpy as np

    from imdb_model.training import csr_to_sparse_tensor

    return csr_to_sparse_tensor(np.array([1, 4, 40, 2, 7, 9]), np.array([0, 3, 3, 6]), 50)


@pytest.mark.slow
@pytest.mark.parametrize("weighting", ["nb", "tfidf"])
def test_weighted_input_scales_each_feature_by_its_column_weight(weighting):
    import numpy as np
    import tensorflow as tf

    spec, weights, model = weighted_model(weighting=weighting)
    assert type(model.layers[1]).__name__ == "WeightedSparseDense"
    assert model.count_params() == count_parameters(spec) == 50 + 1 + 50  # kernel, bias, fixed weights
    assert len(model.trainable_variables) == 2  # the column weights stay as fitted
    sparse = sample_rows()
    x = tf.sparse.to_dense(sparse).numpy() * weights
    if weighting == "tfidf":  # rows of unit length
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)
    layer = model.layers[1]
    expected = 1 / (1 + np.exp(-(x @ layer.kernel.numpy() + layer.bias.numpy())))
    np.testing.assert_allclose(model(sparse).numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(model(tf.sparse.to_dense(sparse)).numpy(), expected, atol=1e-6)


@pytest.mark.slow
def test_saved_weighted_model_keeps_its_column_weights(tmp_path):
    import numpy as np

    from imdb_model import load_model

    _, weights, model = weighted_model(weighting="nb", dropout=0.5, l2=0.01)
    model.save(tmp_path / "model.keras")
    loaded = load_model(str(tmp_path / "model.keras"))
    np.testing.assert_array_equal(loaded.layers[1].column_weights.numpy(), weights)
    np.testing.assert_allclose(loaded(sample_rows()).numpy(), model(sample_rows()).numpy(), atol=1e-7)
    assert loaded.layers[1].input_dropout == 0.5


@pytest.mark.slow
def test_saved_models_name_the_layers_by_their_registered_names():
    """A .keras file names its layers "imdb_model>SparseDense": champions saved before the modules were
    renamed (imdb_model_layers -> layers) load as long as these names stay registered."""
    import keras

    from imdb_model.layers import SparseDense, WeightedSparseDense

    assert keras.saving.get_registered_name(SparseDense) == "imdb_model>SparseDense"
    assert keras.saving.get_registered_name(WeightedSparseDense) == "imdb_model>WeightedSparseDense"


@pytest.mark.slow
def test_input_dropout_only_while_training_and_l2_adds_to_the_loss():
    import numpy as np

    _, _, model = weighted_model(weighting="binary", dropout=0.5, l2=0.01)
    assert type(model.layers[1]).__name__ == "WeightedSparseDense"  # binary, but its input is dropped
    rows = sample_rows()
    np.testing.assert_array_equal(model(rows).numpy(), model(rows).numpy())  # inference: no dropout
    draws = {tuple(model(rows, training=True).numpy().round(6).ravel()) for _ in range(5)}
    assert len(draws) > 1
    kernel = model.layers[1].kernel.numpy()
    assert float(sum(model.losses)) == pytest.approx(0.01 * float((kernel**2).sum()), rel=1e-5)
    _, _, plain = weighted_model(weighting="binary")
    assert type(plain.layers[1]).__name__ == "SparseDense" and not plain.losses  # the book's first layer


def test_a_weighted_1m_column_linear_model_fits_the_per_task_goal(monkeypatch):
    """NB-weighted trigrams at 1,000,000 columns: one weight per column and its fixed weight."""
    monkeypatch.delenv(WORKER_MEMORY_ENV, raising=False)
    spec = book_spec(num_words=1_000_000, hidden_layers=0, weighting="nb", optimizer="adam")
    assert count_parameters(spec) == 2_000_001
    assert memory_refusal(spec, 512, ngrams=3) is None
    assert memory_refusal(book_spec(num_words=1_000_000, weighting="nb"), 512, ngrams=3)  # 2 x 16 hidden
