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
