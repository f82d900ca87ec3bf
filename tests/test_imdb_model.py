"""The plugin's model: the book's architecture, configurable, and cheap to import."""

import subprocess
import sys

import pytest

from imdb_model import ModelSpec, build_model, count_parameters


def test_books_model_has_160305_parameters_without_tensorflow():
    assert count_parameters(ModelSpec()) == 160_305


def test_importing_the_plugin_does_not_import_tensorflow():
    code = "import imdb_model, sys; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_books_model_layers_and_compilation():
    model = build_model(ModelSpec(), seed=0)
    assert model.count_params() == 160_305
    assert [layer.units for layer in model.layers[1:]] == [16, 16, 1]
    assert [layer.activation.__name__ for layer in model.layers[1:]] == ["relu", "relu", "sigmoid"]
    assert model.loss == "binary_crossentropy"
    assert model.optimizer.__class__.__name__ == "RMSprop"
    assert float(model.optimizer.learning_rate) == pytest.approx(0.001)


@pytest.mark.slow
@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec(hidden_layers=1, units=32),
        ModelSpec(hidden_layers=3, units=64, activation="tanh"),
        ModelSpec(loss="mse", optimizer="adam", learning_rate=0.01),
        ModelSpec(num_words=500, hidden_layers=0),
    ],
)
def test_further_experiments_build_with_the_predicted_parameter_count(spec):
    model = build_model(spec, seed=0)
    assert model.count_params() == count_parameters(spec)
    assert len(model.layers) == spec.hidden_layers + 2
    assert model.loss == spec.loss


def test_airflow_plugin_loading_imports_no_tensorflow():
    """Airflow imports every .py under plugins/ (minus .airflowignore) in each component."""
    code = (
        "import sys; from airflow import plugins_manager as pm; pm.ensure_plugins_loaded();"
        "errors = pm.get_import_errors(); assert not errors, errors;"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'plugin loading imported TensorFlow';"
        "assert 'imdb_model_builder' in sys.modules, 'the plugin folder was not scanned'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("units", [16, 64, 70])  # 64 and 70: the product in column blocks
def test_sparse_first_layer_computes_what_dense_computes(units):
    import numpy as np
    import tensorflow as tf

    from imdb_model.imdb_model_training import csr_to_sparse_tensor

    model = build_model(ModelSpec(num_words=50, units=units), seed=3)
    indptr = np.array([0, 3, 3, 5])
    indices = np.array([1, 4, 40, 2, 7])
    sparse = csr_to_sparse_tensor(indices, indptr, 50)
    dense = tf.sparse.to_dense(sparse)
    np.testing.assert_allclose(model(sparse).numpy(), model(dense).numpy(), atol=1e-6)


@pytest.mark.slow
def test_compiled_training_is_seeded_and_learns():
    import numpy as np

    from imdb_model.imdb_model_training import CompiledTrainer, MultiHotRows

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400).astype(np.uint8)
    # Column 5 marks positive reviews, column 6 negative ones; the rest is noise.
    rows = [sorted({int(c) for c in rng.integers(10, 60, 8)} | {5 if y else 6}) for y in labels]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    data = MultiHotRows(np.concatenate(rows), indptr, labels, 60)

    def fit():
        model = build_model(ModelSpec(num_words=60, learning_rate=0.01), seed=11)
        return CompiledTrainer(model, batch_size=32, seed=11).fit(data, epochs=5, validation=data)

    first, second = fit(), fit()
    assert first["loss"] == second["loss"] and first["val_accuracy"] == second["val_accuracy"]
    assert first["loss"][-1] < first["loss"][0] and first["val_accuracy"][-1] > 0.95
    assert len(first["seconds"]) == 5


def test_dropout_follows_each_hidden_layer_and_adds_no_parameters():
    spec = ModelSpec(num_words=100, hidden_layers=2, units=8, dropout=0.5)
    model = build_model(spec, seed=1)
    names = [layer.name for layer in model.layers[1:]]
    assert names == ["hidden_1", "dropout_1", "hidden_2", "dropout_2", "positive_probability"]
    assert (
        model.count_params()
        == count_parameters(spec)
        == count_parameters(ModelSpec(num_words=100, hidden_layers=2, units=8))
    )
    assert "dropout" not in [layer.name for layer in build_model(ModelSpec(num_words=100), seed=1).layers[1:]]
